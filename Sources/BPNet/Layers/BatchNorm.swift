import Foundation

/// Batch normalisation of the weight layer before it, per channel of a convolution's output or
/// per unit of a dense layer's, as `torch.nn.BatchNorm2d` and `BatchNorm1d`: in training,
/// y = γ·(x − μ_B)/√(σ²_B + ε) + β with the batch's mean and biased variance over every sample
/// (and every position, for a convolution), and the running statistics updated with momentum 0.1
/// (the variance unbiased); in evaluation the running statistics stand in for the batch's.
///
/// The weight layer's activation applies after it: `conv:32:3,batchnorm` with `relu` is conv →
/// batch norm → ReLU, the usual order, and `--activations` still names one per weight layer.
struct BatchNorm: LayerDefinition {
    /// ε and the running statistics' momentum, PyTorch's defaults.
    static let epsilon: Float = 1e-5
    static let momentum: Float = 0.1

    static let tokenName: String? = "batchnorm"
    static let form = "batchnorm"
    static let numbers = 0...0
    static func layer(_ numbers: [Int]) -> Architecture.Layer { .batchNorm }

    var name: String { "batchnorm" }
    var token: String { "batchnorm" }

    func outputShape(_ input: Architecture.Shape, _ fail: (String) -> BPNetError) throws -> Architecture.Shape { input }

    func normalizedChannels(input: Architecture.Shape) -> Int? { input.dimensions[0] }

    // X: [rows·positions, C] (NHWC, or [rows, units]) -> f(γ·(X − μ)/√(σ² + ε) + β), per column.
    func stage(input: Architecture.Shape, output: Architecture.Shape, index: LayerStage.Index, isFirst: Bool) -> LayerStage {
        .batchNorm(normalization: index.normalization, channels: input.dimensions[0])
    }

    func forward(_ x: [Float], input: Architecture.Shape, output: Architecture.Shape, parameters: LayerParameters) -> [Float] {
        guard case .normalization(let state, let activation) = parameters else { return x }
        let positions = x.count / state.channels
        return x.indices.map { i in
            let c = i / positions
            let scale = state.scale[c] / (state.runningVariance[c] + BatchNorm.epsilon).squareRoot()
            return activation(scale * (x[i] - state.runningMean[c]) + state.shift[c])
        }
    }
}

/// One batch norm's learned scale γ and shift β (PyTorch's `weight` and `bias`) and its running
/// statistics, `[channels]` each: γ = 1, β = 0, mean 0 and variance 1 at the start, as PyTorch's.
public struct Normalization: Equatable, Sendable {
    public var scale: [Float]
    public var shift: [Float]
    public var runningMean: [Float]
    public var runningVariance: [Float]

    public var channels: Int { scale.count }

    /// ε, added to the variance under the square root, and the running statistics' momentum
    /// (PyTorch's convention: running = (1 − momentum)·running + momentum·batch), for exporters.
    public static var epsilon: Float { BatchNorm.epsilon }
    public static var momentum: Float { BatchNorm.momentum }

    public init(channels: Int) {
        scale = [Float](repeating: 1, count: channels)
        shift = [Float](repeating: 0, count: channels)
        runningMean = [Float](repeating: 0, count: channels)
        runningVariance = [Float](repeating: 1, count: channels)
    }

    public init(scale: [Float], shift: [Float], runningMean: [Float], runningVariance: [Float]) throws {
        guard !scale.isEmpty, [shift.count, runningMean.count, runningVariance.count].allSatisfy({ $0 == scale.count }) else {
            throw BPNetError.invalidArgument(
                "a batch norm needs γ, β, a running mean and a running variance of one length, got \(scale.count), \(shift.count), "
                    + "\(runningMean.count) and \(runningVariance.count)")
        }
        guard runningVariance.allSatisfy({ $0 >= 0 }) else {
            throw BPNetError.invalidArgument("a batch norm's running variance must be at least 0")
        }
        (self.scale, self.shift, self.runningMean, self.runningVariance) = (scale, shift, runningMean, runningVariance)
    }
}
