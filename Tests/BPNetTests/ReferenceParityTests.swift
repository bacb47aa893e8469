import BPNet
import BPNetTestSupport
import Testing

/// CPUBackend training against the float64 reference, which processes one sample at a time.
@Suite struct ReferenceParityTests {
    /// Stated tolerance: relative error norm of all parameters after several epochs.
    static let tolerance = 1e-4

    struct Case: CustomTestStringConvertible, Sendable {
        var sizes: [Int]
        var activations: [Activation]? = nil
        var samples: Int
        var options: TrainingOptions
        var testDescription: String {
            "\(sizes) \(activations?.map(\.rawValue).joined(separator: ",") ?? "sigmoid") n=\(samples) batch=\(options.batchSize) "
                + "\(options.loss.rawValue) \(options.optimizer.name) λ=\(options.l2) μ=\(options.momentum) "
                + "\(options.schedule) dropout=\(options.dropout)" + (options.clipNorm.map { " clip-norm=\($0)" } ?? "")
        }
    }

    static let cases: [Case] = [
        // Sizes of 1, odd sizes, three or more layers; partial last batches (23 = 4·5 + 3, 17 = 5·3 + 2).
        Case(sizes: [1, 3, 1], samples: 17, options: TrainingOptions(epochs: 4, batchSize: 3, learningRate: 0.8)),
        Case(sizes: [5, 17, 3], samples: 23, options: TrainingOptions(epochs: 5, batchSize: 5, learningRate: 0.5, loss: .crossEntropy)),
        Case(sizes: [7, 9, 5, 3], samples: 23, options: TrainingOptions(epochs: 4, batchSize: 5, learningRate: 0.5, l2: 2, momentum: 0.9)),
        Case(sizes: [4, 3, 1, 3, 2], samples: 17, options: TrainingOptions(
            epochs: 4, batchSize: 100, learningRate: 1, loss: .crossEntropy, l2: 0.5, momentum: 0.5, seed: 9)),
        Case(sizes: [17, 100, 10], samples: 31, options: TrainingOptions(
            epochs: 3, batchSize: 10, learningRate: 0.3, loss: .crossEntropy, l2: 1, momentum: 0.7, seed: 3, shuffle: false)),
        // Past the seed: every activation, the log-likelihood, every optimizer (Adam past t = 1),
        // both schedules, dropout.
        Case(sizes: [5, 17, 3], activations: [.relu, .softmax], samples: 23, options: TrainingOptions(
            epochs: 4, batchSize: 5, learningRate: 0.01, optimizer: .adam(), loss: .logLikelihood, l2: 0.5)),
        Case(sizes: [7, 9, 5, 3], activations: [.tanh, .relu, .softmax], samples: 23, options: TrainingOptions(
            epochs: 3, batchSize: 4, optimizer: .adamw(weightDecay: 0.1), loss: .logLikelihood, schedule: .cosine, seed: 2)),
        Case(sizes: [4, 6, 2], activations: [.tanh, .identity], samples: 17, options: TrainingOptions(
            epochs: 4, batchSize: 3, learningRate: 0.05, optimizer: .nesterov, l2: 1, momentum: 0.9, schedule: .step(every: 2, factor: 0.5))),
        Case(sizes: [6, 11, 7, 3], activations: [.relu, .sigmoid, .sigmoid], samples: 29, options: TrainingOptions(
            epochs: 3, batchSize: 6, learningRate: 0.5, loss: .crossEntropy, momentum: 0.5, dropout: 0.3, seed: 5)),
        Case(sizes: [5, 13, 3], activations: [.relu, .softmax], samples: 19, options: TrainingOptions(
            epochs: 3, batchSize: 4, optimizer: .adam(beta1: 0.8, beta2: 0.99, epsilon: 1e-6), loss: .logLikelihood,
            dropout: 0.5, seed: 7)),
        // RMSprop without momentum (one state slot) and with it and L2 (two), odd sizes, partial batches.
        Case(sizes: [5, 17, 3], activations: [.relu, .softmax], samples: 23, options: TrainingOptions(
            epochs: 3, batchSize: 5, optimizer: .rmsprop(), loss: .logLikelihood, seed: 4)),
        Case(sizes: [7, 9, 5, 3], activations: [.tanh, .relu, .softmax], samples: 19, options: TrainingOptions(
            epochs: 3, batchSize: 4, learningRate: 0.003, optimizer: .rmsprop(alpha: 0.9, epsilon: 1e-6), loss: .logLikelihood,
            l2: 0.5, momentum: 0.9, schedule: .cosine, seed: 6)),
        // Clipping by global norm at a norm the gradients pass (so it scales), with each path that
        // otherwise fuses: SGD with momentum and Adam; and with L2, which it leaves out.
        Case(sizes: [5, 17, 3], samples: 23, options: TrainingOptions(
            epochs: 3, batchSize: 5, learningRate: 3, l2: 1, momentum: 0.5, clipNorm: 0.05, seed: 8)),
        Case(sizes: [7, 9, 3], activations: [.relu, .softmax], samples: 19, options: TrainingOptions(
            epochs: 3, batchSize: 4, learningRate: 0.01, optimizer: .adam(), loss: .logLikelihood, clipNorm: 0.1, seed: 9)),
        // GELU (f′ from the kept z) before leaky ReLU: dense after dense takes the fused hidden
        // delta, with dropout; then leaky ReLU at a slope of its own as a quadratic output.
        Case(sizes: [5, 17, 9, 3], activations: [.gelu, .leakyRelu, .softmax], samples: 23, options: TrainingOptions(
            epochs: 3, batchSize: 5, learningRate: 0.1, loss: .logLikelihood, momentum: 0.5, dropout: 0.3, seed: 10)),
        Case(sizes: [4, 7, 3, 2], activations: [.leakyRelu, .gelu, try! .leakyRelu(slope: 0.3)], samples: 17, options: TrainingOptions(
            epochs: 3, batchSize: 4, learningRate: 0.01, optimizer: .adam(), l2: 0.5, seed: 11)),
    ]

    /// The clipping cases above clip: without `clipNorm` the same run ends elsewhere.
    @Test func clippingCasesClip() throws {
        for c in Self.cases where c.options.clipNorm != nil {
            var unclipped = c.options
            unclipped.clipNorm = nil
            let data = c.options.loss == .logLikelihood
                ? try TestData.classification(count: c.samples, inputs: c.sizes[0], classes: c.sizes.last!, seed: 11)
                : try TestData.regression(count: c.samples, inputs: c.sizes[0], outputs: c.sizes.last!, seed: 11)
            var networks: [Network] = []
            for options in [c.options, unclipped] {
                var network = try Network(sizes: c.sizes, activations: c.activations, seed: 5)
                try Trainer(options).train(&network, on: data, backend: CPUBackend())
                networks.append(network)
            }
            #expect(networks[0] != networks[1], "clip-norm \(c.options.clipNorm!) changed nothing")
        }
    }

    @Test(arguments: cases)
    func cpuMatchesReference(_ c: Case) throws {
        // Softmax outputs learn distributions: one-hot classes.
        let data = c.options.loss == .logLikelihood
            ? try TestData.classification(count: c.samples, inputs: c.sizes[0], classes: c.sizes.last!, seed: 11)
            : try TestData.regression(count: c.samples, inputs: c.sizes[0], outputs: c.sizes.last!, seed: 11)
        var network = try Network(sizes: c.sizes, activations: c.activations, seed: 5)
        var reference = ReferenceNetwork(network)
        try Trainer(c.options).train(&network, on: data, backend: CPUBackend())
        reference.train(data, options: c.options)
        let error = relativeError(network.flatParameters, reference.flatParameters)
        #expect(error < Self.tolerance, "relative error \(error)")
        // The parameters really moved, so the comparison is not of two untouched copies.
        let start = try Network(sizes: c.sizes, activations: c.activations, seed: 5)
        #expect(relativeError(network.flatParameters, start.flatParameters) > 1e-3)
    }

    /// Every output activation with every loss it fits.
    static let pairs: [(Activation, Loss)] = Activation.allCases.flatMap { f in
        Loss.allCases.filter { (try? $0.validate(output: f)) != nil }.map { (f, $0) }
    }

    /// For every allowed activation × loss pair, with every hidden activation.
    @Test(arguments: pairs.map { "\($0.0.rawValue) \($0.1.rawValue)" })
    func referenceGradientsMatchFiniteDifferences(_ pair: String) throws {
        let (output, loss) = try #require(Self.pairs.first { "\($0.0.rawValue) \($0.1.rawValue)" == pair })
        let hidden = Activation.allCases.filter { $0 != .softmax }
        // Dense networks, and convolutional ones: each layer kind, overlapping pools, several
        // channels, stride and padding.
        let architectures = [
            "3,4,2", "1,3,5,2", "6,1,3", "2x5x4,conv:3:3:1:1,maxpool:2:1,flatten,3,2", "1x6x5,conv:2:2:2,conv:3:1,flatten,2",
        ]
        for (index, text) in architectures.enumerated() {
            let architecture = try Architecture(parsing: text)
            let weightLayers = architecture.layers.filter(\.isWeightLayer).count
            let functions = (0..<(weightLayers - 1)).map { hidden[($0 + index) % hidden.count] } + [output]
            let network = try Network(architecture: architecture, activations: functions, seed: 21)
            let sizes = network.sizes
            var reference = ReferenceNetwork(network)
            let x = TestData.uniform(sizes[0], seed: 1).map(Double.init)
            // A distribution for softmax, values inside (0, 1) for the others.
            var y = TestData.uniform(sizes.last!, seed: 2, in: 0.1...0.9).map(Double.init)
            if output == .softmax { y = y.map { $0 / y.reduce(0, +) } }
            let analytic = reference.gradients(loss, x: x, y: y)
            let h = 1e-6
            var numeric: [Double] = [], exact: [Double] = []
            // (C(θ + h) − C(θ − h)) / 2h for every parameter θ of both kinds.
            for (parameters, gradients) in [(\ReferenceNetwork.weights, analytic.weights), (\.biases, analytic.biases)] {
                for l in 0..<gradients.count {
                    for k in 0..<gradients[l].count {
                        let saved = reference[keyPath: parameters][l][k]
                        reference[keyPath: parameters][l][k] = saved + h
                        let plus = reference.cost(loss, x: x, y: y)
                        reference[keyPath: parameters][l][k] = saved - h
                        let minus = reference.cost(loss, x: x, y: y)
                        reference[keyPath: parameters][l][k] = saved
                        numeric.append((plus - minus) / (2 * h))
                        exact.append(gradients[l][k])
                    }
                }
            }
            let error = relativeError(exact, numeric)
            #expect(error < 1e-6, "\(sizes) \(functions) \(loss): relative error \(error)")
        }
    }

    @Test func sameSeedGivesIdenticalWeights() throws {
        let data = try TestData.classification(count: 57, inputs: 9, classes: 4, seed: 4)
        let options = TrainingOptions(epochs: 3, batchSize: 8, learningRate: 1, l2: 0.1, momentum: 0.5, seed: 77)
        func run(seed: UInt64) throws -> Network {
            var network = try Network(sizes: [9, 13, 4], seed: seed)
            try Trainer(options).train(&network, on: data, backend: CPUBackend())
            return network
        }
        let first = try run(seed: 1), second = try run(seed: 1), other = try run(seed: 2)
        #expect(first == second)
        #expect(first != other)
    }

    /// The CPU backend shares the training set's storage; training must still leave the caller's
    /// data and every other copy of the network as they were.
    @Test func trainingKeepsValueSemantics() throws {
        let data = try TestData.classification(count: 40, inputs: 5, classes: 3, seed: 6)
        let inputs = data.inputs, targets = data.targets
        let start = try Network(sizes: [5, 4, 3], seed: 2)
        var trained = start
        try Trainer(TrainingOptions(epochs: 2, batchSize: 7, learningRate: 1, momentum: 0.5))
            .train(&trained, on: data, test: data, backend: CPUBackend())
        #expect(data.inputs == inputs && data.targets == targets)
        #expect(start == (try Network(sizes: [5, 4, 3], seed: 2)))
        #expect(trained != start)
    }

    @Test func initialisationFollowsTheStatedDistribution() throws {
        let network = try Network(sizes: [400, 2000, 1], seed: 3)
        let weights = network.layers[0].weights.map(Double.init)
        let mean = weights.reduce(0, +) / Double(weights.count)
        let variance = weights.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(weights.count)
        #expect(abs(mean) < 0.002)
        #expect(abs(variance * 400 - 1) < 0.02, "variance·n_in = \(variance * 400), expected 1")
        let biases = network.layers[0].biases.map(Double.init)
        let biasVariance = biases.map { $0 * $0 }.reduce(0, +) / Double(biases.count)
        #expect(abs(biasVariance - 1) < 0.15)
        #expect(try Network(sizes: [400, 2000, 1], seed: 3) == network)
    }

    @Test func trainingLearnsASeparableProblem() throws {
        let data = try TestData.classification(count: 600, inputs: 3, classes: 2, seed: 8)
        var network = try Network(sizes: [3, 16, 2], seed: 1)
        let before = try network.evaluate(on: data, backend: CPUBackend())
        let reports = try Trainer(TrainingOptions(epochs: 40, batchSize: 10, learningRate: 3))
            .train(&network, on: data, test: data, backend: CPUBackend())
        let after = try network.evaluate(on: data, backend: CPUBackend())
        #expect(after.accuracy > 0.9, "accuracy \(after.accuracy)")
        #expect(after.loss < before.loss)
        #expect(reports.count == 40)
        #expect(abs(reports.last!.testAccuracy! - after.accuracy) < 1e-12)
    }

    /// With one output unit, accuracy is binary (output ≥ 0.5 against target ≥ 0.5); an argmax
    /// over one unit would call every sample right.
    @Test func singleOutputAccuracyIsBinary() throws {
        // XOR, the README's example, twice over, and an untrained 2-3-1 network.
        let xor = try Dataset(
            inputs: [0, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0, 1, 1, 0, 1, 1], targets: [0, 1, 1, 0, 0, 1, 1, 0], inputSize: 2, outputSize: 1)
        for seed: UInt64 in 0..<5 {
            let network = try Network(sizes: [2, 3, 1], seed: seed)
            let reference = ReferenceNetwork(network)
            var correct = 0
            for s in 0..<xor.count {
                let output = reference.activations([Double(xor.inputs[2 * s]), Double(xor.inputs[2 * s + 1])]).last![0]
                if (output >= 0.5) == (xor.targets[s] >= 0.5) { correct += 1 }
            }
            let result = try network.evaluate(on: xor, backend: CPUBackend())
            #expect(result.accuracy == Double(correct) / 8, "seed \(seed)")
            // An untrained network cannot get XOR right: at most 3 of its 4 cases.
            #expect(result.accuracy <= 0.75, "seed \(seed)")
        }
        #expect(predictedClass([Float(0.5)]) == 1 && predictedClass([Float(0.4999)]) == 0)
        #expect(predictedClass([Float(0.2), 0.7, 0.7]) == 1, "the first of tied maxima")
    }

    @Test func evaluationMatchesReference() throws {
        for loss in Loss.allCases {
            let data = try TestData.classification(count: 1_037, inputs: 17, classes: 3, seed: 2)
            let network = try Network(sizes: [17, 5, 3], seed: 4)
            let result = try network.evaluate(on: data, loss: loss, backend: CPUBackend())
            let reference = ReferenceNetwork(network)
            var cost = 0.0, correct = 0
            for s in 0..<data.count {
                let x = data.inputs[(s * 17)..<((s + 1) * 17)].map(Double.init)
                let y = data.targets[(s * 3)..<((s + 1) * 3)].map(Double.init)
                let output = reference.activations(x).last!
                cost += ReferenceNetwork.cost(loss, output: output, target: y)
                if output.firstIndex(of: output.max()!) == y.firstIndex(of: 1) { correct += 1 }
            }
            #expect(result.samples == data.count)
            #expect(abs(result.loss - cost / Double(data.count)) / (cost / Double(data.count)) < 1e-5)
            #expect(abs(result.accuracy - Double(correct) / Double(data.count)) <= 1.0 / Double(data.count))
        }
    }

    @Test func rejectsBadOptionsAndShapes() throws {
        let data = try TestData.classification(count: 10, inputs: 3, classes: 2, seed: 1)
        var network = try Network(sizes: [3, 2], seed: 1)
        for bad in [
            TrainingOptions(epochs: 0), TrainingOptions(batchSize: -1), TrainingOptions(learningRate: 0),
            TrainingOptions(learningRate: .nan), TrainingOptions(l2: -1), TrainingOptions(momentum: 1),
        ] {
            #expect(throws: BPNetError.self) { try Trainer(bad).train(&network, on: data, backend: CPUBackend()) }
        }
        var wide = try Network(sizes: [4, 2], seed: 1)
        #expect(throws: BPNetError.invalidArgument(
            "training data has 3 inputs per sample but the network's input layer has 4")) {
            try Trainer().train(&wide, on: data, backend: CPUBackend())
        }
        #expect(throws: BPNetError.self) { try Network(sizes: [3]) }
        #expect(throws: BPNetError.self) { try Network(sizes: [3, 0, 2]) }
    }
}
