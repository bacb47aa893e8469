import CBLAS
import CPUKernels
import Foundation

// BPNet builds for Linux (OpenCL ICDs, OpenBLAS and Debian packages): Glibc only.
import Glibc

/// Host memory for `CPUBackend`: float32 or int32 elements, 64-byte aligned for SIMD and BLAS.
final class CPUBuffer: DeviceBuffer {
    let count: Int
    let raw: UnsafeMutableRawPointer
    /// The array whose storage `raw` points into, for read-only buffers; nil when `raw` is ours.
    private let shared: [Float]?
    /// Set when a read-only buffer holds bytes k standing for the floats k/255 (8-bit images):
    /// a quarter of the memory, and a quarter of the traffic when batches are gathered.
    private(set) var holdsBytesOver255 = false

    init(count: Int, stride: Int) {
        self.count = count
        raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * stride, alignment: 64)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1) * stride)
        shared = nil
    }

    /// Shares `values`' storage, which stays put while this buffer holds the array and nothing
    /// mutates it; the backend only ever reads such a buffer (a training or test set).
    init(sharing values: [Float]) {
        count = values.count
        shared = values
        raw = UnsafeMutableRawPointer(mutating: values.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress!) })
    }

    /// The bytes k of `values` when every value is exactly Float(k) / 255, else nil.
    convenience init?(bytesOver255 values: [Float]) {
        self.init(count: values.count, stride: 1)
        let bytes = raw.assumingMemoryBound(to: UInt8.self)
        for (i, value) in values.enumerated() {
            let scaled = (value * 255).rounded()
            guard scaled >= 0, scaled <= 255, Float(UInt8(scaled)) / 255 == value else { return nil }
            bytes[i] = UInt8(scaled)
        }
        holdsBytesOver255 = true
    }

    /// A view of `count` elements of `parent` from `offset`, which keeps the parent alive.
    init(viewOf parent: CPUBuffer, offset: Int, count: Int) {
        self.count = count
        raw = parent.raw + offset * MemoryLayout<Float>.stride
        shared = nil
        self.parent = parent
    }

    private var parent: CPUBuffer?

    deinit { if shared == nil && parent == nil { raw.deallocate() } }

    var floats: UnsafeMutablePointer<Float> { raw.assumingMemoryBound(to: Float.self) }
    var ints: UnsafeMutablePointer<Int32> { raw.assumingMemoryBound(to: Int32.self) }
}

/// The CPU fallback: OpenBLAS for every matrix product, plain loops for the element-wise rest.
public final class CPUBackend: Backend, GeneralForms {
    public init() {}

    public var description: String {
        "cpu (OpenBLAS \(CPUBackend.blasConfiguration), \(counted(CPUBackend.blasThreads, "thread")))"
    }

    /// OpenBLAS's build string, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64".
    public static var blasConfiguration: String {
        guard let config = openblas_get_config() else { return "unknown" }
        return String(cString: config).replacingOccurrences(of: "OpenBLAS ", with: "")
    }

    public static var blasThreads: Int { Int(openblas_get_num_threads()) }

    /// The kernel set OpenBLAS chose for this CPU (DYNAMIC_ARCH), e.g. "Haswell": products differ in
    /// their last bits from one set to another.
    public static var blasCore: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// The kernel set OpenBLAS chose by itself, when BPNet replaced it at load time: an OpenBLAS
    /// older than the CPU falls back to SSE3 kernels (Prescott) and leaves its AVX-512 or AVX2
    /// units idle. Nil when OpenBLAS's choice stands, or when `OPENBLAS_CORETYPE` chose.
    public static var blasCoreReplaced: String? { bpnet_blas_core_replaced().map { String(cString: $0) } }

    /// The host's available memory, which also bounds one buffer.
    public var memoryLimits: MemoryLimits? {
        MemoryPlan.hostAvailableBytes.map { MemoryLimits(totalBytes: $0, largestBufferBytes: $0) }
    }

    @inline(__always) private func cpu(_ buffer: any DeviceBuffer) -> CPUBuffer {
        unsafeDowncast(buffer as AnyObject, to: CPUBuffer.self)
    }

    public func makeBuffer(count: Int) throws -> any DeviceBuffer {
        CPUBuffer(count: count, stride: MemoryLayout<Float>.stride)
    }

    /// Shares the array: a 60 000-sample training set is not held twice.
    public func makeReadOnlyBuffer(_ values: [Float]) throws -> any DeviceBuffer {
        if values.isEmpty { return CPUBuffer(count: 0, stride: MemoryLayout<Float>.stride) }
        return CPUBuffer(bytesOver255: values) ?? CPUBuffer(sharing: values)
    }

    public func makeIndexBuffer(count: Int) throws -> any DeviceBuffer {
        CPUBuffer(count: count, stride: MemoryLayout<Int32>.stride)
    }

    public func upload(_ values: UnsafeBufferPointer<Float>, to buffer: any DeviceBuffer, offset: Int) throws {
        precondition(offset + values.count <= buffer.count, "upload past the end of a buffer")
        guard let base = values.baseAddress else { return }
        (cpu(buffer).floats + offset).update(from: base, count: values.count)
    }

    public func uploadIndices(_ values: UnsafeBufferPointer<Int32>, to buffer: any DeviceBuffer) throws {
        precondition(values.count <= buffer.count, "upload past the end of a buffer")
        guard let base = values.baseAddress else { return }
        cpu(buffer).ints.update(from: base, count: values.count)
    }

    public func download(_ buffer: any DeviceBuffer, into values: UnsafeMutableBufferPointer<Float>) throws {
        precondition(values.count <= buffer.count, "download past the end of a buffer")
        guard let base = values.baseAddress else { return }
        base.update(from: cpu(buffer).floats, count: values.count)
    }

    public func synchronize() throws {}

    /// Parts start on 64-byte boundaries (16 floats), as every buffer does, for the vector loops.
    static let partAlignment = 16

    public func makeBufferGroup(counts: [Int]) throws -> BufferGroup {
        let (offsets, total) = BufferGroup.layout(counts, alignment: CPUBackend.partAlignment)
        let whole = CPUBuffer(count: total, stride: MemoryLayout<Float>.stride)
        return BufferGroup(
            whole: whole, parts: zip(offsets, counts).map { CPUBuffer(viewOf: whole, offset: $0, count: $1) }, offsets: offsets)
    }

    public func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: any DeviceBuffer, b: any DeviceBuffer, beta: Float, c: any DeviceBuffer
    ) throws {
        cblas_sgemm(
            CblasRowMajor,
            transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha,
            cpu(a).floats, Int32(transposeA ? m : k),
            cpu(b).floats, Int32(transposeB ? k : n),
            beta, cpu(c).floats, Int32(n))
    }

    public func addBiasActivation(_ x: any DeviceBuffer, bias: any DeviceBuffer, rows: Int, columns: Int, activation: Activation) throws {
        let values = cpu(x).floats, b = cpu(bias).floats
        switch activation.kind {
        case .sigmoid:
            bpnet_bias_sigmoid(values, b, rows, columns)
        case .softmax:
            for r in 0..<rows {
                let row = values + r * columns
                var top = -Float.infinity
                for j in 0..<columns {
                    row[j] += b[j]
                    top = max(top, row[j])
                }
                var sum: Float = 0
                for j in 0..<columns {
                    row[j] = expf(row[j] - top)
                    sum += row[j]
                }
                for j in 0..<columns { row[j] /= sum }
            }
        case .relu:
            bpnet_bias_relu(values, b, rows, columns)
        case .identity:
            bpnet_bias_add(values, b, rows, columns)
        default:
            // Activations without a C loop take the Swift formula.
            for r in 0..<rows {
                let row = values + r * columns
                for j in 0..<columns { row[j] = activation(row[j] + b[j]) }
            }
        }
    }

    // activation, target: [count] -> delta: [count] = δ_L.
    public func outputDelta(
        _ loss: Loss, output: Activation, activation: any DeviceBuffer, target: any DeviceBuffer,
        delta: any DeviceBuffer, count: Int
    ) throws {
        let a = cpu(activation).floats, y = cpu(target).floats, d = cpu(delta).floats
        switch (loss, output.kind) {
        case (.quadratic, .sigmoid):
            for i in 0..<count { d[i] = (a[i] - y[i]) * a[i] * (1 - a[i]) }
        case (.quadratic, _):
            for i in 0..<count { d[i] = (a[i] - y[i]) * output.derivative(from: a[i]) }
        case (.crossEntropy, _), (.logLikelihood, _):
            for i in 0..<count { d[i] = a[i] - y[i] }
        }
    }

    public func hiddenDelta(
        deltaNext: any DeviceBuffer, weightsNext: any DeviceBuffer, activation: any DeviceBuffer,
        delta: any DeviceBuffer, rows: Int, units: Int, nextUnits: Int, function: Activation
    ) throws {
        try gemm(
            transposeA: false, transposeB: false, m: rows, n: units, k: nextUnits,
            alpha: 1, a: deltaNext, b: weightsNext, beta: 0, c: delta)
        // A softmax hidden layer is refused before training; its f′ is not element-wise.
        guard function != .softmax else { return }
        try multiplyDerivative(delta, activation: activation, count: rows * units, function: function)
    }

    public func biasGradient(delta: any DeviceBuffer, gradient: any DeviceBuffer, rows: Int, samples: Int, outputs: Int) throws {
        let d = cpu(delta).floats, g = cpu(gradient).floats
        columnSums(d, rows: rows, columns: outputs, into: g)
        for j in 0..<outputs { g[j] /= Float(samples) }
    }

    /// sums[j] = Σ_r x[r, j], added row by row so that memory is read in order.
    private func columnSums(_ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int, into sums: UnsafeMutablePointer<Float>) {
        sums.update(from: x, count: columns)
        for r in 1..<max(rows, 1) {
            let row = x + r * columns
            for j in 0..<columns { sums[j] += row[j] }
        }
    }

    public func optimizerStep(
        _ step: OptimizerStep, parameters: any DeviceBuffer, gradient: any DeviceBuffer, state: [any DeviceBuffer], count: Int
    ) throws {
        let p = cpu(parameters).floats, g = cpu(gradient).floats
        let eta = step.learningRate, l2 = step.l2, mu = step.momentum
        switch step.optimizer {
        case .sgd where state.isEmpty:
            bpnet_sgd_step(p, g, count, eta, l2)
        case .sgd:
            bpnet_momentum_step(p, g, cpu(state[0]).floats, count, eta, l2, mu)
        case .nesterov:
            bpnet_nesterov_step(p, g, cpu(state[0]).floats, count, eta, l2, mu)
        case .adam, .adamw:
            let (beta1, beta2, epsilon, correction1, correction2) = step.adam
            bpnet_adam_step(
                p, g, cpu(state[0]).floats, cpu(state[1]).floats, count, eta, l2, beta1, beta2, epsilon,
                step.decoupledDecay, correction1, correction2)
        case .rmsprop(let alpha, let epsilon):
            bpnet_rmsprop_step(
                p, g, cpu(state[0]).floats, state.count > 1 ? cpu(state[1]).floats : nil, count, eta, l2, alpha, epsilon, mu)
        }
    }

    public func augmentImages(
        _ images: any DeviceBuffer, into output: any DeviceBuffer, indices: any DeviceBuffer, offset: Int, rows: Int,
        channels: Int, height: Int, width: Int, augmentation: Augmentation, key: UInt64, epoch: Int
    ) throws {
        let size = channels * height * width
        precondition(images.count >= rows * size && output.count >= rows * size && indices.count >= offset + rows,
                     "augmentation past the end of a buffer")
        bpnet_augment_images(
            cpu(images).floats, cpu(output).floats, cpu(indices).ints + offset, rows, channels, height, width,
            augmentation.cropPadding, augmentation.flip ? 1 : 0, key, UInt32(truncatingIfNeeded: epoch))
    }

    public func clipToGlobalNorm(_ x: any DeviceBuffer, count: Int, maxNorm: Float) throws {
        precondition(count <= x.count, "clipping past the end of a buffer")
        bpnet_clip_to_global_norm(cpu(x).floats, count, maxNorm)
    }

    public func dropoutMask(
        _ mask: any DeviceBuffer, count: Int, rate: Float, scale: Float, seed: UInt64, step: UInt64, layer: Int, firstElement: Int
    ) throws {
        bpnet_dropout_mask(cpu(mask).floats, count, rate, scale, seed, step, UInt32(layer), UInt32(firstElement))
    }

    public func multiply(_ x: any DeviceBuffer, by mask: any DeviceBuffer, into output: any DeviceBuffer, count: Int) throws {
        bpnet_multiply(cpu(x).floats, cpu(mask).floats, cpu(output).floats, count)
    }

    public func updateWeights(
        weights: any DeviceBuffer, velocity: any DeviceBuffer, delta: any DeviceBuffer,
        input: any DeviceBuffer, rows: Int, samples: Int, outputs: Int, inputs: Int,
        learningRate: Float, l2: Float, momentum: Float
    ) throws {
        let count = outputs * inputs
        let l2Step = learningRate * l2
        if momentum == 0 {
            // Without momentum the velocity is just this step's change, so one GEMM applies the
            // whole rule in place: W = (1 − η·l2)·W − (η/m)·Δᵀ·A.
            return try gemm(
                transposeA: true, transposeB: false, m: outputs, n: inputs, k: rows,
                alpha: -learningRate / Float(samples), a: delta, b: input, beta: 1 - l2Step, c: weights)
        }
        // velocity = μ·velocity − η·l2·W, then the GEMM adds −(η/m)·Δᵀ·A with β = 1.
        let w = cpu(weights).floats, v = cpu(velocity).floats
        for i in 0..<count { v[i] = momentum * v[i] - l2Step * w[i] }
        try gemm(
            transposeA: true, transposeB: false, m: outputs, n: inputs, k: rows,
            alpha: -learningRate / Float(samples), a: delta, b: input, beta: 1, c: velocity)
        for i in 0..<count { w[i] += v[i] }
    }

    public func updateBias(
        bias: any DeviceBuffer, velocity: any DeviceBuffer, delta: any DeviceBuffer,
        rows: Int, samples: Int, outputs: Int, learningRate: Float, momentum: Float
    ) throws {
        let b = cpu(bias).floats, v = cpu(velocity).floats, d = cpu(delta).floats
        let scale = learningRate / Float(samples)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: outputs) { sums in
            let sum = sums.baseAddress!
            columnSums(d, rows: rows, columns: outputs, into: sum)
            for j in 0..<outputs {
                v[j] = momentum * v[j] - scale * sum[j]
                b[j] += v[j]
            }
        }
    }

    public func gather(
        source: any DeviceBuffer, rowLength: Int, indices: any DeviceBuffer, offset: Int,
        rows: Int, into destination: any DeviceBuffer
    ) throws {
        let sourceBuffer = cpu(source), dst = cpu(destination).floats, index = cpu(indices).ints
        if sourceBuffer.holdsBytesOver255 {
            // The same expression the IDX reader uses, so the floats are bit-identical.
            return bpnet_gather_bytes_over_255(
                dst, sourceBuffer.raw.assumingMemoryBound(to: UInt8.self), index + offset, rows, rowLength)
        }
        let src = sourceBuffer.floats
        for i in 0..<rows {
            (dst + i * rowLength).update(from: src + Int(index[offset + i]) * rowLength, count: rowLength)
        }
    }

    /// The activations whose f′ has a vectorized C loop (cpu_kernels.c).
    static let derivativeLoops: [Activation.Kind: Int32] = [
        .sigmoid: Int32(BPNET_DERIVATIVE_SIGMOID), .tanh: Int32(BPNET_DERIVATIVE_TANH), .relu: Int32(BPNET_DERIVATIVE_RELU),
    ]

    /// Runs `body(first, count)` over `samples` in one contiguous share per BLAS thread, at once.
    /// The image loops treat each sample alone, so every split gives the same bits; without it
    /// they would run on one core while the products use them all.
    private func inSampleShares(_ samples: Int, _ body: (_ first: Int, _ count: Int) -> Void) {
        let shares = min(max(CPUBackend.blasThreads, 1), samples)
        guard shares > 1 else { return body(0, samples) }
        // The shares write disjoint samples of buffers that live until this returns.
        struct Shared: @unchecked Sendable { let body: (Int, Int) -> Void }
        withoutActuallyEscaping(body) { body in
            let shared = Shared(body: body)
            DispatchQueue.concurrentPerform(iterations: shares) { share in
                let first = samples * share / shares
                shared.body(first, samples * (share + 1) / shares - first)
            }
        }
    }

    public func im2col(_ input: any DeviceBuffer, geometry g: WindowGeometry, samples: Int, into columns: any DeviceBuffer) throws {
        let x = cpu(input).floats, patches = cpu(columns).floats
        let (pixels, patchRows) = (g.height * g.width * g.channels, g.outputPositions * g.patchLength)
        inSampleShares(samples) { first, count in
            bpnet_im2col(x + first * pixels, patches + first * patchRows, count, g.channels, g.height, g.width, g.kernel, g.stride, g.padding)
        }
    }

    public func col2im(_ columns: any DeviceBuffer, geometry g: WindowGeometry, samples: Int, into image: any DeviceBuffer) throws {
        let patches = cpu(columns).floats, y = cpu(image).floats
        let (pixels, patchRows) = (g.height * g.width * g.channels, g.outputPositions * g.patchLength)
        inSampleShares(samples) { first, count in
            bpnet_col2im(patches + first * patchRows, y + first * pixels, count, g.channels, g.height, g.width, g.kernel, g.stride, g.padding)
        }
    }

    public func maxPool(
        _ input: any DeviceBuffer, geometry g: WindowGeometry, samples: Int, into output: any DeviceBuffer, argmax: any DeviceBuffer
    ) throws {
        try CPUBackend.checkPooling("maxPool", g)
        let x = cpu(input).floats, y = cpu(output).floats, at = cpu(argmax).ints
        let (pixels, pooled) = (g.height * g.width * g.channels, g.outputPositions * g.channels)
        inSampleShares(samples) { first, count in
            bpnet_max_pool(
                x + first * pixels, y + first * pooled, at + first * pooled, count, g.channels, g.height, g.width, g.kernel, g.stride)
        }
    }

    public func maxPoolBackward(
        _ outputGradient: any DeviceBuffer, argmax: any DeviceBuffer, geometry g: WindowGeometry, samples: Int,
        into inputGradient: any DeviceBuffer
    ) throws {
        try CPUBackend.checkPooling("maxPoolBackward", g)
        let gy = cpu(outputGradient).floats, at = cpu(argmax).ints, gx = cpu(inputGradient).floats
        let (pixels, pooled) = (g.height * g.width * g.channels, g.outputPositions * g.channels)
        inSampleShares(samples) { first, count in
            bpnet_max_pool_backward(
                gy + first * pooled, at + first * pooled, gx + first * pixels, count, g.channels, g.height, g.width, g.kernel, g.stride)
        }
    }

    static func checkPooling(_ operation: String, _ g: WindowGeometry) throws {
        guard g.isValid, g.padding == 0 else {
            throw BPNetError.invalidArgument("\(operation): max pooling takes a valid window and no padding, but \(g)")
        }
    }

    public func transposeSamples(_ x: any DeviceBuffer, samples: Int, rows: Int, columns: Int, into y: any DeviceBuffer) throws {
        let from = cpu(x).floats, to = cpu(y).floats
        inSampleShares(samples) { first, count in
            bpnet_transpose_samples(from + first * rows * columns, to + first * rows * columns, count, rows, columns)
        }
    }

    public func multiplyDerivative(_ delta: any DeviceBuffer, activation: any DeviceBuffer, count: Int, function: Activation) throws {
        let a = cpu(activation).floats, d = cpu(delta).floats
        if function == .softmax { throw BPNetError.invalidArgument("softmax has no element-wise derivative: it is an output layer's") }
        if function == .identity { return }
        if let code = CPUBackend.derivativeLoops[function.kind] { return bpnet_multiply_derivative(d, a, count, code) }
        // Activations without a C loop take the Swift formula.
        for i in 0..<count { d[i] *= function.derivative(from: a[i]) }
    }

    public func activate(_ z: any DeviceBuffer, into a: any DeviceBuffer, count: Int, function: Activation) throws {
        if function == .softmax { throw BPNetError.invalidArgument("activate: softmax is a row operation, not an element-wise one") }
        let x = cpu(z).floats, y = cpu(a).floats
        if function == .identity {
            if x != y { y.update(from: x, count: count) }
            return
        }
        for i in 0..<count { y[i] = function(x[i]) }
    }

    public func normalizationStatistics(
        _ x: any DeviceBuffer, rows: Int, channels: Int, mean: any DeviceBuffer, variance: any DeviceBuffer,
        runningMean: any DeviceBuffer, runningVariance: any DeviceBuffer, momentum: Float
    ) throws {
        bpnet_batch_norm_statistics(
            cpu(x).floats, rows, channels, cpu(mean).floats, cpu(variance).floats, cpu(runningMean).floats, cpu(runningVariance).floats,
            momentum)
    }

    public func normalize(
        _ x: any DeviceBuffer, rows: Int, channels: Int, mean: any DeviceBuffer, variance: any DeviceBuffer, scale: any DeviceBuffer,
        shift: any DeviceBuffer, epsilon: Float, into y: any DeviceBuffer, activation: Activation
    ) throws {
        if activation == .softmax { throw BPNetError.invalidArgument("normalize: softmax is a row operation, not an element-wise one") }
        let (input, output) = (cpu(x).floats, cpu(y).floats)
        let (mu, sigma2, gamma, beta) = (cpu(mean).floats, cpu(variance).floats, cpu(scale).floats, cpu(shift).floats)
        // ReLU in the loop; another activation after it. Each element alone: any split of the rows gives the same bits.
        let relu: Int32 = activation == .relu ? 1 : 0
        inSampleShares(rows) { first, count in
            bpnet_batch_norm(input + first * channels, count, channels, mu, sigma2, gamma, beta, epsilon, relu, output + first * channels)
        }
        if activation != .relu { try activate(y, into: y, count: rows * channels, function: activation) }
    }

    // The sums in row order, then each element alone, in shares of rows.
    public func normalizationBackward(
        _ delta: any DeviceBuffer, x: any DeviceBuffer, rows: Int, channels: Int, samples: Int, mean: any DeviceBuffer,
        variance: any DeviceBuffer, scale: any DeviceBuffer, epsilon: Float, scaleGradient: any DeviceBuffer,
        shiftGradient: any DeviceBuffer, into inputGradient: any DeviceBuffer
    ) throws {
        let (d, input, mu, sigma2) = (cpu(delta).floats, cpu(x).floats, cpu(mean).floats, cpu(variance).floats)
        let (gScale, gShift, gInput, gamma) = (cpu(scaleGradient).floats, cpu(shiftGradient).floats, cpu(inputGradient).floats, cpu(scale).floats)
        bpnet_batch_norm_backward_sums(d, input, rows, channels, samples, mu, sigma2, epsilon, gScale, gShift)
        inSampleShares(rows) { first, count in
            bpnet_batch_norm_backward_input(
                d + first * channels, input + first * channels, count, channels, rows / samples, mu, sigma2, gamma, epsilon, gScale, gShift,
                gInput + first * channels)
        }
    }

    public func batchMetrics(
        _ loss: Loss, activation: any DeviceBuffer, target: any DeviceBuffer,
        rows: Int, columns: Int, into metrics: any DeviceBuffer, slot: Int
    ) throws {
        let a = cpu(activation).floats, y = cpu(target).floats, out = cpu(metrics).floats
        var lossSum: Float = 0
        var correct = 0
        for r in 0..<rows {
            let ar = a + r * columns, yr = y + r * columns
            var rowLoss: Float = 0
            var bestA = 0, bestY = 0
            for j in 0..<columns {
                rowLoss += loss.value(activation: ar[j], target: yr[j])
                if ar[j] > ar[bestA] { bestA = j }
                if yr[j] > yr[bestY] { bestY = j }
            }
            lossSum += rowLoss
            // One output unit is a binary classifier: its class is whether it reaches 0.5.
            if columns == 1 ? (ar[0] >= 0.5) == (yr[0] >= 0.5) : bestA == bestY { correct += 1 }
        }
        out[2 * slot] = lossSum
        out[2 * slot + 1] = Float(correct)
    }
}
