@testable import BPNet
import BPNetTestSupport
import Foundation
import Testing

/// The pieces past Nielsen's model, each checked against its definition.
@Suite struct ModelBreadthTests {
    /// Random123's known-answer vectors for Philox4x32-10.
    @Test func philoxMatchesKnownAnswers() {
        #expect(DropoutMask.philox(counter: (0, 0, 0, 0), key: (0, 0)) == [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8])
        #expect(
            DropoutMask.philox(counter: (.max, .max, .max, .max), key: (.max, .max))
                == [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd])
        #expect(
            DropoutMask.philox(counter: (0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), key: (0xa409_3822, 0x299f_31d0))
                == [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1])
    }

    /// Masks hold 0 or 1/(1 − p), keep about 1 − p, and differ by step and by layer.
    @Test func dropoutMasksKeepTheRightShare() {
        let mask = DropoutMask.values(count: 100_000, rate: 0.3, seed: 9, step: 1, layer: 1)
        #expect(Set(mask) == [0, 1 / (1 - Float(0.3))])
        let kept = Double(mask.filter { $0 != 0 }.count) / 100_000
        #expect(abs(kept - 0.7) < 5 * (0.21 / 100_000).squareRoot())
        #expect(mask != DropoutMask.values(count: 100_000, rate: 0.3, seed: 9, step: 2, layer: 1))
        #expect(mask != DropoutMask.values(count: 100_000, rate: 0.3, seed: 9, step: 1, layer: 2))
        #expect(mask == DropoutMask.values(count: 100_000, rate: 0.3, seed: 9, step: 1, layer: 1))
    }

    /// η per step from the formulas: step:K:γ per epoch, cosine per step from η down to near 0.
    @Test func schedulesFollowTheirFormulas() throws {
        #expect(Schedule.constant.learningRate(0.5, step: 7, epoch: 3, totalSteps: 10) == 0.5)
        let step = try Schedule(parsing: "step:2:0.5")
        #expect([1, 2, 3, 4, 5].map { step.learningRate(0.8, step: 1, epoch: $0, totalSteps: 1) } == [0.8, 0.8, 0.4, 0.4, 0.2])
        let cosine = try Schedule(parsing: "cosine")
        let rates = (1...11).map { cosine.learningRate(2, step: $0, epoch: 1, totalSteps: 11) }
        for (t, rate) in rates.enumerated() {
            #expect(abs(Double(rate) - 2 * 0.5 * (1 + cos(Double.pi * Double(t) / 11))) < 1e-6)
        }
        #expect(rates.first == 2 && zip(rates, rates.dropFirst()).allSatisfy { $0 > $1 })
        for bad in ["step:0:0.5", "step:2", "warmup", "step:2:-1"] {
            #expect(throws: BPNetError.self) { try Schedule(parsing: bad) }
        }
    }

    /// Each initializer's weights have the stated spread, and xavier and he start biases at 0.
    @Test(arguments: Initializer.allCases)
    func initializersDrawTheStatedDistributions(_ initializer: Initializer) throws {
        let (inputs, outputs) = (400, 300)
        let network = try Network(sizes: [inputs, outputs], initializer: initializer, seed: 4)
        let w = network.layers[0].weights.map(Double.init), b = network.layers[0].biases.map(Double.init)
        let mean = w.reduce(0, +) / Double(w.count)
        let variance = w.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(w.count)
        let expected: Double
        switch initializer {
        case .normal: expected = 1 / Double(inputs)
        case .xavier: expected = 6 / Double(inputs + outputs) / 3  // U(±a) has variance a²/3
        case .he: expected = 2 / Double(inputs)
        }
        #expect(abs(mean) < 0.01 && abs(variance / expected - 1) < 0.02, "mean \(mean), variance \(variance) vs \(expected)")
        if initializer == .xavier {
            let limit = (6 / Double(inputs + outputs)).squareRoot()
            #expect(w.allSatisfy { abs($0) <= limit })
        }
        #expect(initializer == .normal ? b.contains { $0 != 0 } : b.allSatisfy { $0 == 0 })
    }

    /// Losses must fit the output layer, and softmax is for the output layer only.
    @Test func pairingsAreChecked() throws {
        let data = try TestData.classification(count: 10, inputs: 3, classes: 2, seed: 1)
        var sigmoid = try Network(sizes: [3, 4, 2], seed: 1)
        #expect(throws: BPNetError.invalidArgument("the log-likelihood loss needs a softmax output layer, not sigmoid")) {
            try Trainer(TrainingOptions(epochs: 1, loss: .logLikelihood)).train(&sigmoid, on: data, backend: CPUBackend())
        }
        var softmax = try Network(sizes: [3, 4, 2], activations: [.relu, .softmax], seed: 1)
        #expect(throws: BPNetError.invalidArgument("a softmax output layer needs the log-likelihood loss, not quadratic")) {
            try Trainer(TrainingOptions(epochs: 1, loss: .quadratic)).train(&softmax, on: data, backend: CPUBackend())
        }
        #expect(throws: BPNetError.invalidArgument(
            "the cross-entropy loss needs a sigmoid output layer, not softmax (use log-likelihood with softmax)")) {
            try Trainer(TrainingOptions(epochs: 1, loss: .crossEntropy)).train(&softmax, on: data, backend: CPUBackend())
        }
        #expect(throws: BPNetError.invalidArgument("softmax is for the output layer only, not layer 1 of 2")) {
            try Network(sizes: [3, 4, 2], activations: [.softmax, .sigmoid], seed: 1)
        }
        #expect(throws: BPNetError.invalidArgument("dropout must be in [0, 1), got 1.0")) {
            try TrainingOptions(dropout: 1).validate()
        }
        #expect(TrainingOptions(optimizer: .adam()).learningRate == 0.001 && TrainingOptions().learningRate == 3)
    }

    /// The unfused SGD path (gradients in buffers, then the optimizer pass, as any step between
    /// gradient and update forces) matches the fused one, and the seam sees every gradient.
    @Test func unfusedSGDMatchesFused() throws {
        let data = try TestData.classification(count: 47, inputs: 6, classes: 3, seed: 2)
        let options = TrainingOptions(epochs: 3, batchSize: 8, learningRate: 0.7, l2: 0.5, momentum: 0.6)
        var fused = try Network(sizes: [6, 9, 3], seed: 3), unfused = fused
        try Trainer(options).train(&fused, on: data, backend: CPUBackend())
        final class Seen: @unchecked Sendable { var counts: [Int] = [] }
        let seen = Seen()
        var trainer = Trainer(options)
        trainer.betweenGradientAndUpdate = { buffers, _ in seen.counts = buffers.map(\.count) }
        try trainer.train(&unfused, on: data, backend: CPUBackend())
        #expect(relativeError(unfused.flatParameters, fused.flatParameters) < 1e-5)
        #expect(seen.counts == [54, 9, 27, 3], "the arena's gradients: gW0, gb0, gW1, gb1")
    }

    /// A ReLU/softmax/Adam network with dropout learns a separable problem on the CPU.
    @Test func modernNetworkLearns() throws {
        let data = try TestData.classification(count: 300, inputs: 8, classes: 3, seed: 6)
        var network = try Network(sizes: [8, 32, 3], activations: [.relu, .softmax], initializer: .he, seed: 1)
        let options = TrainingOptions(
            epochs: 40, batchSize: 16, learningRate: 0.01, optimizer: .adam(), loss: .logLikelihood, dropout: 0.1, seed: 2)
        let reports = try Trainer(options).train(&network, on: data, backend: CPUBackend())
        let evaluation = try network.evaluate(on: data, loss: .logLikelihood, backend: CPUBackend())
        #expect(reports.last!.trainLoss < reports.first!.trainLoss / 2)
        #expect(evaluation.accuracy > 0.8, "accuracy \(evaluation.accuracy)")
    }
}

/// `bpnet train` with the new flags, as a user runs it.
@Suite struct ModelBreadthCLITests {
    @Test func newFlagsTrainSaveAndResume() throws {
        let folder = try TestData.temporaryFolder()
        let data = folder + "/train.csv", model = folder + "/m.safetensors"
        try CSV.write(try TestData.classification(count: 61, inputs: 5, classes: 3, seed: 1), to: data)
        let train = try CLI.run([
            "train", "--data", data, "--targets", "3", "--layers", "5,9,7,3", "--activations", "relu,tanh,softmax",
            "--loss", "log-likelihood", "--optimizer", "adamw", "--weight-decay", "0.05", "--initializer", "xavier",
            "--schedule", "step:1:0.5", "--dropout", "0.2", "--epochs", "2", "--device", "cpu", "--save", model, "--json",
        ])
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stderr.contains("network 5-9-7-3 (relu,tanh,softmax)") && train.stderr.contains("adamw η 0.001 (step:1:0.5), β₁ 0.9, β₂ 0.999, ε 1e-08, wd 0.05, dropout 0.2, log-likelihood loss"))
        let (network, metadata) = try ModelFile.load(model)
        #expect(network.activations == [.relu, .tanh, .softmax] && metadata.loss == .logLikelihood)
        // --init takes the activations from the file; a different list is an error.
        let resumed = try CLI.run(["train", "--data", data, "--targets", "3", "--init", model, "--loss", "log-likelihood",
                                   "--optimizer", "adam", "--epochs", "1", "--device", "cpu"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let conflict = try CLI.run(["train", "--data", data, "--init", model, "--activations", "relu", "--loss", "log-likelihood"])
        #expect(conflict.status != 0 && conflict.stderr.contains("--activations relu differ from the --init model's relu,tanh,softmax"))
        let evaluation = try CLI.run(["evaluate", "--model", model, "--data", data, "--device", "cpu", "--json"])
        #expect(evaluation.status == 0, "\(evaluation.stderr)")
    }

    @Test func badChoicesAreOneLineErrors() throws {
        for (arguments, message) in [
            (["train", "--loss", "log-likelihood"], "the log-likelihood loss needs a softmax output layer, not sigmoid"),
            (["train", "--activations", "relu,softmax", "--loss", "quadratic"], "a softmax output layer needs the log-likelihood loss, not quadratic"),
            (["train", "--optimizer", "lamb"], "unknown optimizer 'lamb' (expected sgd, nesterov, adam, adamw, rmsprop)"),
            (["train", "--optimizer", "rmsprop", "--alpha", "1"], "alpha must be in [0, 1), got 1.0"),
            (["train", "--clip-norm", "0"], "the clipping norm must be positive and finite, got 0.0"),
            (["train", "--schedule", "linear"], "unknown schedule 'linear' (expected constant, step:K:γ or cosine)"),
            (["train", "--dropout", "1"], "dropout must be in [0, 1), got 1.0"),
            (["train", "--activations", "swish"], "unknown activation 'swish'"),
            (["train", "--initializer", "lecun"], "lecun"),
            (["train", "--optimizer", "adam", "--beta1", "1"], "beta1 and beta2 must be in [0, 1)"),
            (["train", "--layers", "4,5,3", "--activations", "relu,relu,relu"], "3 activations given for 2 weight layers"),
        ] {
            let result = try CLI.run(arguments)
            let lines = result.stderr.split(separator: "\n")
            #expect(result.status != 0 && lines.count == 1 && lines[0].contains(message), "\(arguments): \(result.stderr)")
        }
        // Found once the data is read (after the notes on stderr), still as one error line.
        let steps = try CLI.run(["train", "--epochs", "9223372036854775807", "--limit", "100", "--device", "cpu"])
        #expect(steps.status != 0 && steps.stderr.hasSuffix(
            "error: 9223372036854775807 epochs of 10 batches are more steps than can be counted\n"), "\(steps.stderr)")
    }
}
