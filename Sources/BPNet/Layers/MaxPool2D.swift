/// Max pooling over `size`×`size` windows every `stride` pixels, per channel, in floor mode with no
/// padding, as `torch.nn.MaxPool2d`. The gradient goes to each window's first maximum in
/// row-major order (NaN counts as a maximum), as PyTorch's does.
struct MaxPool2D: LayerDefinition {
    var size: Int
    var stride: Int

    static let tokenName: String? = "maxpool"
    static let form = "maxpool:K[:S]"
    static let numbers = 1...2
    static func layer(_ n: [Int]) -> Architecture.Layer { .maxPool2d(size: n[0], stride: n.count > 1 ? n[1] : nil) }

    var name: String { "maxpool2d" }
    var token: String { "maxpool:\(size):\(stride)" }

    func outputShape(_ input: Architecture.Shape, _ fail: (String) -> BPNetError) throws -> Architecture.Shape {
        try Architecture.poolingShape(input, size: size, stride: stride, fail)
    }

    // X: [rows, H, W, C] -> [rows, OH, OW, C] and the argmax; backward: to each window's maximum.
    func stage(input: Architecture.Shape, output: Architecture.Shape, index: LayerStage.Index, isFirst: Bool) -> LayerStage {
        let d = input.dimensions
        return .maxPool(WindowGeometry(channels: d[0], height: d[1], width: d[2], kernel: size, stride: stride))
    }

    func forward(_ x: [Float], input: Architecture.Shape, output: Architecture.Shape, parameters: LayerParameters) -> [Float] {
        let (h, w) = (input.dimensions[1], input.dimensions[2])
        let (c, oh, ow) = (output.dimensions[0], output.dimensions[1], output.dimensions[2])
        return (0..<(c * oh * ow)).map { index in
            let (channel, y, xo) = (index / (oh * ow), index / ow % oh, index % ow)
            var best = -Float.infinity
            for ky in 0..<size {
                for kx in 0..<size {
                    let value = x[(channel * h + y * stride + ky) * w + xo * stride + kx]
                    if value > best || value.isNaN { best = value }
                }
            }
            return best
        }
    }
}
