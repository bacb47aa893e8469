import BPNet
import BPNetTestSupport
import Foundation
import Testing

/// Checkpoints, exact resume, cancellation and crash safety on the CPU; the OpenCL suite runs
/// the same `ResumeChecks` on PoCL.
@Suite struct CheckpointTests {
    /// Every case, dense and convolutional.
    @Test(arguments: ResumeChecks.cases + ResumeChecks.cnnCases)
    func resumingFromEveryCheckpointGivesTheSameBytes(_ c: ResumeChecks.Case) throws {
        let problems = try ResumeChecks.mismatches(c, backend: CPUBackend())
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// A cancelled run stops after the batch it is in, hands over its state there, and resuming
    /// from it gives the uninterrupted run.
    @Test func cancellationCheckpointsAndResumesExactly() throws {
        let c = ResumeChecks.cases[3]
        let (train, _) = try ResumeChecks.data(c)
        let start = try Network(sizes: c.sizes, activations: c.activations, seed: 1)
        var uninterrupted = start
        try Trainer(c.options).train(&uninterrupted, on: train, backend: CPUBackend())

        let cancellation = Cancellation()
        let last = Locked<TrainingCheckpoint?>(nil)
        var trainer = Trainer(c.options)
        trainer.cancellation = cancellation
        trainer.checkpoint = { last.value = $0 }
        trainer.progressInterval = 0
        trainer.batchProgress = { if $0.epoch == 2 && $0.batch == 3 { cancellation.cancel() } }
        var stopped = start
        #expect(throws: BPNetError.cancelled(epoch: 2, batch: 3, batches: 6)) {
            try trainer.train(&stopped, on: train, backend: CPUBackend())
        }
        let checkpoint = try #require(last.value)
        #expect(checkpoint.epochsDone == 1 && checkpoint.batchesDone == 3 && checkpoint.step == 9)
        var resumed = start
        let reports = try Trainer(c.options).train(
            &resumed, on: train, backend: CPUBackend(), resumingFrom: try CheckpointFile.decode(CheckpointFile.encode(checkpoint), file: "c"))
        #expect(ModelFile.encode(resumed) == ModelFile.encode(uninterrupted))
        #expect(reports.map(\.epoch) == [1, 2, 3])
    }

    func finishedCheckpoint(_ options: TrainingOptions, data: Dataset, sizes: [Int] = [5, 7, 3]) throws -> TrainingCheckpoint {
        let last = Locked<TrainingCheckpoint?>(nil)
        var trainer = Trainer(options)
        trainer.checkpoint = { last.value = $0 }
        var network = try Network(sizes: sizes, seed: 2)
        try trainer.train(&network, on: data, backend: CPUBackend())
        return try #require(last.value)
    }

    /// More epochs extend the run: 2 epochs, then 2 more, are the 4-epoch run.
    @Test func largerEpochsExtendTheRun() throws {
        let data = try TestData.classification(count: 33, inputs: 5, classes: 3, seed: 3)
        let options = TrainingOptions(epochs: 2, batchSize: 5, learningRate: 1, momentum: 0.3, seed: 2)
        let checkpoint = try finishedCheckpoint(options, data: data)
        var four = options
        four.epochs = 4
        var extended = checkpoint.network
        let reports = try Trainer(four).train(&extended, on: data, backend: CPUBackend(), resumingFrom: checkpoint)
        var straight = try Network(sizes: [5, 7, 3], seed: 2)
        try Trainer(four).train(&straight, on: data, backend: CPUBackend())
        #expect(ModelFile.encode(extended) == ModelFile.encode(straight))
        #expect(reports.count == 4)
    }

    @Test func resumingWithAnotherRunIsRefusedByName() throws {
        let data = try TestData.classification(count: 33, inputs: 5, classes: 3, seed: 3)
        let options = TrainingOptions(epochs: 2, batchSize: 5, learningRate: 1, seed: 2)
        let checkpoint = try finishedCheckpoint(options, data: data)
        func refusal(_ change: (inout TrainingOptions) -> Void, network: Network? = nil, data other: Dataset? = nil) -> String {
            var changed = options
            changed.epochs = 3
            change(&changed)
            var start = network ?? checkpoint.network
            do {
                try Trainer(changed).train(&start, on: other ?? data, backend: CPUBackend(), resumingFrom: checkpoint)
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        #expect(refusal { $0.optimizer = .adam() }.contains("optimizer sgd, this run asks for adam"))
        #expect(refusal { $0.batchSize = 6 }.contains("batch-size 5, this run asks for 6"))
        #expect(refusal { $0.learningRate = 0.5 }.contains("learning-rate 1.0"))
        #expect(refusal({ _ in }, network: try Network(sizes: [5, 8, 3])).contains("layers are 5,7,3, this run's are 5,8,3"))
        #expect(refusal({ _ in }, network: try Network(sizes: [5, 7, 3], activations: [.relu, .sigmoid])).contains("activations"))
        let other = try TestData.classification(count: 33, inputs: 5, classes: 3, seed: 4)
        #expect(refusal({ _ in }, data: other).contains("training data differ"))
        // Fewer epochs would change the schedule and end the run early, overwriting its checkpoint.
        #expect(refusal { $0.epochs = 1 }.contains("the checkpoint's run has 2 epochs, this run asks for 1"))
        #expect(refusal { _ in } == "accepted")
    }

    /// A checkpoint is a model for `evaluate`, `predict` and `--init`; a model is not a checkpoint.
    @Test func checkpointIsAModelAndTheFormatIsChecked() throws {
        let data = try TestData.classification(count: 17, inputs: 5, classes: 3, seed: 3)
        let checkpoint = try finishedCheckpoint(TrainingOptions(epochs: 1, batchSize: 4, optimizer: .adam()), data: data)
        let encoded = CheckpointFile.encode(checkpoint)
        #expect(try ModelFile.decode(encoded, file: "c").network == checkpoint.network)
        let decoded = try CheckpointFile.decode(encoded, file: "c")
        #expect(decoded.optimizerState == checkpoint.optimizerState)
        #expect(decoded.optimizerState.count == 4 && decoded.optimizerState.allSatisfy { $0.count == 2 })
        #expect(decoded.order == checkpoint.order && decoded.shuffleState == checkpoint.shuffleState)
        #expect(decoded.history == checkpoint.history && decoded.options == checkpoint.options)
        #expect(throws: BPNetError.model(
            file: "m", problem: "is a model, not a checkpoint (it has no training state); use it with --init to start a new run from it")) {
            try CheckpointFile.decode(ModelFile.encode(checkpoint.network), file: "m")
        }
        // A tampered position or order is refused, not trusted.
        var broken = checkpoint
        broken.order[0] = broken.order[1]
        #expect { try CheckpointFile.decode(CheckpointFile.encode(broken), file: "b") } throws: {
            "\($0)".contains("not a permutation")
        }
        broken = checkpoint
        broken.step += 1
        #expect { try CheckpointFile.decode(CheckpointFile.encode(broken), file: "b") } throws: {
            "\($0)".contains("position is inconsistent")
        }
        // Every truncation fails with an error, never a crash.
        for length in stride(from: 0, to: encoded.count, by: max(1, encoded.count / 97)) {
            #expect(throws: BPNetError.self) { try CheckpointFile.decode(encoded.prefix(length), file: "t") }
        }
    }

    /// A killed save leaves `.name.tmp-XXXXXX`; the next save to that path removes it.
    @Test func staleTemporaryFilesAreRemovedByTheNextSave() throws {
        let folder = try TestData.temporaryFolder()
        let path = folder + "/run.ckpt"
        let stale = folder + "/.run.ckpt.tmp-Ab3dE9"
        let unrelated = folder + "/.other.ckpt.tmp-Ab3dE9"
        for file in [stale, unrelated] { FileManager.default.createFile(atPath: file, contents: Data("torn".utf8)) }
        let data = try TestData.classification(count: 9, inputs: 5, classes: 3, seed: 3)
        try CheckpointFile.save(try finishedCheckpoint(TrainingOptions(epochs: 1, batchSize: 4), data: data), to: path)
        #expect(!FileManager.default.fileExists(atPath: stale))
        #expect(FileManager.default.fileExists(atPath: unrelated))
        #expect(try CheckpointFile.load(path).epochsDone == 1)
    }

    /// A run that diverges stops with the epoch and batch, and the last checkpoint written is a
    /// good one from before.
    @Test func divergenceKeepsTheLastGoodCheckpoint() throws {
        let data = try TestData.regression(count: 40, inputs: 5, outputs: 3, seed: 3)
        let last = Locked<TrainingCheckpoint?>(nil)
        var trainer = Trainer(TrainingOptions(epochs: 50, batchSize: 4, learningRate: 1e30, seed: 1))
        trainer.checkpointEvery = 1
        trainer.checkpoint = { last.value = $0 }
        var network = try Network(sizes: [5, 7, 3], activations: [.relu, .identity], initializer: .he, seed: 1)
        #expect { try trainer.train(&network, on: data, backend: CPUBackend()) } throws: {
            guard case BPNetError.diverged = $0 else { return false }
            return true
        }
        let checkpoint = try #require(last.value)
        let reloaded = try CheckpointFile.decode(CheckpointFile.encode(checkpoint), file: "last")
        #expect(reloaded.network.layers.allSatisfy { $0.weights.allSatisfy(\.isFinite) })
    }

    /// `bpnet train --checkpoint` then `--resume` with more epochs saves what one longer run saves.
    @Test func cliResumeExtendsToTheSameBytes() throws {
        let folder = try TestData.temporaryFolder()
        let data = folder + "/train.csv"
        try CSV.write(try TestData.classification(count: 101, inputs: 4, classes: 3, seed: 1), to: data)
        let common = ["train", "--data", data, "--layers", "4,9,3", "--batch-size", "8", "--optimizer", "nesterov",
                      "--learning-rate", "0.5", "--momentum", "0.8", "--device", "cpu"]
        let straight = try CLI.run(common + ["--epochs", "4", "--save", folder + "/straight.safetensors"])
        #expect(straight.status == 0, "\(straight.stderr)")
        let first = try CLI.run(common + ["--epochs", "2", "--checkpoint", folder + "/run.ckpt", "--checkpoint-every", "5"])
        #expect(first.status == 0, "\(first.stderr)")
        let second = try CLI.run(common + ["--epochs", "4", "--resume", folder + "/run.ckpt", "--save", folder + "/resumed.safetensors"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("resuming \(folder)/run.ckpt: 2 epochs done (step 26)"))
        #expect(second.stdoutLines.filter { $0.hasPrefix("    3") || $0.hasPrefix("    4") }.count == 2)
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: folder + "/resumed.safetensors"))
                == Data(contentsOf: URL(fileURLWithPath: folder + "/straight.safetensors")))
        // The checkpoint is a model for evaluate.
        let evaluate = try CLI.run(["evaluate", "--model", folder + "/run.ckpt", "--data", data, "--device", "cpu"])
        #expect(evaluate.status == 0, "\(evaluate.stderr)")

        let changed = try CLI.run(common.map { $0 == "nesterov" ? "sgd" : $0 } + ["--epochs", "5", "--resume", folder + "/run.ckpt"])
        #expect(changed.status != 0)
        #expect(changed.stderr == "error: cannot resume: the checkpoint was trained with optimizer nesterov, this run asks for sgd\n", "\(changed.stderr)")
        #expect(changed.stdout.isEmpty, "every check runs before the first output")
        let layers = try CLI.run(common.map { $0 == "4,9,3" ? "4,8,3" : $0 } + ["--epochs", "5", "--resume", folder + "/run.ckpt"])
        #expect(layers.stderr.contains("error: cannot resume: the checkpoint's layers are 4,9,3, --layers asks for 4,8,3"))
        let model = try CLI.run(common + ["--epochs", "5", "--resume", folder + "/straight.safetensors"])
        #expect(model.stderr.contains("is a model, not a checkpoint"))
        let both = try CLI.run(common + ["--resume", folder + "/run.ckpt", "--init", folder + "/straight.safetensors"])
        #expect(both.status != 0 && both.stderr.contains("--resume and --init"))
        let every = try CLI.run(common + ["--checkpoint-every", "3"])
        #expect(every.status != 0 && every.stderr.contains("--checkpoint-every needs --checkpoint"))
    }

    /// SIGINT and SIGTERM: the run finishes its batch, checkpoints, says where, and exits 130 or
    /// 143; resuming gives the uninterrupted run's bytes.
    @Test(arguments: [SIGINT, SIGTERM])
    func signalsCheckpointAndExit(_ number: Int32) throws {
        let folder = try TestData.temporaryFolder()
        let data = folder + "/train.csv"
        try CSV.write(try TestData.classification(count: 2000, inputs: 8, classes: 3, seed: 1), to: data)
        let common = ["train", "--data", data, "--layers", "8,16,3", "--batch-size", "1", "--epochs", "40", "--optimizer", "adam",
                      "--device", "cpu", "--quiet"]
        let straight = try CLI.run(common + ["--save", folder + "/straight.safetensors"])
        #expect(straight.status == 0, "\(straight.stderr)")

        let checkpoint = folder + "/run.ckpt"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = common + [
            "--checkpoint", checkpoint, "--checkpoint-every", "500", "--save", folder + "/resumed.safetensors", "--report", folder + "/report",
        ]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Wait for the first checkpoint: the run is under way.
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning, !FileManager.default.fileExists(atPath: checkpoint), Date() < deadline { usleep(5_000) }
        try #require(process.isRunning, "the run ended before it could be interrupted")
        kill(process.processIdentifier, number)
        process.waitUntilExit()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 128 + number, "\(stderr)")
        let name = number == SIGINT ? "SIGINT" : "SIGTERM"
        #expect(stderr.contains("\(name): stopping after this batch"))
        #expect(!stderr.contains("\u{1B}") && !stderr.contains("\r"), "a pipe gets no terminal control codes: \(stderr.debugDescription)")
        #expect(stderr.contains("\(name): stopped in epoch") && stderr.contains("checkpoint in \(checkpoint) (continue with --resume \(checkpoint))"), "\(stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/resumed.safetensors"))
        let stoppedAt = try CheckpointFile.load(checkpoint)
        // The signal came after the first checkpoint, at step 500, and stopped the run well before its end.
        #expect(stoppedAt.step > 500 && stoppedAt.step < 80_000, "stopped at step \(stoppedAt.step)")
        // The interrupted run's report holds the epochs it finished.
        let report = try RunReport.load(from: folder + "/report")
        #expect(report.epochs.map(\.epoch) == Array(0..<stoppedAt.epochsDone).map { $0 + 1 })

        let resumed = try CLI.run(common + ["--resume", checkpoint, "--save", folder + "/resumed.safetensors"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: folder + "/resumed.safetensors"))
                == Data(contentsOf: URL(fileURLWithPath: folder + "/straight.safetensors")))
    }

    /// A second Ctrl-C does not wait for the batch: in a run whose one batch takes many seconds,
    /// it ends the process at once, with 130 and no checkpoint.
    @Test func aSecondInterruptQuitsAtOnce() throws {
        let folder = try TestData.temporaryFolder()
        let data = folder + "/train.csv"
        try CSV.write(try TestData.classification(count: 3000, inputs: 64, classes: 3, seed: 1), to: data)
        let checkpoint = folder + "/run.ckpt"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["train", "--data", data, "--layers", "64,3000,3000,3", "--batch-size", "3000", "--epochs", "1",
                             "--device", "cpu", "--checkpoint", checkpoint]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Wait for the table's header: the batch, about 2·3000·(64·3000 + 3000·3000 + 3000·3)·3
        // ≈ 170 GFLOP, has begun.
        let header = try #require(errors.fileHandleForReading.readLine(containing: "network 64-3000-3000-3"), "no summary line")
        _ = header
        usleep(300_000)
        kill(process.processIdentifier, SIGINT)
        usleep(300_000)
        let second = Date()
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        let waited = Date().timeIntervalSince(second)
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 130, "\(stderr)")
        #expect(stderr.contains("SIGINT: stopping after this batch"))
        #expect(stderr.contains("SIGINT again: quitting without a checkpoint"), "\(stderr)")
        #expect(waited < 5, "the second interrupt took \(waited) s to end the run")
        #expect(!FileManager.default.fileExists(atPath: checkpoint))
    }

    /// kill -9 at random moments, many times: the last checkpoint always loads, and resuming
    /// from it reproduces the uninterrupted run.
    @Test func killedAtRandomTheCheckpointAlwaysLoadsAndResumesExactly() throws {
        let report = try ResumeChecks.killLoop(device: "cpu", kills: 15, folder: try TestData.temporaryFolder())
        #expect(report.problems.isEmpty, "\(report.problems.joined(separator: "\n"))")
        #expect(report.kills == 15)
        print("kill loop: \(report.kills) kills, \(report.completions) completions, positions \(report.positions)")
        // The kills landed at different points of the run, not all before the first checkpoint.
        #expect(Set(report.positions.compactMap { $0 }).count >= 3, "checkpoint steps after each kill: \(report.positions)")
    }
}

extension FileHandle {
    /// Reads until a line containing `text` has arrived, or the end; returns that line.
    func readLine(containing text: String) -> String? {
        var buffer = Data()
        while true {
            let chunk = availableData
            if chunk.isEmpty { return nil }
            buffer.append(chunk)
            if let line = String(decoding: buffer, as: UTF8.self).split(separator: "\n").first(where: { $0.contains(text) }) {
                return String(line)
            }
        }
    }
}
