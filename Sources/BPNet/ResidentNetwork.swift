/// A network's parameters and working memory held on a backend, with the forward and backward
/// passes written once against `Backend`. Everything a step touches is allocated here, up front.
final class ResidentNetwork {
    let backend: any Backend
    let sizes: [Int]
    /// The most rows one pass handles.
    let capacity: Int

    private let weights: [any DeviceBuffer]
    private let biases: [any DeviceBuffer]
    private let weightVelocities: [any DeviceBuffer]
    private let biasVelocities: [any DeviceBuffer]
    /// activations[0] is the input batch `[capacity, n0]`; activations[l] is `[capacity, n_l]`.
    let activations: [any DeviceBuffer]
    /// deltas[l − 1] is δ_l, `[capacity, n_l]`.
    private let deltas: [any DeviceBuffer]
    /// The targets of the current batch, `[capacity, nL]`.
    let targets: any DeviceBuffer

    var layerCount: Int { sizes.count - 1 }
    var output: any DeviceBuffer { activations[layerCount] }

    init(_ network: Network, backend: any Backend, capacity: Int) throws {
        self.backend = backend
        self.sizes = network.sizes
        self.capacity = capacity
        weights = try network.layers.map { try backend.makeBuffer($0.weights) }
        biases = try network.layers.map { try backend.makeBuffer($0.biases) }
        weightVelocities = try network.layers.map { try backend.makeBuffer([Float](repeating: 0, count: $0.weights.count)) }
        biasVelocities = try network.layers.map { try backend.makeBuffer([Float](repeating: 0, count: $0.biases.count)) }
        activations = try sizes.map { try backend.makeBuffer(count: capacity * $0) }
        deltas = try sizes.dropFirst().map { try backend.makeBuffer(count: capacity * $0) }
        targets = try backend.makeBuffer(count: capacity * sizes[sizes.count - 1])
    }

    /// Loads `rows` samples of `data` into the input and target batches.
    func gather(_ data: ResidentDataset, indices: any DeviceBuffer, offset: Int, rows: Int) throws {
        try backend.gather(
            source: data.inputs, rowLength: data.inputSize, indices: indices, offset: offset,
            rows: rows, into: activations[0])
        try backend.gather(
            source: data.targets, rowLength: data.outputSize, indices: indices, offset: offset,
            rows: rows, into: targets)
    }

    // A_{l−1}: [rows, n_{l−1}], W_l: [n_l, n_{l−1}] -> A_l: [rows, n_l] = σ(A_{l−1}·W_lᵀ + b_l)
    func forward(rows: Int) throws {
        for l in 0..<layerCount {
            try backend.linearSigmoid(
                input: activations[l], weights: weights[l], bias: biases[l], output: activations[l + 1],
                rows: rows, inputs: sizes[l], outputs: sizes[l + 1])
        }
    }

    // A_L, Y: [rows, nL] -> δ_L; then δ_l: [rows, n_l] = (δ_{l+1}·W_{l+1}) ⊙ A_l(1−A_l)
    func backward(_ loss: Loss, rows: Int) throws {
        let last = layerCount
        try backend.outputDelta(
            loss, activation: activations[last], target: targets, delta: deltas[last - 1],
            count: rows * sizes[last])
        for l in stride(from: last - 1, through: 1, by: -1) {
            try backend.hiddenDelta(
                deltaNext: deltas[l], weightsNext: weights[l], activation: activations[l],
                delta: deltas[l - 1], rows: rows, units: sizes[l], nextUnits: sizes[l + 1])
        }
    }

    // δ_l: [rows, n_l], A_{l−1}: [rows, n_{l−1}] -> W_l, b_l updated by the SGD rule.
    func update(rows: Int, learningRate: Float, decay: Float, momentum: Float) throws {
        for l in 0..<layerCount {
            try backend.updateWeights(
                weights: weights[l], velocity: weightVelocities[l], delta: deltas[l], input: activations[l],
                rows: rows, outputs: sizes[l + 1], inputs: sizes[l],
                learningRate: learningRate, decay: decay, momentum: momentum)
            try backend.updateBias(
                bias: biases[l], velocity: biasVelocities[l], delta: deltas[l], rows: rows,
                outputs: sizes[l + 1], learningRate: learningRate, momentum: momentum)
        }
    }

    /// Loss and correct count of the current output batch into `metrics[slot]`.
    func measure(_ loss: Loss, rows: Int, into metrics: any DeviceBuffer, slot: Int) throws {
        try backend.batchMetrics(
            loss, activation: output, target: targets, rows: rows, columns: sizes[layerCount],
            into: metrics, slot: slot)
    }

    /// Total loss and correct count over `data`, in chunks of `capacity`; the sums are read once.
    func evaluate(_ data: ResidentDataset, loss: Loss) throws -> (loss: Double, correct: Int) {
        let chunks = (data.count + capacity - 1) / capacity
        let metrics = try backend.makeBuffer(count: 2 * max(chunks, 1))
        for chunk in 0..<chunks {
            let offset = chunk * capacity
            let rows = min(capacity, data.count - offset)
            try gather(data, indices: data.identity, offset: offset, rows: rows)
            try forward(rows: rows)
            try measure(loss, rows: rows, into: metrics, slot: chunk)
        }
        return try ResidentNetwork.sum(metrics, backend: backend)
    }

    /// Adds up per-slot metrics on the host, in slot order, in double precision.
    static func sum(_ metrics: any DeviceBuffer, backend: any Backend) throws -> (loss: Double, correct: Int) {
        let values = try backend.download(metrics)
        var loss = 0.0, correct = 0.0
        for slot in 0..<(values.count / 2) {
            loss += Double(values[2 * slot])
            correct += Double(values[2 * slot + 1])
        }
        return (loss, Int(correct))
    }

    /// The parameters, copied back to the host.
    func download() throws -> Network {
        try Network(
            layers: (0..<layerCount).map { l in
                try Layer(
                    inputs: sizes[l], outputs: sizes[l + 1],
                    weights: backend.download(weights[l]), biases: backend.download(biases[l]))
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
