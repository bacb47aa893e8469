/// One named parameter tensor of a network. Model files, checkpoints, the memory plan and the
/// parameter arena iterate these, in one order: the layers' in architecture order, W0, b0, W1, b1, …
/// with a batch norm's γ and β where it stands (llm.c's `ParameterTensors`).
public struct ParameterTensor: Equatable, Sendable {
    public enum Role: String, Sendable {
        /// A weight layer's weight and bias.
        case weight, bias
        /// A batch norm's γ and β, which PyTorch names `weight` and `bias` too.
        case scale, shift
    }

    /// `layers.{k}.weight` or `layers.{k}.bias`, as PyTorch's `state_dict` names the parameters of
    /// a `Sequential` whose k-th module is the k-th layer with parameters (dense, conv, batch norm).
    public var name: String
    /// `[out, in]` for a dense weight, `[Cout, Cin, K, K]` for a convolution's, `[out]` for a bias,
    /// `[C]` for γ and β.
    public var shape: [Int]
    /// The weight layer (weight, bias) or the batch norm (scale, shift) it belongs to, each kind
    /// counted alone.
    public var layer: Int
    public var role: Role
    /// k of its name: the layers with parameters before it, of every kind.
    public var module: Int

    public var count: Int { shape.reduce(1, *) }
    /// Whether L2 and decoupled weight decay act on it: weights, never biases, γ or β.
    public var decays: Bool { role == .weight }

    /// Weight layer `layer`'s weight and bias tensors, for a weight of `shape`.
    static func pair(module: Int, layer: Int, weightShape shape: [Int]) -> [ParameterTensor] {
        [
            ParameterTensor(name: "layers.\(module).weight", shape: shape, layer: layer, role: .weight, module: module),
            ParameterTensor(name: "layers.\(module).bias", shape: [shape[0]], layer: layer, role: .bias, module: module),
        ]
    }

    /// Batch norm `normalization`'s γ and β, of `channels` each.
    static func normalization(module: Int, normalization: Int, channels: Int) -> [ParameterTensor] {
        [
            ParameterTensor(name: "layers.\(module).weight", shape: [channels], layer: normalization, role: .scale, module: module),
            ParameterTensor(name: "layers.\(module).bias", shape: [channels], layer: normalization, role: .shift, module: module),
        ]
    }

    /// The running statistics' names beside a batch norm's γ (PyTorch's buffers): `running_mean`, `running_var`.
    public var runningStatisticsNames: (mean: String, variance: String) {
        ("layers.\(module).running_mean", "layers.\(module).running_var")
    }
}

extension Architecture {
    /// Every parameter tensor, in arena order: each weight layer's weight and bias and each batch
    /// norm's γ and β, in the order of the layers.
    public func parameterTensors() throws -> [ParameterTensor] {
        let weights = try weights(), normalizations = try normalizedChannels()
        var tensors: [ParameterTensor] = []
        var (w, b) = (0, 0)
        for index in layers.indices {
            if w < weights.count, weights[w].layer == index {
                tensors += ParameterTensor.pair(module: w + b, layer: w, weightShape: weights[w].dimensions)
                w += 1
            } else if b < normalizations.count, normalizations[b].layer == index {
                tensors += ParameterTensor.normalization(module: w + b, normalization: b, channels: normalizations[b].channels)
                b += 1
            }
        }
        return tensors
    }
}

extension Network {
    /// Every parameter tensor, in arena order, with its values.
    public var parameterTensors: [(tensor: ParameterTensor, values: [Float])] {
        // Every initializer checks the architecture, so its tensors are there.
        let tensors = (try? architecture.parameterTensors()) ?? []
        return tensors.map { tensor in
            switch tensor.role {
            case .weight: return (tensor, layers[tensor.layer].weights)
            case .bias: return (tensor, layers[tensor.layer].biases)
            case .scale: return (tensor, normalizations[tensor.layer].scale)
            case .shift: return (tensor, normalizations[tensor.layer].shift)
            }
        }
    }

    /// The network with its parameters replaced by `values`, one array per tensor in arena order,
    /// and its batch norms' running statistics by `runningStatistics` (mean and variance per batch
    /// norm), when given.
    func replacingParameters(_ values: [[Float]], runningStatistics: [(mean: [Float], variance: [Float])]? = nil) throws -> Network {
        let tensors = parameterTensors.map(\.tensor)
        precondition(values.count == tensors.count, "one array per parameter tensor")
        var copy = self
        for (tensor, values) in zip(tensors, values) {
            switch tensor.role {
            case .weight: copy.layers[tensor.layer].weights = values
            case .bias: copy.layers[tensor.layer].biases = values
            case .scale: copy.normalizations[tensor.layer].scale = values
            case .shift: copy.normalizations[tensor.layer].shift = values
            }
        }
        for (b, statistics) in (runningStatistics ?? []).enumerated() {
            (copy.normalizations[b].runningMean, copy.normalizations[b].runningVariance) = statistics
        }
        return copy
    }
}
