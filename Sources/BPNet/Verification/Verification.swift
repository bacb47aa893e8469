import Foundation

/// The CPU/device parity checks, defined once: `bpnet verify` runs them on a user's device, and
/// the OpenCL test suite and the oclgrind run call these same functions, so the command and the
/// tests cannot drift apart.
///
/// Every check runs an operation on the device and on the CPU backend from the same inputs and
/// compares them (and GEMM and the sigmoid also with float64 computed straight from the
/// definition) by the relative-error norm, against a stated tolerance.
public enum Verification {
    /// One operation from the same inputs.
    public static let operationTolerance = 1e-5
    /// The weights after a short whole training run from the same start (a few hundred steps at a
    /// modest η; see the parity contract in docs/backends-and-kernels.md).
    public static let runTolerance = 1e-4

    /// `quick` keeps to small odd shapes: seconds on PoCL, and small enough for a simulator.
    public enum Depth: String, Sendable { case quick, full }

    /// Every check, each family in `families`, on `device`; `progress` sees each check as it ends.
    public static func run(
        on device: OpenCLBackend, families: [GEMMFamily] = GEMMFamily.allCases,
        depth: Depth = .full, progress: (VerificationCheck) -> Void = { _ in }
    ) -> VerificationReport {
        let start = monotonicSeconds()
        let cpu = CPUBackend()
        var checks: [VerificationCheck] = []
        var launched = Set<String>()
        func record(_ new: [VerificationCheck]) {
            for check in new { progress(check) }
            checks += new
        }
        for (index, family) in families.enumerated() {
            // Profiled, so that the report can say which kernels ran at all.
            let backend = device.with(family).profiled()
            record(gemmChecks(backend, cpu: cpu, depth: depth))
            record(layerChecks(backend, cpu: cpu, depth: depth))
            record(optimizerChecks(backend, cpu: cpu, depth: depth))
            // A quick run takes the runs past the seed on its first family only: under a simulator
            // each run costs seconds. The full run and the test suite take them on every family.
            record(trainingChecks(backend, cpu: cpu, depth: depth, pastTheSeed: depth == .full || index == 0))
            record([stepCheck(backend, cpu: cpu, depth: depth)])
            if let times = try? backend.kernelTimes() { launched.formUnion(times.entries.map(\.operation)) }
        }
        let tuned = device.tuned.profiled()
        record(elementwiseChecks(tuned, cpu: cpu, depth: depth))
        // The image kernels are the same whichever GEMM family runs: once.
        record(imageChecks(tuned, cpu: cpu, depth: depth))
        record(dropoutChecks(tuned, cpu: cpu, depth: depth))
        record(clipChecks(tuned, cpu: cpu, depth: depth))
        record(augmentChecks(tuned, cpu: cpu, depth: depth))
        record(normalizationChecks(tuned, cpu: cpu, depth: depth))
        record([determinismCheck(tuned, depth: depth)])
        if let times = try? tuned.kernelTimes() { launched.formUnion(times.entries.map(\.operation)) }
        return VerificationReport(
            device: device.device, families: families.map(\.rawValue), depth: depth.rawValue, checks: checks,
            kernelsRun: OpenCLContext.kernelNames.filter(launched.contains),
            kernelsNotRun: OpenCLContext.kernelNames.filter { !launched.contains($0) },
            seconds: monotonicSeconds() - start)
    }

    // MARK: Checks

    /// Shapes (m, n, k) of the training products at odd sizes and batches 1, 10 and 1000.
    public static func gemmShapes(_ depth: Depth) -> [(m: Int, n: Int, k: Int)] {
        switch depth {
        case .quick: return [(1, 1, 1), (3, 17, 1), (17, 3, 33), (33, 65, 17), (65, 1, 3)]
        case .full:
            return [
                (1, 1, 1), (3, 17, 1), (17, 3, 100), (1, 100, 784), (10, 30, 784), (10, 784, 100), (100, 784, 10),
                (784, 100, 1000), (1000, 10, 100), (30, 784, 1000), (33, 65, 129),
            ]
        }
    }

    /// C = α·op(A)·op(B) + β·C in all four transpose cases, against float64 and the CPU backend.
    public static func gemmChecks(_ device: OpenCLBackend, cpu: any Backend, depth: Depth) -> [VerificationCheck] {
        var checks: [VerificationCheck] = []
        for (index, (m, n, k)) in gemmShapes(depth).enumerated() {
            for (transposeA, transposeB) in [(false, false), (false, true), (true, false), (true, true)] {
                let tag = (transposeA ? "t" : "n") + (transposeB ? "t" : "n")
                let name = "gemm \(device.family.rawValue) \(tag) \(m)×\(n)×\(k)"
                checks.append(check(name, tolerance: operationTolerance) {
                    let a = uniform(m * k, seed: UInt64(index)), b = uniform(k * n, seed: UInt64(index + 100))
                    let c0 = uniform(m * n, seed: UInt64(index + 200))
                    let (alpha, beta): (Float, Float) = (0.75, index % 2 == 0 ? 0 : 0.5)
                    let product = referenceProduct(
                        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, b: b)
                    let expected = zip(product, c0).map { Double(alpha) * $0 + Double(beta) * Double($1) }
                    var results: [[Float]] = []
                    for backend in [device as any Backend, cpu] {
                        let c = try backend.makeBuffer(c0)
                        try backend.gemm(
                            transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                            a: try backend.makeBuffer(a), b: try backend.makeBuffer(b), beta: beta, c: c)
                        results.append(try backend.download(c))
                    }
                    return worst(["float64": relativeError(results[0], expected), "cpu": relativeError(results[0], results[1])])
                })
            }
        }
        return checks
    }

    /// The unfused bias + activation for every activation (against float64 and the CPU) and the
    /// mini-batch gather (exact).
    public static func elementwiseChecks(_ device: OpenCLBackend, cpu: any Backend, depth: Depth) -> [VerificationCheck] {
        let shapes = depth == .quick ? [(1, 1), (3, 17), (17, 33)] : [(1, 1), (3, 17), (100, 784), (1000, 10)]
        var checks: [VerificationCheck] = []
        for (rows, columns) in shapes {
            let values = uniform(rows * columns, seed: 9, in: -30...30)
            for function in Activation.allCases {
                checks.append(check("bias+\(function.rawValue) \(rows)×\(columns)", tolerance: operationTolerance) {
                    let bias = uniform(columns, seed: 10)
                    var results: [[Float]] = []
                    for backend in [device as any Backend, cpu] {
                        let x = try backend.makeBuffer(values)
                        try backend.addBiasActivation(x, bias: try backend.makeBuffer(bias), rows: rows, columns: columns, activation: function)
                        results.append(try backend.download(x))
                    }
                    let expected = referenceActivation(function, rows: rows, columns: columns) {
                        Double(values[$0 * columns + $1] + bias[$1])
                    }
                    return worst(["float64": relativeError(results[0], expected), "cpu": relativeError(results[0], results[1])])
                })
            }
            // Odd rows in reversed order, from the middle of the index buffer: a copy, so exact.
            checks.append(check("gather \(rows)×\(columns)", tolerance: 0) {
                let order: [Int32] = [0, 0] + (0..<Int32(rows)).reversed()
                var gathered: [[Float]] = []
                for backend in [device as any Backend, cpu] {
                    let indices = try backend.makeIndexBuffer(count: order.count)
                    try order.withUnsafeBufferPointer { try backend.uploadIndices($0, to: indices) }
                    let destination = try backend.makeBuffer(count: rows * columns)
                    try backend.gather(
                        source: try backend.makeBuffer(values), rowLength: columns, indices: indices, offset: 2,
                        rows: rows, into: destination)
                    gathered.append(try backend.download(destination))
                }
                let expected = (0..<rows).reversed().flatMap { values[($0 * columns)..<(($0 + 1) * columns)] }
                return gathered[0] == gathered[1] && gathered[0] == expected ? (0, nil) : (.infinity, "rows differ")
            })
            // Inputs and targets in one pass (the device's fused kernel), against the two gathers.
            checks.append(check("gather batch \(rows)×\(columns) + \(rows)×3", tolerance: 0) {
                let order: [Int32] = [0] + (0..<Int32(rows)).reversed()
                let targets = uniform(rows * 3, seed: 41)
                var gathered: [[Float]] = []
                for backend in [device as any Backend, cpu] {
                    let indices = try backend.makeIndexBuffer(count: order.count)
                    try order.withUnsafeBufferPointer { try backend.uploadIndices($0, to: indices) }
                    let inputRows = try backend.makeBuffer(count: rows * columns), targetRows = try backend.makeBuffer(count: rows * 3)
                    try backend.gatherBatch(
                        inputs: try backend.makeBuffer(values), inputLength: columns, targets: try backend.makeBuffer(targets),
                        targetLength: 3, indices: indices, offset: 1, rows: rows, intoInputs: inputRows, intoTargets: targetRows)
                    let both: [Float] = try backend.download(inputRows) + backend.download(targetRows)
                    gathered.append(both)
                }
                let expectedInputs: [Float] = (0..<rows).reversed().flatMap { values[($0 * columns)..<(($0 + 1) * columns)] }
                let expectedTargets: [Float] = (0..<rows).reversed().flatMap { targets[($0 * 3)..<(($0 + 1) * 3)] }
                let expected = expectedInputs + expectedTargets
                return gathered[0] == gathered[1] && gathered[0] == expected ? (0, nil) : (.infinity, "rows differ")
            })
        }
        return checks
    }

    /// A short whole training run: its layers and options, on generated data.
    public struct TrainingRun: Sendable {
        public var architecture: Architecture
        public var activations: [Activation]?
        public var initializer: Initializer
        public var options: TrainingOptions

        public init(sizes: [Int], activations: [Activation]? = nil, initializer: Initializer = .normal, options: TrainingOptions) {
            self.init(architecture: Architecture(sizes: sizes), activations: activations, initializer: initializer, options: options)
        }

        public init(
            architecture: Architecture, activations: [Activation]? = nil, initializer: Initializer = .normal, options: TrainingOptions
        ) {
            self.architecture = architecture
            self.activations = activations
            self.initializer = initializer
            self.options = options
        }

        public var name: String {
            let functions = activations.map { " " + $0.map(\.rawValue).joined(separator: ",") } ?? ""
            let extras = (options.optimizer == .sgd ? "" : " \(options.optimizer.name)")
                + (options.schedule == .constant ? "" : " \(options.schedule)")
                + (options.dropout == 0 ? "" : " dropout \(options.dropout)")
            let layers = architecture.denseSizes.map { $0.map(String.init).joined(separator: "-") } ?? architecture.description
            return "\(layers)\(functions) \(options.loss.rawValue) batch \(options.batchSize)"
                + " λ=\(options.l2) μ=\(options.momentum)" + extras
        }
    }

    /// Runs of the model past the seed: ReLU, tanh and softmax layers, every optimizer, both
    /// schedules, dropout and the other initializers.
    static func modernRuns(_ depth: Depth, inputs: Int, classes: Int) -> [TrainingRun] {
        let epochs = depth == .quick ? 2 : 3
        let hidden = depth == .quick ? 9 : 33
        return [
            TrainingRun(
                sizes: [inputs, hidden, classes], activations: [.relu, .softmax], initializer: .he,
                options: TrainingOptions(
                    epochs: epochs, batchSize: 8, optimizer: .adam(), loss: .logLikelihood, l2: 0.5, schedule: .cosine,
                    dropout: 0.2, seed: 3)),
            TrainingRun(
                sizes: [inputs, hidden, hidden, classes], activations: [.relu, .relu, .softmax], initializer: .xavier,
                options: TrainingOptions(
                    epochs: epochs, batchSize: 10, optimizer: .adamw(), loss: .logLikelihood, schedule: .step(every: 1, factor: 0.5))),
            TrainingRun(
                sizes: [inputs, hidden, classes], activations: [.tanh, .sigmoid],
                options: TrainingOptions(
                    epochs: epochs, batchSize: 10, learningRate: 0.05, optimizer: .nesterov, loss: .crossEntropy, momentum: 0.9)),
            TrainingRun(
                sizes: [inputs, hidden, classes], activations: [.relu, .identity],
                options: TrainingOptions(epochs: epochs, batchSize: 16, learningRate: 0.05, momentum: 0.5, dropout: 0.5)),
            TrainingRun(
                sizes: [inputs, hidden, classes], activations: [.relu, .softmax], initializer: .he,
                options: TrainingOptions(
                    epochs: epochs, batchSize: 12, learningRate: 0.003, optimizer: .rmsprop(), loss: .logLikelihood, l2: 0.5,
                    momentum: 0.9, seed: 4)),
            TrainingRun(
                sizes: [inputs, hidden, classes], activations: [.relu, .softmax], initializer: .he,
                options: TrainingOptions(
                    epochs: epochs, batchSize: 8, optimizer: .adam(), loss: .logLikelihood, clipNorm: 0.1, seed: 5)),
            // GELU, whose f′ reads the kept z, before leaky ReLU at a slope of its own: the fused
            // SGD path's hidden deltas, under dropout.
            TrainingRun(
                sizes: [inputs, hidden, hidden, classes], activations: [.gelu, (try? Activation.leakyRelu(slope: 0.1)) ?? .leakyRelu, .softmax],
                initializer: .he,
                options: TrainingOptions(
                    epochs: epochs, batchSize: 9, learningRate: 0.05, loss: .logLikelihood, momentum: 0.5, dropout: 0.2, seed: 6)),
        ]
    }

    /// Convolutional runs on generated images of odd shapes, 3 classes, partial batches: every
    /// image operation, forward and backward, in whole training steps.
    static func convolutionalRuns(_ depth: Depth) -> [TrainingRun] {
        func architecture(_ text: String) -> Architecture {
            // The texts below are valid; a typo would fail the check that runs them.
            (try? Architecture(parsing: text)) ?? Architecture(input: .flat(1), layers: [.dense(outputs: 3)])
        }
        let epochs = depth == .quick ? 1 : 2
        var runs = [
            TrainingRun(
                architecture: architecture("2x7x5,conv:4:3:1:1,maxpool:2,flatten,3"), activations: [.relu, .softmax], initializer: .he,
                options: TrainingOptions(epochs: epochs, batchSize: 8, learningRate: 0.05, loss: .logLikelihood, momentum: 0.5, dropout: 0.2)),
            TrainingRun(
                architecture: architecture("2x6x5,conv:3:3:1:1,avgpool:2:1,conv:4:2,gap,flatten,3"), activations: [.relu, .tanh, .softmax],
                initializer: .he, options: TrainingOptions(
                    epochs: epochs, batchSize: 7, learningRate: 0.05, loss: .logLikelihood, momentum: 0.5,
                    augment: Augmentation(cropPadding: 2, flip: true))),
            // Batch norm after a convolution (per channel, over the positions) and after a dense
            // layer, each applying its weight layer's activation; SGD with momentum.
            TrainingRun(
                architecture: architecture("2x6x7,conv:3:3:1:1,batchnorm,maxpool:2,flatten,7,batchnorm,3"),
                activations: [.relu, .tanh, .softmax], initializer: .he,
                options: TrainingOptions(epochs: epochs, batchSize: 8, learningRate: 0.05, loss: .logLikelihood, momentum: 0.5, seed: 8)),
            // A GELU convolution under pooling and dropout (⊙ f′(z) after max pooling's backward),
            // then a leaky ReLU layer; Adam.
            TrainingRun(
                architecture: architecture("2x7x5,conv:4:3:1:1,maxpool:2,flatten,5,3"), activations: [.gelu, .leakyRelu, .softmax],
                initializer: .he,
                options: TrainingOptions(
                    epochs: epochs, batchSize: 8, learningRate: 0.01, optimizer: .adam(), loss: .logLikelihood, dropout: 0.2, seed: 7)),
        ]
        if depth == .full {
            runs += [
                TrainingRun(
                    architecture: architecture("3x9x11,conv:17:5:2:2,maxpool:3:1,conv:3:1,flatten,9,3"),
                    activations: [.tanh, .relu, .relu, .softmax], initializer: .xavier,
                    options: TrainingOptions(epochs: epochs, batchSize: 10, optimizer: .adam(), loss: .logLikelihood, l2: 0.5)),
                TrainingRun(
                    architecture: architecture("1x8x8,conv:3:2:3,flatten,3"), activations: [.sigmoid, .sigmoid],
                    options: TrainingOptions(epochs: epochs, batchSize: 6, learningRate: 0.5, optimizer: .nesterov, momentum: 0.9)),
            ]
        }
        return runs
    }

    /// Runs of both losses, with λ and μ, whose last batch is partial.
    public static func trainingRuns(_ depth: Depth, inputs: Int) -> [TrainingRun] {
        switch depth {
        case .quick:
            return [
                TrainingRun(sizes: [inputs, 7, 3], options: TrainingOptions(epochs: 2, batchSize: 10, learningRate: 0.5)),
                TrainingRun(
                    sizes: [inputs, 9, 3],
                    options: TrainingOptions(epochs: 2, batchSize: 8, learningRate: 0.3, loss: .crossEntropy, l2: 1, momentum: 0.5)),
            ]
        case .full:
            return [
                TrainingRun(sizes: [inputs, 30, 10], options: TrainingOptions(epochs: 3, batchSize: 10, learningRate: 0.5)),
                TrainingRun(
                    sizes: [inputs, 17, 10],
                    options: TrainingOptions(epochs: 3, batchSize: 33, learningRate: 0.3, loss: .crossEntropy, l2: 1, momentum: 0.5)),
                TrainingRun(
                    sizes: [inputs, 100, 30, 10],
                    options: TrainingOptions(epochs: 2, batchSize: 128, learningRate: 1, loss: .crossEntropy, seed: 4)),
            ]
        }
    }

    /// Generated classification data (train, test) for `trainingRuns(depth)`.
    public static func trainingData(_ depth: Depth) throws -> (train: Dataset, test: Dataset, inputs: Int) {
        let (count, inputs, classes) = depth == .quick ? (37, 5, 3) : (1_003, 784, 10)
        let all = try generatedClassification(count: count + count / 5, inputs: inputs, classes: classes, seed: 12)
        return (all.prefix(count), all.suffix(count / 5), inputs)
    }

    public static func trainingChecks(
        _ device: OpenCLBackend, cpu: any Backend, depth: Depth, pastTheSeed: Bool = true
    ) -> [VerificationCheck] {
        do {
            let (train, test, inputs) = try trainingData(depth)
            let runs = trainingRuns(depth, inputs: inputs) + (pastTheSeed ? modernRuns(depth, inputs: inputs, classes: train.outputSize) : [])
            var checks = runs.map {
                trainingCheck($0, train: train, test: test, device: device, cpu: cpu, label: "generated")
            }
            if pastTheSeed {
                for run in convolutionalRuns(depth) {
                    let inputs = run.architecture.input.count
                    let all = try generatedClassification(count: 37 + 7, inputs: inputs, classes: 3, seed: 13)
                    checks.append(trainingCheck(run, train: all.prefix(37), test: all.suffix(7), device: device, cpu: cpu, label: "generated"))
                }
            }
            return checks
        } catch {
            return [VerificationCheck(name: "training \(device.family.rawValue)", tolerance: runTolerance, failure: error)]
        }
    }

    /// One whole run from the same start on the device and the CPU: the weights within
    /// `runTolerance`, the final train loss within it too, and the test accuracy within 0.5 pp.
    public static func trainingCheck(
        _ run: TrainingRun, train: Dataset, test: Dataset, device: OpenCLBackend, cpu: any Backend, label: String
    ) -> VerificationCheck {
        check("training \(device.family.rawValue) \(label) \(run.name)", tolerance: runTolerance) {
            let start = try Network(architecture: run.architecture, activations: run.activations, initializer: run.initializer, seed: 3)
            var onCPU = start, onDevice = start
            let cpuReports = try Trainer(run.options).train(&onCPU, on: train, test: test, backend: cpu)
            let deviceReports = try Trainer(run.options).train(&onDevice, on: train, test: test, backend: device)
            let moved = relativeError(onCPU.flatParameters, start.flatParameters)
            guard moved > 1e-3 else { return (.infinity, "training moved the weights by only \(moved): nothing was compared") }
            guard let mine = deviceReports.last, let theirs = cpuReports.last,
                let accuracy = mine.testAccuracy, let expected = theirs.testAccuracy
            else { return (.infinity, "no epoch reports") }
            guard abs(accuracy - expected) <= 0.005 else {
                return (.infinity, "test accuracy \(accuracy) vs \(expected) on the CPU, more than 0.5 pp apart")
            }
            return worst([
                "weights": relativeError(onDevice.flatParameters, onCPU.flatParameters),
                "train loss": abs(mine.trainLoss - theirs.trainLoss) / max(abs(theirs.trainLoss), .leastNormalMagnitude),
            ])
        }
    }

    /// The per-step contract at Nielsen's defaults (η 3, batch 10): from identical weights, one
    /// SGD step on the device and on the CPU agree within `operationTolerance`, step after step,
    /// each step starting again from the CPU's weights. (Run freely for thousands of steps at
    /// η 3, the two drift apart: float rounding differences grow chaotically.)
    public static func stepCheck(_ device: OpenCLBackend, cpu: any Backend, depth: Depth) -> VerificationCheck {
        let steps = depth == .quick ? 10 : 100
        return check("steps \(device.family.rawValue) η=3 batch 10 ×\(steps) from equal weights", tolerance: operationTolerance) {
            let (train, _, inputs) = try trainingData(depth)
            let options = TrainingOptions(epochs: 1, batchSize: 10, learningRate: 3, shuffle: false)
            var current = try Network(sizes: [inputs, 30, train.outputSize], seed: 5)
            var worstError = 0.0, worstStep = 0
            for step in 0..<steps {
                let first = (step * 10) % (train.count - 9)
                let batch = train.prefix(first + 10).suffix(10)
                var onCPU = current, onDevice = current
                try Trainer(options).train(&onCPU, on: batch, backend: cpu)
                try Trainer(options).train(&onDevice, on: batch, backend: device)
                let error = relativeError(onDevice.flatParameters, onCPU.flatParameters)
                if error > worstError { (worstError, worstStep) = (error, step) }
                current = onCPU
            }
            return (worstError, "worst at step \(worstStep + 1)")
        }
    }

    /// The same seed on the same device twice: bit-identical weights.
    public static func determinismCheck(_ device: OpenCLBackend, depth: Depth) -> VerificationCheck {
        check("same seed, same bits (\(device.family.rawValue))", tolerance: 0) {
            let (train, _, inputs) = try trainingData(.quick)
            let options = TrainingOptions(epochs: depth == .quick ? 2 : 3, batchSize: 16, learningRate: 1, l2: 0.5, momentum: 0.3, seed: 8)
            func run() throws -> Network {
                var network = try Network(sizes: [inputs, 17, 3], seed: 2)
                try Trainer(options).train(&network, on: train, backend: device)
                return network
            }
            let (first, second) = (try run(), try run())
            if first == second { return (0, nil) }
            return (max(relativeError(first.flatParameters, second.flatParameters), .leastNonzeroMagnitude), "two runs differ")
        }
    }

    // MARK: Helpers

    /// Runs `body`, which returns the error and the worst output's name; a throw fails the check.
    static func check(_ name: String, tolerance: Double, _ body: () throws -> (Double, String?)) -> VerificationCheck {
        do {
            let (error, detail) = try body()
            return VerificationCheck(name: name, maxRelativeError: error, tolerance: tolerance, detail: error > tolerance ? detail : nil)
        } catch {
            return VerificationCheck(name: name, tolerance: tolerance, failure: error)
        }
    }

    /// The largest of several named errors, and its name.
    static func worst(_ errors: [String: Double]) -> (Double, String?) {
        guard let (name, error) = errors.max(by: { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }) else {
            return (0, nil)
        }
        return (error, "worst output: \(name)")
    }

    /// A one-line explanation of why a check could not run, with the fix where one is known.
    static func explain(_ error: Error) -> String {
        let text = (error as? BPNetError)?.description ?? "\(error)"
        if text.contains("CL_INVALID_WORK_GROUP_SIZE") {
            return text + "; the device rejects a work-group size: lower it with BPNET_GEMM_TUNING (TLX, TLY, VLX, VLY) and report it"
        }
        if case BPNetError.kernelBuild = error {
            return text + "; the kernels do not compile with this driver: report it with the --json output attached"
        }
        return text
    }

    /// Uniform values in [lower, upper) from a seeded generator.
    public static func uniform(_ count: Int, seed: UInt64, in range: ClosedRange<Float> = -1...1) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        return (0..<count).map { _ in range.lowerBound + Float(generator.nextUnit()) * (range.upperBound - range.lowerBound) }
    }

    /// `count` samples whose one-hot classes depend on the inputs (bands of a weighted mean), so
    /// that a network can learn them; inputs in [0, 1].
    public static func generatedClassification(count: Int, inputs: Int, classes: Int, seed: UInt64) throws -> Dataset {
        let x = uniform(count * inputs, seed: seed, in: 0...1)
        let labels = (0..<count).map { s -> Int in
            var sum: Float = 0, weight: Float = 0
            for i in 0..<inputs {
                sum += x[s * inputs + i] * Float(i % 3 + 1)
                weight += Float(i % 3 + 1)
            }
            return min(Int(sum / weight * Float(classes)), classes - 1)
        }
        return try Dataset(inputs: x, labels: labels, inputSize: inputs, classes: classes)
    }

    /// float64 f(z) of every element, z = `z(row, column)` formed in float32 as the backends form
    /// it; softmax over each row.
    static func referenceActivation(
        _ function: Activation, rows: Int, columns: Int, _ z: (Int, Int) -> Double
    ) -> [Double] {
        (0..<rows).flatMap { r -> [Double] in
            let row = (0..<columns).map { z(r, $0) }
            guard function == .softmax else { return row.map { function($0) } }
            let top = row.max() ?? 0
            let exps = row.map { exp($0 - top) }
            let sum = exps.reduce(0, +)
            return exps.map { $0 / sum }
        }
    }

    /// float64 C[m, n] = op(A)·op(B), row-major, straight from the definition.
    public static func referenceProduct(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, a: [Float], b: [Float]
    ) -> [Double] {
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k {
                    let x = transposeA ? a[p * m + i] : a[i * k + p]
                    let y = transposeB ? b[j * k + p] : b[p * n + j]
                    sum += Double(x) * Double(y)
                }
                c[i * n + j] = sum
            }
        }
        return c
    }
}

extension Network {
    /// All parameters in arena order (layer by layer, weights before biases, a batch norm's γ and β
    /// where it stands), in double precision.
    public var flatParameters: [Double] { parameterTensors.flatMap(\.values).map(Double.init) }
}
