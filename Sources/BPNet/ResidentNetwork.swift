/// A network's parameters, optimizer state and working memory held on a backend, with the
/// forward and backward passes written once against `Backend`. Everything a step touches is
/// allocated here, up front.
final class ResidentNetwork {
    /// What training needs beyond the forward pass.
    struct Training {
        /// The fused SGD update (the gradient stays in registers) or gradient buffers and an
        /// optimizer pass, and the state slots. With an exchange, every gradient lives in one
        /// buffer (`gradientGroup`), for one transfer.
        var update: UpdatePath
        /// The probability of dropping a hidden unit; 0 for none.
        var dropout: Float
    }

    let backend: any Backend
    let sizes: [Int]
    let functions: [Activation]
    /// The most rows one pass handles.
    let capacity: Int

    private let weights: [any DeviceBuffer]
    private let biases: [any DeviceBuffer]
    /// The optimizer's state per parameter buffer (`Optimizer.stateBuffers`; the fused SGD
    /// update always has its velocity, which its epilogue writes).
    private let weightState: [[any DeviceBuffer]]
    private let biasState: [[any DeviceBuffer]]
    /// gW_l and gb_l, for the unfused path only.
    let weightGradients: [any DeviceBuffer]
    let biasGradients: [any DeviceBuffer]
    /// gW_0, gb_0, gW_1, gb_1, … as parts of one buffer, when `contiguousGradients` asked for it.
    let gradientGroup: BufferGroup?
    /// activations[0] is the input batch `[capacity, n0]`; activations[l] is `[capacity, n_l]`.
    let activations: [any DeviceBuffer]
    /// For hidden layers under dropout: masks[l] and dropped[l] = activations[l] ⊙ masks[l],
    /// the next layer's input; empty placeholders elsewhere.
    private let masks: [any DeviceBuffer]
    private let dropped: [any DeviceBuffer]
    /// deltas[l − 1] is δ_l, `[capacity, n_l]`.
    private let deltas: [any DeviceBuffer]
    /// The targets of the current batch, `[capacity, nL]`.
    let targets: any DeviceBuffer
    /// Per-batch loss sums and correct counts of one epoch: `[2 · slots]`.
    let metrics: any DeviceBuffer
    /// The shuffled order of one epoch.
    let order: any DeviceBuffer

    var layerCount: Int { sizes.count - 1 }
    var output: any DeviceBuffer { activations[layerCount] }

    /// Optimizer state and epoch sums to start from instead of zeros, when resuming.
    struct SavedState {
        var weightState: [[[Float]]]
        var biasState: [[[Float]]]
        var batchMetrics: [Float]
    }

    init(
        _ network: Network, backend: any Backend, capacity: Int, training: Training? = nil, metricSlots: Int = 1, samples: Int = 1,
        restoring saved: SavedState? = nil
    ) throws {
        self.backend = backend
        sizes = network.sizes
        functions = network.activations
        self.capacity = capacity
        weights = try network.layers.map { try backend.makeBuffer($0.weights) }
        biases = try network.layers.map { try backend.makeBuffer($0.biases) }
        let stateCount = training?.update.stateSlots ?? 0
        // A saved slot count that differs is refused by the trainer, except SGD without
        // momentum, whose velocity slot (the fused update's scratch) starts from zeros either way.
        func state(_ saved: [[[Float]]]?, _ l: Int, _ count: Int) throws -> [any DeviceBuffer] {
            try (0..<stateCount).map { k in
                if let values = saved?[l], values.count == stateCount { return try backend.makeBuffer(values[k]) }
                return try backend.makeBuffer(count: count)
            }
        }
        weightState = try network.layers.indices.map { try state(saved?.weightState, $0, network.layers[$0].weights.count) }
        biasState = try network.layers.indices.map { try state(saved?.biasState, $0, network.layers[$0].biases.count) }
        let unfused = training.map { !$0.update.fused } ?? false
        if unfused, training?.update.exchangesGradients == true {
            let group = try backend.makeBufferGroup(counts: network.layers.flatMap { [$0.weights.count, $0.biases.count] })
            weightGradients = stride(from: 0, to: group.parts.count, by: 2).map { group.parts[$0] }
            biasGradients = stride(from: 1, to: group.parts.count, by: 2).map { group.parts[$0] }
            gradientGroup = group
        } else {
            weightGradients = try network.layers.map { try backend.makeBuffer(count: unfused ? $0.weights.count : 0) }
            biasGradients = try network.layers.map { try backend.makeBuffer(count: unfused ? $0.biases.count : 0) }
            gradientGroup = nil
        }
        activations = try sizes.map { try backend.makeBuffer(count: capacity * $0) }
        let dropout = (training?.dropout ?? 0) > 0
        let hidden = { (l: Int) in dropout && l > 0 && l < network.sizes.count - 1 }
        masks = try sizes.indices.map { try backend.makeBuffer(count: hidden($0) ? capacity * network.sizes[$0] : 0) }
        dropped = try sizes.indices.map { try backend.makeBuffer(count: hidden($0) ? capacity * network.sizes[$0] : 0) }
        deltas = try sizes.dropFirst().map { try backend.makeBuffer(count: capacity * $0) }
        targets = try backend.makeBuffer(count: capacity * sizes[sizes.count - 1])
        let metricCount = 2 * max(metricSlots, 1)
        if let sums = saved?.batchMetrics, !sums.isEmpty, sums.count <= metricCount {
            metrics = try backend.makeBuffer(sums + [Float](repeating: 0, count: metricCount - sums.count))
        } else {
            metrics = try backend.makeBuffer(count: metricCount)
        }
        order = try backend.makeIndexBuffer(count: max(samples, 1))
    }

    /// Loads `rows` samples of `data` into the input and target batches.
    func gather(_ data: ResidentDataset, indices: any DeviceBuffer, offset: Int, rows: Int) throws {
        try backend.gatherBatch(
            inputs: data.inputs, inputLength: data.inputSize, targets: data.targets, targetLength: data.outputSize,
            indices: indices, offset: offset, rows: rows, intoInputs: activations[0], intoTargets: targets)
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

    /// The input of weight layer l: the previous layer's activations, or under dropout their
    /// masked copy.
    private func input(of l: Int, dropout: Bool) -> any DeviceBuffer {
        dropout && l > 0 ? dropped[l] : activations[l]
    }

    // A_{l−1}: [rows, n_{l−1}], W_l: [n_l, n_{l−1}] -> A_l: [rows, n_l] = f_l(A_{l−1}·W_lᵀ + b_l);
    // under dropout, a hidden A_l is then masked into dropped[l].
    func forward(rows: Int, dropout: DropoutDraw? = nil) throws {
        for l in 0..<layerCount {
            try backend.linear(
                input: input(of: l, dropout: dropout != nil), weights: weights[l], bias: biases[l],
                output: activations[l + 1], rows: rows, inputs: sizes[l], outputs: sizes[l + 1], activation: functions[l])
            if let dropout, l + 1 < layerCount {
                let count = rows * sizes[l + 1]
                try backend.dropoutMask(
                    masks[l + 1], count: count, rate: dropout.rate, scale: dropout.scale, seed: dropout.seed,
                    step: dropout.step, layer: l + 1, firstElement: dropout.firstRow * sizes[l + 1])
                try backend.multiply(activations[l + 1], by: masks[l + 1], into: dropped[l + 1], count: count)
            }
        }
    }

    // The backward pass, beside the forward: A_L, Y: [rows, nL] -> metrics[slot] and δ_L, in one
    // backend call (they read the same batch); then the hidden deltas.
    func measureAndBackward(_ loss: Loss, rows: Int, slot: Int, dropout: Bool) throws {
        let last = layerCount
        try backend.metricsAndOutputDelta(
            loss, output: functions[last - 1], activation: activations[last], target: targets, delta: deltas[last - 1],
            rows: rows, columns: sizes[last], into: metrics, slot: slot)
        try hiddenDeltas(rows: rows, dropout: dropout)
    }

    // δ_{l+1}: [rows, n_{l+1}] -> δ_l: [rows, n_l] = (δ_{l+1}·W_{l+1}) ⊙ f_l′(A_l) (⊙ mask_l under dropout), l = L−1 … 1
    private func hiddenDeltas(rows: Int, dropout: Bool) throws {
        let last = layerCount
        for l in stride(from: last - 1, through: 1, by: -1) {
            try backend.hiddenDelta(
                deltaNext: deltas[l], weightsNext: weights[l], activation: activations[l],
                delta: deltas[l - 1], rows: rows, units: sizes[l], nextUnits: sizes[l + 1], function: functions[l - 1])
            if dropout { try backend.multiply(deltas[l - 1], by: masks[l], into: deltas[l - 1], count: rows * sizes[l]) }
        }
    }

    // δ_l: [rows, n_l], A_{l−1}: [rows, n_{l−1}] -> W_l, b_l updated by the fused SGD rule.
    func updateFused(rows: Int, learningRate: Float, l2: Float, momentum: Float, dropout: Bool) throws {
        for l in 0..<layerCount {
            try backend.updateLayer(
                weights: weights[l], weightVelocity: weightState[l][0], bias: biases[l], biasVelocity: biasState[l][0],
                delta: deltas[l], input: input(of: l, dropout: dropout), rows: rows, outputs: sizes[l + 1], inputs: sizes[l],
                learningRate: learningRate, l2: l2, momentum: momentum)
        }
    }

    // δ_l, A_{l−1} -> gW_l: [n_l, n_{l−1}] = (1/rows)·δ_lᵀ·A_{l−1}, gb_l: [n_l] = (1/rows)·Σ δ_l.
    func gradients(rows: Int, dropout: Bool) throws {
        for l in 0..<layerCount {
            try backend.layerGradients(
                delta: deltas[l], input: input(of: l, dropout: dropout), weightGradient: weightGradients[l],
                biasGradient: biasGradients[l], rows: rows, outputs: sizes[l + 1], inputs: sizes[l])
        }
    }

    /// Each layer's gradients and optimizer step in one call, for when nothing needs the gradients
    /// between them (the buffers are scratch then): one launch per layer on a device for Adam.
    func gradientStep(weightStep: OptimizerStep, biasStep: OptimizerStep, rows: Int, dropout: Bool) throws {
        for l in 0..<layerCount {
            try backend.gradientStepLayer(
                weightStep: weightStep, weights: weights[l], weightState: weightState[l], biasStep: biasStep, bias: biases[l],
                biasState: biasState[l], delta: deltas[l], input: input(of: l, dropout: dropout), weightGradient: weightGradients[l],
                biasGradient: biasGradients[l], rows: rows, outputs: sizes[l + 1], inputs: sizes[l])
        }
    }

    /// One optimizer pass per parameter buffer, from the gradients: `weightStep` for weights and
    /// `biasStep` (no L2, no decoupled decay) for biases.
    func applyOptimizer(weightStep: OptimizerStep, biasStep: OptimizerStep) throws {
        for l in 0..<layerCount {
            try backend.optimizerStepLayer(
                weightStep: weightStep, weights: weights[l], weightGradient: weightGradients[l], weightState: weightState[l],
                weightCount: sizes[l] * sizes[l + 1], biasStep: biasStep, bias: biases[l], biasGradient: biasGradients[l],
                biasState: biasState[l], biasCount: sizes[l + 1])
        }
    }

    /// Loss and correct count of the current output batch into `metrics[slot]`.
    func measure(_ loss: Loss, rows: Int, into metrics: any DeviceBuffer, slot: Int) throws {
        try backend.batchMetrics(
            loss, activation: output, target: targets, rows: rows, columns: sizes[layerCount],
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
        let width = sizes[layerCount]
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

    /// The optimizer state, per layer and slot, copied back to the host.
    func downloadState() throws -> (weights: [[[Float]]], biases: [[[Float]]]) {
        (try weightState.map { try $0.map { try backend.download($0) } }, try biasState.map { try $0.map { try backend.download($0) } })
    }

    /// The parameters, copied back to the host.
    func download() throws -> Network {
        try Network(
            layers: (0..<layerCount).map { l in
                try Layer(
                    inputs: sizes[l], outputs: sizes[l + 1],
                    weights: backend.download(weights[l]), biases: backend.download(biases[l]), activation: functions[l])
            })
    }
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
