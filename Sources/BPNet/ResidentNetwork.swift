/// A network's parameters, optimizer state and working memory held on a backend, with the
/// forward and backward passes written once against `Backend`. Everything a step touches is
/// allocated here, up front.
///
/// The network's layers lower to backend operations stage by stage (one stage per layer of the
/// architecture): a dense layer is `linear`; a convolution is im2col, then `linear` over the
/// patches, whose rows are output positions; max pooling is `maxPool` with its argmax; average
/// pooling is im2col and a GEMM with a column of ones; global average pooling a transpose and
/// that GEMM; flatten is the NHWC-to-NCHW transpose; batch norm is its statistics and `normalize`
/// (with the activation of the weight layer before it, which applies none). Images between stages
/// are NHWC (see `WindowGeometry`). A dense network lowers to exactly the calls it always made, in
/// the same order, so its bits stand.
final class ResidentNetwork {
    /// What training needs beyond the forward pass.
    struct Training {
        /// The fused SGD update (the gradient stays in registers) or gradient buffers and an
        /// optimizer pass over the arena, and the state slots.
        var update: UpdatePath
        /// The probability of dropping a hidden weight layer's output; 0 for none.
        var dropout: Float
        /// Whether training batches are cropped and flipped (`Augmentation`): they are gathered
        /// into a buffer of their own first.
        var augments = false
    }

    /// One batch's augmentation: what it does, its key and the epoch, which with each sample's
    /// index in the training set make its draw.
    struct AugmentDraw {
        var augmentation: Augmentation
        var key: UInt64
        var epoch: Int
    }

    typealias Stage = LayerStage

    let backend: any Backend
    let network: Network
    let stages: [Stage]
    /// Values per sample after each stage, and at the input (`widths[0]`).
    let widths: [Int]
    let functions: [Activation]
    /// The most rows (samples) one pass handles.
    let capacity: Int

    /// The parameters, their gradients (on the unfused paths) and the optimizer's state slots
    /// (`Optimizer.stateBuffers`; the fused SGD update always has its velocity, which its
    /// epilogue writes), each one buffer in W0, b0, W1, b1 order (a batch norm's γ and β where it stands).
    let arena: ParameterArena
    /// activations[0] is the input batch `[capacity, n0]` (NCHW as the data holds it);
    /// activations[s + 1] is stage s's output `[capacity, n_{s+1}]`.
    let activations: [any DeviceBuffer]
    /// A convolution's or average pooling's patches `[capacity·OH·OW, C·K·K]` at its stage (global
    /// pooling's NCHW copy at its); empty elsewhere.
    private let columns: [any DeviceBuffer]
    /// When training, preactivations[s + 1] is the z of stage s, when s applies an activation whose
    /// derivative reads z (GELU): `linear` (or a batch norm's `normalize`) writes z there and
    /// `activate` writes a = f(z) into activations[s + 1]. Empty elsewhere.
    private let preactivations: [any DeviceBuffer]
    /// A batch norm's batch mean and biased variance `[C]` (training's, which its backward pass
    /// reads) and its running statistics `[C]`, which training moves and evaluation normalizes with.
    private struct NormalizationBuffers {
        var mean: any DeviceBuffer
        var variance: any DeviceBuffer
        var runningMean: any DeviceBuffer
        var runningVariance: any DeviceBuffer
    }
    private let normalizationBuffers: [NormalizationBuffers]
    /// Zeros, as many as the widest batch norm's channels: what the bias gradient of a weight layer
    /// that a batch norm follows is multiplied by.
    private let zeros: any DeviceBuffer
    /// The weight layer whose activation each stage applies (`activationOwners`).
    private let activationOwners: [(layer: Int, geometry: WindowGeometry?)?]
    /// A pooling stage's argmax; empty elsewhere.
    private let argmax: [any DeviceBuffer]
    /// The input batch as NHWC, when the first stage reads an image of several channels.
    private let inputNHWC: any DeviceBuffer
    /// The gathered batch before augmentation, when training augments.
    private let gathered: any DeviceBuffer
    /// For the stages that apply a hidden weight layer's activation (the layer's own, or the batch
    /// norm after it) under dropout: masks[s + 1] and dropped[s + 1] = activations[s + 1]
    /// ⊙ masks[s + 1], the next stage's input; empty placeholders elsewhere. A convolution's mask
    /// is drawn in NCHW order into `maskNCHW`, then moved to NHWC.
    private let masks: [any DeviceBuffer]
    private let dropped: [any DeviceBuffer]
    private let maskNCHW: any DeviceBuffer
    /// deltas[s] is ∂L/∂(stage s's output): for a weight layer, with respect to its
    /// pre-activation z (δ_l), once the activation's derivative is applied.
    private let deltas: [any DeviceBuffer]
    /// The patch gradient `[capacity·OH·OW, C·K·K]` of a convolution or average pooling (global
    /// pooling's NCHW gradient), shared by every such stage after the first weight layer.
    private let columnGradient: any DeviceBuffer
    /// Ones, as many as the largest pooling window (K·K, or H·W for global pooling): the column
    /// and row that average pooling's products take, scaled by the window's reciprocal.
    private let ones: any DeviceBuffer
    /// The targets of the current batch, `[capacity, nL]`.
    let targets: any DeviceBuffer
    /// Per-batch loss sums and correct counts of one epoch: `[2 · slots]`.
    let metrics: any DeviceBuffer
    /// The shuffled order of one epoch.
    let order: any DeviceBuffer

    var layerCount: Int { network.layers.count }
    var output: any DeviceBuffer { activations[stages.count] }
    var outputWidth: Int { widths[stages.count] }

    /// Optimizer state and epoch sums to start from instead of zeros, when resuming.
    struct SavedState {
        /// Per parameter tensor, then per slot.
        var optimizerState: [[[Float]]]
        var batchMetrics: [Float]
    }

    /// The stages of `network`'s architecture.
    static func stages(of network: Network) -> [Stage] { stages(of: network.architecture, shapes: network.shapes) }

    /// The stages of `architecture`, whose layers' output shapes are `shapes` (checked already).
    static func stages(of architecture: Architecture, shapes: [Architecture.Shape]) -> [Stage] {
        var index = LayerStage.Index()
        return zip(zip([architecture.input] + shapes, shapes), architecture.layers).enumerated().map { position, pair in
            let ((input, output), layer) = pair
            let stage = layer.definition.stage(input: input, output: output, index: index, isFirst: position == 0)
            switch stage {
            case .weights: index.weightLayer += 1
            case .batchNorm: index.normalization += 1
            case .maxPool, .averagePool, .globalAveragePool, .flatten: break
            }
            return stage
        }
    }

    /// The input's geometry when the first stage reads it as an image, which must then move from
    /// the data's NCHW to NHWC.
    static func inputGeometry(_ stages: [Stage]) -> WindowGeometry? {
        switch stages.first {
        case .weights(_, let geometry?)?, .maxPool(let geometry)?, .averagePool(let geometry)?, .globalAveragePool(let geometry)?:
            return geometry
        default: return nil
        }
    }

    /// Elements of the im2col patches of every convolution and average pooling (and global
    /// pooling's NCHW copy), per sample: what the memory plan counts.
    static func patchElements(_ stages: [Stage]) -> [Int] {
        stages.map { stage in
            switch stage {
            case .weights(_, let geometry?), .averagePool(let geometry): return geometry.outputPositions * geometry.patchLength
            case .globalAveragePool(let geometry): return geometry.channels * geometry.height * geometry.width
            case .weights(_, nil), .maxPool, .flatten, .batchNorm: return 0
            }
        }
    }

    /// The weight layer whose activation each stage applies, and that layer's geometry (nil when
    /// dense): a weight stage that no batch norm follows, or the batch norm after one; nil elsewhere.
    static func activationOwners(_ stages: [Stage]) -> [(layer: Int, geometry: WindowGeometry?)?] {
        stages.indices.map { s in
            switch stages[s] {
            case .weights(let l, let geometry):
                if s + 1 < stages.count, case .batchNorm = stages[s + 1] { return nil }
                return (l, geometry)
            case .batchNorm:
                guard s > 0, case .weights(let l, let geometry) = stages[s - 1] else { return nil }
                return (l, geometry)
            case .maxPool, .averagePool, .globalAveragePool, .flatten: return nil
            }
        }
    }

    /// The largest pooling window: how many ones average pooling's products need.
    static func poolingWindow(_ stages: [Stage]) -> Int {
        stages.map { stage in
            switch stage {
            case .averagePool(let geometry): return geometry.kernel * geometry.kernel
            case .globalAveragePool(let geometry): return geometry.height * geometry.width
            case .weights, .maxPool, .flatten, .batchNorm: return 0
            }
        }.max() ?? 0
    }

    /// Elements per sample of the patch gradient: the largest patches of a convolution that
    /// passes its gradient down (every one after the first weight layer).
    static func patchGradientElements(_ stages: [Stage]) -> Int {
        guard let first = stages.firstIndex(where: { if case .weights = $0 { return true } else { return false } }) else { return 0 }
        return patchElements(stages).enumerated().filter { $0.offset > first }.map(\.element).max() ?? 0
    }

    init(
        _ network: Network, backend: any Backend, capacity: Int, training: Training? = nil, metricSlots: Int = 1, samples: Int = 1,
        restoring saved: SavedState? = nil
    ) throws {
        // `Network.layers` is settable: parameters that no longer fit the architecture would index
        // out of bounds in the kernels.
        let expected = try network.architecture.weights()
        guard expected.count == network.layers.count,
            zip(expected, network.layers).allSatisfy({ $0.inputs == $1.inputs && $0.outputs == $1.outputs })
        else {
            throw BPNetError.invalidArgument(
                "the network's layers (\(network.layers.map { "\($0.inputs)→\($0.outputs)" }.joined(separator: ", "))) do not fit its architecture \(network.architecture)")
        }
        self.backend = backend
        self.network = network
        let stages = ResidentNetwork.stages(of: network), widths = network.sizes
        (self.stages, self.widths) = (stages, widths)
        // Each weight layer's stage, in order: held, so that no step builds the list again.
        weightStages = stages.indices.compactMap { s in
            if case .weights(let l, _) = stages[s] { return (l, s) }
            return nil
        }
        functions = network.activations
        let owners = ResidentNetwork.activationOwners(stages)
        activationOwners = owners
        self.capacity = capacity
        let unfused = training.map { !$0.update.fused } ?? false
        arena = try ParameterArena(
            network, backend: backend, stateSlots: training?.update.stateSlots ?? 0, gradients: unfused,
            restoring: saved?.optimizerState)
        activations = try widths.map { try backend.makeBuffer(count: capacity * $0) }
        preactivations = try widths.indices.map { i in
            guard training != nil, i > 0, let owner = owners[i - 1], network.activations[owner.layer].derivativeReadsPreactivation else {
                return try backend.makeBuffer(count: 0)
            }
            return try backend.makeBuffer(count: capacity * widths[i])
        }
        zeros = try backend.makeBuffer(count: network.normalizations.map(\.channels).max() ?? 0)
        // Each batch norm's statistics: the batch's (training) and the running ones, uploaded.
        normalizationBuffers = try network.normalizations.map { state in
            NormalizationBuffers(
                mean: try backend.makeBuffer(count: state.channels), variance: try backend.makeBuffer(count: state.channels),
                runningMean: try backend.makeBuffer(state.runningMean), runningVariance: try backend.makeBuffer(state.runningVariance))
        }
        let patches = ResidentNetwork.patchElements(stages)
        columns = try patches.map { try backend.makeBuffer(count: capacity * $0) }
        argmax = try stages.indices.map { s in
            if case .maxPool = stages[s] { return try backend.makeIndexBuffer(count: capacity * widths[s + 1]) }
            return try backend.makeIndexBuffer(count: 0)
        }
        if let geometry = ResidentNetwork.inputGeometry(stages), geometry.channels > 1 {
            inputNHWC = try backend.makeBuffer(count: capacity * widths[0])
        } else {
            inputNHWC = try backend.makeBuffer(count: 0)
        }
        let dropout = (training?.dropout ?? 0) > 0
        // Stage s's output is masked when it is a hidden weight layer's, after its activation
        // (after its batch norm, where one follows).
        let hidden = { (s: Int) -> Bool in dropout && s + 1 < stages.count && owners[s] != nil }
        masks = try widths.indices.map { try backend.makeBuffer(count: $0 > 0 && hidden($0 - 1) ? capacity * widths[$0] : 0) }
        dropped = try widths.indices.map { try backend.makeBuffer(count: $0 > 0 && hidden($0 - 1) ? capacity * widths[$0] : 0) }
        let imageMasks = stages.indices.filter { s in hidden(s) && owners[s]?.geometry != nil }
        maskNCHW = try backend.makeBuffer(count: imageMasks.map { capacity * widths[$0 + 1] }.max() ?? 0)
        deltas = try widths.dropFirst().map { try backend.makeBuffer(count: training == nil ? 0 : capacity * $0) }
        columnGradient = try backend.makeBuffer(count: training == nil ? 0 : capacity * ResidentNetwork.patchGradientElements(stages))
        ones = try backend.makeBuffer([Float](repeating: 1, count: ResidentNetwork.poolingWindow(stages)))
        gathered = try backend.makeBuffer(count: training?.augments == true ? capacity * widths[0] : 0)
        targets = try backend.makeBuffer(count: capacity * widths[widths.count - 1])
        let metricCount = 2 * max(metricSlots, 1)
        if let sums = saved?.batchMetrics, !sums.isEmpty, sums.count <= metricCount {
            metrics = try backend.makeBuffer(sums + [Float](repeating: 0, count: metricCount - sums.count))
        } else {
            metrics = try backend.makeBuffer(count: metricCount)
        }
        order = try backend.makeIndexBuffer(count: max(samples, 1))
    }

    /// Loads `rows` samples of `data` into the input and target batches.
    /// With `augment`, the inputs are gathered aside and cropped and flipped into the batch, each
    /// by its training-set index's draw: on the device, with no transfer.
    func gather(_ data: ResidentDataset, indices: any DeviceBuffer, offset: Int, rows: Int, augment: AugmentDraw? = nil) throws {
        try backend.gatherBatch(
            inputs: data.inputs, inputLength: data.inputSize, targets: data.targets, targetLength: data.outputSize,
            indices: indices, offset: offset, rows: rows, intoInputs: augment == nil ? activations[0] : gathered, intoTargets: targets)
        guard let augment, case .image(let channels, let height, let width) = network.architecture.input else { return }
        try backend.augmentImages(
            gathered, into: activations[0], indices: indices, offset: offset, rows: rows, channels: channels, height: height,
            width: width, augmentation: augment.augmentation, key: augment.key, epoch: augment.epoch)
    }

    /// This step's dropout draw: the rate, the kept units' scale 1/(1 − p), and the generator's
    /// seed and step.
    struct DropoutDraw {
        var rate: Float
        var seed: UInt64
        var step: UInt64
        /// The batch's first row here within the whole batch: a process's shard starts there.
        var firstRow = 0
        var scale: Float { 1 / (1 - rate) }
    }

    /// Stage s's input: the previous stage's output, or its masked copy when dropout masks it.
    private func input(of s: Int, dropout: Bool) -> any DeviceBuffer {
        dropout && dropped[s].count > 0 ? dropped[s] : activations[s]
    }

    /// A weight layer's input matrix, patches for a convolution: `[rows·positions, inputs]`.
    private func layerInput(of s: Int, dropout: Bool) -> any DeviceBuffer {
        if case .weights(_, .some) = stages[s] { return columns[s] }
        return input(of: s, dropout: dropout)
    }

    /// Matrix rows per sample at stage s: a convolution's output positions, else 1.
    private func positions(_ s: Int) -> Int {
        if case .weights(_, let geometry?) = stages[s] { return geometry.outputPositions }
        return 1
    }

    /// Each weight layer's stage, in order.
    private let weightStages: [(layer: Int, stage: Int)]

    // The forward pass, stage by stage (shapes per sample; images NHWC):
    //   dense:   A: [rows, n_in], W_l: [n_out, n_in] -> f_l(A·W_lᵀ + b_l): [rows, n_out]
    //   conv:    X: [rows, H, W, C] -> patches [rows·OH·OW, C·K·K] -> f_l(patches·W_lᵀ + b_l): [rows, OH, OW, Cout]
    //   maxpool: X: [rows, H, W, C] -> [rows, OH, OW, C], and the argmax
    //   flatten: X: [rows, H·W, C] -> [rows, C, H·W]
    //   batchnorm: X: [rows·positions, C] -> f_l(γ·(X − μ)/√(σ² + ε) + β), μ and σ² the batch's in
    //            training (the running statistics move), the running ones in evaluation; the
    //            weight stage before it applies no activation
    // A stage whose activation's f′ reads z (GELU) writes z, then f_l(z) element-wise.
    // Under dropout, a hidden weight layer's output is then masked into dropped[s + 1].
    func forward(rows: Int, dropout: DropoutDraw? = nil, training: Bool = false) throws {
        for (s, stage) in stages.enumerated() {
            var x = input(of: s, dropout: dropout != nil)
            let y = activations[s + 1]
            if s == 0, let geometry = ResidentNetwork.inputGeometry(stages), geometry.channels > 1 {
                try backend.transposeSamples(
                    x, samples: rows, rows: geometry.channels, columns: geometry.height * geometry.width, into: inputNHWC)
                x = inputNHWC
            }
            switch stage {
            case .weights(let l, let geometry):
                var input = x, rowCount = rows
                if let geometry {
                    try backend.im2col(x, geometry: geometry, samples: rows, into: columns[s])
                    (input, rowCount) = (columns[s], rows * geometry.outputPositions)
                }
                let layer = network.layers[l]
                try activated(s, rows: rows) { output, f in
                    try backend.linear(
                        input: input, weights: arena.weights(l), bias: arena.bias(l), output: output, rows: rowCount, inputs: layer.inputs,
                        outputs: layer.outputs, activation: f)
                }
            case .batchNorm(let b, let channels):
                let statistics = normalizationBuffers[b], normalizedRows = rows * widths[s + 1] / channels
                if training {
                    try backend.normalizationStatistics(
                        x, rows: normalizedRows, channels: channels, mean: statistics.mean, variance: statistics.variance,
                        runningMean: statistics.runningMean, runningVariance: statistics.runningVariance, momentum: BatchNorm.momentum)
                }
                let (mean, variance) = training ? (statistics.mean, statistics.variance) : (statistics.runningMean, statistics.runningVariance)
                try activated(s, rows: rows) { output, f in
                    try backend.normalize(
                        x, rows: normalizedRows, channels: channels, mean: mean, variance: variance, scale: arena.scale(b),
                        shift: arena.shift(b), epsilon: BatchNorm.epsilon, into: output, activation: f)
                }
            case .maxPool(let geometry):
                try backend.maxPool(x, geometry: geometry, samples: rows, into: y, argmax: argmax[s])
            case .averagePool(let geometry):
                // Patches [rows·OH·OW·C, K·K] · (1/(K·K))·1 -> [rows·OH·OW, C].
                let window = geometry.kernel * geometry.kernel
                try backend.im2col(x, geometry: geometry, samples: rows, into: columns[s])
                try backend.gemm(
                    transposeA: false, transposeB: false, m: rows * geometry.outputPositions * geometry.channels, n: 1, k: window,
                    alpha: 1 / Float(window), a: columns[s], b: ones, beta: 0, c: y)
            case .globalAveragePool(let geometry):
                // [rows, H·W, C] -> [rows·C, H·W] · (1/(H·W))·1 -> [rows, C].
                let pixels = geometry.height * geometry.width
                try backend.transposeSamples(x, samples: rows, rows: pixels, columns: geometry.channels, into: columns[s])
                try backend.gemm(
                    transposeA: false, transposeB: false, m: rows * geometry.channels, n: 1, k: pixels, alpha: 1 / Float(pixels),
                    a: columns[s], b: ones, beta: 0, c: y)
            case .flatten(let pixels, let channels):
                try backend.transposeSamples(x, samples: rows, rows: pixels, columns: channels, into: y)
            }
            if let dropout, masks[s + 1].count > 0, let (l, geometry) = activationOwners[s] {
                let count = rows * widths[s + 1]
                // The Philox counter is the element's position in the layer's output, NCHW.
                let draw = geometry == nil ? masks[s + 1] : maskNCHW
                try backend.dropoutMask(
                    draw, count: count, rate: dropout.rate, scale: dropout.scale, seed: dropout.seed,
                    step: dropout.step, layer: l + 1, firstElement: dropout.firstRow * widths[s + 1])
                if let geometry {
                    let channels = network.layers[l].outputs
                    try backend.transposeSamples(
                        maskNCHW, samples: rows, rows: channels, columns: geometry.outputPositions, into: masks[s + 1])
                }
                try backend.multiply(y, by: masks[s + 1], into: dropped[s + 1], count: count)
            }
        }
    }

    /// Runs `write`, which computes stage s's output with the activation it is given: the stage's
    /// own (identity where it applies none), or, where its f′ reads z, identity into z's buffer
    /// (y's when not training), and then a = f(z) into y.
    private func activated(_ s: Int, rows: Int, _ write: (_ output: any DeviceBuffer, _ f: Activation) throws -> Void) throws {
        let f = activationOwners[s].map { functions[$0.layer] } ?? .identity
        let y = activations[s + 1]
        guard f.derivativeReadsPreactivation else { return try write(y, f) }
        let z = preactivations[s + 1].count > 0 ? preactivations[s + 1] : y
        try write(z, .identity)
        try backend.activate(z, into: y, count: rows * widths[s + 1], function: f)
    }

    // The backward pass, beside the forward: A_L, Y: [rows, nL] -> metrics[slot] and δ_L, in one
    // backend call (they read the same batch); then each stage's input gradient, down to the
    // first weight layer.
    func measureAndBackward(_ loss: Loss, rows: Int, slot: Int, dropout: Bool) throws {
        let last = stages.count - 1
        try backend.metricsAndOutputDelta(
            loss, output: functions[layerCount - 1], activation: output, target: targets, delta: deltas[last],
            rows: rows, columns: outputWidth, into: metrics, slot: slot)
        let firstWeights = weightStages[0].stage
        for s in stride(from: last, to: firstWeights, by: -1) {
            try backward(stage: s, rows: rows, dropout: dropout)
        }
    }

    /// What f′ of the weight stage whose output is activations[s] reads: its z where kept, else a.
    private func derivativeInput(_ s: Int) -> any DeviceBuffer {
        preactivations[s].count > 0 ? preactivations[s] : activations[s]
    }

    // deltas[s]: the gradient at stage s's output -> deltas[s − 1], at its input:
    //   dense after dense: (δ_s·W_l) ⊙ f′(A_{s−1}) in one call; else δ_s·W_l
    //   conv:    δ_s: [rows·OH·OW, Cout] -> δ_s·W_l: [rows·OH·OW, C·K·K] -> col2im: [rows, H, W, C]
    //   maxpool: to each window's maximum;  flatten: [rows, C, H·W] -> [rows, H·W, C]
    //   avgpool: δ·(1/(K·K)) to each window's K·K patch entries, then col2im
    //   gap:     δ·(1/(H·W)) to every pixel of its channel, NCHW, then to NHWC
    //   batchnorm: δx = γ/√(σ² + ε)·(δ − mean δ − x̂·mean(δ·x̂)) over its rows; gγ, gβ beside it
    // then, where stage s − 1 applies a hidden weight layer's activation (its own, or its batch
    // norm's): ⊙ mask under dropout, and ⊙ f′ (from A_{s−1}, or from Z_{s−1} for GELU).
    private func backward(stage s: Int, rows: Int, dropout: Bool) throws {
        let below = s - 1
        var derivativeApplied = false
        switch stages[s] {
        case .weights(let l, nil):
            if case .weights(let k, nil) = stages[below] {
                try backend.hiddenDelta(
                    deltaNext: deltas[s], weightsNext: arena.weights(l), activation: derivativeInput(s), delta: deltas[below],
                    rows: rows, units: widths[s], nextUnits: widths[s + 1], function: functions[k])
                derivativeApplied = true
            } else {
                try backend.gemm(
                    transposeA: false, transposeB: false, m: rows, n: widths[s], k: widths[s + 1], alpha: 1,
                    a: deltas[s], b: arena.weights(l), beta: 0, c: deltas[below])
            }
        case .weights(let l, let geometry?):
            let positions = rows * geometry.outputPositions
            try backend.gemm(
                transposeA: false, transposeB: false, m: positions, n: geometry.patchLength, k: network.layers[l].outputs,
                alpha: 1, a: deltas[s], b: arena.weights(l), beta: 0, c: columnGradient)
            try backend.col2im(columnGradient, geometry: geometry, samples: rows, into: deltas[below])
        case .maxPool(let geometry):
            try backend.maxPoolBackward(deltas[s], argmax: argmax[s], geometry: geometry, samples: rows, into: deltas[below])
        case .averagePool(let geometry):
            // δ [rows·OH·OW·C, 1] · (1/(K·K))·1ᵀ -> the patch gradient -> col2im.
            let window = geometry.kernel * geometry.kernel
            try backend.gemm(
                transposeA: false, transposeB: false, m: rows * geometry.outputPositions * geometry.channels, n: window, k: 1,
                alpha: 1 / Float(window), a: deltas[s], b: ones, beta: 0, c: columnGradient)
            try backend.col2im(columnGradient, geometry: geometry, samples: rows, into: deltas[below])
        case .globalAveragePool(let geometry):
            // δ [rows·C, 1] · (1/(H·W))·1ᵀ -> [rows, C, H·W] -> [rows, H·W, C].
            let pixels = geometry.height * geometry.width
            try backend.gemm(
                transposeA: false, transposeB: false, m: rows * geometry.channels, n: pixels, k: 1, alpha: 1 / Float(pixels),
                a: deltas[s], b: ones, beta: 0, c: columnGradient)
            try backend.transposeSamples(columnGradient, samples: rows, rows: geometry.channels, columns: pixels, into: deltas[below])
        case .flatten(let pixels, let channels):
            try backend.transposeSamples(deltas[s], samples: rows, rows: channels, columns: pixels, into: deltas[below])
        case .batchNorm(let b, let channels):
            // δ at the normalised output (f′ applied) -> gγ, gβ into the arena's gradients, and δ
            // at the weight stage's z, which applies no activation of its own.
            let statistics = normalizationBuffers[b]
            try backend.normalizationBackward(
                deltas[s], x: activations[s], rows: rows * widths[s + 1] / channels, channels: channels, samples: rows,
                mean: statistics.mean, variance: statistics.variance, scale: arena.scale(b), epsilon: BatchNorm.epsilon,
                scaleGradient: arena.scaleGradient(b), shiftGradient: arena.shiftGradient(b), into: deltas[below])
        }
        guard let k = activationOwners[below]?.layer else { return }
        let count = rows * widths[s]
        if derivativeApplied {
            if dropout, masks[s].count > 0 { try backend.multiply(deltas[below], by: masks[s], into: deltas[below], count: count) }
        } else {
            if dropout, masks[s].count > 0 { try backend.multiply(deltas[below], by: masks[s], into: deltas[below], count: count) }
            try backend.multiplyDerivative(deltas[below], activation: derivativeInput(s), count: count, function: functions[k])
        }
    }

    // δ_l: [rows·positions, n_l], input: [rows·positions, n_in] -> W_l, b_l updated by the fused SGD rule.
    func updateFused(rows: Int, learningRate: Float, l2: Float, momentum: Float, dropout: Bool) throws {
        for (l, s) in weightStages {
            try backend.updateLayer(
                weights: arena.weights(l), weightVelocity: arena.weightState(l)[0], bias: arena.bias(l),
                biasVelocity: arena.biasState(l)[0],
                delta: deltas[s], input: layerInput(of: s, dropout: dropout), rows: rows * positions(s), samples: rows,
                outputs: network.layers[l].outputs, inputs: network.layers[l].inputs,
                learningRate: learningRate, l2: l2, momentum: momentum)
        }
    }

    // δ_l, input -> gW_l: [n_l, n_in] = (1/samples)·δ_lᵀ·input, gb_l: [n_l] = (1/samples)·Σ δ_l, over the
    // rows·positions GEMM rows of the batch's `rows` samples.
    // A weight layer that a batch norm follows gets gb = 0 exactly: the batch norm subtracts the
    // batch's mean, so Σ δ over its rows is 0, which float sums would leave as rounding noise for
    // Adam to scale up to whole steps. Its bias stays as it started (PyTorch's bias=False).
    func gradients(rows: Int, dropout: Bool) throws {
        for (l, s) in weightStages {
            try backend.layerGradients(
                delta: deltas[s], input: layerInput(of: s, dropout: dropout), weightGradient: arena.weightGradient(l),
                biasGradient: arena.biasGradient(l), rows: rows * positions(s), samples: rows, outputs: network.layers[l].outputs,
                inputs: network.layers[l].inputs)
            if activationOwners[s] == nil {
                let outputs = network.layers[l].outputs
                try backend.multiply(arena.biasGradient(l), by: zeros, into: arena.biasGradient(l), count: outputs)
            }
        }
    }

    /// Each layer's gradients and optimizer step, for when nothing needs the gradients between
    /// them: in one call per layer where the backend fuses the step into the gradient product's
    /// epilogue (Adam on a device), else every gradient and then one pass over the arena.
    func gradientStep(weightStep: OptimizerStep, biasStep: OptimizerStep, rows: Int, dropout: Bool) throws {
        // Batch norms' γ and β have no product to fuse into: their step is the arena's pass.
        guard normalizationBuffers.isEmpty, backend.fusesGradientStep(weightStep: weightStep, biasStep: biasStep) else {
            try gradients(rows: rows, dropout: dropout)
            return try arena.step(weightStep: weightStep, biasStep: biasStep)
        }
        for (l, s) in weightStages {
            try backend.gradientStepLayer(
                weightStep: weightStep, weights: arena.weights(l), weightState: arena.weightState(l), biasStep: biasStep,
                bias: arena.bias(l), biasState: arena.biasState(l), delta: deltas[s], input: layerInput(of: s, dropout: dropout),
                weightGradient: arena.weightGradient(l), biasGradient: arena.biasGradient(l), rows: rows * positions(s), samples: rows,
                outputs: network.layers[l].outputs, inputs: network.layers[l].inputs)
        }
    }

    /// One optimizer pass over the whole arena, from the gradients: `weightStep` for weights and
    /// `biasStep` (no L2, no decoupled decay) for biases.
    func applyOptimizer(weightStep: OptimizerStep, biasStep: OptimizerStep) throws {
        try arena.step(weightStep: weightStep, biasStep: biasStep)
    }

    /// Loss and correct count of the current output batch into `metrics[slot]`.
    func measure(_ loss: Loss, rows: Int, into metrics: any DeviceBuffer, slot: Int) throws {
        try backend.batchMetrics(
            loss, activation: output, target: targets, rows: rows, columns: outputWidth,
            into: metrics, slot: slot)
    }

    /// Total loss and correct count over `data` (or its samples in `range`), in chunks of
    /// `capacity`; the sums are read once.
    func evaluate(_ data: ResidentDataset, loss: Loss, range: Range<Int>? = nil) throws -> (loss: Double, correct: Int) {
        let range = range ?? 0..<data.count
        guard !range.isEmpty else { return (0, 0) }
        let chunks = (range.count + capacity - 1) / capacity
        let metrics = try backend.makeBuffer(count: 2 * max(chunks, 1))
        for chunk in 0..<chunks {
            let offset = range.lowerBound + chunk * capacity
            let rows = min(capacity, range.upperBound - offset)
            try gather(data, indices: data.identity, offset: offset, rows: rows)
            try forward(rows: rows)
            try measure(loss, rows: rows, into: metrics, slot: chunk)
        }
        return try ResidentNetwork.sum(metrics, backend: backend)
    }

    /// The confusion matrix of `data`, whose true classes are `labels`: each chunk's outputs are
    /// read back and classed by `predictedClass`, the rule the accuracy follows. One output unit
    /// makes two classes.
    func confusion(_ data: ResidentDataset, labels: [Int], range: Range<Int>? = nil) throws -> ConfusionMatrix {
        let range = range ?? 0..<data.count
        let width = outputWidth
        let classes = max(width, 2)
        var counts = [Int](repeating: 0, count: classes * classes)
        var outputs = [Float](repeating: 0, count: capacity * width)
        for offset in stride(from: range.lowerBound, to: range.upperBound, by: capacity) {
            let rows = min(capacity, range.upperBound - offset)
            try gather(data, indices: data.identity, offset: offset, rows: rows)
            try forward(rows: rows)
            try outputs.withUnsafeMutableBufferPointer { all in
                try backend.download(output, into: UnsafeMutableBufferPointer(rebasing: all[0..<(rows * width)]))
            }
            for row in 0..<rows {
                counts[labels[offset + row] * classes + predictedClass(outputs[(row * width)..<((row + 1) * width)])] += 1
            }
        }
        return ConfusionMatrix(classes: classes, counts: counts)
    }

    /// Adds up per-slot metrics on the host, in slot order, in double precision: every slot, or
    /// the first `slots`.
    static func sum(_ metrics: any DeviceBuffer, backend: any Backend, slots: Int? = nil) throws -> (loss: Double, correct: Int) {
        let sums = try sumAndCheck(metrics, backend: backend, slots: slots)
        return (sums.loss, sums.correct)
    }

    /// `sum`, and the first slot whose loss is not finite (nil when all are): the divergence
    /// guard reads the sums the device has already reduced, once per epoch, at no extra cost.
    ///
    /// With a communicator, each slot is first summed across the processes, whose shards of each
    /// batch it holds, so that every process sees the whole batch's sums.
    static func sumAndCheck(
        _ metrics: any DeviceBuffer, backend: any Backend, slots: Int? = nil, communicator: (any Communicator)? = nil
    ) throws -> (loss: Double, correct: Int, firstNonFinite: Int?) {
        let floats = try backend.download(metrics)
        var values = floats.map(Double.init)
        if let communicator { try communicator.allreduceSum(&values) }
        var loss = 0.0, correct = 0.0
        var firstNonFinite: Int?
        for slot in 0..<min(values.count / 2, slots ?? Int.max) {
            loss += values[2 * slot]
            correct += values[2 * slot + 1]
            if firstNonFinite == nil, !values[2 * slot].isFinite { firstNonFinite = slot }
        }
        return (loss, Int(correct), firstNonFinite)
    }

    /// In a distributed run each process normalizes its own shard, and moves its own running
    /// statistics; these become rank 0's on every process (as DistributedDataParallel broadcasts
    /// its buffers), before anything reads them: an evaluation, a checkpoint, the trained model.
    func shareRunningStatistics(_ communicator: any Communicator) throws {
        guard !normalizationBuffers.isEmpty else { return }
        var values: [Float] = []
        for buffers in normalizationBuffers {
            values += try backend.download(buffers.runningMean) + backend.download(buffers.runningVariance)
        }
        var bytes = values.withUnsafeBytes { Array($0) }
        try communicator.broadcast(&bytes, root: 0)
        guard communicator.rank != 0, bytes.count == values.count * MemoryLayout<Float>.size else { return }
        values = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        var offset = 0
        for buffers in normalizationBuffers {
            for buffer in [buffers.runningMean, buffers.runningVariance] {
                try values[offset..<(offset + buffer.count)].withUnsafeBufferPointer { try backend.upload($0, to: buffer, offset: 0) }
                offset += buffer.count
            }
        }
    }

    /// The optimizer state, per parameter tensor and slot, copied back to the host.
    func downloadState() throws -> [[[Float]]] { try arena.downloadState() }

    /// The parameters, copied back to the host.
    func download() throws -> Network {
        try network.replacingParameters(
            arena.downloadParameters(),
            runningStatistics: try normalizationBuffers.map { (try backend.download($0.runningMean), try backend.download($0.runningVariance)) })
    }
}

extension Network {
    /// The widest row of any batch matrix, per sample: a layer's values, or a convolution's
    /// im2col patches.
    var widestRow: Int { max(sizes.max() ?? 1, ResidentNetwork.patchElements(ResidentNetwork.stages(of: self)).max() ?? 0) }
}

/// A dataset uploaded once to a backend, with an identity index for in-order passes.
final class ResidentDataset {
    let inputs: any DeviceBuffer
    let targets: any DeviceBuffer
    let identity: any DeviceBuffer
    let count: Int
    let inputSize: Int
    let outputSize: Int

    init(_ data: Dataset, backend: any Backend) throws {
        count = data.count
        inputSize = data.inputSize
        outputSize = data.outputSize
        inputs = try backend.makeReadOnlyBuffer(data.inputs)
        targets = try backend.makeReadOnlyBuffer(data.targets)
        identity = try backend.makeIndexBuffer(count: max(count, 1))
        let order = (0..<Int32(count)).map { $0 }
        try order.withUnsafeBufferPointer { try backend.uploadIndices($0, to: identity) }
    }
}
