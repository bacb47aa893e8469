/// Global average pooling: each channel's mean over the whole image, as
/// `torch.nn.AdaptiveAvgPool2d(1)`. The output is C×1×1, an image, so `flatten` follows it before a
/// dense layer, as in PyTorch.
///
/// It lowers to existing operations: the NHWC batch transposed to NCHW, `[rows·C, H·W]`, times a
/// column of 1/(H·W) is `[rows, C]`; backward, the output gradient times a row of 1/(H·W),
/// transposed back to NHWC. No kernel of its own.
struct GlobalAvgPool: LayerDefinition {
    static let tokenName: String? = "gap"
    static let form = "gap"
    static let numbers = 0...0
    static func layer(_ numbers: [Int]) -> Architecture.Layer { .globalAvgPool }

    var name: String { "globalavgpool" }
    var token: String { "gap" }

    func outputShape(_ input: Architecture.Shape, _ fail: (String) -> BPNetError) throws -> Architecture.Shape {
        guard case .image(let c, _, _) = input else {
            throw fail("takes an image, but its input is flat (\(input)): give the input as CxHxW, such as 1x28x28")
        }
        return .image(channels: c, height: 1, width: 1)
    }

    // X: [rows, H·W, C] -> [rows, C, H·W] -> · 1/(H·W) -> [rows, C]. The whole image is its window.
    func stage(input: Architecture.Shape, output: Architecture.Shape, index: LayerStage.Index, isFirst: Bool) -> LayerStage {
        let d = input.dimensions
        return .globalAveragePool(WindowGeometry(channels: d[0], height: d[1], width: d[2], kernel: 1))
    }

    func forward(_ x: [Float], input: Architecture.Shape, output: Architecture.Shape, parameters: LayerParameters) -> [Float] {
        let pixels = input.dimensions[1] * input.dimensions[2]
        let scale = 1 / Float(pixels)
        return (0..<input.dimensions[0]).map { channel in
            scale * x[(channel * pixels)..<((channel + 1) * pixels)].reduce(0, +)
        }
    }
}
