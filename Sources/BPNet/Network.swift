/// One weight layer's parameters and activation: a fully connected layer, `a = f(W·a_prev + b)`,
/// or a convolution, whose `[Cout, Cin, K, K]` weight is the `[outputs, inputs]` matrix here
/// (the network's `architecture` says which).
public struct Layer: Equatable, Sendable {
    /// Row-major `[outputs, inputs]`.
    public var weights: [Float]
    /// `[outputs]`.
    public var biases: [Float]
    public let inputs: Int
    public let outputs: Int
    public var activation: Activation

    public init(inputs: Int, outputs: Int, weights: [Float], biases: [Float], activation: Activation = .sigmoid) throws {
        guard inputs > 0, outputs > 0 else {
            throw BPNetError.invalidArgument("layer sizes must be positive, got \(inputs)→\(outputs)")
        }
        guard weights.count == inputs * outputs, biases.count == outputs else {
            throw BPNetError.invalidArgument(
                "layer \(inputs)→\(outputs) needs \(inputs * outputs) weights and \(outputs) biases, "
                    + "got \(weights.count) and \(biases.count)")
        }
        self.inputs = inputs
        self.outputs = outputs
        self.weights = weights
        self.biases = biases
        self.activation = activation
    }

    /// Forward pass for one sample, on the host: `f(W·x + b)`. For inspection and small jobs;
    /// training and batch evaluation go through a `Backend`.
    public func callAsFunction(_ x: [Float]) -> [Float] {
        precondition(x.count == inputs, "layer expects \(inputs) inputs, got \(x.count)")
        let z = (0..<outputs).map { o in
            var z = biases[o]
            for i in 0..<inputs { z += weights[o * inputs + i] * x[i] }
            return z
        }
        return activation == .softmax ? Activation.softmax(z) : z.map { activation($0) }
    }
}

/// A network: its architecture (the input's shape and every layer, pooling and flatten
/// included), each weight layer's activation, and its parameters, on the host.
/// Training and evaluation copy it onto a backend and back (see `Trainer`).
///
/// `layers` holds the weight layers, dense and convolutional, in order. A convolution's weights
/// are PyTorch's `[Cout, Cin, K, K]`, which is the `[outputs, inputs]` matrix of a `Layer` with
/// outputs Cout and inputs Cin·K·K.
public struct Network: Equatable, Sendable {
    public var layers: [Layer]
    /// Each batch norm's γ, β and running statistics, in order (empty without batch norm).
    public var normalizations: [Normalization]
    public let architecture: Architecture
    /// Each layer's output shape, as `architecture.shapes()` gives it (checked when built).
    public let shapes: [Architecture.Shape]

    /// Values per sample at the input and after each layer: `[n0, n1, …, nL]` for a dense
    /// network, whose layers are its weight layers.
    public var sizes: [Int] { [architecture.input.count] + shapes.map(\.count) }
    public var inputSize: Int { architecture.input.count }
    public var outputSize: Int { shapes[shapes.count - 1].count }
    public var parameterCount: Int {
        layers.reduce(0) { $0 + $1.weights.count + $1.biases.count } + normalizations.reduce(0) { $0 + 2 * $1.channels }
    }
    /// One activation per weight layer.
    public var activations: [Activation] { layers.map(\.activation) }
    /// Whether every layer is dense: today's network, which runs exactly as it always has.
    public var isDense: Bool { architecture.denseSizes != nil }

    /// Parameters drawn by `initializer` from `seed` alone; `activations` holds one per weight
    /// layer (all sigmoid by default).
    public init(sizes: [Int], activations: [Activation]? = nil, initializer: Initializer = .normal, seed: UInt64 = 0) throws {
        try Network.validate(sizes: sizes)
        try self.init(architecture: Architecture(sizes: sizes), activations: activations, initializer: initializer, seed: seed)
    }

    /// A network of any architecture, its parameters drawn by `initializer` from `seed`, weight
    /// layer by weight layer: the weights, then the biases. Fan-in is a dense layer's inputs or a
    /// convolution's Cin·K·K, and fan-out its outputs or Cout·K·K, as PyTorch takes them.
    public init(
        architecture: Architecture, activations: [Activation]? = nil, initializer: Initializer = .normal, seed: UInt64 = 0
    ) throws {
        let shapes = try architecture.shapes()
        let weightLayers = architecture.layers.filter(\.isWeightLayer).count
        try architecture.checkOutputLayer()
        let activations = activations ?? Array(repeating: .sigmoid, count: weightLayers)
        guard activations.count == weightLayers else {
            throw BPNetError.invalidArgument(
                "\(counted(activations.count, "activation")) given for \(counted(weightLayers, "weight layer"))")
        }
        try Activation.validate(activations)
        var generator = SeededGenerator(seed: seed)
        var layers: [Layer] = []
        for (inputs, outputs, fanOut) in try architecture.weights().map({ ($0.inputs, $0.outputs, $0.fanOut) }) {
            let weights: [Float], biases: [Float]
            switch initializer {
            case .normal:
                let scale = 1 / Double(inputs).squareRoot()
                weights = (0..<(inputs * outputs)).map { _ in Float(generator.nextGaussian() * scale) }
                biases = (0..<outputs).map { _ in Float(generator.nextGaussian()) }
            case .xavier:
                let limit = (6 / Double(inputs + fanOut)).squareRoot()
                weights = (0..<(inputs * outputs)).map { _ in Float((2 * generator.nextUnit() - 1) * limit) }
                biases = [Float](repeating: 0, count: outputs)
            case .he:
                let scale = (2 / Double(inputs)).squareRoot()
                weights = (0..<(inputs * outputs)).map { _ in Float(generator.nextGaussian() * scale) }
                biases = [Float](repeating: 0, count: outputs)
            }
            layers.append(
                try Layer(inputs: inputs, outputs: outputs, weights: weights, biases: biases, activation: activations[layers.count]))
        }
        (self.architecture, self.shapes, self.layers) = (architecture, shapes, layers)
        // Batch norms start as PyTorch's do, and draw nothing: the weights are those of the network without them.
        normalizations = try architecture.normalizedChannels().map { Normalization(channels: $0.channels) }
    }

    /// A dense network from explicit layers, which must chain (each layer's inputs = previous outputs).
    public init(layers: [Layer]) throws {
        guard !layers.isEmpty else { throw BPNetError.invalidArgument("a network needs at least one layer") }
        for (previous, next) in zip(layers, layers.dropFirst()) where previous.outputs != next.inputs {
            throw BPNetError.invalidArgument(
                "layers do not chain: \(previous.outputs) outputs feed \(next.inputs) inputs")
        }
        try self.init(architecture: Architecture(sizes: [layers[0].inputs] + layers.map(\.outputs)), layers: layers)
    }

    /// A network of `architecture` with these weight layers, whose parameter shapes must be the
    /// ones the architecture gives (a model file's tensors, say), and these batch norms (fresh
    /// ones when nil).
    public init(architecture: Architecture, layers: [Layer], normalizations: [Normalization]? = nil) throws {
        let shapes = try architecture.shapes()
        let expected = try architecture.weights().map { ($0.inputs, $0.outputs) }
        guard expected.count == layers.count else {
            throw BPNetError.invalidArgument(
                "the architecture has \(counted(expected.count, "weight layer")), but \(counted(layers.count, "layer")) were given")
        }
        for (index, ((inputs, outputs), layer)) in zip(expected, layers).enumerated()
        where (inputs, outputs) != (layer.inputs, layer.outputs) {
            throw BPNetError.invalidArgument(
                "weight layer \(index + 1) is \(layer.inputs)→\(layer.outputs), but the architecture needs \(inputs)→\(outputs)")
        }
        try architecture.checkOutputLayer()
        try Activation.validate(layers.map(\.activation))
        let channels = try architecture.normalizedChannels().map(\.channels)
        let normalizations = normalizations ?? channels.map { Normalization(channels: $0) }
        guard normalizations.map(\.channels) == channels else {
            throw BPNetError.invalidArgument(
                "the architecture's batch norms have \(channels) channels, but batch norms of \(normalizations.map(\.channels)) were given")
        }
        (self.architecture, self.shapes, self.layers, self.normalizations) = (architecture, shapes, layers, normalizations)
    }

    public static func validate(sizes: [Int]) throws {
        guard sizes.count >= 2 else {
            throw BPNetError.invalidArgument("layers need at least an input and an output size, got \(sizes)")
        }
        guard sizes.allSatisfy({ $0 > 0 }) else {
            throw BPNetError.invalidArgument("layer sizes must be positive, got \(sizes.map(String.init).joined(separator: ","))")
        }
        // Kernels index matrices with 32-bit integers.
        for (inputs, outputs) in zip(sizes.dropLast(), sizes.dropFirst()) {
            let (product, overflow) = inputs.multipliedReportingOverflow(by: outputs)
            guard !overflow, product <= Network.maxElements else {
                throw BPNetError.invalidArgument(
                    "layer \(inputs)→\(outputs) is too large: a weight matrix holds at most \(Network.maxElements) values")
            }
        }
    }

    /// The most values one matrix may hold (kernels index with 32-bit integers).
    public static let maxElements = Int(Int32.max)

    /// Forward pass for one sample on the host, in NCHW order throughout, from the definitions:
    /// for inspection and small jobs.
    public func callAsFunction(_ x: [Float]) -> [Float] {
        var values = x
        var index = LayerStage.Index()
        let owners = architecture.activationOwners
        for (position, (layer, (input, output))) in zip(architecture.layers, zip([architecture.input] + shapes, shapes)).enumerated() {
            let definition = layer.definition
            let activation = owners[position].map { layers[$0].activation } ?? .identity
            let parameters: LayerParameters
            if definition.hasParameters {
                // A weight layer that a batch norm follows leaves its activation to the batch norm.
                var weights = layers[index.weightLayer]
                weights.activation = activation
                parameters = .weights(weights)
                index.weightLayer += 1
            } else if definition.normalizedChannels(input: input) != nil {
                parameters = .normalization(normalizations[index.normalization], activation: activation)
                index.normalization += 1
            } else {
                parameters = .none
            }
            values = definition.forward(values, input: input, output: output, parameters: parameters)
        }
        return values
    }
}

// BPNet builds for Linux (OpenCL ICDs, OpenBLAS and Debian packages): Glibc only.
import Glibc
