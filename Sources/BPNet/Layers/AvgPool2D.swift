/// Average pooling over `size`×`size` windows every `stride` pixels, per channel, in floor mode
/// with no padding, as `torch.nn.AvgPool2d`: each output is its window's mean, and each window
/// sends 1/(K·K) of its gradient to every pixel in it.
///
/// It lowers to the convolution's own operations: im2col lays each channel's window out as K·K
/// consecutive values, so the patches are a `[positions·C, K·K]` matrix whose product with a
/// column of 1/(K·K) is the output, `[positions, C]` in NHWC; backward, the output gradient times
/// a row of 1/(K·K) is the patch gradient, which col2im gathers. No kernel of its own.
struct AvgPool2D: LayerDefinition {
    var size: Int
    var stride: Int

    static let tokenName: String? = "avgpool"
    static let form = "avgpool:K[:S]"
    static let numbers = 1...2
    static func layer(_ n: [Int]) -> Architecture.Layer { .avgPool2d(size: n[0], stride: n.count > 1 ? n[1] : nil) }

    var name: String { "avgpool2d" }
    var token: String { "avgpool:\(size):\(stride)" }

    func outputShape(_ input: Architecture.Shape, _ fail: (String) -> BPNetError) throws -> Architecture.Shape {
        try Architecture.poolingShape(input, size: size, stride: stride, fail)
    }

    // X: [rows, H, W, C] -> patches [rows·OH·OW·C, K·K] -> · 1/(K·K) -> [rows, OH, OW, C].
    func stage(input: Architecture.Shape, output: Architecture.Shape, index: LayerStage.Index, isFirst: Bool) -> LayerStage {
        let d = input.dimensions
        return .averagePool(WindowGeometry(channels: d[0], height: d[1], width: d[2], kernel: size, stride: stride))
    }

    func forward(_ x: [Float], input: Architecture.Shape, output: Architecture.Shape, parameters: LayerParameters) -> [Float] {
        let (h, w) = (input.dimensions[1], input.dimensions[2])
        let (c, oh, ow) = (output.dimensions[0], output.dimensions[1], output.dimensions[2])
        let scale = 1 / Float(size * size)
        return (0..<(c * oh * ow)).map { index in
            let (channel, y, xo) = (index / (oh * ow), index / ow % oh, index % ow)
            var sum: Float = 0
            for ky in 0..<size {
                for kx in 0..<size { sum += x[(channel * h + y * stride + ky) * w + xo * stride + kx] }
            }
            return scale * sum
        }
    }
}
