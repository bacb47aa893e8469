#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The hyper-parameters of mini-batch SGD. Defaults are Nielsen's.
public struct TrainingOptions: Sendable, Equatable {
    public var epochs = 30
    public var batchSize = 10
    /// η
    public var learningRate: Float = 3.0
    public var loss = Loss.quadratic
    /// λ, the L2 strength; the weight term is (λ/n)·W with n the training-set size.
    public var l2: Float = 0
    /// μ; 0 is plain SGD.
    public var momentum: Float = 0
    /// Drives the per-epoch shuffle.
    public var seed: UInt64 = 0
    /// false keeps file order in every epoch.
    public var shuffle = true

    public init(
        epochs: Int = 30, batchSize: Int = 10, learningRate: Float = 3.0, loss: Loss = .quadratic,
        l2: Float = 0, momentum: Float = 0, seed: UInt64 = 0, shuffle: Bool = true
    ) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.loss = loss
        self.l2 = l2
        self.momentum = momentum
        self.seed = seed
        self.shuffle = shuffle
    }

    public func validate() throws {
        guard epochs > 0 else { throw BPNetError.invalidArgument("epochs must be positive, got \(epochs)") }
        guard batchSize > 0 else { throw BPNetError.invalidArgument("batch size must be positive, got \(batchSize)") }
        guard learningRate.isFinite, learningRate > 0 else {
            throw BPNetError.invalidArgument("learning rate must be positive and finite, got \(learningRate)")
        }
        guard l2.isFinite, l2 >= 0 else { throw BPNetError.invalidArgument("l2 must be ≥ 0 and finite, got \(l2)") }
        guard momentum.isFinite, momentum >= 0, momentum < 1 else {
            throw BPNetError.invalidArgument("momentum must be in [0, 1), got \(momentum)")
        }
    }
}

/// What one epoch did. Losses are the mean per-sample cost without the L2 term.
public struct EpochReport: Sendable, Equatable {
    public var epoch: Int
    /// Mean cost over the epoch's mini-batches, each measured in its forward pass before its update.
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var testLoss: Double?
    public var testAccuracy: Double?
    /// Wall time of the epoch's training pass (the test pass is not counted).
    public var seconds: Double
    public var samplesPerSecond: Double
}

/// Loss and accuracy of a network on a dataset.
public struct Evaluation: Sendable, Equatable {
    public var samples: Int
    /// Mean per-sample cost.
    public var loss: Double
    /// Fraction of samples whose predicted class equals the target's (`predictedClass`).
    public var accuracy: Double
}

/// Mini-batch SGD, exactly this rule, for a batch of m samples out of n:
///
///     gW = (1/m) Σₓ δ·aᵀ,  gb = (1/m) Σₓ δ
///     vW = μ·vW − η·(gW + (λ/n)·W),  W += vW
///     vb = μ·vb − η·gb,              b += vb
///
/// The last batch of an epoch may be partial; its m is its real size.
public struct Trainer: Sendable {
    public var options: TrainingOptions

    public init(_ options: TrainingOptions = TrainingOptions()) { self.options = options }

    /// Trains `network` in place on `backend`, calling `progress` after every epoch.
    /// Weights and data stay on the backend for the whole run; per epoch only the shuffled
    /// order goes up and a few sums come back.
    @discardableResult
    public func train(
        _ network: inout Network, on data: Dataset, test: Dataset? = nil, backend: any Backend,
        progress: (EpochReport) throws -> Void = { _ in }
    ) throws -> [EpochReport] {
        try options.validate()
        try Trainer.check(data, fits: network, role: "training data")
        if let test { try Trainer.check(test, fits: network, role: "test data") }

        let n = data.count
        let batch = min(options.batchSize, n)
        guard batch * (network.sizes.max() ?? 1) <= Network.maxElements else {
            throw BPNetError.invalidArgument(
                "batch size \(batch) is too large for layers of \(network.sizes.max() ?? 1) units: "
                    + "a batch matrix holds at most \(Network.maxElements) values")
        }
        let evaluationRows = test == nil ? 0 : min(test!.count, 1024)
        let resident = try ResidentNetwork(network, backend: backend, capacity: max(batch, evaluationRows))
        let train = try ResidentDataset(data, backend: backend)
        let testResident = try test.map { try ResidentDataset($0, backend: backend) }
        let batches = (n + batch - 1) / batch
        let metrics = try backend.makeBuffer(count: 2 * batches)
        let order = try backend.makeIndexBuffer(count: n)
        var permutation = (0..<Int32(n)).map { $0 }
        var generator = Trainer.shuffleGenerator(seed: options.seed)
        let decay = options.l2 / Float(n)

        var reports: [EpochReport] = []
        for epoch in 1...options.epochs {
            let start = monotonicSeconds()
            if options.shuffle { generator.shuffle(&permutation) }
            try permutation.withUnsafeBufferPointer { try backend.uploadIndices($0, to: order) }
            for b in 0..<batches {
                let offset = b * batch
                let rows = min(batch, n - offset)
                try resident.gather(train, indices: order, offset: offset, rows: rows)
                try resident.forward(rows: rows)
                try resident.measure(options.loss, rows: rows, into: metrics, slot: b)
                try resident.backward(options.loss, rows: rows)
                try resident.update(
                    rows: rows, learningRate: options.learningRate, decay: decay, momentum: options.momentum)
            }
            let (lossSum, correct) = try ResidentNetwork.sum(metrics, backend: backend)
            let seconds = monotonicSeconds() - start
            var report = EpochReport(
                epoch: epoch, trainLoss: lossSum / Double(n), trainAccuracy: Double(correct) / Double(n),
                testLoss: nil, testAccuracy: nil, seconds: seconds, samplesPerSecond: Double(n) / seconds)
            if let testResident {
                let (testLoss, testCorrect) = try resident.evaluate(testResident, loss: options.loss)
                report.testLoss = testLoss / Double(testResident.count)
                report.testAccuracy = Double(testCorrect) / Double(testResident.count)
            }
            reports.append(report)
            try progress(report)
        }
        network = try resident.download()
        return reports
    }

    /// The generator behind the per-epoch shuffle: its own stream, so that `--init` with the same seed still shuffles the same way.
    public static func shuffleGenerator(seed: UInt64) -> SeededGenerator {
        SeededGenerator(seed: seed ^ 0x5348_5546_464C_4531)  // "SHUFFLE1"
    }

    static func check(_ data: Dataset, fits network: Network, role: String) throws {
        guard data.count > 0 else { throw BPNetError.invalidArgument("\(role) holds no samples") }
        guard data.inputSize == network.inputSize else {
            throw BPNetError.invalidArgument(
                "\(role) has \(data.inputSize) inputs per sample but the network's input layer has \(network.inputSize)")
        }
        guard data.outputSize == network.outputSize else {
            throw BPNetError.invalidArgument(
                "\(role) has \(data.outputSize) targets per sample but the network's output layer has \(network.outputSize)")
        }
    }
}

extension Network {
    /// Mean loss and accuracy on `data`, computed on `backend`.
    public func evaluate(on data: Dataset, loss: Loss = .quadratic, backend: any Backend) throws -> Evaluation {
        try Trainer.check(data, fits: self, role: "evaluation data")
        let resident = try ResidentNetwork(self, backend: backend, capacity: min(data.count, 1024))
        let (lossSum, correct) = try resident.evaluate(ResidentDataset(data, backend: backend), loss: loss)
        return Evaluation(
            samples: data.count, loss: lossSum / Double(data.count), accuracy: Double(correct) / Double(data.count))
    }

    /// Outputs `[count, outputSize]` for inputs `[count, inputSize]`, computed on `backend`.
    public func predict(_ inputs: [Float], backend: any Backend) throws -> [Float] {
        guard !inputs.isEmpty, inputs.count % inputSize == 0 else {
            throw BPNetError.invalidArgument("inputs must be a non-empty multiple of \(inputSize) values")
        }
        let data = try Dataset(
            inputs: inputs, targets: [Float](repeating: 0, count: inputs.count / inputSize * outputSize),
            inputSize: inputSize, outputSize: outputSize)
        let resident = try ResidentNetwork(self, backend: backend, capacity: min(data.count, 1024))
        let residentData = try ResidentDataset(data, backend: backend)
        var outputs = [Float](repeating: 0, count: data.count * outputSize)
        for offset in stride(from: 0, to: data.count, by: resident.capacity) {
            let rows = min(resident.capacity, data.count - offset)
            try resident.gather(residentData, indices: residentData.identity, offset: offset, rows: rows)
            try resident.forward(rows: rows)
            try outputs.withUnsafeMutableBufferPointer { all in
                try backend.download(
                    resident.output,
                    into: UnsafeMutableBufferPointer(rebasing: all[(offset * outputSize)..<((offset + rows) * outputSize)]))
            }
        }
        return outputs
    }
}

func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
}
