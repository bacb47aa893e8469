/// A cross-correlation (no kernel flip) with `channels` square kernels, symmetric zero padding and
/// a bias per output channel, then the activation, as `torch.nn.Conv2d`: weight
/// `[Cout, Cin, K, K]`, output ⌊(H + 2P − K)/S⌋ + 1 a side.
struct Conv2D: LayerDefinition {
    var channels: Int
    var kernel: Int
    var stride: Int
    var padding: Int

    static let tokenName: String? = "conv"
    static let form = "conv:C:K[:S[:P]]"
    static let numbers = 2...4
    static func layer(_ n: [Int]) -> Architecture.Layer {
        .conv2d(channels: n[0], kernel: n[1], stride: n.count > 2 ? n[2] : 1, padding: n.count > 3 ? n[3] : 0)
    }

    var name: String { "conv2d" }
    var token: String { "conv:\(channels):\(kernel):\(stride):\(padding)" }
    var hasParameters: Bool { true }

    func outputShape(_ input: Architecture.Shape, _ fail: (String) -> BPNetError) throws -> Architecture.Shape {
        guard case .image(let inputChannels, let h, let w) = input else {
            throw fail("takes an image, but its input is flat (\(input)): give the input as CxHxW, such as 1x28x28")
        }
        guard channels > 0, kernel > 0, stride > 0, padding >= 0 else {
            throw fail("channels, kernel and stride must be positive and padding at least 0")
        }
        try Architecture.checkWindow(h, w, kernel: kernel, stride: stride, padding: padding, fail)
        guard let outH = Architecture.outputSize(h, kernel, stride, padding), let outW = Architecture.outputSize(w, kernel, stride, padding)
        else {
            throw fail("a \(kernel)×\(kernel) kernel is larger than its \(h)×\(w) input with padding \(padding)")
        }
        // Sizes may come from a model file: every product is checked, never trapped on.
        let (square, overflow1) = kernel.multipliedReportingOverflow(by: kernel)
        let (perChannel, overflow2) = square.multipliedReportingOverflow(by: inputChannels)
        let (weights, overflow3) = channels.multipliedReportingOverflow(by: perChannel)
        guard !overflow1, !overflow2, !overflow3, weights <= Network.maxElements else {
            throw fail("its weight holds more than \(Network.maxElements) values")
        }
        return .image(channels: channels, height: outH, width: outW)
    }

    /// Fan-in Cin·K·K and fan-out Cout·K·K, as PyTorch's initializers take them.
    func weights(input: Architecture.Shape, output: Architecture.Shape) -> Architecture.Weights? {
        let inputChannels = input.dimensions[0]
        return Architecture.Weights(
            layer: 0, dimensions: [channels, inputChannels, kernel, kernel], outputs: channels, inputs: inputChannels * kernel * kernel,
            fanOut: channels * kernel * kernel, positions: output.count / channels)
    }

    // X: [rows, H, W, C] -> patches [rows·OH·OW, C·K·K] (im2col) -> f(patches·Wᵀ + b): [rows, OH, OW, Cout];
    // backward: δ·W into the patches' gradient, then col2im.
    func stage(input: Architecture.Shape, output: Architecture.Shape, index: LayerStage.Index, isFirst: Bool) -> LayerStage {
        let d = input.dimensions
        return .weights(
            layer: index.weightLayer,
            geometry: WindowGeometry(channels: d[0], height: d[1], width: d[2], kernel: kernel, stride: stride, padding: padding))
    }

    func forward(_ x: [Float], input: Architecture.Shape, output: Architecture.Shape, parameters: LayerParameters) -> [Float] {
        let parameters = parameters.weights!
        let (cin, h, w) = (input.dimensions[0], input.dimensions[1], input.dimensions[2])
        let (oh, ow) = (output.dimensions[1], output.dimensions[2])
        let (k, s, p) = (kernel, stride, padding)
        var z = [Float](repeating: 0, count: output.count)
        for o in 0..<channels {
            for y in 0..<oh {
                for xo in 0..<ow {
                    var sum = parameters.biases[o]
                    for c in 0..<cin {
                        for ky in 0..<k {
                            for kx in 0..<k {
                                let (iy, ix) = (y * s - p + ky, xo * s - p + kx)
                                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                                sum += parameters.weights[((o * cin + c) * k + ky) * k + kx] * x[(c * h + iy) * w + ix]
                            }
                        }
                    }
                    z[(o * oh + y) * ow + xo] = sum
                }
            }
        }
        return z.map { parameters.activation($0) }
    }
}
