/// One fully connected sigmoid layer: `a = σ(W·a_prev + b)`.
public struct Layer: Equatable, Sendable {
    /// Row-major `[outputs, inputs]`.
    public var weights: [Float]
    /// `[outputs]`.
    public var biases: [Float]
    public let inputs: Int
    public let outputs: Int

    public init(inputs: Int, outputs: Int, weights: [Float], biases: [Float]) throws {
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
    }

    /// Forward pass for one sample, on the host: `σ(W·x + b)`. For inspection and small jobs;
    /// training and batch evaluation go through a `Backend`.
    public func callAsFunction(_ x: [Float]) -> [Float] {
        precondition(x.count == inputs, "layer expects \(inputs) inputs, got \(x.count)")
        return (0..<outputs).map { o in
            var z = biases[o]
            for i in 0..<inputs { z += weights[o * inputs + i] * x[i] }
            return 1 / (1 + expf(-z))
        }
    }
}

/// A layered sigmoid network: its sizes `[n0, n1, …, nL]` and its parameters, on the host.
/// Training and evaluation copy it onto a backend and back (see `Trainer`).
public struct Network: Equatable, Sendable {
    public var layers: [Layer]

    /// `[n0, n1, …, nL]`.
    public var sizes: [Int] { [layers[0].inputs] + layers.map(\.outputs) }
    public var inputSize: Int { layers[0].inputs }
    public var outputSize: Int { layers[layers.count - 1].outputs }
    public var parameterCount: Int { layers.reduce(0) { $0 + $1.weights.count + $1.biases.count } }

    /// Weights drawn from N(0, 1/n_{l−1}) and biases from N(0, 1), from `seed` alone.
    public init(sizes: [Int], seed: UInt64 = 0) throws {
        try Network.validate(sizes: sizes)
        var generator = SeededGenerator(seed: seed)
        layers = try zip(sizes.dropLast(), sizes.dropFirst()).map { inputs, outputs in
            let scale = 1 / Double(inputs).squareRoot()
            let weights = (0..<(inputs * outputs)).map { _ in Float(generator.nextGaussian() * scale) }
            let biases = (0..<outputs).map { _ in Float(generator.nextGaussian()) }
            return try Layer(inputs: inputs, outputs: outputs, weights: weights, biases: biases)
        }
    }

    /// A network from explicit layers, which must chain (each layer's inputs = previous outputs).
    public init(layers: [Layer]) throws {
        guard !layers.isEmpty else { throw BPNetError.invalidArgument("a network needs at least one layer") }
        for (previous, next) in zip(layers, layers.dropFirst()) where previous.outputs != next.inputs {
            throw BPNetError.invalidArgument(
                "layers do not chain: \(previous.outputs) outputs feed \(next.inputs) inputs")
        }
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

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
