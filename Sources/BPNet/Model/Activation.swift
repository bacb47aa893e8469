import Foundation

/// A layer's activation f, applied to z = W·a + b. Derivatives are taken from the output a = f(z),
/// so the backward pass needs only the stored activations.
///
/// A new element-wise activation is a case here (its float32 and float64 f, its f′), a line of
/// `ELEMENTWISE_ACTIVATIONS` in Kernels/activation.cl, the tests' float64 reference
/// (Tests/BPNetTestSupport/Reference.swift) and the README's formula. The CPU backend runs the
/// Swift formulas where it has no C loop for it; the lists of the checks and tests come from `allCases`.
public enum Activation: String, CaseIterable, Sendable, Codable {
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

    /// Element-wise f, for one value (softmax is a row operation: see `softmax(_:)`).
    @inline(__always)
    public func callAsFunction(_ z: Float) -> Float {
        switch self {
        case .sigmoid: return 1 / (1 + expf(-z))
        case .tanh: return tanhf(z)
        case .relu: return z > 0 ? z : 0
        case .identity, .softmax: return z
        }
    }

    /// f′ from the output a = f(z).
    @inline(__always)
    public func derivative(fromOutput a: Float) -> Float {
        switch self {
        case .sigmoid: return a * (1 - a)
        case .tanh: return 1 - a * a
        case .relu: return a > 0 ? 1 : 0
        case .identity, .softmax: return 1
        }
    }

    /// Element-wise f in float64, from the definition: the reference `bpnet verify` checks the
    /// backends against (softmax is a row operation).
    public func callAsFunction(_ z: Double) -> Double {
        switch self {
        case .sigmoid: return 1 / (1 + exp(-z))
        case .tanh: return Foundation.tanh(z)
        case .relu: return max(z, 0)
        case .identity, .softmax: return z
        }
    }

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
        let parsed = try names.map { name -> Activation in
            guard let activation = Activation(rawValue: name) else {
                throw BPNetError.invalidArgument(
                    "unknown activation '\(name)' (expected " + Activation.allCases.map(\.rawValue).joined(separator: ", ") + ")")
            }
            return activation
        }
        if parsed.count == 1 { return Array(repeating: parsed[0], count: layers) }
        guard parsed.count == layers else {
            throw BPNetError.invalidArgument("\(counted(parsed.count, "activation")) given for \(counted(layers, "weight layer"))")
        }
        return parsed
    }

    /// Rejects softmax anywhere but the output layer.
    public static func validate(_ activations: [Activation]) throws {
        if let hidden = activations.dropLast().firstIndex(of: .softmax) {
            throw BPNetError.invalidArgument("softmax is for the output layer only, not layer \(hidden + 1) of \(activations.count)")
        }
    }

    /// The name kernels know this activation by: `ACTIVATION_SIGMOID` and so on.
    var macroName: String { "ACTIVATION_" + rawValue.uppercased() }
    /// The code kernels receive; `KernelConstants` defines the macros from these.
    var code: Int32 { Int32(Activation.allCases.firstIndex(of: self)!) }
}
