import BPNet
import BPNetTestSupport
import Testing

/// Convolutional networks trained by the CPU backend against the float64 reference, which runs
/// each sample through `ImageReference`'s loops in NCHW: odd image shapes, several channels,
/// strides, paddings, even kernels, overlapping pools, partial batches, every optimizer and
/// dropout.
@Suite struct CNNTrainingTests {
    static let tolerance = 1e-4

    struct Case: CustomTestStringConvertible, Sendable {
        var layers: String
        var activations: [Activation]
        var samples: Int
        var options: TrainingOptions
        var testDescription: String {
            "\(layers) \(activations.map(\.rawValue).joined(separator: ",")) n=\(samples) batch=\(options.batchSize) "
                + "\(options.optimizer.name) λ=\(options.l2) μ=\(options.momentum) dropout=\(options.dropout)"
        }
    }

    static let cases: [Case] = [
        // One channel, padding, a 2×2 pool; partial last batch (37 = 4·8 + 5).
        Case(layers: "1x7x6,conv:3:3:1:1,maxpool:2,flatten,3", activations: [.relu, .softmax], samples: 37, options: TrainingOptions(
            epochs: 2, batchSize: 8, learningRate: 0.1, loss: .logLikelihood, l2: 1, momentum: 0.5)),
        // Two input channels (NCHW data moved to NHWC), stride 2, an even kernel, two convolutions in a row.
        Case(layers: "2x5x7,conv:4:3:2:1,conv:3:2,flatten,5,3", activations: [.tanh, .sigmoid, .relu, .softmax], samples: 23,
             options: TrainingOptions(epochs: 2, batchSize: 5, learningRate: 0.05, optimizer: .nesterov, loss: .logLikelihood,
                                      momentum: 0.9)),
        // Overlapping windows (stride 1), Adam, dropout on a convolution's and a dense layer's outputs.
        Case(layers: "1x7x6,conv:4:3,maxpool:2:1,flatten,7,3", activations: [.relu, .relu, .softmax], samples: 29, options: TrainingOptions(
            epochs: 2, batchSize: 6, learningRate: 0.01, optimizer: .adam(), loss: .logLikelihood, dropout: 0.3, seed: 4)),
        // Pooling first, a stride larger than the kernel, AdamW, quadratic loss with sigmoid outputs.
        Case(layers: "3x6x5,maxpool:2:1,conv:5:1:2,flatten,2", activations: [.sigmoid, .sigmoid], samples: 19, options: TrainingOptions(
            epochs: 3, batchSize: 4, optimizer: .adamw(weightDecay: 0.1), seed: 2)),
        // Average pooling with overlapping windows after a convolution (its backward through col2im
        // and ⊙ f′), then global average pooling over an odd 2×2 image; RMSprop with momentum.
        Case(layers: "2x7x9,conv:5:3:1:1,avgpool:3:2,conv:3:2,gap,flatten,3", activations: [.relu, .tanh, .softmax], samples: 27,
             options: TrainingOptions(epochs: 2, batchSize: 7, learningRate: 0.01, optimizer: .rmsprop(), loss: .logLikelihood,
                                      momentum: 0.5, seed: 3)),
        // Average pooling first (the data's batch moved to NHWC), floor mode on 5×5, then dense layers.
        Case(layers: "3x5x5,avgpool:2,flatten,5,2", activations: [.sigmoid, .sigmoid], samples: 13, options: TrainingOptions(
            epochs: 3, batchSize: 4, learningRate: 1, momentum: 0.5)),
        // Crops and flips of two-channel images (a partial batch, shuffled, over 3 epochs whose
        // draws differ), before a strided convolution.
        Case(layers: "2x6x7,conv:3:3:2:1,flatten,3", activations: [.relu, .softmax], samples: 21, options: TrainingOptions(
            epochs: 3, batchSize: 8, learningRate: 0.05, loss: .logLikelihood, momentum: 0.5, augment: Augmentation(cropPadding: 2, flip: true),
            seed: 6)),
        // GELU convolutions (f′ from the kept z after max pooling's and col2im's backward), a leaky
        // ReLU layer at slope 0.2, dropout, SGD with momentum.
        Case(layers: "2x7x6,conv:4:3:1:1,maxpool:2:1,conv:3:2,flatten,5,3", activations: [.gelu, .gelu, try! .leakyRelu(slope: 0.2), .softmax],
             samples: 25, options: TrainingOptions(
                epochs: 2, batchSize: 6, learningRate: 0.05, loss: .logLikelihood, momentum: 0.5, dropout: 0.3, seed: 8)),
        // Batch norm after a padded convolution (over 7·6 positions a sample) and after a dense
        // layer (over samples alone), each applying its weight layer's activation; partial
        // batches (29 = 4·7 + 1 in 4·6 + 5); SGD with momentum (γ and β take the arena's pass).
        Case(layers: "2x7x6,conv:4:3:1:1,batchnorm,maxpool:2,flatten,9,batchnorm,3", activations: [.relu, .tanh, .softmax],
             samples: 29, options: TrainingOptions(
                epochs: 2, batchSize: 6, learningRate: 0.05, loss: .logLikelihood, l2: 0.5, momentum: 0.5, seed: 9)),
        // GELU after batch norm (its z kept at the batch norm's output), dropout on the normalised
        // layers' outputs, two convolutions, Adam with clipping.
        Case(layers: "1x6x7,conv:3:3,batchnorm,conv:5:2:2,batchnorm,flatten,7,3", activations: [.gelu, .leakyRelu, .sigmoid, .softmax],
             samples: 23, options: TrainingOptions(
                epochs: 2, batchSize: 5, learningRate: 0.01, optimizer: .adam(), loss: .logLikelihood, dropout: 0.3, clipNorm: 0.5,
                seed: 10)),
        // Padding 2 around a 5×5 kernel on a 3×3 image; plain SGD.
        Case(layers: "1x3x3,conv:2:5:1:2,flatten,3", activations: [.identity, .softmax], samples: 17, options: TrainingOptions(
            epochs: 3, batchSize: 3, learningRate: 0.1, loss: .logLikelihood)),
    ]

    @Test(arguments: cases)
    func cpuMatchesReference(_ c: Case) throws {
        let architecture = try Architecture(parsing: c.layers)
        let classes = try architecture.shapes().last!.count
        let data = try TestData.classification(
            count: c.samples, inputs: architecture.input.count, classes: classes, seed: 11)
        var network = try Network(architecture: architecture, activations: c.activations, initializer: .he, seed: 5)
        let start = network
        var reference = ReferenceNetwork(network)
        try Trainer(c.options).train(&network, on: data, backend: CPUBackend())
        reference.train(data, options: c.options)
        let error = relativeError(network.flatParameters, reference.flatParameters)
        #expect(error < Self.tolerance, "relative error \(error)")
        // Batch norms' running statistics moved as the reference's did.
        let running = network.normalizations.flatMap { $0.runningMean + $0.runningVariance }.map(Double.init)
        #expect(running.count == reference.flatRunningStatistics.count)
        if !running.isEmpty {
            #expect(relativeError(running, reference.flatRunningStatistics) < Self.tolerance)
            #expect(running != start.normalizations.flatMap { $0.runningMean + $0.runningVariance }.map(Double.init))
        }
        // The parameters really moved, so the comparison is not of two untouched copies.
        #expect(relativeError(network.flatParameters, start.flatParameters) > 1e-3)
        // The trained network's outputs on the backend are its host forward pass.
        let x = Array(data.inputs[0..<(3 * data.inputSize)])
        let outputs = try network.predict(x, backend: CPUBackend())
        let host = (0..<3).flatMap { network(Array(x[($0 * data.inputSize)..<(($0 + 1) * data.inputSize)])) }
        #expect(relativeError(outputs, host.map(Double.init)) < 1e-5)
    }

    /// The same seed gives the same bits, run after run.
    @Test func trainingIsDeterministic() throws {
        let architecture = try Architecture(parsing: "1x7x6,conv:3:3:1:1,maxpool:2,flatten,3")
        let data = try TestData.classification(count: 20, inputs: 42, classes: 3, seed: 1)
        let options = TrainingOptions(epochs: 1, batchSize: 7, learningRate: 0.1, loss: .logLikelihood, dropout: 0.2)
        func run() throws -> [Double] {
            var network = try Network(architecture: architecture, activations: [.relu, .softmax], seed: 3)
            try Trainer(options).train(&network, on: data, backend: CPUBackend())
            return network.flatParameters
        }
        #expect(try run() == run())
    }

    /// Fan-in and fan-out of a convolution are Cin·K·K and Cout·K·K, as PyTorch takes them.
    @Test func initializersTakeTheConvolutionsFans() throws {
        let architecture = try Architecture(parsing: "3x9x9,conv:16:5,flatten,2")
        let xavier = try Network(architecture: architecture, activations: [.relu, .softmax], initializer: .xavier, seed: 1)
        let limit = Float((6.0 / Double(3 * 25 + 16 * 25)).squareRoot())
        let conv = xavier.layers[0]
        #expect(conv.weights.count == 16 * 3 * 25 && conv.inputs == 75 && conv.outputs == 16)
        #expect(conv.weights.allSatisfy { abs($0) <= limit } && conv.weights.contains { abs($0) > limit * 0.9 })
        let he = try Network(architecture: architecture, activations: [.relu, .softmax], initializer: .he, seed: 1)
        let variance = he.layers[0].weights.reduce(0.0) { $0 + Double($1 * $1) } / Double(he.layers[0].weights.count)
        #expect(abs(variance - 2.0 / 75) < 0.15 * 2.0 / 75, "variance \(variance)")
    }
}
