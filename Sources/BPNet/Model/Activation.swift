import Foundation

/// A layer's activation f, applied to z = W·a + b: a kind and, for leaky ReLU, its slope.
///
/// The backward pass takes f′ from what the layer kept: the output a = f(z) for most kinds,
/// whose f′ can be recovered from a, and the pre-activation z for GELU, whose cannot (GELU is
/// not monotonic). `derivativeReadsPreactivation` says which; the network keeps z only for those.
///
/// A new element-wise activation is a `Kind` here (its float32 and float64 f, its f′), a line of
/// `ELEMENTWISE_ACTIVATIONS` in Kernels/activation.cl, the tests' float64 reference
/// (Tests/BPNetTestSupport/Reference.swift) and the README's formula. The CPU backend runs the
/// Swift formulas where it has no C loop for it; the lists of the checks and tests come from `allCases`.
public struct Activation: Hashable, Sendable, Codable, CaseIterable, CustomStringConvertible {
    public enum Kind: String, CaseIterable, Sendable {
        /// f(z) = 1/(1 + e^−z); f′ = a(1−a).
        case sigmoid
        /// f(z) = tanh z; f′ = 1 − a².
        case tanh
        /// f(z) = max(z, 0); f′ = 1 when a > 0, else 0.
        case relu
        /// f(z) = z; f′ = 1.
        case identity
        /// f(z)ⱼ = e^(zⱼ − max z) / Σₖ e^(zₖ − max z), over a row: output layer only, with the
        /// log-likelihood loss, whose δ = a − y needs no Jacobian.
        case softmax
        /// f(z) = z when z > 0, else s·z (slope s ≥ 0, default 0.01); f′ = 1 when a > 0, else s.
        case leakyRelu = "leaky-relu"
        /// f(z) = z·Φ(z) = ½z(1 + erf(z/√2)), the exact form; f′ = Φ(z) + z·φ(z), from z.
        case gelu
    }

    public let kind: Kind
    /// Leaky ReLU's slope for z ≤ 0; 0 for every other kind.
    public let parameter: Float

    public static let sigmoid = Activation(.sigmoid)
    public static let tanh = Activation(.tanh)
    public static let relu = Activation(.relu)
    public static let identity = Activation(.identity)
    public static let softmax = Activation(.softmax)
    public static let gelu = Activation(.gelu)
    /// Leaky ReLU with PyTorch's default slope.
    public static let leakyRelu = Activation(.leakyRelu, parameter: defaultSlope)
    public static let defaultSlope: Float = 0.01

    /// Leaky ReLU of `slope`, which must be finite and at least 0: f′ is read from the output's
    /// sign, which a negative slope would flip.
    public static func leakyRelu(slope: Float) throws -> Activation {
        guard slope.isFinite, slope >= 0 else {
            throw BPNetError.invalidArgument("leaky-relu's slope must be a finite number ≥ 0, not \(slope)")
        }
        return Activation(.leakyRelu, parameter: slope)
    }

    private init(_ kind: Kind, parameter: Float = 0) {
        self.kind = kind
        self.parameter = parameter
    }

    /// Every kind, with leaky ReLU at its default slope.
    public static let allCases: [Activation] = Kind.allCases.map { $0 == .leakyRelu ? .leakyRelu : Activation($0) }

    /// The name `--activations` and model files use: `relu`, `leaky-relu`, `leaky-relu:0.1`.
    public var rawValue: String {
        kind == .leakyRelu && parameter != Activation.defaultSlope ? "\(kind.rawValue):\(parameter)" : kind.rawValue
    }
    public var description: String { rawValue }

    public init?(rawValue: String) {
        guard let parsed = try? Activation.parse(rawValue) else { return nil }
        self = parsed
    }

    /// The activation one name gives, or an error that names what is wrong with it.
    public static func parse(_ name: String) throws -> Activation {
        let fields = name.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let kind = Kind(rawValue: fields[0]) else {
            throw BPNetError.invalidArgument(
                "unknown activation '\(name)' (expected " + Kind.allCases.map(\.rawValue).joined(separator: ", ") + ")")
        }
        guard fields.count == 2 else { return kind == .leakyRelu ? .leakyRelu : Activation(kind) }
        guard kind == .leakyRelu else { throw BPNetError.invalidArgument("activation '\(name)': only leaky-relu takes a parameter") }
        guard let slope = Float(fields[1]) else {
            throw BPNetError.invalidArgument("activation '\(name)': the slope '\(fields[1])' is not a number")
        }
        return try leakyRelu(slope: slope)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        self = try Activation.parse(text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// Whether f′ is computed from the pre-activation z (GELU) rather than from the output a.
    public var derivativeReadsPreactivation: Bool { kind == .gelu }

    /// Element-wise f, for one value (softmax is a row operation: see `softmax(_:)`).
    @inline(__always)
    public func callAsFunction(_ z: Float) -> Float {
        switch kind {
        case .sigmoid: return 1 / (1 + expf(-z))
        case .tanh: return tanhf(z)
        case .relu: return z > 0 ? z : 0
        case .leakyRelu: return z > 0 ? z : parameter * z
        case .gelu: return 0.5 * z * (1 + erff(z * Activation.sqrtHalf))
        case .identity, .softmax: return z
        }
    }

    /// f′ from x: the output a = f(z), or z where `derivativeReadsPreactivation`.
    @inline(__always)
    public func derivative(from x: Float) -> Float {
        switch kind {
        case .sigmoid: return x * (1 - x)
        case .tanh: return 1 - x * x
        case .relu: return x > 0 ? 1 : 0
        case .leakyRelu: return x > 0 ? 1 : parameter
        case .gelu: return 0.5 * (1 + erff(x * Activation.sqrtHalf)) + x * expf(-0.5 * x * x) * Activation.inverseSqrtTwoPi
        case .identity, .softmax: return 1
        }
    }

    /// Element-wise f in float64, from the definition: the reference `bpnet verify` checks the
    /// backends against (softmax is a row operation).
    public func callAsFunction(_ z: Double) -> Double {
        switch kind {
        case .sigmoid: return 1 / (1 + exp(-z))
        case .tanh: return Foundation.tanh(z)
        case .relu: return max(z, 0)
        case .leakyRelu: return z > 0 ? z : Double(parameter) * z
        case .gelu: return 0.5 * z * (1 + erf(z / 2.0.squareRoot()))
        case .identity, .softmax: return z
        }
    }

    /// 1/√2 and 1/√(2π), in float32, as the kernels write them (1/√2 is public for exporters).
    public static let sqrtHalf: Float = 0.707106781186547524
    static let inverseSqrtTwoPi: Float = 0.398942280401432678

    /// A row's softmax, numerically stable: the row maximum is subtracted before exp.
    public static func softmax(_ z: [Float]) -> [Float] {
        let top = z.max() ?? 0
        let exps = z.map { expf($0 - top) }
        let sum = exps.reduce(0, +)
        return exps.map { $0 / sum }
    }

    /// `relu,relu,softmax` (one per weight layer), or one name for every layer.
    public static func parseList(_ text: String, layers: Int) throws -> [Activation] {
        let names = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let parsed = try names.map(parse)
        if parsed.count == 1 { return Array(repeating: parsed[0], count: layers) }
        guard parsed.count == layers else {
            throw BPNetError.invalidArgument("\(counted(parsed.count, "activation")) given for \(counted(layers, "weight layer"))")
        }
        return parsed
    }

    /// Rejects softmax anywhere but the output layer, and GELU there: the loss's δ_L reads f′
    /// from the output, and GELU's needs z.
    public static func validate(_ activations: [Activation]) throws {
        if let hidden = activations.dropLast().firstIndex(of: .softmax) {
            throw BPNetError.invalidArgument("softmax is for the output layer only, not layer \(hidden + 1) of \(activations.count)")
        }
        if let output = activations.last { try validateOutput(output) }
    }

    /// Refuses an output activation whose f′ reads z (GELU): the loss's δ_L takes f′ from the output.
    static func validateOutput(_ f: Activation) throws {
        guard f.derivativeReadsPreactivation else { return }
        throw BPNetError.invalidArgument("\(f.rawValue) is for hidden layers, not the output layer (use identity, sigmoid or softmax there)")
    }

    /// The name kernels know this kind by: `ACTIVATION_SIGMOID`, `ACTIVATION_LEAKY_RELU` and so on.
    static func macroName(_ kind: Kind) -> String {
        "ACTIVATION_" + kind.rawValue.uppercased().replacingOccurrences(of: "-", with: "_")
    }
    /// The code kernels receive, with `parameter` beside it; `KernelConstants` defines the macros from these.
    var code: Int32 { Int32(Kind.allCases.firstIndex(of: kind)!) }
}
