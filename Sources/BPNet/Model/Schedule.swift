import Foundation

/// How η changes over a run.
public enum Schedule: Sendable, Equatable, CustomStringConvertible {
    /// η throughout.
    case constant
    /// η·γ^⌊(epoch − 1)/K⌋: multiplied by γ every K epochs.
    case step(every: Int, factor: Float)
    /// η_t = η·½(1 + cos(π(t − 1)/T)) per step t = 1 … T, T the run's total steps.
    case cosine

    /// `constant`, `step:K:γ` or `cosine`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        switch parts.first {
        case "constant" where parts.count == 1: self = .constant
        case "cosine" where parts.count == 1: self = .cosine
        case "step" where parts.count == 3:
            guard let every = Int(parts[1]), every > 0, let factor = Float(parts[2]), factor > 0, factor.isFinite else {
                throw BPNetError.invalidArgument("schedule '\(text)': step:K:γ needs a positive whole K and a positive γ")
            }
            self = .step(every: every, factor: factor)
        default:
            throw BPNetError.invalidArgument("unknown schedule '\(text)' (expected constant, step:K:γ or cosine)")
        }
    }

    public var description: String {
        switch self {
        case .constant: return "constant"
        case .step(let every, let factor): return "step:\(every):\(factor)"
        case .cosine: return "cosine"
        }
    }

    /// η for step t (from 1) of epoch e (from 1), in a run of T steps.
    public func learningRate(_ eta: Float, step t: Int, epoch e: Int, totalSteps T: Int) -> Float {
        switch self {
        case .constant:
            return eta
        case .step(let every, let factor):
            return Float(Double(eta) * pow(Double(factor), Double((e - 1) / every)))
        case .cosine:
            return Float(Double(eta) * 0.5 * (1 + cos(Double.pi * Double(t - 1) / Double(max(T, 1)))))
        }
    }
}

/// How a new network's parameters are drawn.
public enum Initializer: String, CaseIterable, Sendable {
    /// W ~ N(0, 1/n_in), b ~ N(0, 1): Nielsen's, and the default.
    case normal
    /// W ~ U(±√(6/(n_in + n_out))), b = 0 (Glorot and Bengio).
    case xavier
    /// W ~ N(0, 2/n_in), b = 0 (He et al.), for ReLU layers.
    case he
}
