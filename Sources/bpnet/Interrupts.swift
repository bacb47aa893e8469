import BPNet
import Dispatch
import Foundation
import Synchronization

/// SIGINT and SIGTERM during training: the first asks the trainer to stop after its batch (it
/// then checkpoints), the second ends the process at once. The signals are taken from their
/// default action and delivered on a dispatch queue, so the handler is ordinary Swift rather
/// than async-signal-safe code.
final class Interrupts: Sendable {
    let cancellation = Cancellation()
    /// The first signal received, or 0.
    private let received = Atomic<Int32>(0)
    /// Set once in `init` and only kept alive after: a released source stops delivering.
    nonisolated(unsafe) private let sources: [any DispatchSourceSignal]

    init() {
        let numbers = [SIGINT, SIGTERM]
        sources = numbers.map { number in
            signal(number, SIG_IGN)
            return DispatchSource.makeSignalSource(signal: number, queue: .global())
        }
        for (number, source) in zip(numbers, sources) {
            source.setEventHandler { [self] in
                let (first, _) = self.received.compareExchange(expected: 0, desired: number, ordering: .acquiringAndReleasing)
                if first {
                    if Console.speaks {
                        FileHandle.standardError.write(Data("\(Interrupts.clearLine)\(Interrupts.name(number)): stopping after this batch (again to quit at once)\n".utf8))
                    }
                    self.cancellation.cancel()
                } else {
                    FileHandle.standardError.write(Data("\(Interrupts.clearLine)\(Interrupts.name(number)) again: quitting without a checkpoint\n".utf8))
                    _exit(128 + number)
                }
            }
            source.resume()
        }
    }

    /// Gives SIGINT and SIGTERM their default action back.
    func disarm() {
        for source in sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }

    /// The signal that stopped the run, if one did.
    var signalNumber: Int32? {
        let number = received.load(ordering: .acquiring)
        return number == 0 ? nil : number
    }

    /// 130 for SIGINT, 143 for SIGTERM: the shell's 128 + the signal's number.
    var exitCode: Int32 { 128 + (signalNumber ?? SIGINT) }

    /// What erases the live progress line first: only a terminal has one, and a log file or a
    /// pipe gets no control codes.
    static var clearLine: String { isatty(2) != 0 ? "\r\u{1B}[K" : "" }

    static func name(_ number: Int32) -> String { number == SIGTERM ? "SIGTERM" : "SIGINT" }
}
