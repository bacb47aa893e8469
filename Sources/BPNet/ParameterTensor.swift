/// One named parameter tensor of a network. Model files, checkpoints, the memory plan and the
/// parameter arena iterate these, in one order: W0, b0, W1, b1, … (llm.c's `ParameterTensors`).
public struct ParameterTensor: Equatable, Sendable {
    public enum Role: String, Sendable {
        case weight, bias
    }

    /// `layers.{k}.weight` or `layers.{k}.bias`, as PyTorch's `state_dict` names the parameters of
    /// a `Sequential` whose k-th module is the k-th weight layer.
    public var name: String
    /// `[out, in]` for a dense weight, `[Cout, Cin, K, K]` for a convolution's, `[out]` for a bias.
    public var shape: [Int]
    /// The weight layer it belongs to (k), counting only layers with parameters.
    public var layer: Int
    public var role: Role

    public var count: Int { shape.reduce(1, *) }
    /// Whether L2 and decoupled weight decay act on it: weights, never biases.
    public var decays: Bool { role == .weight }

    /// `layer`'s weight and bias tensors, for a weight of `shape`.
    static func pair(layer: Int, weightShape shape: [Int]) -> [ParameterTensor] {
        [
            ParameterTensor(name: "layers.\(layer).weight", shape: shape, layer: layer, role: .weight),
            ParameterTensor(name: "layers.\(layer).bias", shape: [shape[0]], layer: layer, role: .bias),
        ]
    }
}

extension Architecture {
    /// Every parameter tensor, in arena order: the weight layers' weights and biases.
    public func parameterTensors() throws -> [ParameterTensor] {
        try weights().enumerated().flatMap { k, weights in ParameterTensor.pair(layer: k, weightShape: weights.dimensions) }
    }
}

extension Network {
    /// Every parameter tensor, in arena order, with its values.
    public var parameterTensors: [(tensor: ParameterTensor, values: [Float])] {
        // Every initializer checks the architecture, so its tensors are there.
        let tensors = (try? architecture.parameterTensors()) ?? []
        return tensors.map { tensor in
            let layer = layers[tensor.layer]
            switch tensor.role {
            case .weight: return (tensor, layer.weights)
            case .bias: return (tensor, layer.biases)
            }
        }
    }

    /// `layers` with their weights and biases replaced by `values`, one array per tensor in arena order.
    func replacingParameters(_ values: [[Float]]) throws -> Network {
        precondition(values.count == 2 * layers.count, "one array per parameter tensor")
        return try Network(
            architecture: architecture,
            layers: layers.enumerated().map { k, layer in
                try Layer(
                    inputs: layer.inputs, outputs: layer.outputs, weights: values[2 * k], biases: values[2 * k + 1],
                    activation: layer.activation)
            })
    }
}
