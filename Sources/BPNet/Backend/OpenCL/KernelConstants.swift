/// The codes kernels switch on, generated as `#define`s from the Swift enums that name them, so
/// that no number is kept in sync by hand. Prepended to the program with the tunables.
enum KernelConstants {
    /// What a GEMM kernel does with each result (see Kernels/gemm.cl).
    enum Epilogue: Int32, CaseIterable {
        case none = 0, biasActivation, activationGrad, sgd, adam

        var macroName: String {
            switch self {
            case .none: return "EPILOGUE_NONE"
            case .biasActivation: return "EPILOGUE_BIAS_ACTIVATION"
            case .activationGrad: return "EPILOGUE_ACTIVATION_GRAD"
            case .sgd: return "EPILOGUE_SGD"
            case .adam: return "EPILOGUE_ADAM"
            }
        }
    }

    /// What a GEMM kernel does with the row sums of op(A), in the work items of one extra column
    /// block past C's last (see Kernels/gemm.cl): a weight-gradient product's bias, in its launch.
    enum BiasEpilogue: Int32, CaseIterable {
        case none = 0, gradient, sgd, adam

        var macroName: String {
            switch self {
            case .none: return "BIAS_NONE"
            case .gradient: return "BIAS_GRADIENT"
            case .sgd: return "BIAS_SGD"
            case .adam: return "BIAS_ADAM"
            }
        }
    }

    /// Dropout draws per work item (Kernels/dropout.cl), in vector types of this width: 2, 4, 8 or 16.
    static let dropoutLanes = 8

    /// Parameters per work item of the optimizer kernels (Kernels/optimizer.cl): 2, 4, 8 or 16.
    static let optimizerLanes = 8

    static var defines: String {
        var lines: [String] = []
        lines += Activation.Kind.allCases.enumerated().map { "#define \(Activation.macroName($0.element)) \($0.offset)" }
        lines += Loss.allCases.map { "#define \($0.macroName) \($0.code)" }
        lines += Epilogue.allCases.map { "#define \($0.macroName) \($0.rawValue)" }
        lines += BiasEpilogue.allCases.map { "#define \($0.macroName) \($0.rawValue)" }
        lines += Optimizer.codes.map { "#define \($0.macro) \($0.code)" }
        // The float's shortest exact decimal, so the device clamps at the host's very value.
        lines.append("#define DROPOUT_LANES \(dropoutLanes)")
        lines.append("#define OPTIMIZER_LANES \(optimizerLanes)")
        lines.append("#define LOSS_EPSILON \(Loss.epsilon)f")
        return lines.joined(separator: "\n") + "\n"
    }
}
