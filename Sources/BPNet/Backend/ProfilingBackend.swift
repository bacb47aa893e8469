/// Wraps a backend and times every operation: each call is followed by `synchronize()`, so the
/// time of an asynchronous device operation lands on the operation that queued it. That waiting
/// changes the total, so use it for the breakdown of an epoch, never for its speed.
///
/// It forwards every operation of `Backend` to the wrapped backend's own, fused ones included,
/// so that a profile measures the path training takes. It does not adopt `GeneralForms`, so a
/// new operation that is not forwarded here does not compile.
public final class ProfilingBackend: Backend, @unchecked Sendable {
    public let inner: any Backend
    /// Seconds and calls per operation since the last `reset()`.
    public private(set) var times = OperationTimes()
    /// Elements of every buffer made through this wrapper (float32 or int32, 4 bytes each), and
    /// floats of transfer memory: what a run allocated, for comparison with its `MemoryPlan`.
    public private(set) var bufferElements = 0
    public private(set) var transferElements = 0

    public init(_ inner: any Backend) { self.inner = inner }

    public var description: String { inner.description }
    public var memoryLimits: MemoryLimits? { inner.memoryLimits }

    public func reset() { times = OperationTimes() }

    private func timed(_ operation: String, _ body: () throws -> Void) throws {
        let start = monotonicSeconds()
        try body()
        try inner.synchronize()
        times.add(operation, seconds: monotonicSeconds() - start)
    }

    public func makeBuffer(count: Int) throws -> any DeviceBuffer {
        bufferElements += count
        return try inner.makeBuffer(count: count)
    }
    public func makeReadOnlyBuffer(_ values: [Float]) throws -> any DeviceBuffer {
        bufferElements += values.count
        return try inner.makeReadOnlyBuffer(values)
    }
    public func makeIndexBuffer(count: Int) throws -> any DeviceBuffer {
        bufferElements += count
        return try inner.makeIndexBuffer(count: count)
    }
    public func makeBufferGroup(counts: [Int]) throws -> BufferGroup {
        let group = try inner.makeBufferGroup(counts: counts)
        bufferElements += group.whole.count
        return group
    }
    public func makeTransferMemory(count: Int) throws -> TransferMemory {
        transferElements += count
        return try inner.makeTransferMemory(count: count)
    }
    public func upload(_ values: UnsafeBufferPointer<Float>, to buffer: any DeviceBuffer, offset: Int) throws {
        try timed("upload") { try inner.upload(values, to: buffer, offset: offset) }
    }
    public func uploadIndices(_ values: UnsafeBufferPointer<Int32>, to buffer: any DeviceBuffer) throws {
        try timed("upload indices") { try inner.uploadIndices(values, to: buffer) }
    }
    public func download(_ buffer: any DeviceBuffer, into values: UnsafeMutableBufferPointer<Float>) throws {
        try timed("download") { try inner.download(buffer, into: values) }
    }
    public func synchronize() throws { try inner.synchronize() }

    public func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: any DeviceBuffer, b: any DeviceBuffer, beta: Float, c: any DeviceBuffer
    ) throws {
        try timed("gemm") {
            try inner.gemm(
                transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, b: b, beta: beta, c: c)
        }
    }
    public func addBiasActivation(_ x: any DeviceBuffer, bias: any DeviceBuffer, rows: Int, columns: Int, activation: Activation) throws {
        try timed("bias + \(activation.rawValue)") {
            try inner.addBiasActivation(x, bias: bias, rows: rows, columns: columns, activation: activation)
        }
    }
    public func linear(
        input: any DeviceBuffer, weights: any DeviceBuffer, bias: any DeviceBuffer, output: any DeviceBuffer,
        rows: Int, inputs: Int, outputs: Int, activation: Activation
    ) throws {
        try timed("forward: A·Wᵀ + b, \(activation.rawValue)") {
            try inner.linear(
                input: input, weights: weights, bias: bias, output: output, rows: rows, inputs: inputs, outputs: outputs,
                activation: activation)
        }
    }
    public func outputDelta(
        _ loss: Loss, output: Activation, activation: any DeviceBuffer, target: any DeviceBuffer, delta: any DeviceBuffer, count: Int
    ) throws {
        try timed("output delta") {
            try inner.outputDelta(loss, output: output, activation: activation, target: target, delta: delta, count: count)
        }
    }
    public func hiddenDelta(
        deltaNext: any DeviceBuffer, weightsNext: any DeviceBuffer, activation: any DeviceBuffer,
        delta: any DeviceBuffer, rows: Int, units: Int, nextUnits: Int, function: Activation
    ) throws {
        try timed("backward: δ·W ⊙ \(function.rawValue)′") {
            try inner.hiddenDelta(
                deltaNext: deltaNext, weightsNext: weightsNext, activation: activation, delta: delta,
                rows: rows, units: units, nextUnits: nextUnits, function: function)
        }
    }
    public func im2col(_ input: any DeviceBuffer, geometry: WindowGeometry, samples: Int, into columns: any DeviceBuffer) throws {
        try timed("im2col") { try inner.im2col(input, geometry: geometry, samples: samples, into: columns) }
    }
    public func col2im(_ columns: any DeviceBuffer, geometry: WindowGeometry, samples: Int, into image: any DeviceBuffer) throws {
        try timed("col2im") { try inner.col2im(columns, geometry: geometry, samples: samples, into: image) }
    }
    public func maxPool(
        _ input: any DeviceBuffer, geometry: WindowGeometry, samples: Int, into output: any DeviceBuffer, argmax: any DeviceBuffer
    ) throws {
        try timed("max pool") { try inner.maxPool(input, geometry: geometry, samples: samples, into: output, argmax: argmax) }
    }
    public func maxPoolBackward(
        _ outputGradient: any DeviceBuffer, argmax: any DeviceBuffer, geometry: WindowGeometry, samples: Int,
        into inputGradient: any DeviceBuffer
    ) throws {
        try timed("max pool backward") {
            try inner.maxPoolBackward(outputGradient, argmax: argmax, geometry: geometry, samples: samples, into: inputGradient)
        }
    }
    public func transposeSamples(_ x: any DeviceBuffer, samples: Int, rows: Int, columns: Int, into y: any DeviceBuffer) throws {
        try timed("transpose samples") { try inner.transposeSamples(x, samples: samples, rows: rows, columns: columns, into: y) }
    }
    public func multiplyDerivative(_ delta: any DeviceBuffer, activation: any DeviceBuffer, count: Int, function: Activation) throws {
        try timed("⊙ \(function.rawValue)′") {
            try inner.multiplyDerivative(delta, activation: activation, count: count, function: function)
        }
    }
    public func normalizationStatistics(
        _ x: any DeviceBuffer, rows: Int, channels: Int, mean: any DeviceBuffer, variance: any DeviceBuffer,
        runningMean: any DeviceBuffer, runningVariance: any DeviceBuffer, momentum: Float
    ) throws {
        try timed("batch norm: statistics") {
            try inner.normalizationStatistics(
                x, rows: rows, channels: channels, mean: mean, variance: variance, runningMean: runningMean,
                runningVariance: runningVariance, momentum: momentum)
        }
    }
    public func normalize(
        _ x: any DeviceBuffer, rows: Int, channels: Int, mean: any DeviceBuffer, variance: any DeviceBuffer, scale: any DeviceBuffer,
        shift: any DeviceBuffer, epsilon: Float, into y: any DeviceBuffer, activation: Activation
    ) throws {
        try timed("batch norm, \(activation.rawValue)") {
            try inner.normalize(
                x, rows: rows, channels: channels, mean: mean, variance: variance, scale: scale, shift: shift, epsilon: epsilon, into: y,
                activation: activation)
        }
    }
    public func normalizationBackward(
        _ delta: any DeviceBuffer, x: any DeviceBuffer, rows: Int, channels: Int, samples: Int, mean: any DeviceBuffer,
        variance: any DeviceBuffer, scale: any DeviceBuffer, epsilon: Float, scaleGradient: any DeviceBuffer,
        shiftGradient: any DeviceBuffer, into inputGradient: any DeviceBuffer
    ) throws {
        try timed("batch norm: backward") {
            try inner.normalizationBackward(
                delta, x: x, rows: rows, channels: channels, samples: samples, mean: mean, variance: variance, scale: scale,
                epsilon: epsilon, scaleGradient: scaleGradient, shiftGradient: shiftGradient, into: inputGradient)
        }
    }
    public func activate(_ z: any DeviceBuffer, into a: any DeviceBuffer, count: Int, function: Activation) throws {
        try timed("\(function.rawValue)(z)") { try inner.activate(z, into: a, count: count, function: function) }
    }
    public func weightGradient(
        delta: any DeviceBuffer, input: any DeviceBuffer, gradient: any DeviceBuffer, rows: Int, samples: Int, outputs: Int, inputs: Int
    ) throws {
        try timed("weight gradient: Δᵀ·A") {
            try inner.weightGradient(delta: delta, input: input, gradient: gradient, rows: rows, samples: samples, outputs: outputs, inputs: inputs)
        }
    }
    public func biasGradient(delta: any DeviceBuffer, gradient: any DeviceBuffer, rows: Int, samples: Int, outputs: Int) throws {
        try timed("bias gradient") { try inner.biasGradient(delta: delta, gradient: gradient, rows: rows, samples: samples, outputs: outputs) }
    }
    public func optimizerStep(
        _ step: OptimizerStep, parameters: any DeviceBuffer, gradient: any DeviceBuffer, state: [any DeviceBuffer], count: Int
    ) throws {
        try timed("\(step.optimizer.name) step") {
            try inner.optimizerStep(step, parameters: parameters, gradient: gradient, state: state, count: count)
        }
    }
    public func dropoutMask(
        _ mask: any DeviceBuffer, count: Int, rate: Float, scale: Float, seed: UInt64, step: UInt64, layer: Int, firstElement: Int
    ) throws {
        try timed("dropout mask") {
            try inner.dropoutMask(
                mask, count: count, rate: rate, scale: scale, seed: seed, step: step, layer: layer, firstElement: firstElement)
        }
    }
    public func multiply(_ x: any DeviceBuffer, by mask: any DeviceBuffer, into output: any DeviceBuffer, count: Int) throws {
        try timed("dropout multiply") { try inner.multiply(x, by: mask, into: output, count: count) }
    }
    public func updateWeights(
        weights: any DeviceBuffer, velocity: any DeviceBuffer, delta: any DeviceBuffer,
        input: any DeviceBuffer, rows: Int, samples: Int, outputs: Int, inputs: Int,
        learningRate: Float, l2: Float, momentum: Float
    ) throws {
        try timed("weight update: Δᵀ·A, SGD") {
            try inner.updateWeights(
                weights: weights, velocity: velocity, delta: delta, input: input, rows: rows, samples: samples, outputs: outputs,
                inputs: inputs, learningRate: learningRate, l2: l2, momentum: momentum)
        }
    }
    public func updateBias(
        bias: any DeviceBuffer, velocity: any DeviceBuffer, delta: any DeviceBuffer,
        rows: Int, samples: Int, outputs: Int, learningRate: Float, momentum: Float
    ) throws {
        try timed("bias update") {
            try inner.updateBias(
                bias: bias, velocity: velocity, delta: delta, rows: rows, samples: samples, outputs: outputs,
                learningRate: learningRate, momentum: momentum)
        }
    }
    public func gather(
        source: any DeviceBuffer, rowLength: Int, indices: any DeviceBuffer, offset: Int,
        rows: Int, into destination: any DeviceBuffer
    ) throws {
        try timed("gather rows") {
            try inner.gather(source: source, rowLength: rowLength, indices: indices, offset: offset, rows: rows, into: destination)
        }
    }
    public func metricsAndOutputDelta(
        _ loss: Loss, output: Activation, activation: any DeviceBuffer, target: any DeviceBuffer, delta: any DeviceBuffer,
        rows: Int, columns: Int, into metrics: any DeviceBuffer, slot: Int
    ) throws {
        try timed("metrics and output delta") {
            try inner.metricsAndOutputDelta(
                loss, output: output, activation: activation, target: target, delta: delta, rows: rows, columns: columns,
                into: metrics, slot: slot)
        }
    }
    public func fusesGradientStep(weightStep: OptimizerStep, biasStep: OptimizerStep) -> Bool {
        inner.fusesGradientStep(weightStep: weightStep, biasStep: biasStep)
    }
    public func optimizerStep(weightStep: OptimizerStep, biasStep: OptimizerStep, arena: ArenaBuffers) throws {
        try timed("optimizer step") { try inner.optimizerStep(weightStep: weightStep, biasStep: biasStep, arena: arena) }
    }
    public func augmentImages(
        _ images: any DeviceBuffer, into output: any DeviceBuffer, indices: any DeviceBuffer, offset: Int, rows: Int,
        channels: Int, height: Int, width: Int, augmentation: Augmentation, key: UInt64, epoch: Int
    ) throws {
        try timed("augment images") {
            try inner.augmentImages(
                images, into: output, indices: indices, offset: offset, rows: rows, channels: channels, height: height,
                width: width, augmentation: augmentation, key: key, epoch: epoch)
        }
    }
    public func clipToGlobalNorm(_ x: any DeviceBuffer, count: Int, maxNorm: Float) throws {
        try timed("clip to global norm") { try inner.clipToGlobalNorm(x, count: count, maxNorm: maxNorm) }
    }
    public func gatherBatch(
        inputs: any DeviceBuffer, inputLength: Int, targets: any DeviceBuffer, targetLength: Int, indices: any DeviceBuffer,
        offset: Int, rows: Int, intoInputs: any DeviceBuffer, intoTargets: any DeviceBuffer
    ) throws {
        try timed("gather batch") {
            try inner.gatherBatch(
                inputs: inputs, inputLength: inputLength, targets: targets, targetLength: targetLength, indices: indices,
                offset: offset, rows: rows, intoInputs: intoInputs, intoTargets: intoTargets)
        }
    }
    public func layerGradients(
        delta: any DeviceBuffer, input: any DeviceBuffer, weightGradient: any DeviceBuffer, biasGradient: any DeviceBuffer,
        rows: Int, samples: Int, outputs: Int, inputs: Int
    ) throws {
        try timed("layer gradients: Δᵀ·A, Σ δ") {
            try inner.layerGradients(
                delta: delta, input: input, weightGradient: weightGradient, biasGradient: biasGradient, rows: rows, samples: samples,
                outputs: outputs, inputs: inputs)
        }
    }
    public func gradientStepLayer(
        weightStep: OptimizerStep, weights: any DeviceBuffer, weightState: [any DeviceBuffer], biasStep: OptimizerStep,
        bias: any DeviceBuffer, biasState: [any DeviceBuffer], delta: any DeviceBuffer, input: any DeviceBuffer,
        weightGradient: any DeviceBuffer, biasGradient: any DeviceBuffer, rows: Int, samples: Int, outputs: Int, inputs: Int
    ) throws {
        try timed("gradient and \(weightStep.optimizer.name) step") {
            try inner.gradientStepLayer(
                weightStep: weightStep, weights: weights, weightState: weightState, biasStep: biasStep, bias: bias,
                biasState: biasState, delta: delta, input: input, weightGradient: weightGradient, biasGradient: biasGradient,
                rows: rows, samples: samples, outputs: outputs, inputs: inputs)
        }
    }
    public func updateLayer(
        weights: any DeviceBuffer, weightVelocity: any DeviceBuffer, bias: any DeviceBuffer, biasVelocity: any DeviceBuffer,
        delta: any DeviceBuffer, input: any DeviceBuffer, rows: Int, samples: Int, outputs: Int, inputs: Int,
        learningRate: Float, l2: Float, momentum: Float
    ) throws {
        try timed("layer update: Δᵀ·A, SGD, bias") {
            try inner.updateLayer(
                weights: weights, weightVelocity: weightVelocity, bias: bias, biasVelocity: biasVelocity, delta: delta,
                input: input, rows: rows, samples: samples, outputs: outputs, inputs: inputs, learningRate: learningRate, l2: l2, momentum: momentum)
        }
    }
    public func batchMetrics(
        _ loss: Loss, activation: any DeviceBuffer, target: any DeviceBuffer,
        rows: Int, columns: Int, into metrics: any DeviceBuffer, slot: Int
    ) throws {
        try timed("loss + accuracy") {
            try inner.batchMetrics(loss, activation: activation, target: target, rows: rows, columns: columns, into: metrics, slot: slot)
        }
    }
}
