/// The cost C, averaged over the n samples x of a set.
public enum Loss: String, CaseIterable, Sendable, Codable {
    /// C = (1/n) Σₓ ½‖a(x) − y(x)‖²; δ_L = (a − y) ⊙ a(1−a).
    case quadratic
    /// C = −(1/n) Σₓ Σⱼ [yⱼ ln aⱼ + (1−yⱼ) ln(1−aⱼ)]; δ_L = a − y.
    case crossEntropy = "cross-entropy"

    /// Activations are clamped to [ε, 1−ε] in the cross-entropy *value* only, since a float32
    /// sigmoid saturates to exactly 0 or 1; the delta needs no clamp.
    public static let crossEntropyEpsilon: Float = 1e-7

    /// Per-element cost term (summing it over an output vector gives the sample's cost).
    @inline(__always)
    public func value(activation a: Float, target y: Float) -> Float {
        switch self {
        case .quadratic:
            let d = a - y
            return 0.5 * d * d
        case .crossEntropy:
            let e = Loss.crossEntropyEpsilon
            let c = min(max(a, e), 1 - e)
            return -(y * logf(c) + (1 - y) * logf(1 - c))
        }
    }

    /// Per-element output error δ_L.
    @inline(__always)
    public func delta(activation a: Float, target y: Float) -> Float {
        switch self {
        case .quadratic: return (a - y) * a * (1 - a)
        case .crossEntropy: return a - y
        }
    }

    /// Index used by device kernels.
    var code: Int32 { self == .quadratic ? 0 : 1 }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
