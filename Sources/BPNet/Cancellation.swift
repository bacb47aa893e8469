import Synchronization

/// Asks a running `Trainer` to stop. The trainer looks after every batch: it finishes the batch,
/// hands its `checkpoint` callback the state there, and throws `BPNetError.cancelled`. Safe to
/// call from any thread, a signal source's handler included.
public final class Cancellation: Sendable {
    private let flag = Atomic<Bool>(false)

    public init() {}

    public func cancel() { flag.store(true, ordering: .releasing) }

    public var isCancelled: Bool { flag.load(ordering: .acquiring) }
}
