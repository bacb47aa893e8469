/// What one kind of layer knows, written in one file per kind: its `--layers` token, its output
/// shape by PyTorch's rule, its parameters, the backend stage it lowers to, and its forward pass
/// on the host. `Architecture.Layer` (Layer.swift) is the registry that maps each case to its
/// definition.
///
/// A new layer built from the backend's existing operations is a definition here, a case and a
/// line in the registry, the tests' float64 reference (Tests/BPNetTestSupport/Reference.swift),
/// a test and the README.
protocol LayerDefinition: Sendable {
    /// The `--layers` token's name (`conv`), its form for messages (`conv:C:K[:S[:P]]`) and how
    /// many numbers follow the name; a kind without a name is the bare number (dense).
    static var tokenName: String? { get }
    static var form: String { get }
    static var numbers: ClosedRange<Int> { get }
    /// The layer of a token's numbers, within `numbers`.
    static func layer(_ numbers: [Int]) -> Architecture.Layer

    /// As summaries name it: `dense`, `conv2d`, `maxpool2d`, `avgpool2d`, `globalavgpool`, `flatten`.
    var name: String { get }
    /// The `--layers` token that parses back to this layer, defaults written out.
    var token: String { get }
    /// Whether it has a weight and a bias, and so an activation of its own.
    var hasParameters: Bool { get }
    /// The channels (or units) it normalizes, for batch norm, which holds γ, β and the running
    /// statistics of each; nil for every other kind.
    func normalizedChannels(input: Architecture.Shape) -> Int?

    /// The output shape for `input`; a problem goes to `fail`, which names the layer.
    func outputShape(_ input: Architecture.Shape, _ fail: (String) -> BPNetError) throws -> Architecture.Shape
    /// The weight as PyTorch holds it, and the matrix it is to the layer's GEMM, when
    /// `hasParameters` (`layer` is left for the caller).
    func weights(input: Architecture.Shape, output: Architecture.Shape) -> Architecture.Weights?
    /// The stage the backend runs for it (`LayerStage`); `index` counts the weight layers and the
    /// batch norms before it, and `isFirst` says that its input is the data's NCHW batch.
    func stage(input: Architecture.Shape, output: Architecture.Shape, index: LayerStage.Index, isFirst: Bool) -> LayerStage
    /// One sample's forward pass on the host, NCHW, from the definition (batch norm with its
    /// running statistics, as in evaluation); `parameters` are its weight layer's or batch norm's.
    func forward(_ x: [Float], input: Architecture.Shape, output: Architecture.Shape, parameters: LayerParameters) -> [Float]
}

/// What one layer's host forward pass reads: a weight layer's parameters (and activation), or a
/// batch norm's state and the activation of the weight layer it follows.
enum LayerParameters {
    case none
    case weights(Layer)
    case normalization(Normalization, activation: Activation)

    var weights: Layer? {
        if case .weights(let layer) = self { return layer }
        return nil
    }
}

extension LayerDefinition {
    var hasParameters: Bool { false }
    func normalizedChannels(input: Architecture.Shape) -> Int? { nil }

    func weights(input: Architecture.Shape, output: Architecture.Shape) -> Architecture.Weights? { nil }
}
