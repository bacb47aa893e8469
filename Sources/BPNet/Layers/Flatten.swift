/// An image as a flat vector in NCHW order (channel, row, column), as `torch.flatten`.
struct Flatten: LayerDefinition {
    static let tokenName: String? = "flatten"
    static let form = "flatten"
    static let numbers = 0...0
    static func layer(_ numbers: [Int]) -> Architecture.Layer { .flatten }

    var name: String { "flatten" }
    var token: String { "flatten" }

    func outputShape(_ input: Architecture.Shape, _ fail: (String) -> BPNetError) throws -> Architecture.Shape {
        guard case .image = input else { throw fail("its input is already flat (\(input))") }
        return .flat(input.count)
    }

    // X: [rows, H·W, C] (NHWC) -> [rows, C, H·W]. The data's batch is NCHW already: flattening it
    // first copies it, as a transpose of one row.
    func stage(input: Architecture.Shape, output: Architecture.Shape, index: LayerStage.Index, isFirst: Bool) -> LayerStage {
        let d = input.dimensions
        return isFirst ? .flatten(pixels: 1, channels: input.count) : .flatten(pixels: d[1] * d[2], channels: d[0])
    }

    func forward(_ x: [Float], input: Architecture.Shape, output: Architecture.Shape, parameters: LayerParameters) -> [Float] { x }
}
