import BPNet
import Foundation

/// Exact resume, checked the same way on every backend: a run interrupted at a checkpoint and
/// continued must give the same bytes as the run that never stopped.
public enum ResumeChecks {
    public struct Case: Sendable, CustomStringConvertible {
        public var name: String
        public var sizes: [Int]
        public var activations: [Activation]?
        public var options: TrainingOptions
        /// Samples held out for validation (early stopping needs some).
        public var validation: Int = 0
        /// A model other than the dense one of `sizes`, whose first and last entries then count
        /// its inputs and classes.
        public var architecture: Architecture? = nil
        public var description: String { name }

        /// The run's starting network, drawn from the options' seed.
        public func network() throws -> Network {
            if let architecture { return try Network(architecture: architecture, activations: activations, seed: options.seed) }
            return try Network(sizes: sizes, activations: activations, seed: options.seed)
        }
    }

    /// Partial batches (53 samples in batches of 10, or 7), every optimizer, momentum and L2,
    /// dropout, both schedules that depend on the position, and early stopping.
    public static let cases: [Case] = [
        Case(name: "sgd (Nielsen's rule)", sizes: [5, 7, 3], options: TrainingOptions(epochs: 3, batchSize: 10, learningRate: 2, seed: 3)),
        Case(
            name: "sgd, μ 0.6, λ 0.5, cross-entropy", sizes: [5, 7, 3],
            options: TrainingOptions(epochs: 3, batchSize: 7, learningRate: 1, loss: .crossEntropy, l2: 0.5, momentum: 0.6, seed: 4)),
        Case(
            name: "nesterov, step schedule", sizes: [5, 9, 4, 3], activations: [.tanh, .relu, .sigmoid],
            options: TrainingOptions(epochs: 3, batchSize: 10, learningRate: 0.5, optimizer: .nesterov, momentum: 0.9,
                                     schedule: .step(every: 1, factor: 0.5), seed: 5)),
        Case(
            name: "adam, dropout 0.3, cosine, softmax", sizes: [5, 11, 3], activations: [.relu, .softmax],
            options: TrainingOptions(epochs: 3, batchSize: 10, optimizer: .adam(), loss: .logLikelihood, schedule: .cosine,
                                     dropout: 0.3, seed: 6)),
        Case(
            name: "adamw, no shuffle", sizes: [5, 6, 3],
            options: TrainingOptions(epochs: 3, batchSize: 7, learningRate: 0.01, optimizer: .adamw(weightDecay: 0.1), seed: 7,
                                     shuffle: false)),
        Case(
            name: "rmsprop, μ 0.9, λ 0.5, α 0.95", sizes: [5, 8, 3], activations: [.relu, .softmax],
            options: TrainingOptions(epochs: 3, batchSize: 7, learningRate: 0.003, optimizer: .rmsprop(alpha: 0.95, epsilon: 1e-7),
                                     loss: .logLikelihood, l2: 0.5, momentum: 0.9, seed: 10)),
        Case(
            name: "early stopping", sizes: [5, 7, 3],
            options: TrainingOptions(epochs: 6, batchSize: 10, learningRate: 0.2, momentum: 0.5, earlyStop: 2, seed: 8),
            validation: 11),
    ]

    /// Convolutional models (CPU only until the OpenCL backend runs them): a 3×7×5 input, a
    /// padded convolution, pooling and two dense layers; one with Adam and softmax, one with
    /// momentum and early stopping, whose checkpoints hold a best network of 4-D weights too.
    public static let cnnCases: [Case] = [
        Case(
            name: "cnn, adam, softmax, crops and flips", sizes: [105, 3], activations: [.relu, .tanh, .softmax],
            options: TrainingOptions(
                epochs: 2, batchSize: 10, optimizer: .adam(), loss: .logLikelihood, augment: Augmentation(cropPadding: 2, flip: true), seed: 9),
            architecture: try! Architecture(parsing: "3x7x5,conv:4:3:1:1,maxpool:2,flatten,6,3")),
        Case(
            name: "cnn, momentum, early stopping", sizes: [105, 3], activations: [.relu, .sigmoid],
            options: TrainingOptions(epochs: 3, batchSize: 10, learningRate: 0.3, momentum: 0.5, earlyStop: 2, seed: 10),
            validation: 11, architecture: try! Architecture(parsing: "3x7x5,conv:2:2:2:0,flatten,3")),
        // Batch norms' running statistics resume too (in the model's tensors), and γ and β's Adam state.
        Case(
            name: "cnn, batch norm, adam, dropout", sizes: [105, 3], activations: [.relu, .gelu, .softmax],
            options: TrainingOptions(epochs: 2, batchSize: 10, optimizer: .adam(), loss: .logLikelihood, dropout: 0.2, seed: 11),
            architecture: try! Architecture(parsing: "3x7x5,conv:4:3:1:1,batchnorm,maxpool:2,flatten,6,batchnorm,3")),
    ]

    /// The training and validation data of every case: 53 samples (64 with the held-out ones).
    public static func data(_ c: Case) throws -> (train: Dataset, validation: Dataset?) {
        let all = try TestData.classification(count: 53 + c.validation, inputs: c.sizes[0], classes: c.sizes.last!, seed: 11)
        if c.validation == 0 { return (all, nil) }
        let (train, validation) = try all.holdingOut(c.validation, seed: c.options.seed)
        return (train, validation)
    }

    /// Runs `c` once without stopping, taking a checkpoint every `every` updates (each through
    /// the file format), then resumes from every checkpoint and compares the final model file's
    /// bytes and the later epochs' losses. Returns one line per mismatch.
    public static func mismatches(_ c: Case, every: Int = 4, backend: any Backend) throws -> [String] {
        let (train, validation) = try data(c)
        let start = try c.network()
        let collected = Locked<[Data]>([])
        var trainer = Trainer(c.options)
        trainer.checkpointEvery = every
        trainer.checkpoint = { checkpoint in collected.update { $0.append(CheckpointFile.encode(checkpoint)) } }
        var uninterrupted = start
        let reports = try trainer.train(&uninterrupted, on: train, validation: validation, backend: backend)
        let expected = ModelFile.encode(uninterrupted)
        var problems: [String] = []
        let checkpoints = collected.value
        if checkpoints.count < 3 { problems.append("\(c.name): only \(checkpoints.count) checkpoints were taken") }
        for saved in checkpoints {
            let checkpoint = try CheckpointFile.decode(saved, file: "checkpoint")
            let position = "epoch \(checkpoint.epochsDone) + \(checkpoint.batchesDone) batches"
            var resumed = start
            let resumedReports = try Trainer(c.options).train(
                &resumed, on: train, validation: validation, backend: backend, resumingFrom: checkpoint)
            if ModelFile.encode(resumed) != expected {
                problems.append("\(c.name): resumed from \(position), the model differs")
            }
            if resumedReports.map(\.trainLoss) != reports.map(\.trainLoss) || resumedReports.map(\.validationAccuracy) != reports.map(\.validationAccuracy) {
                problems.append("\(c.name): resumed from \(position), the epoch losses differ: \(resumedReports.map(\.trainLoss)) vs \(reports.map(\.trainLoss))")
            }
        }
        return problems
    }

    /// What `killLoop` saw.
    public struct KillReport: Sendable {
        public var kills = 0
        /// Runs that ended before their kill and were compared with the uninterrupted run.
        public var completions = 0
        /// The step of the checkpoint after each kill (nil where none was written yet).
        public var positions: [Int?] = []
        public var problems: [String] = []
    }

    /// `bpnet train` with checkpoints every 7 updates, killed with SIGKILL at random moments
    /// `kills` times in a chain of resumes. After every kill the checkpoint must load, both as a
    /// checkpoint and as a model; every run that ends, and the last resume, must save the same
    /// bytes as the uninterrupted run; no temporary file may be left behind.
    public static func killLoop(device: String, kills: Int, folder: String, seed: UInt64 = 1) throws -> KillReport {
        let data = folder + "/kill-train.csv"
        try CSV.write(try TestData.classification(count: 1201, inputs: 8, classes: 3, seed: 21), to: data)
        let common = [
            "train", "--data", data, "--layers", "8,24,3", "--epochs", "5", "--batch-size", "4", "--optimizer", "adam",
            "--dropout", "0.2", "--seed", "9", "--device", device, "--quiet",
        ]
        let reference = folder + "/kill-reference.safetensors"
        var report = KillReport()
        let full = try CLI.run(common + ["--save", reference])
        guard full.status == 0 else {
            report.problems.append("the uninterrupted run failed: \(full.stderr)")
            return report
        }
        let expected = try Data(contentsOf: URL(fileURLWithPath: reference))
        // Timed with its checkpoints, which cost more than the training here; it must save the
        // same model as the run without them.
        let timed = folder + "/kill-timed.safetensors"
        let started = Date()
        let checkpointed = try CLI.run(common + ["--checkpoint", folder + "/kill-timed.ckpt", "--checkpoint-every", "7", "--save", timed])
        let duration = Date().timeIntervalSince(started)
        if checkpointed.status != 0 || (try? Data(contentsOf: URL(fileURLWithPath: timed))) != expected {
            report.problems.append("the run with checkpoints saved another model than the run without: \(checkpointed.stderr)")
        }
        let work = folder + "/kill-runs"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let checkpoint = work + "/run.ckpt", model = work + "/model.safetensors"
        func arguments() -> [String] {
            common + ["--checkpoint", checkpoint, "--checkpoint-every", "7", "--save", model]
                + (FileManager.default.fileExists(atPath: checkpoint) ? ["--resume", checkpoint] : [])
        }
        func compareModel(_ context: String) {
            let saved = try? Data(contentsOf: URL(fileURLWithPath: model))
            if saved != expected { report.problems.append("\(context): the saved model differs from the uninterrupted run's") }
        }
        var generator = SeededGenerator(seed: seed)
        // 5 epochs of ⌈1201 / 4⌉ batches.
        let finalStep = 5 * 301
        while report.kills < kills {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: CLI.binary)
            process.arguments = arguments()
            process.standardOutput = FileHandle.nullDevice
            let errors = Pipe()
            process.standardError = errors
            try process.run()
            // Anywhere from start-up to most of a whole run's time.
            let deadline = Date().addingTimeInterval(generator.nextUnit() * duration * 0.7)
            while process.isRunning && Date() < deadline { usleep(2_000) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                _ = errors.fileHandleForReading.readDataToEndOfFile()
                report.kills += 1
                if FileManager.default.fileExists(atPath: checkpoint) {
                    do {
                        let loaded = try CheckpointFile.load(checkpoint)
                        _ = try ModelFile.load(checkpoint)
                        report.positions.append(loaded.step)
                        // Killed after its last update (while saving or exiting: long under the
                        // sanitizers). Every later run of this chain would only redo that tail,
                        // so finish it and start again from scratch, as after a completion.
                        if loaded.step == finalStep {
                            let finished = try CLI.run(arguments())
                            if finished.status != 0 { report.problems.append("resuming the finished run failed: \(finished.stderr)") }
                            compareModel("the finished run, resumed after kill \(report.kills)")
                            try? FileManager.default.removeItem(atPath: checkpoint)
                            try? FileManager.default.removeItem(atPath: model)
                        }
                    } catch {
                        report.problems.append("after kill \(report.kills) the checkpoint does not load: \(error)")
                    }
                } else {
                    report.positions.append(nil)
                }
            } else {
                process.waitUntilExit()
                let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                if process.terminationStatus != 0 {
                    report.problems.append("a run exited with \(process.terminationStatus): \(stderr)")
                    return report
                }
                report.completions += 1
                compareModel("run \(report.completions), ended before its kill")
                // Start the chain again from scratch.
                try? FileManager.default.removeItem(atPath: checkpoint)
                try? FileManager.default.removeItem(atPath: model)
            }
        }
        let last = try CLI.run(arguments())
        if last.status != 0 {
            report.problems.append("the last resume failed: \(last.stderr)")
        } else {
            compareModel("the last resume, after \(report.kills) kills")
        }
        let leftovers = (try FileManager.default.contentsOfDirectory(atPath: work)).filter { $0.contains(".tmp-") }
        if !leftovers.isEmpty { report.problems.append("temporary files were left behind: \(leftovers)") }
        return report
    }
}
