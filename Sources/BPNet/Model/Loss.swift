import Foundation

/// The cost C, averaged over the n samples x of a set.
public enum Loss: String, CaseIterable, Sendable, Codable {
    /// C = (1/n) Σₓ ½‖a(x) − y(x)‖²; δ_L = (a − y) ⊙ f′(a), for any element-wise output activation.
    case quadratic
    /// C = −(1/n) Σₓ Σⱼ [yⱼ ln aⱼ + (1−yⱼ) ln(1−aⱼ)]; δ_L = a − y, for sigmoid outputs.
    case crossEntropy = "cross-entropy"
    /// C = −(1/n) Σₓ Σⱼ yⱼ ln aⱼ; δ_L = a − y, for softmax outputs.
    case logLikelihood = "log-likelihood"

    /// Activations are clamped to [ε, 1−ε] in the logarithmic *values* only, since a float32
    /// sigmoid or softmax saturates to exactly 0 or 1; the deltas need no clamp.
    public static let epsilon: Float = 1e-7

    /// Per-element cost term (summing it over an output vector gives the sample's cost).
    @inline(__always)
    public func value(activation a: Float, target y: Float) -> Float {
        switch self {
        case .quadratic:
            let d = a - y
            return 0.5 * d * d
        case .crossEntropy:
            let c = min(max(a, Loss.epsilon), 1 - Loss.epsilon)
            return -(y * logf(c) + (1 - y) * logf(1 - c))
        case .logLikelihood:
            return y == 0 ? 0 : -y * logf(min(max(a, Loss.epsilon), 1))
        }
    }

    /// The output activations each loss fits: δ_L = a − y holds only for its own pairing.
    public func validate(output f: Activation) throws {
        try Activation.validateOutput(f)
        switch (self, f) {
        case (.logLikelihood, .softmax), (.crossEntropy, .sigmoid): return
        case (.quadratic, let f) where f != .softmax: return
        case (.logLikelihood, _):
            throw BPNetError.invalidArgument("the log-likelihood loss needs a softmax output layer, not \(f.rawValue)")
        case (.crossEntropy, _):
            throw BPNetError.invalidArgument(
                "the cross-entropy loss needs a sigmoid output layer, not \(f.rawValue) (use log-likelihood with softmax)")
        default:
            throw BPNetError.invalidArgument("a softmax output layer needs the log-likelihood loss, not \(rawValue)")
        }
    }

    var macroName: String { "LOSS_" + rawValue.uppercased().replacingOccurrences(of: "-", with: "_") }
    /// The code kernels receive; `KernelConstants` defines the macros from these.
    var code: Int32 { Int32(Loss.allCases.firstIndex(of: self)!) }
}
