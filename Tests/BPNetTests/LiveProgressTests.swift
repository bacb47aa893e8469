import BPNet
import BPNetTestSupport
import Foundation
import Testing

/// The live progress line: on a terminal's stderr only, rewritten in place.
@Suite struct LiveProgressTests {
    static let script = "/usr/bin/script"

    func dataFile() throws -> String {
        let file = try TestData.temporaryFolder() + "/data.csv"
        try CSV.write(try TestData.classification(count: 400, inputs: 5, classes: 3, seed: 1), to: file)
        return file
    }

    /// Under a pseudo-terminal (util-linux `script`), the line shows position, speed, loss and ETA.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: script), "util-linux script is not installed"))
    func showsOnATerminal() throws {
        let command = [CLI.binary, "train", "--data", try dataFile(), "--targets", "3", "--epochs", "2", "--batch-size", "4", "--device", "cpu"]
        let result = try CLI.run(["-qec", command.joined(separator: " "), "/dev/null"], executable: Self.script)
        #expect(result.status == 0, "\(result.stderr)")
        let screen = result.stdout
        #expect(screen.contains("\r\u{1B}[Kepoch 1/2  batch "), "\(screen.debugDescription.prefix(600))")
        #expect(screen.contains("batch 100/100") && screen.contains(" samples/s  loss ") && screen.contains("  ETA "))
        #expect(screen.contains("final train accuracy"))
        let quiet = try CLI.run(["-qec", (command + ["--quiet"]).joined(separator: " "), "/dev/null"], executable: Self.script)
        #expect(quiet.status == 0 && !quiet.stdout.contains("\u{1B}[K"), "--quiet turns it off")
    }

    /// Piped, as scripts and CI read it, stderr carries no progress line.
    @Test func neverWhenPiped() throws {
        let result = try CLI.run(["train", "--data", try dataFile(), "--targets", "3", "--epochs", "1", "--device", "cpu"])
        #expect(result.status == 0 && !result.stderr.contains("\u{1B}[K") && !result.stderr.contains("\r"))
    }

    /// The library's callback: in order, ending each epoch at its last batch, with the running loss
    /// equal to the epoch's reported train loss at that point.
    @Test func callbackReportsEveryEpochsEnd() throws {
        final class Seen: @unchecked Sendable { var progress: [BatchProgress] = [] }
        let seen = Seen()
        let data = try TestData.classification(count: 45, inputs: 4, classes: 2, seed: 2)
        var trainer = Trainer(TrainingOptions(epochs: 2, batchSize: 10))
        trainer.progressInterval = 0
        trainer.batchProgress = { seen.progress.append($0) }
        var network = try Network(sizes: [4, 3, 2], seed: 1)
        let reports = try trainer.train(&network, on: data, backend: CPUBackend())
        #expect(seen.progress.map(\.batch) == [1, 2, 3, 4, 5, 1, 2, 3, 4, 5])
        let ends = seen.progress.filter { $0.batch == $0.batches }
        #expect(ends.map(\.epoch) == [1, 2])
        #expect(zip(ends, reports).allSatisfy { abs($0.runningLoss - $1.trainLoss) <= 1e-12 * $1.trainLoss })
        #expect(seen.progress.last?.secondsLeft == 0)
    }
}
