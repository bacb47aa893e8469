import BPNet
import BPNetTestSupport
import Foundation
import Testing

/// Data-parallel training through `mpirun -np 2` and `-np 3` on the CPU (the OpenCL suite runs
/// the PoCL case): the same weights as one process with the same global batch, bit-identical
/// replicas, a failing rank that ends the job, and checkpoints that resume on another rank count.
@Suite(.enabled(if: MPIRun.enabled, "mpirun is not installed (apt-get install openmpi-bin)"))
struct DistributedTests {
    let folder: String
    let data: String

    init() throws {
        folder = try TestData.temporaryFolder()
        data = folder + "/train.csv"
        // 403 samples in batches of 25: a last batch of 3, and batches that 2 and 3 do not divide.
        try CSV.write(try TestData.classification(count: 403, inputs: 6, classes: 3, seed: 5), to: data)
    }

    /// ‖distributed − single‖ / ‖single‖ stays within 1e-5: only the order of the sums differs.
    static let tolerance = 1e-5

    static let optimizers: [[String]] = [
        ["--optimizer", "sgd", "--learning-rate", "1", "--momentum", "0.7", "--l2", "0.5"],
        ["--optimizer", "adam", "--learning-rate", "0.01"],
    ]

    func common(_ extra: [String]) -> [String] {
        ["--data", data, "--layers", "6,17,3", "--epochs", "3", "--batch-size", "25", "--device", "cpu", "--seed", "3"] + extra
    }

    @Test(arguments: [2, 3], [0, 1])
    func ranksGiveTheWeightsOfOneProcess(ranks: Int, optimizer: Int) throws {
        let single = folder + "/single-\(ranks)-\(optimizer).safetensors"
        let many = folder + "/many-\(ranks)-\(optimizer).safetensors"
        let one = try CLI.run(["train"] + common(Self.optimizers[optimizer] + ["--save", single]))
        #expect(one.status == 0, "\(one.stderr)")
        let run = try MPIRun.train(ranks: ranks, common(Self.optimizers[optimizer] + ["--save", many, "--check-replicas"]))
        #expect(run.status == 0, "\(run.stderr)")
        let error = MPIRun.relativeError(try ModelFile.load(many).network, try ModelFile.load(single).network)
        #expect(error <= Self.tolerance, "relative error \(error) with \(ranks) ranks")
        #expect(error > 0 || ranks == 1, "suspiciously exact: were the ranks really sharing the batch?")
        // Every epoch, every rank held the same bits.
        for epoch in 1...3 {
            #expect(run.stderr.contains("epoch \(epoch): weights identical on \(ranks) ranks"), "\(run.stderr)")
        }
        // Rank 0 alone prints: one table.
        #expect(run.stdoutLines.filter { $0.hasPrefix("epoch") }.count == 1)
        #expect(run.stderr.contains("distributed: \(ranks) ranks"))
    }

    /// A convolutional network through `mpirun` (the CSV's 6 inputs as a 1×3×2 image, dropout on
    /// the convolution's output): 2 and 3 ranks give one process's weights, replicas identical.
    @Test(arguments: [2, 3])
    func convolutionalRanksGiveTheWeightsOfOneProcess(ranks: Int) throws {
        let single = folder + "/cnn-single-\(ranks).safetensors", many = folder + "/cnn-many-\(ranks).safetensors"
        let cnn = [
            "--data", data, "--layers", "1x3x2,conv:4:2:1:1,maxpool:2:1,flatten,3", "--activations", "relu,softmax",
            "--loss", "log-likelihood", "--optimizer", "sgd", "--learning-rate", "0.3", "--momentum", "0.5", "--dropout", "0.2",
            "--epochs", "2", "--batch-size", "25", "--device", "cpu", "--seed", "3",
        ]
        let one = try CLI.run(["train"] + cnn + ["--save", single])
        #expect(one.status == 0, "\(one.stderr)")
        let run = try MPIRun.train(ranks: ranks, cnn + ["--save", many, "--check-replicas"])
        #expect(run.status == 0, "\(run.stderr)")
        let error = MPIRun.relativeError(try ModelFile.load(many).network, try ModelFile.load(single).network)
        #expect(error <= Self.tolerance && error > 0, "relative error \(error) with \(ranks) ranks")
        for epoch in 1...2 {
            #expect(run.stderr.contains("epoch \(epoch): weights identical on \(ranks) ranks"), "\(run.stderr)")
        }
    }

    /// One rank with a device it cannot have: the whole job ends within seconds with its message.
    @Test func aFailingRankEndsTheJob() throws {
        let start = Date()
        let run = try MPIRun.run(
            ["-np", "1", CLI.binary, "train", "--distributed"] + common(["--device", "cpu"]).dropLast(0)
                + [":", "-np", "1", CLI.binary, "train", "--distributed"] + common([]) + ["--device", "opencl:99"],
            seconds: 60)
        let seconds = Date().timeIntervalSince(start)
        #expect(run.status != 0)
        #expect(seconds < 10, "the job took \(seconds) s to end")
        #expect(run.stderr.contains("error: rank 1: opencl:99 is out of range") || run.stderr.contains("error: rank 1: no OpenCL"), "\(run.stderr)")
    }

    /// Ranks started with different options are refused, naming the option.
    @Test func ranksWithDifferentOptionsAreRefused() throws {
        let run = try MPIRun.run(
            ["-np", "1", CLI.binary, "train", "--distributed"] + common(["--learning-rate", "1"])
                + [":", "-np", "1", CLI.binary, "train", "--distributed"] + common(["--learning-rate", "2"]),
            seconds: 60)
        #expect(run.status != 0)
        #expect(run.stderr.contains("error: rank 1: learning-rate is 2.0 here but 1.0 on rank 0"), "\(run.stderr)")
    }

    /// A checkpoint written by 2 ranks in the middle of an epoch resumes with 1 process and with
    /// 3 ranks, to the weights of the run that never stopped.
    @Test func checkpointsOfTwoRanksResumeOnOneAndThree() throws {
        let options = Self.optimizers[1]
        let straight = folder + "/straight.safetensors"
        let one = try CLI.run(["train"] + common(options + ["--epochs", "4", "--save", straight]))
        #expect(one.status == 0, "\(one.stderr)")
        let checkpoint = folder + "/two.ckpt"
        // 17 batches an epoch: every 10 updates leaves the last checkpoint at step 30, in epoch 2.
        let first = try MPIRun.train(ranks: 2, common(options + ["--epochs", "2", "--checkpoint", checkpoint, "--checkpoint-every", "10"]))
        #expect(first.status == 0, "\(first.stderr)")
        let saved = try CheckpointFile.load(checkpoint)
        #expect(saved.epochsDone == 2 && saved.batchesDone == 0)
        for ranks in [1, 3] {
            let copy = folder + "/two-\(ranks).ckpt", result = folder + "/resumed-\(ranks).safetensors"
            try FileManager.default.copyItem(atPath: checkpoint, toPath: copy)
            let run = ranks == 1
                ? try CLI.run(["train"] + common(options + ["--epochs", "4", "--resume", copy, "--save", result]))
                : try MPIRun.train(ranks: ranks, common(options + ["--epochs", "4", "--resume", copy, "--save", result]))
            #expect(run.status == 0, "\(run.stderr)")
            let error = MPIRun.relativeError(try ModelFile.load(result).network, try ModelFile.load(straight).network)
            #expect(error <= Self.tolerance, "resumed on \(ranks): relative error \(error)")
        }
    }
}

/// The same distributed trainer with ranks as threads (`ThreadCommunicator`): no MPI, so it also
/// runs under the sanitizers.
@Suite struct DistributedInProcessTests {
    static func data() throws -> Dataset { try TestData.classification(count: 107, inputs: 5, classes: 3, seed: 4) }

    static let options = TrainingOptions(epochs: 3, batchSize: 10, learningRate: 0.02, optimizer: .adam(), seed: 2)

    static func single(_ options: TrainingOptions = options) throws -> (Network, [EpochReport]) {
        var network = try Network(sizes: [5, 9, 3], seed: 1)
        let reports = try Trainer(options).train(&network, on: try data(), backend: CPUBackend())
        return (network, reports)
    }

    /// Adam; SGD with momentum, λ and dropout, whose masks each shard draws from its own first
    /// row, as one process would; and Nesterov with clipping by global norm at a norm the
    /// gradients pass, which must clip the summed gradient, not each shard's.
    static let variants = [
        options,
        TrainingOptions(epochs: 3, batchSize: 10, learningRate: 0.5, l2: 0.3, momentum: 0.6, dropout: 0.3, seed: 2),
        TrainingOptions(epochs: 3, batchSize: 10, learningRate: 0.5, optimizer: .nesterov, momentum: 0.9, clipNorm: 0.05, seed: 2),
    ]

    @Test(arguments: [1, 2, 3, 4], [0, 1, 2])
    func threadRanksMatchOneProcess(ranks: Int, variant: Int) throws {
        let options = Self.variants[variant]
        let (expected, expectedReports) = try Self.single(options)
        let results = try ThreadCommunicator.run(ranks: ranks) { _, communicator in
            var trainer = Trainer(options)
            trainer.communicator = communicator
            trainer.checkReplicas = true
            var network = try Network(sizes: [5, 9, 3], seed: 1)
            let reports = try trainer.train(&network, on: try Self.data(), backend: CPUBackend())
            return (network, reports.map(\.trainLoss), reports.compactMap(\.replicaChecksum))
        }
        for (network, losses, checksums) in results {
            #expect(MPIRun.relativeError(network, expected) <= 1e-5)
            #expect(network == results[0].0, "replicas differ")
            #expect(checksums.count == 3 && checksums == results[0].2)
            for (loss, reference) in zip(losses, expectedReports.map(\.trainLoss)) { #expect(abs(loss - reference) <= 1e-5 * reference) }
        }
    }

    /// A convolutional network across 2 and 3 ranks: within 1e-5 of one process, replicas
    /// identical. Dropout on the convolution's output draws each shard's masks from its first
    /// row, in NCHW order, as one process would; each sample's crop and flip come from its index
    /// in the training set, whichever rank gathers it.
    @Test(arguments: [2, 3])
    func convolutionalRanksMatchOneProcess(ranks: Int) throws {
        let architecture = try Architecture(parsing: "2x6x5,conv:4:3:1:1,maxpool:2,flatten,3")
        let data = try TestData.classification(count: 53, inputs: 60, classes: 3, seed: 4)
        let options = TrainingOptions(
            epochs: 2, batchSize: 10, learningRate: 0.1, loss: .logLikelihood, l2: 0.3, momentum: 0.6, dropout: 0.3,
            augment: Augmentation(cropPadding: 1, flip: true), seed: 2)
        @Sendable func network() throws -> Network { try Network(architecture: architecture, activations: [.relu, .softmax], seed: 1) }
        var expected = try network()
        try Trainer(options).train(&expected, on: data, backend: CPUBackend())
        let results = try ThreadCommunicator.run(ranks: ranks) { _, communicator in
            var trainer = Trainer(options)
            trainer.communicator = communicator
            trainer.checkReplicas = true
            var trained = try network()
            let reports = try trainer.train(&trained, on: data, backend: CPUBackend())
            return (trained, reports.compactMap(\.replicaChecksum))
        }
        for (trained, checksums) in results {
            let error = MPIRun.relativeError(trained, expected)
            #expect(error <= 1e-5 && error > 0, "relative error \(error) with \(ranks) ranks")
            #expect(trained == results[0].0, "replicas differ")
            #expect(checksums.count == 2 && checksums == results[0].1)
        }
    }

    /// Batch norm across 2 and 3 ranks: each normalizes its own shard by its statistics, and the
    /// running statistics are rank 0's on every rank (as DistributedDataParallel without
    /// SyncBatchNorm): the float64 reference that splits each batch into the same shards agrees
    /// within 1e-4, replicas are identical, and one process, which normalizes whole batches, differs.
    @Test(arguments: [2, 3])
    func batchNormNormalizesEachRanksShard(ranks: Int) throws {
        let architecture = try Architecture(parsing: "2x6x5,conv:4:3:1:1,batchnorm,maxpool:2,flatten,7,batchnorm,3")
        // 55 = 4·12 + 7: the last batch's shards hold 4 and 3, or 3, 2 and 2 samples.
        let data = try TestData.classification(count: 55, inputs: 60, classes: 3, seed: 4)
        let options = TrainingOptions(epochs: 2, batchSize: 12, learningRate: 0.05, loss: .logLikelihood, momentum: 0.6, dropout: 0.2, seed: 2)
        @Sendable func network() throws -> Network {
            try Network(architecture: architecture, activations: [.relu, .tanh, .softmax], initializer: .he, seed: 1)
        }
        var reference = ReferenceNetwork(try network())
        reference.train(data, options: options, ranks: ranks)
        var single = try network()
        try Trainer(options).train(&single, on: data, backend: CPUBackend())
        let results = try ThreadCommunicator.run(ranks: ranks) { _, communicator in
            var trainer = Trainer(options)
            trainer.communicator = communicator
            var trained = try network()
            try trainer.train(&trained, on: data, backend: CPUBackend())
            return trained
        }
        for trained in results {
            #expect(trained == results[0], "replicas differ (the running statistics included)")
            #expect(relativeError(trained.flatParameters, reference.flatParameters) < 1e-4)
            let running = trained.normalizations.flatMap { $0.runningMean + $0.runningVariance }.map(Double.init)
            #expect(relativeError(running, reference.flatRunningStatistics) < 1e-4)
            #expect(relativeError(trained.flatParameters, single.flatParameters) > 1e-3, "shards normalized as whole batches")
        }
    }

    /// Cancelled on one rank only, every rank stops after the same batch (the next exchange's,
    /// which carries the request to the others); rank 0's checkpoint
    /// holds the whole batches' sums, and resumes on 1 process and on 2 ranks to the run that
    /// never stopped.
    @Test func oneRankCancelsAndTheCheckpointResumesOnOtherCounts() throws {
        let (expected, expectedReports) = try Self.single()
        let saved = Locked<TrainingCheckpoint?>(nil)
        let stops = try ThreadCommunicator.run(ranks: 3) { rank, communicator -> String in
            var trainer = Trainer(Self.options)
            trainer.communicator = communicator
            let cancellation = Cancellation()
            trainer.cancellation = cancellation
            if rank == 0 { trainer.checkpoint = { saved.value = $0 } }
            if rank == 2 {
                trainer.progressInterval = 0
                trainer.batchProgress = { if $0.epoch == 2 && $0.batch == 4 { cancellation.cancel() } }
            }
            var network = try Network(sizes: [5, 9, 3], seed: 1)
            do {
                try trainer.train(&network, on: try Self.data(), backend: CPUBackend())
                return "finished"
            } catch {
                return "\(error)"
            }
        }
        #expect(stops == Array(repeating: "\(BPNetError.cancelled(epoch: 2, batch: 5, batches: 11))", count: 3))
        let checkpoint = try #require(saved.value)
        #expect(checkpoint.epochsDone == 1 && checkpoint.batchesDone == 5)
        // The single process's sums of the same batches.
        let single = Locked<TrainingCheckpoint?>(nil)
        var trainer = Trainer(Self.options)
        trainer.checkpointEvery = 16
        trainer.checkpoint = { if $0.step == 16 { single.value = $0 } }
        var network = try Network(sizes: [5, 9, 3], seed: 1)
        try trainer.train(&network, on: try Self.data(), backend: CPUBackend())
        let reference = try #require(single.value)
        for (a, b) in zip(checkpoint.batchMetrics, reference.batchMetrics) { #expect(abs(a - b) <= 1e-4 * max(abs(b), 1)) }

        var resumed = checkpoint.network
        let reports = try Trainer(Self.options).train(&resumed, on: try Self.data(), backend: CPUBackend(), resumingFrom: checkpoint)
        #expect(MPIRun.relativeError(resumed, expected) <= 1e-5)
        #expect(abs(reports[1].trainLoss - expectedReports[1].trainLoss) <= 1e-5 * expectedReports[1].trainLoss)
        let two = try ThreadCommunicator.run(ranks: 2) { _, communicator in
            var trainer = Trainer(Self.options)
            trainer.communicator = communicator
            var network = checkpoint.network
            try trainer.train(&network, on: try Self.data(), backend: CPUBackend(), resumingFrom: checkpoint)
            return network
        }
        #expect(MPIRun.relativeError(two[0], expected) <= 1e-5 && two[0] == two[1])
    }

    /// A rank with other options is refused on every rank, and the one that differs names it.
    @Test func ranksThatDifferAreRefusedOnEveryRank() throws {
        let errors = try ThreadCommunicator.run(ranks: 2) { rank, communicator -> String in
            var options = Self.options
            if rank == 1 { options.batchSize = 11 }
            var trainer = Trainer(options)
            trainer.communicator = communicator
            var network = try Network(sizes: [5, 9, 3], seed: 1)
            do {
                try trainer.train(&network, on: try Self.data(), backend: CPUBackend())
                return "trained"
            } catch {
                return "\(error)"
            }
        }
        #expect(errors[1] == "rank 1: batch-size is 11 here but 10 on rank 0; every rank needs the same data, layers and options")
        #expect(errors[0] == "rank 0: another rank's data, layers or options differ from rank 0's")
    }

    @Test func shardsDifferByAtMostOneRow() {
        for rows in [1, 3, 17, 33, 100] {
            for ranks in 1...7 {
                let shards = (0..<ranks).map { BatchShard(rows: rows, rank: $0, size: ranks) }
                #expect(shards.map(\.rows).reduce(0, +) == rows)
                #expect((shards.map(\.rows).max()! - shards.map(\.rows).min()!) <= 1)
                for (a, b) in zip(shards, shards.dropFirst()) { #expect(a.offset + a.rows == b.offset) }
            }
        }
    }

}
