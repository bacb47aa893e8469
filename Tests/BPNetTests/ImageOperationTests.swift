import BPNet
import BPNetTestSupport
import Foundation
import Testing

/// The CPU backend's image operations (im2col, col2im, max pooling, the NCHW↔NHWC transposes)
/// composed into convolution and pooling layers, against the float64 reference of
/// `ImageReference`, at odd shapes, strides, paddings and batch sizes.
@Suite struct ImageOperationTests {
    typealias Shape = ImageReference.Shape
    let backend = CPUBackend()

    /// NCHW samples -> NHWC, and back, through the backend.
    func toNHWC(_ values: [Float], samples: Int, channels: Int, pixels: Int) throws -> any DeviceBuffer {
        let y = try backend.makeBuffer(count: values.count)
        try backend.transposeSamples(try backend.makeBuffer(values), samples: samples, rows: channels, columns: pixels, into: y)
        return y
    }

    func toNCHW(_ buffer: any DeviceBuffer, samples: Int, channels: Int, pixels: Int) throws -> [Float] {
        let y = try backend.makeBuffer(count: buffer.count)
        try backend.transposeSamples(buffer, samples: samples, rows: pixels, columns: channels, into: y)
        return try backend.download(y)
    }

    /// A convolution as training runs it: im2col, then `linear` over the patches (forward); the
    /// patches' gradient δ·W, then col2im (input gradient); the layer's gradients with the sums
    /// divided by the sample count. Each sample's reference is summed and divided likewise.
    @Test(arguments: [
        // (input, output channels, kernel, stride, padding, samples)
        (Shape(channels: 1, height: 5, width: 7), 1, 3, 1, 0, 1), (Shape(channels: 3, height: 7, width: 5), 17, 3, 2, 1, 3),
        (Shape(channels: 17, height: 5, width: 5), 3, 5, 1, 2, 2), (Shape(channels: 3, height: 9, width: 11), 5, 1, 2, 0, 3),
        (Shape(channels: 1, height: 1, width: 1), 3, 1, 1, 0, 3), (Shape(channels: 2, height: 6, width: 3), 4, 2, 1, 1, 3),
        (Shape(channels: 3, height: 5, width: 5), 2, 2, 3, 0, 2), (Shape(channels: 1, height: 3, width: 3), 2, 5, 1, 2, 1),
    ])
    func convolutionMatchesReference(input: Shape, outputChannels: Int, kernel: Int, stride: Int, padding: Int, samples: Int)
        throws
    {
        let reference = ImageReference.Convolution(
            input: input, outputChannels: outputChannels, kernel: kernel, stride: stride, padding: padding)
        let out = try #require(reference.output)
        let geometry = WindowGeometry(
            channels: input.channels, height: input.height, width: input.width, kernel: kernel, stride: stride, padding: padding)
        #expect(geometry.outputHeight == out.height && geometry.outputWidth == out.width)
        let images = TestData.uniform(samples * input.count, seed: 1)
        let weight = TestData.uniform(reference.weightCount, seed: 2, in: -0.5...0.5)
        let bias = TestData.uniform(outputChannels, seed: 3)
        let outputGradient = TestData.uniform(samples * out.count, seed: 4)
        let positions = samples * geometry.outputPositions

        // Forward.
        let x = try toNHWC(images, samples: samples, channels: input.channels, pixels: input.height * input.width)
        let columns = try backend.makeBuffer(count: positions * geometry.patchLength)
        try backend.im2col(x, geometry: geometry, samples: samples, into: columns)
        let w = try backend.makeBuffer(weight), b = try backend.makeBuffer(bias)
        let y = try backend.makeBuffer(count: positions * outputChannels)
        try backend.linear(
            input: columns, weights: w, bias: b, output: y, rows: positions, inputs: geometry.patchLength, outputs: outputChannels,
            activation: .identity)
        let forward = try toNCHW(y, samples: samples, channels: outputChannels, pixels: geometry.outputPositions)

        // Backward.
        let g = try toNHWC(outputGradient, samples: samples, channels: outputChannels, pixels: geometry.outputPositions)
        let columnGradient = try backend.makeBuffer(count: positions * geometry.patchLength)
        try backend.gemm(
            transposeA: false, transposeB: false, m: positions, n: geometry.patchLength, k: outputChannels, alpha: 1, a: g, b: w,
            beta: 0, c: columnGradient)
        let inputGradientNHWC = try backend.makeBuffer(count: samples * input.count)
        try backend.col2im(columnGradient, geometry: geometry, samples: samples, into: inputGradientNHWC)
        let inputGradient = try toNCHW(inputGradientNHWC, samples: samples, channels: input.channels, pixels: input.height * input.width)
        let gW = try backend.makeBuffer(count: reference.weightCount), gb = try backend.makeBuffer(count: outputChannels)
        try backend.layerGradients(
            delta: g, input: columns, weightGradient: gW, biasGradient: gb, rows: positions, samples: samples,
            outputs: outputChannels, inputs: geometry.patchLength)

        var expectedForward: [Double] = [], expectedInputGradient: [Double] = []
        var expectedWeightGradient = [Double](repeating: 0, count: reference.weightCount)
        var expectedBiasGradient = [Double](repeating: 0, count: outputChannels)
        for n in 0..<samples {
            let image = images[(n * input.count)..<((n + 1) * input.count)].map(Double.init)
            expectedForward += reference.forward(image, weight: weight.map(Double.init), bias: bias.map(Double.init))
            let gradients = reference.backward(
                image, weight: weight.map(Double.init),
                outputGradient: outputGradient[(n * out.count)..<((n + 1) * out.count)].map(Double.init))
            expectedInputGradient += gradients.input
            for i in 0..<reference.weightCount { expectedWeightGradient[i] += gradients.weight[i] / Double(samples) }
            for o in 0..<outputChannels { expectedBiasGradient[o] += gradients.bias[o] / Double(samples) }
        }
        let tolerance = 1e-5
        #expect(relativeError(forward, expectedForward) < tolerance)
        #expect(relativeError(inputGradient, expectedInputGradient) < tolerance)
        #expect(relativeError(try backend.download(gW), expectedWeightGradient) < tolerance)
        #expect(relativeError(try backend.download(gb), expectedBiasGradient) < tolerance)
    }

    /// Max pooling's maxima, the positions they came from (y·W + x within each channel's plane),
    /// and the gradient sent back to them, summed where overlapping windows share a maximum.
    @Test(arguments: [
        // (input, size, stride, samples)
        (Shape(channels: 1, height: 4, width: 4), 2, 2, 1), (Shape(channels: 3, height: 7, width: 5), 2, 2, 3),
        (Shape(channels: 17, height: 5, width: 5), 3, 1, 2), (Shape(channels: 3, height: 9, width: 11), 3, 2, 3),
        (Shape(channels: 2, height: 1, width: 1), 1, 1, 3), (Shape(channels: 1, height: 5, width: 7), 2, 3, 1),
    ])
    func maxPoolMatchesReference(input: Shape, size: Int, stride: Int, samples: Int) throws {
        let reference = ImageReference.MaxPool(input: input, size: size, stride: stride)
        let out = try #require(reference.output)
        let geometry = WindowGeometry(channels: input.channels, height: input.height, width: input.width, kernel: size, stride: stride)
        // Coarse values, so that windows hold ties, which must go to the first maximum.
        let images = TestData.uniform(samples * input.count, seed: 5).map { ($0 * 4).rounded() }
        let outputGradient = TestData.uniform(samples * out.count, seed: 6)
        let pixels = input.height * input.width, outputPixels = out.height * out.width
        let x = try toNHWC(images, samples: samples, channels: input.channels, pixels: pixels)
        let y = try backend.makeBuffer(count: samples * out.count), argmax = try backend.makeIndexBuffer(count: samples * out.count)
        try backend.maxPool(x, geometry: geometry, samples: samples, into: y, argmax: argmax)
        let g = try toNHWC(outputGradient, samples: samples, channels: input.channels, pixels: outputPixels)
        let inputGradient = try backend.makeBuffer(count: samples * input.count)
        try backend.maxPoolBackward(g, argmax: argmax, geometry: geometry, samples: samples, into: inputGradient)

        // The argmax buffer holds int32s: read it as the floats' bit patterns.
        let positions = try backend.download(argmax).map { Int(Int32(bitPattern: $0.bitPattern)) }
        var expected: [Double] = [], expectedGradient: [Double] = []
        for n in 0..<samples {
            let image = images[(n * input.count)..<((n + 1) * input.count)].map(Double.init)
            let (maxima, from) = reference.forward(image)
            expected += maxima
            expectedGradient += reference.backward(
                outputGradient: outputGradient[(n * out.count)..<((n + 1) * out.count)].map(Double.init), argmax: from)
            for c in 0..<out.channels {
                for p in 0..<outputPixels {
                    // Ours is NHWC and within the channel's plane; the reference's is NCHW within the sample.
                    let ours = positions[(n * outputPixels + p) * out.channels + c]
                    #expect(c * pixels + ours == from[c * outputPixels + p], "sample \(n) channel \(c) window \(p)")
                }
            }
        }
        #expect(try toNCHW(y, samples: samples, channels: input.channels, pixels: outputPixels).map(Double.init) == expected)
        let gradient = try toNCHW(inputGradient, samples: samples, channels: input.channels, pixels: pixels)
        #expect(relativeError(gradient, expectedGradient) < 1e-6)
    }

    /// PyTorch's rule for NaN: it counts as a maximum, so the window's last NaN wins; −∞ everywhere
    /// keeps the window's first position.
    @Test func maxPoolTakesNaNAndKeepsTheFirstOfTies() throws {
        let geometry = WindowGeometry(channels: 1, height: 2, width: 6, kernel: 2, stride: 2)
        let nan = Float.nan, inf = Float.infinity
        // Windows: [1 nan; 3 nan], [-inf -inf; -inf -inf], [2 5; 5 2].
        let x = try backend.makeBuffer([1, nan, -inf, -inf, 2, 5, 3, nan, -inf, -inf, 5, 2])
        let y = try backend.makeBuffer(count: 3), argmax = try backend.makeIndexBuffer(count: 3)
        try backend.maxPool(x, geometry: geometry, samples: 1, into: y, argmax: argmax)
        let maxima = try backend.download(y)
        let positions = try backend.download(argmax).map { Int32(bitPattern: $0.bitPattern) }
        #expect(maxima[0].isNaN && maxima[1] == -inf && maxima[2] == 5)
        #expect(positions == [7, 2, 5])
    }

    @Test func transposeSamplesRoundTrips() throws {
        let values = TestData.uniform(3 * 17 * 5, seed: 7)
        let there = try toNHWC(values, samples: 3, channels: 17, pixels: 5)
        let moved = try backend.download(there)
        // Sample 1, channel 4, pixel 2 moves to pixel 2, channel 4.
        #expect(moved[(1 * 5 + 2) * 17 + 4] == values[(1 * 17 + 4) * 5 + 2])
        #expect(try toNCHW(there, samples: 3, channels: 17, pixels: 5) == values)
    }

    /// δ ⊙ f′(a), f′ from the output, for each element-wise activation; softmax is refused.
    @Test func multiplyDerivativeMatchesTheFormula() throws {
        let a = TestData.uniform(33, seed: 8, in: 0.01...0.99), delta = TestData.uniform(33, seed: 9)
        for function in Activation.allCases {
            let d = try backend.makeBuffer(delta)
            if function == .softmax {
                #expect(throws: BPNetError.self) {
                    try backend.multiplyDerivative(d, activation: try backend.makeBuffer(a), count: 33, function: function)
                }
                continue
            }
            try backend.multiplyDerivative(d, activation: try backend.makeBuffer(a), count: 33, function: function)
            let expected = zip(delta, a).map { Double($0) * Double(function.derivative(from: $1)) }
            #expect(relativeError(try backend.download(d), expected) < 1e-6, "\(function)")
        }
    }
}
