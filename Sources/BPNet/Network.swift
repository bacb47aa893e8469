/// One fully connected layer: `a = f(W·a_prev + b)`.
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

/// A layered network: its sizes `[n0, n1, …, nL]`, each layer's activation, and its parameters,
/// on the host.
/// Training and evaluation copy it onto a backend and back (see `Trainer`).
public struct Network: Equatable, Sendable {
    public var layers: [Layer]

    /// `[n0, n1, …, nL]`.
    public var sizes: [Int] { [layers[0].inputs] + layers.map(\.outputs) }
    public var inputSize: Int { layers[0].inputs }
    public var outputSize: Int { layers[layers.count - 1].outputs }
    public var parameterCount: Int { layers.reduce(0) { $0 + $1.weights.count + $1.biases.count } }
    /// One activation per weight layer.
    public var activations: [Activation] { layers.map(\.activation) }

    /// Parameters drawn by `initializer` from `seed` alone; `activations` holds one per weight
    /// layer (all sigmoid by default).
    public init(sizes: [Int], activations: [Activation]? = nil, initializer: Initializer = .normal, seed: UInt64 = 0) throws {
        try Network.validate(sizes: sizes)
        let activations = activations ?? Array(repeating: .sigmoid, count: sizes.count - 1)
        guard activations.count == sizes.count - 1 else {
            throw BPNetError.invalidArgument(
                "\(counted(activations.count, "activation")) given for \(counted(sizes.count - 1, "weight layer"))")
        }
        try Activation.validate(activations)
        var generator = SeededGenerator(seed: seed)
        layers = try zip(zip(sizes.dropLast(), sizes.dropFirst()), activations).map { shape, activation in
            let (inputs, outputs) = shape
            let weights: [Float], biases: [Float]
            switch initializer {
            case .normal:
                let scale = 1 / Double(inputs).squareRoot()
                weights = (0..<(inputs * outputs)).map { _ in Float(generator.nextGaussian() * scale) }
                biases = (0..<outputs).map { _ in Float(generator.nextGaussian()) }
            case .xavier:
                let limit = (6 / Double(inputs + outputs)).squareRoot()
                weights = (0..<(inputs * outputs)).map { _ in Float((2 * generator.nextUnit() - 1) * limit) }
                biases = [Float](repeating: 0, count: outputs)
            case .he:
                let scale = (2 / Double(inputs)).squareRoot()
                weights = (0..<(inputs * outputs)).map { _ in Float(generator.nextGaussian() * scale) }
                biases = [Float](repeating: 0, count: outputs)
            }
            return try Layer(inputs: inputs, outputs: outputs, weights: weights, biases: biases, activation: activation)
        }
    }

    /// A network from explicit layers, which must chain (each layer's inputs = previous outputs).
    public init(layers: [Layer]) throws {
        guard !layers.isEmpty else { throw BPNetError.invalidArgument("a network needs at least one layer") }
        for (previous, next) in zip(layers, layers.dropFirst()) where previous.outputs != next.inputs {
            throw BPNetError.invalidArgument(
                "layers do not chain: \(previous.outputs) outputs feed \(next.inputs) inputs")
        }
        try Activation.validate(layers.map(\.activation))
        self.layers = layers
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

    /// Forward pass for one sample on the host.
    public func callAsFunction(_ x: [Float]) -> [Float] {
        layers.reduce(x) { activation, layer in layer(activation) }
    }
}

// BPNet builds for Linux (OpenCL ICDs, OpenBLAS and Debian packages): Glibc only.
import Glibc
