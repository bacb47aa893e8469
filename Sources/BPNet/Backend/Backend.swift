/// Storage owned by a backend. On a device backend it lives in device memory, and the
/// network only ever holds the handle: values cross to the host through `upload`/`download`.
public protocol DeviceBuffer: AnyObject {
    /// Number of elements (float32, or int32 for index buffers).
    var count: Int { get }
}

/// The arithmetic the network needs, and nothing more.
///
/// Matrices are row-major and sample-major: a batch of `m` activations of width `n` is an
/// `[m, n]` matrix, which is the column-major `[n, m]` matrix `A` of the textbook equations.
/// So the equations' `W·A` is computed here as `A·Wᵀ`, `Wᵀ·Δ` as `Δ·W`, and `Δ·Aᵀ` as `Δᵀ·A`.
///
/// Operations are enqueued in order; a device backend may run them asynchronously. Downloads and
/// `synchronize` wait for them; uploads wait only until their host values are copied.
///
/// The model (activations, losses, optimizers) reaches a backend as values, never as method names.
public protocol Backend: AnyObject, Sendable {
    /// One line naming the backend and the device it runs on.
    var description: String { get }

    /// What the backend's memory holds, for `MemoryPlan.check`; nil where it is not known.
    var memoryLimits: MemoryLimits? { get }

    /// A new buffer of `count` zeros.
    func makeBuffer(count: Int) throws -> any DeviceBuffer
    /// A buffer holding `values` that no operation will ever write, such as a training set:
    /// a host backend may share the array's storage instead of copying it.
    func makeReadOnlyBuffer(_ values: [Float]) throws -> any DeviceBuffer
    /// A new buffer of `count` int32 zeros.
    func makeIndexBuffer(count: Int) throws -> any DeviceBuffer
    func upload(_ values: UnsafeBufferPointer<Float>, to buffer: any DeviceBuffer, offset: Int) throws
    func uploadIndices(_ values: UnsafeBufferPointer<Int32>, to buffer: any DeviceBuffer) throws
    func download(_ buffer: any DeviceBuffer, into values: UnsafeMutableBufferPointer<Float>) throws
    /// Waits until every enqueued operation has finished.
    func synchronize() throws

    /// One buffer of zeros holding every part, each starting at a device-aligned offset, and a
    /// buffer per part that operations use as usual: downloading or uploading `whole` moves every
    /// part in one transfer (the parameter arena's buffers).
    func makeBufferGroup(counts: [Int]) throws -> BufferGroup
    /// Host memory for transfers of `count` floats, page-locked where the device has such a thing,
    /// so that reads and writes run at the link's full speed; zeros at first.
    func makeTransferMemory(count: Int) throws -> TransferMemory

    /// C: [m, n] = α·op(A)·op(B) + β·C, where op(A): [m, k] and op(B): [k, n].
    func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: any DeviceBuffer, b: any DeviceBuffer, beta: Float, c: any DeviceBuffer) throws

    // The forward step of a layer, and its backward step beside it.

    /// X: [rows, columns], bias: [columns] -> X = f(X + bias), in place; softmax acts on each row.
    func addBiasActivation(_ x: any DeviceBuffer, bias: any DeviceBuffer, rows: Int, columns: Int, activation: Activation) throws

    /// input: [rows, inputs], weights: [outputs, inputs], bias: [outputs]
    /// -> output: [rows, outputs] = f(input·weightsᵀ + bias). The forward step of one layer.
    func linear(
        input: any DeviceBuffer, weights: any DeviceBuffer, bias: any DeviceBuffer, output: any DeviceBuffer,
        rows: Int, inputs: Int, outputs: Int, activation: Activation) throws

    /// deltaNext: [rows, nextUnits], weightsNext: [nextUnits, units], activation: [rows, units]
    /// -> delta: [rows, units] = (deltaNext·weightsNext) ⊙ f′(x), f′ taken from the output a, or
    /// from z where `function.derivativeReadsPreactivation` (then `activation` holds z).
    /// The backward step of one hidden layer.
    func hiddenDelta(
        deltaNext: any DeviceBuffer, weightsNext: any DeviceBuffer, activation: any DeviceBuffer,
        delta: any DeviceBuffer, rows: Int, units: Int, nextUnits: Int, function: Activation) throws

    /// activation, target: [count] -> delta: [count], the output error δ_L of `loss` for an
    /// output layer of activation `output`: (a − y) ⊙ f′(a) (quadratic) or a − y.
    func outputDelta(
        _ loss: Loss, output: Activation, activation: any DeviceBuffer, target: any DeviceBuffer,
        delta: any DeviceBuffer, count: Int) throws

    // The gradient, then the optimizer: two passes with the gradient in buffers between them,
    // where a step such as an allreduce across processes can run.
    //
    // `samples` is the batch's sample count, which divides the gradient's sums: `rows` for a dense
    // layer, and rows/(OH·OW) for a convolution, whose rows are output positions.

    /// delta: [rows, outputs], input: [rows, inputs] -> gradient: [outputs, inputs] = (1/samples)·deltaᵀ·input.
    func weightGradient(
        delta: any DeviceBuffer, input: any DeviceBuffer, gradient: any DeviceBuffer, rows: Int, samples: Int, outputs: Int, inputs: Int) throws

    /// delta: [rows, outputs] -> gradient: [outputs] = (1/samples)·Σ_rows delta.
    func biasGradient(delta: any DeviceBuffer, gradient: any DeviceBuffer, rows: Int, samples: Int, outputs: Int) throws

    /// `weightGradient` and `biasGradient` of one layer. A backend may compute both in one pass:
    /// the bias gradient is the row sums of the product's left operand δᵀ.
    func layerGradients(
        delta: any DeviceBuffer, input: any DeviceBuffer, weightGradient: any DeviceBuffer, biasGradient: any DeviceBuffer,
        rows: Int, samples: Int, outputs: Int, inputs: Int) throws

    /// One optimizer step over a parameter buffer of `count` values, in one fused pass:
    /// parameters, gradient and each state buffer (`Optimizer.stateBuffers`) are `[count]`.
    func optimizerStep(
        _ step: OptimizerStep, parameters: any DeviceBuffer, gradient: any DeviceBuffer, state: [any DeviceBuffer], count: Int
    ) throws

    /// One optimizer step over a parameter arena, from its gradients: the tensors that decay take
    /// `weightStep`, the others `biasStep`. A backend may step the whole arena in one pass when
    /// the two steps differ only in L2 and decoupled decay, as the trainer's always do; each
    /// tensor's values must be those of `optimizerStep` on it alone.
    func optimizerStep(weightStep: OptimizerStep, biasStep: OptimizerStep, arena: ArenaBuffers) throws

    /// Clipping by global norm, as `torch.nn.utils.clip_grad_norm_`: x: [count] *= min(1, maxNorm/(‖x‖ + 1e-6)),
    /// with ‖x‖ = √(Σ x²) summed in an order fixed by `count` alone, so that a run gives the same
    /// bits every time, and computed where x is: no value goes to the host.
    func clipToGlobalNorm(_ x: any DeviceBuffer, count: Int, maxNorm: Float) throws

    /// The fused SGD update, for when nothing needs the gradient in a buffer.
    /// delta: [rows, outputs], input: [rows, inputs], weights, velocity: [outputs, inputs]
    /// -> velocity = μ·velocity − η·((1/samples)·deltaᵀ·input + l2·weights); weights += velocity.
    /// With μ = 0 the velocity is not state: a backend may leave it unread and unwritten.
    func updateWeights(
        weights: any DeviceBuffer, velocity: any DeviceBuffer, delta: any DeviceBuffer,
        input: any DeviceBuffer, rows: Int, samples: Int, outputs: Int, inputs: Int,
        learningRate: Float, l2: Float, momentum: Float) throws

    /// The fused SGD update of a bias. delta: [rows, outputs], bias, velocity: [outputs]
    /// -> velocity = μ·velocity − η·(1/samples)·Σ_rows delta; bias += velocity.
    func updateBias(
        bias: any DeviceBuffer, velocity: any DeviceBuffer, delta: any DeviceBuffer,
        rows: Int, samples: Int, outputs: Int, learningRate: Float, momentum: Float) throws

    /// `layerGradients` and then `optimizerStep` on the weights and on the bias, for when nothing
    /// needs the gradients in buffers between them; the gradient buffers are scratch. A backend
    /// may apply the step in the gradient product's epilogue, with the gradients in registers.
    func gradientStepLayer(
        weightStep: OptimizerStep, weights: any DeviceBuffer, weightState: [any DeviceBuffer], biasStep: OptimizerStep,
        bias: any DeviceBuffer, biasState: [any DeviceBuffer], delta: any DeviceBuffer, input: any DeviceBuffer,
        weightGradient: any DeviceBuffer, biasGradient: any DeviceBuffer, rows: Int, samples: Int, outputs: Int, inputs: Int) throws

    /// Whether `gradientStepLayer` applies these steps in the gradient product's epilogue. Where
    /// it does not, the trainer computes every layer's gradients and then steps the whole arena
    /// in one pass, rather than one pass per layer.
    func fusesGradientStep(weightStep: OptimizerStep, biasStep: OptimizerStep) -> Bool

    /// `updateWeights` and `updateBias` of one layer; a backend may do both in one pass.
    func updateLayer(
        weights: any DeviceBuffer, weightVelocity: any DeviceBuffer, bias: any DeviceBuffer, biasVelocity: any DeviceBuffer,
        delta: any DeviceBuffer, input: any DeviceBuffer, rows: Int, samples: Int, outputs: Int, inputs: Int,
        learningRate: Float, l2: Float, momentum: Float) throws

    // Images, in geometry terms (see `WindowGeometry`): NHWC batches, `[samples·H·W, C]`. A
    // convolution is im2col, then `linear` over the patches; its backward pass is a GEMM into
    // the patches' gradient, then col2im. Every sum runs in a fixed order, with no atomics.

    /// input: [samples, H, W, C] -> columns: [samples·OH·OW, C·K·K], where row (n, y, x) holds
    /// input(n, y·S − P + ky, x·S − P + kx, c) at column (c, ky, kx), and 0 in the padding.
    func im2col(_ input: any DeviceBuffer, geometry: WindowGeometry, samples: Int, into columns: any DeviceBuffer) throws

    /// columns: [samples·OH·OW, C·K·K] -> image: [samples, H, W, C], each element the sum of the
    /// columns that im2col copied it to, in (ky, kx) order: the transpose of im2col, as a gather.
    func col2im(_ columns: any DeviceBuffer, geometry: WindowGeometry, samples: Int, into image: any DeviceBuffer) throws

    /// input: [samples, H, W, C] -> output, argmax: [samples, OH, OW, C], each window's maximum and
    /// the position y·W + x it came from: the first maximum in row-major order, as PyTorch's
    /// `return_indices`. A NaN is a maximum. The geometry's padding must be 0.
    func maxPool(
        _ input: any DeviceBuffer, geometry: WindowGeometry, samples: Int, into output: any DeviceBuffer, argmax: any DeviceBuffer
    ) throws

    /// outputGradient, argmax: [samples, OH, OW, C] -> inputGradient: [samples, H, W, C], each
    /// element the sum, in window order, of the gradients of the windows whose maximum it was;
    /// 0 elsewhere. A gather over the windows that contain the element.
    func maxPoolBackward(
        _ outputGradient: any DeviceBuffer, argmax: any DeviceBuffer, geometry: WindowGeometry, samples: Int,
        into inputGradient: any DeviceBuffer) throws

    /// x: [samples, rows, columns] -> y: [samples, columns, rows], each sample's matrix
    /// transposed: NCHW to NHWC with (rows, columns) = (C, H·W), and back with (H·W, C).
    func transposeSamples(_ x: any DeviceBuffer, samples: Int, rows: Int, columns: Int, into y: any DeviceBuffer) throws

    /// delta, activation: [count] -> delta = delta ⊙ f′(x), x the output a, or the pre-activation
    /// z where `function.derivativeReadsPreactivation`: the activation's backward step where no
    /// GEMM precedes it (after pooling or col2im).
    /// Identity leaves delta as it is; softmax is an output layer's, and is refused.
    func multiplyDerivative(_ delta: any DeviceBuffer, activation: any DeviceBuffer, count: Int, function: Activation) throws

    /// z: [count] -> a: [count] = f(z), element-wise: the forward step of a layer that keeps its
    /// pre-activation z for its derivative (GELU), after a `linear` step with identity wrote z.
    func activate(_ z: any DeviceBuffer, into a: any DeviceBuffer, count: Int, function: Activation) throws

    // Batch normalisation over the columns of x: [rows, channels], whose rows are a batch's
    // samples (or, NHWC, its pixels). Sums run over the rows in order, per channel.

    /// mean, variance: [channels] = each column's mean and biased variance Σ(x − μ)²/rows; then
    /// runningMean = (1 − momentum)·runningMean + momentum·μ, and runningVariance likewise with
    /// the unbiased variance (·rows/(rows − 1)), as PyTorch's training mode.
    func normalizationStatistics(
        _ x: any DeviceBuffer, rows: Int, channels: Int, mean: any DeviceBuffer, variance: any DeviceBuffer,
        runningMean: any DeviceBuffer, runningVariance: any DeviceBuffer, momentum: Float) throws

    /// y: [rows, channels] = f(γ/√(σ² + ε)·(x − μ) + β), with the batch's statistics in training
    /// and the running ones in evaluation; f is the activation of the weight layer before it.
    func normalize(
        _ x: any DeviceBuffer, rows: Int, channels: Int, mean: any DeviceBuffer, variance: any DeviceBuffer, scale: any DeviceBuffer,
        shift: any DeviceBuffer, epsilon: Float, into y: any DeviceBuffer, activation: Activation) throws

    /// The training-mode backward of `normalize` before f: δ: [rows, channels] at its output, and
    /// x̂ = (x − μ)/√(σ² + ε) -> scaleGradient = Σ_rows δ·x̂ / samples, shiftGradient = Σ_rows δ /
    /// samples, inputGradient = γ/√(σ² + ε)·(δ − Σδ/rows − x̂·Σ(δ·x̂)/rows), the means formed as
    /// the gradients over rows/samples: rows must be samples times the positions of a sample.
    func normalizationBackward(
        _ delta: any DeviceBuffer, x: any DeviceBuffer, rows: Int, channels: Int, samples: Int, mean: any DeviceBuffer,
        variance: any DeviceBuffer, scale: any DeviceBuffer, epsilon: Float, scaleGradient: any DeviceBuffer,
        shiftGradient: any DeviceBuffer, into inputGradient: any DeviceBuffer) throws

    // Dropout: a mask drawn by a counter-based generator, so every backend draws the same.

    /// mask: [count] = scale where element i's Philox draw for (seed, step, layer) at counter
    /// `firstElement + i` is at least `rate`, else 0 (see `bpnet_dropout_mask` in CPUKernels and
    /// Kernels/dropout.cl). A process's shard of a batch starts at its first element within the
    /// whole batch, so its masks are the ones one process would draw for those rows.
    func dropoutMask(
        _ mask: any DeviceBuffer, count: Int, rate: Float, scale: Float, seed: UInt64, step: UInt64, layer: Int, firstElement: Int) throws

    /// output: [count] = x ⊙ mask (output may be x).
    func multiply(_ x: any DeviceBuffer, by mask: any DeviceBuffer, into output: any DeviceBuffer, count: Int) throws

    /// source: [*, rowLength], indices: int32 -> destination: [rows, rowLength] with
    /// row i = source row indices[offset + i]. Gathers a shuffled mini-batch on the backend.
    func gather(
        source: any DeviceBuffer, rowLength: Int, indices: any DeviceBuffer, offset: Int,
        rows: Int, into destination: any DeviceBuffer) throws

    /// `batchMetrics` into `metrics[slot]` and `outputDelta` into `delta`, from the same output
    /// and target batch. A backend may do both in one pass.
    func metricsAndOutputDelta(
        _ loss: Loss, output: Activation, activation: any DeviceBuffer, target: any DeviceBuffer, delta: any DeviceBuffer,
        rows: Int, columns: Int, into metrics: any DeviceBuffer, slot: Int) throws

    /// Crop and flip augmentation (`Augmentation`): images: [rows, C·H·W] NCHW -> output, each
    /// sample shifted and mirrored by the draw of its training-set index, indices[offset + r], in
    /// `epoch` under `key` (`Augmentation.key`). Every backend gives the same bits: the draws are
    /// integers and the values are copies or zeros.
    func augmentImages(
        _ images: any DeviceBuffer, into output: any DeviceBuffer, indices: any DeviceBuffer, offset: Int, rows: Int,
        channels: Int, height: Int, width: Int, augmentation: Augmentation, key: UInt64, epoch: Int) throws

    /// `gather` of a batch's inputs and its targets, by the same indices. A backend may do both
    /// in one pass (one kernel launch instead of two).
    func gatherBatch(
        inputs: any DeviceBuffer, inputLength: Int, targets: any DeviceBuffer, targetLength: Int, indices: any DeviceBuffer,
        offset: Int, rows: Int, intoInputs: any DeviceBuffer, intoTargets: any DeviceBuffer) throws

    /// activation, target: [rows, columns] -> metrics[2·slot] = Σ per-sample loss,
    /// metrics[2·slot + 1] = number of rows whose predicted class matches the target's (see
    /// `predictedClass`: the argmax, or with one column whether the value reaches 0.5).
    /// One slot per batch keeps the sum order, and so the result, independent of scheduling.
    func batchMetrics(
        _ loss: Loss, activation: any DeviceBuffer, target: any DeviceBuffer,
        rows: Int, columns: Int, into metrics: any DeviceBuffer, slot: Int) throws
}

/// Parts of one contiguous backend buffer (see `Backend.makeBufferGroup`).
public struct BufferGroup {
    public var whole: any DeviceBuffer
    public var parts: [any DeviceBuffer]
    /// Where each part starts in `whole`, in elements; the gaps between parts hold zeros.
    public var offsets: [Int]

    public init(whole: any DeviceBuffer, parts: [any DeviceBuffer], offsets: [Int]) {
        (self.whole, self.parts, self.offsets) = (whole, parts, offsets)
    }

    /// Every part's values (`values[i]` for part i, none longer than it) in one write of
    /// `whole`, with zeros between the parts: one transfer, and a simulator such as Oclgrind,
    /// which takes any host write as the whole of what its buffer holds, sees every part written.
    public func upload(_ values: [[Float]], on backend: any Backend) throws {
        precondition(values.count == parts.count && zip(values, parts).allSatisfy { $0.count <= $1.count }, "one array per part")
        var all = [Float](repeating: 0, count: whole.count)
        for (offset, part) in zip(offsets, values) { all.replaceSubrange(offset..<(offset + part.count), with: part) }
        try backend.upload(all, to: whole)
    }

    /// Offsets for `counts` with each part starting at a multiple of `alignment` elements, and
    /// the total they span.
    public static func layout(_ counts: [Int], alignment: Int) -> (offsets: [Int], total: Int) {
        var offsets: [Int] = []
        var end = 0
        for count in counts {
            let start = (end + alignment - 1) / alignment * alignment
            offsets.append(start)
            end = start + count
        }
        return (offsets, end)
    }
}

/// A parameter arena as the optimizer's pass takes it: the parameters, their gradients and each
/// state slot, groups of one layout (`Backend.makeBufferGroup`), and where each tensor lies.
/// Everything a step needs is built here once, so that no step allocates or transfers it.
public struct ArenaBuffers {
    public struct Segment: Equatable, Sendable {
        public var offset: Int
        public var count: Int
        /// Whether the weight step applies (L2 and decoupled decay); else the bias step.
        public var decays: Bool
    }

    public let parameters: BufferGroup
    public let gradients: BufferGroup
    public let state: [BufferGroup]
    public let segments: [Segment]
    /// Each tensor's state parts, slot by slot.
    public let stateParts: [[any DeviceBuffer]]
    /// The segments as int32 triples (offset, end, decays) on the backend, for one launch (a device
    /// steps an arena past 32-bit offsets a tensor at a time).
    public let table: any DeviceBuffer
    /// The elements the segments span, gaps included.
    public var span: Int { segments.last.map { $0.offset + $0.count } ?? 0 }

    /// `decays[t]` says whether tensor t takes the weight step. Every group must have the
    /// parameters' layout.
    public init(parameters: BufferGroup, gradients: BufferGroup, state: [BufferGroup], decays: [Bool], backend: any Backend) throws {
        precondition(
            decays.count == parameters.parts.count
                && ([gradients] + state).allSatisfy { $0.offsets == parameters.offsets && $0.parts.map(\.count) == parameters.parts.map(\.count) },
            "an arena's groups share one layout")
        (self.parameters, self.gradients, self.state) = (parameters, gradients, state)
        segments = zip(zip(parameters.offsets, parameters.parts), decays).map { .init(offset: $0.0, count: $0.1.count, decays: $1) }
        stateParts = parameters.parts.indices.map { t in state.map { $0.parts[t] } }
        table = try backend.makeIndexBuffer(count: max(3 * segments.count, 1))
        let triples: [Int32] = segments.flatMap { [Int32(clamping: $0.offset), Int32(clamping: $0.offset + $0.count), $0.decays ? 1 : 0] }
        try triples.withUnsafeBufferPointer { try backend.uploadIndices($0, to: table) }
    }
}

extension Backend {
    /// `optimizerStep` on each tensor's part of an arena, in order.
    public func stepEachTensor(weightStep: OptimizerStep, biasStep: OptimizerStep, arena: ArenaBuffers) throws {
        for (t, segment) in arena.segments.enumerated() {
            try optimizerStep(
                segment.decays ? weightStep : biasStep, parameters: arena.parameters.parts[t], gradient: arena.gradients.parts[t],
                state: arena.stateParts[t], count: segment.count)
        }
    }
}

/// Host memory a backend lends for transfers; it stays valid while this object lives.
public final class TransferMemory: @unchecked Sendable {
    public let values: UnsafeMutableBufferPointer<Float>
    private let release: () -> Void

    public init(values: UnsafeMutableBufferPointer<Float>, release: @escaping () -> Void) {
        (self.values, self.release) = (values, release)
    }

    /// Ordinary 64-byte-aligned host memory of `count` zeros.
    public convenience init(hostCount count: Int) {
        let pointer = UnsafeMutablePointer<Float>(
            OpaquePointer(UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)))
        pointer.initialize(repeating: 0, count: max(count, 1))
        self.init(values: UnsafeMutableBufferPointer(start: pointer, count: count)) { pointer.deallocate() }
    }

    deinit { release() }
}

/// A backend that takes the general form of every operation it does not implement itself: the
/// fused operations as their parts, a linear step as a GEMM then bias and activation, and so on.
/// The general forms are defaults only for backends that say so here. A wrapper such as
/// `ProfilingBackend` does not, so the compiler makes it forward every operation of `Backend`,
/// and a new operation cannot be forgotten there (a forgotten fused one would silently run its
/// parts, and the profile would measure a path that training never takes).
public protocol GeneralForms: Backend {}

extension Backend where Self: GeneralForms {
    public var memoryLimits: MemoryLimits? { nil }

    /// The two operations: the general form.
    public func metricsAndOutputDelta(
        _ loss: Loss, output: Activation, activation: any DeviceBuffer, target: any DeviceBuffer, delta: any DeviceBuffer,
        rows: Int, columns: Int, into metrics: any DeviceBuffer, slot: Int
    ) throws {
        try batchMetrics(loss, activation: activation, target: target, rows: rows, columns: columns, into: metrics, slot: slot)
        try outputDelta(loss, output: output, activation: activation, target: target, delta: delta, count: rows * columns)
    }

    /// The general form computes the gradients and then steps.
    public func fusesGradientStep(weightStep: OptimizerStep, biasStep: OptimizerStep) -> Bool { false }

    /// One pass per tensor: the general form.
    public func optimizerStep(weightStep: OptimizerStep, biasStep: OptimizerStep, arena: ArenaBuffers) throws {
        try stepEachTensor(weightStep: weightStep, biasStep: biasStep, arena: arena)
    }

    /// The two products: the general form.
    public func layerGradients(
        delta: any DeviceBuffer, input: any DeviceBuffer, weightGradient: any DeviceBuffer, biasGradient: any DeviceBuffer,
        rows: Int, samples: Int, outputs: Int, inputs: Int
    ) throws {
        try self.weightGradient(delta: delta, input: input, gradient: weightGradient, rows: rows, samples: samples, outputs: outputs, inputs: inputs)
        try self.biasGradient(delta: delta, gradient: biasGradient, rows: rows, samples: samples, outputs: outputs)
    }

    /// The general form.
    public func gradientStepLayer(
        weightStep: OptimizerStep, weights: any DeviceBuffer, weightState: [any DeviceBuffer], biasStep: OptimizerStep,
        bias: any DeviceBuffer, biasState: [any DeviceBuffer], delta: any DeviceBuffer, input: any DeviceBuffer,
        weightGradient: any DeviceBuffer, biasGradient: any DeviceBuffer, rows: Int, samples: Int, outputs: Int, inputs: Int
    ) throws {
        try gradientsThenStepLayer(
            weightStep: weightStep, weights: weights, weightState: weightState, biasStep: biasStep, bias: bias,
            biasState: biasState, delta: delta, input: input, weightGradient: weightGradient, biasGradient: biasGradient,
            rows: rows, samples: samples, outputs: outputs, inputs: inputs)
    }

    /// The two updates: the general form.
    public func updateLayer(
        weights: any DeviceBuffer, weightVelocity: any DeviceBuffer, bias: any DeviceBuffer, biasVelocity: any DeviceBuffer,
        delta: any DeviceBuffer, input: any DeviceBuffer, rows: Int, samples: Int, outputs: Int, inputs: Int,
        learningRate: Float, l2: Float, momentum: Float
    ) throws {
        try updateWeights(
            weights: weights, velocity: weightVelocity, delta: delta, input: input, rows: rows, samples: samples, outputs: outputs, inputs: inputs,
            learningRate: learningRate, l2: l2, momentum: momentum)
        try updateBias(
            bias: bias, velocity: biasVelocity, delta: delta, rows: rows, samples: samples, outputs: outputs, learningRate: learningRate, momentum: momentum)
    }

    /// Two gathers: the general form.
    public func gatherBatch(
        inputs: any DeviceBuffer, inputLength: Int, targets: any DeviceBuffer, targetLength: Int, indices: any DeviceBuffer,
        offset: Int, rows: Int, intoInputs: any DeviceBuffer, intoTargets: any DeviceBuffer
    ) throws {
        try gather(source: inputs, rowLength: inputLength, indices: indices, offset: offset, rows: rows, into: intoInputs)
        try gather(source: targets, rowLength: targetLength, indices: indices, offset: offset, rows: rows, into: intoTargets)
    }

    public func makeTransferMemory(count: Int) throws -> TransferMemory { TransferMemory(hostCount: count) }

    /// The unfused form, for backends without a fused kernel.
    public func linear(
        input: any DeviceBuffer, weights: any DeviceBuffer, bias: any DeviceBuffer, output: any DeviceBuffer,
        rows: Int, inputs: Int, outputs: Int, activation: Activation
    ) throws {
        try unfusedLinear(input: input, weights: weights, bias: bias, output: output, rows: rows, inputs: inputs, outputs: outputs, activation: activation)
    }

    public func weightGradient(
        delta: any DeviceBuffer, input: any DeviceBuffer, gradient: any DeviceBuffer, rows: Int, samples: Int, outputs: Int, inputs: Int
    ) throws {
        try gemm(
            transposeA: true, transposeB: false, m: outputs, n: inputs, k: rows,
            alpha: 1 / Float(samples), a: delta, b: input, beta: 0, c: gradient)
    }

    public func makeReadOnlyBuffer(_ values: [Float]) throws -> any DeviceBuffer { try makeBuffer(values) }
}

/// Named general forms and conveniences, for every backend: a fusing backend's own form falls
/// back to these for the cases it does not fuse.
extension Backend {
    /// `gradientStepLayer` as its two operations: the gradients into their buffers, then the
    /// step. The general form, which a backend's own form falls back to for the rules it does not fuse.
    public func gradientsThenStepLayer(
        weightStep: OptimizerStep, weights: any DeviceBuffer, weightState: [any DeviceBuffer], biasStep: OptimizerStep,
        bias: any DeviceBuffer, biasState: [any DeviceBuffer], delta: any DeviceBuffer, input: any DeviceBuffer,
        weightGradient: any DeviceBuffer, biasGradient: any DeviceBuffer, rows: Int, samples: Int, outputs: Int, inputs: Int
    ) throws {
        try layerGradients(
            delta: delta, input: input, weightGradient: weightGradient, biasGradient: biasGradient, rows: rows, samples: samples, outputs: outputs,
            inputs: inputs)
        try optimizerStep(weightStep, parameters: weights, gradient: weightGradient, state: weightState, count: outputs * inputs)
        try optimizerStep(biasStep, parameters: bias, gradient: biasGradient, state: biasState, count: outputs)
    }

    /// The forward step as a GEMM, then bias and activation: the default, and the path a fusing
    /// backend takes where it does not fuse (a reference kernel family, a row-wise softmax).
    public func unfusedLinear(
        input: any DeviceBuffer, weights: any DeviceBuffer, bias: any DeviceBuffer, output: any DeviceBuffer,
        rows: Int, inputs: Int, outputs: Int, activation: Activation
    ) throws {
        try gemm(
            transposeA: false, transposeB: true, m: rows, n: outputs, k: inputs,
            alpha: 1, a: input, b: weights, beta: 0, c: output)
        try addBiasActivation(output, bias: bias, rows: rows, columns: outputs, activation: activation)
    }

    /// The masks of a whole batch, from element 0.
    public func dropoutMask(
        _ mask: any DeviceBuffer, count: Int, rate: Float, scale: Float, seed: UInt64, step: UInt64, layer: Int
    ) throws {
        try dropoutMask(mask, count: count, rate: rate, scale: scale, seed: seed, step: step, layer: layer, firstElement: 0)
    }

    /// Convenience for tests and tools: a new buffer holding `values`.
    public func makeBuffer(_ values: [Float]) throws -> any DeviceBuffer {
        let buffer = try makeBuffer(count: values.count)
        try upload(values, to: buffer)
        return buffer
    }

    /// `values` into the start of `buffer`.
    public func upload(_ values: [Float], to buffer: any DeviceBuffer) throws {
        try values.withUnsafeBufferPointer { try upload($0, to: buffer, offset: 0) }
    }

    /// Convenience for tests and tools: the whole buffer as an array.
    public func download(_ buffer: any DeviceBuffer) throws -> [Float] {
        var values = [Float](repeating: 0, count: buffer.count)
        try values.withUnsafeMutableBufferPointer { try download(buffer, into: $0) }
        return values
    }
}
