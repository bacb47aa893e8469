import Foundation

/// How parameters follow their gradients. In each rule g = gW + (λ/n)·W for weights and g = gb
/// for biases (AdamW: g = gW, with its decay decoupled), and t counts steps from 1 across epochs.
/// Each optimizer declares the state it keeps per parameter buffer (`stateBuffers`); the trainer
/// allocates that state on the backend, and one fused pass per buffer applies a step.
public enum Optimizer: Sendable, Equatable {
    /// v ← μ·v − η·g; W ← W + v. With μ = 0, plain SGD, and no state.
    case sgd
    /// v ← μ·v − η·g; W ← W + μ·v − η·g.
    case nesterov
    /// m ← β₁m + (1−β₁)g; s ← β₂s + (1−β₂)g²; W ← W − η·m̂/(√ŝ + ε), with m̂ = m/(1−β₁ᵗ), ŝ = s/(1−β₂ᵗ).
    case adam(beta1: Float = Optimizer.defaultBeta1, beta2: Float = Optimizer.defaultBeta2, epsilon: Float = Optimizer.defaultEpsilon)
    /// Adam with W ← W − η·wd·W first (weights only, never biases) and g = gW: no L2 term.
    case adamw(
        beta1: Float = Optimizer.defaultBeta1, beta2: Float = Optimizer.defaultBeta2, epsilon: Float = Optimizer.defaultEpsilon,
        weightDecay: Float = Optimizer.defaultWeightDecay)
    /// PyTorch's RMSprop (not centered): v ← α·v + (1−α)·g²; with μ = 0, W ← W − η·g/(√v + ε);
    /// with momentum, b ← μ·b + g/(√v + ε) and W ← W − η·b.
    case rmsprop(alpha: Float = Optimizer.defaultAlpha, epsilon: Float = Optimizer.defaultEpsilon)

    /// Kingma and Ba's defaults, and Loshchilov and Hutter's weight decay (PyTorch's too).
    public static let defaultBeta1: Float = 0.9
    public static let defaultBeta2: Float = 0.999
    public static let defaultEpsilon: Float = 1e-8
    public static let defaultWeightDecay: Float = 0.01
    /// RMSprop's smoothing constant, PyTorch's default (its ε is 1e-8 too).
    public static let defaultAlpha: Float = 0.99

    /// The rules by name. `allCases` is the one list: the parsers, `--help` and the kernels'
    /// codes all come from it.
    public enum Kind: String, CaseIterable, Sendable {
        case sgd, nesterov, adam, adamw, rmsprop
    }

    public var kind: Kind {
        switch self {
        case .sgd: return .sgd
        case .nesterov: return .nesterov
        case .adam: return .adam
        case .adamw: return .adamw
        case .rmsprop: return .rmsprop
        }
    }

    /// `kind` with these hyperparameters, each its default where nil; the SGD family has none
    /// (momentum is the trainer's), only AdamW a weight decay and only RMSprop an α.
    public init(
        _ kind: Kind, beta1: Float? = nil, beta2: Float? = nil, epsilon: Float? = nil, weightDecay: Float? = nil, alpha: Float? = nil
    ) {
        let (b1, b2, e) = (beta1 ?? Optimizer.defaultBeta1, beta2 ?? Optimizer.defaultBeta2, epsilon ?? Optimizer.defaultEpsilon)
        switch kind {
        case .sgd: self = .sgd
        case .nesterov: self = .nesterov
        case .adam: self = .adam(beta1: b1, beta2: b2, epsilon: e)
        case .adamw: self = .adamw(beta1: b1, beta2: b2, epsilon: e, weightDecay: weightDecay ?? Optimizer.defaultWeightDecay)
        case .rmsprop: self = .rmsprop(alpha: alpha ?? Optimizer.defaultAlpha, epsilon: e)
        }
    }

    /// `sgd`, `nesterov`, `adam`, `adamw` or `rmsprop`.
    public var name: String { kind.rawValue }

    public static let names = Kind.allCases.map(\.rawValue)

    /// η when none is given: Nielsen's 3.0 for the SGD family, Kingma and Ba's 0.001 for Adam,
    /// PyTorch's 0.01 for RMSprop.
    public var defaultLearningRate: Float {
        switch self {
        case .sgd, .nesterov: return 3.0
        case .adam, .adamw: return 0.001
        case .rmsprop: return 0.01
        }
    }

    /// State buffers per parameter buffer, each of the parameter's size: the velocity (none for
    /// SGD without momentum), Adam's two moments, or RMSprop's mean square and, with momentum,
    /// its buffer (PyTorch's `square_avg` and `momentum_buffer`).
    public func stateBuffers(momentum: Float) -> Int {
        switch self {
        case .sgd: return momentum == 0 ? 0 : 1
        case .nesterov: return 1
        case .adam, .adamw: return 2
        case .rmsprop: return momentum == 0 ? 1 : 2
        }
    }

    /// Whether the rule has a λ/n·W term (AdamW decouples its decay instead) and a momentum μ
    /// (Adam's running mean is β₁'s).
    public var usesL2: Bool { if case .adamw = self { false } else { true } }
    public var usesMomentum: Bool {
        switch self {
        case .sgd, .nesterov, .rmsprop: return true
        case .adam, .adamw: return false
        }
    }

    /// The hyperparameters past η, as a summary line shows them.
    var hyperparameters: String {
        switch self {
        case .sgd, .nesterov: return ""
        case .adam(let beta1, let beta2, let epsilon): return "β₁ \(beta1), β₂ \(beta2), ε \(epsilon)"
        case .adamw(let beta1, let beta2, let epsilon, let decay): return "β₁ \(beta1), β₂ \(beta2), ε \(epsilon), wd \(decay)"
        case .rmsprop(let alpha, let epsilon): return "α \(alpha), ε \(epsilon)"
        }
    }

    func validate() throws {
        switch self {
        case .sgd, .nesterov: return
        case .adam(let beta1, let beta2, let epsilon), .adamw(let beta1, let beta2, let epsilon, _):
            guard (0..<1).contains(beta1), (0..<1).contains(beta2) else {
                throw BPNetError.invalidArgument("beta1 and beta2 must be in [0, 1), got \(beta1) and \(beta2)")
            }
            guard epsilon > 0, epsilon.isFinite else { throw BPNetError.invalidArgument("epsilon must be positive, got \(epsilon)") }
            if case .adamw(_, _, _, let decay) = self, !(decay >= 0 && decay.isFinite) {
                throw BPNetError.invalidArgument("weight decay must be ≥ 0 and finite, got \(decay)")
            }
        case .rmsprop(let alpha, let epsilon):
            guard (0..<1).contains(alpha) else { throw BPNetError.invalidArgument("alpha must be in [0, 1), got \(alpha)") }
            guard epsilon > 0, epsilon.isFinite else { throw BPNetError.invalidArgument("epsilon must be positive, got \(epsilon)") }
        }
    }

    var macroName: String { "OPTIMIZER_" + name.uppercased() }
    /// The code kernels receive; `KernelConstants` defines the macros from these.
    var code: Int32 { Int32(Kind.allCases.firstIndex(of: kind)!) }
    static var codes: [(macro: String, code: Int32)] { Kind.allCases.map { Optimizer($0) }.map { ($0.macroName, $0.code) } }
}

/// Everything one optimizer pass over one parameter buffer needs: the rule and this step's
/// scalars, with Adam's bias corrections formed once on the host in double precision.
public struct OptimizerStep: Sendable, Equatable {
    public var optimizer: Optimizer
    /// η for this step (after the schedule).
    public var learningRate: Float
    public var momentum: Float
    /// The coefficient of W in g: λ/n for weights, 0 for biases and for AdamW.
    public var l2: Float
    /// AdamW's η·wd for weights, else 0.
    public var decoupledDecay: Float
    /// t, from 1.
    public var step: Int

    public init(optimizer: Optimizer, learningRate: Float, momentum: Float, l2: Float, decoupledDecay: Float, step: Int) {
        self.optimizer = optimizer
        self.learningRate = learningRate
        self.momentum = momentum
        self.l2 = l2
        self.decoupledDecay = decoupledDecay
        self.step = step
    }

    /// This step without the terms that act on weights alone, L2 and decoupled decay: the step
    /// that the trainer gives a layer's biases.
    public var withoutWeightTerms: OptimizerStep {
        var step = self
        (step.l2, step.decoupledDecay) = (0, 0)
        return step
    }

    /// (β₁, β₂, ε, 1 − β₁ᵗ, 1 − β₂ᵗ); for RMSprop, whose α plays β₂'s part, (0, α, ε, 1, 1);
    /// zeros for the SGD family. The kernels take these five whatever the rule.
    public var adam: (beta1: Float, beta2: Float, epsilon: Float, correction1: Float, correction2: Float) {
        switch optimizer {
        case .adam(let beta1, let beta2, let epsilon), .adamw(let beta1, let beta2, let epsilon, _):
            return (
                beta1, beta2, epsilon, Float(1 - pow(Double(beta1), Double(step))),
                Float(1 - pow(Double(beta2), Double(step))))
        case .rmsprop(let alpha, let epsilon):
            return (0, alpha, epsilon, 1, 1)
        case .sgd, .nesterov:
            return (0, 0, 0, 0, 0)
        }
    }
}
