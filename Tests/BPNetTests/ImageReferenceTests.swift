import BPNet
import BPNetTestSupport
import Foundation
import Testing

/// The float64 reference of the image layers (issue 19's first step) against hand-worked values
/// and its own central differences, at odd shapes, strides, paddings and even kernels.
@Suite struct ImageReferenceTests {
    typealias Shape = ImageReference.Shape

    static func random(_ count: Int, seed: UInt64) -> [Double] { TestData.uniform(count, seed: seed).map(Double.init) }

    /// Cross-correlation, not convolution: with the kernel [[1, 0], [0, −1]] every output of the
    /// image 1…9 is in(y, x) − in(y + 1, x + 1) = −4 (a flipped kernel would give +4); padding adds
    /// zeros, stride skips.
    @Test func convolutionByHand() throws {
        let image = (1...9).map(Double.init)
        let plain = ImageReference.Convolution(input: Shape(channels: 1, height: 3, width: 3), outputChannels: 1, kernel: 2)
        #expect(plain.output == Shape(channels: 1, height: 2, width: 2))
        #expect(plain.forward(image, weight: [1, 0, 0, -1], bias: [0.5]) == [-3.5, -3.5, -3.5, -3.5])
        let padded = ImageReference.Convolution(input: plain.input, outputChannels: 1, kernel: 2, stride: 2, padding: 1)
        // Windows start at −1 and 1: (−1,−1) sees only in(0,0) at its last tap; (1,1) sees in(1,1) − in(2,2).
        #expect(padded.output == Shape(channels: 1, height: 2, width: 2))
        #expect(padded.forward(image, weight: [1, 0, 0, -1], bias: [0]) == [-1, -3, -7, 5 - 9])
        // Two input channels and two filters: each filter sums over both channels.
        let two = ImageReference.Convolution(input: Shape(channels: 2, height: 1, width: 1), outputChannels: 2, kernel: 1)
        #expect(two.forward([3, 5], weight: [1, 2, -1, 1], bias: [0, 1]) == [13, 3])
    }

    /// ⌊(n + 2P − K)/S⌋ + 1, as `torch.nn.Conv2d` and `MaxPool2d` (floor mode) give it.
    @Test func outputSizes() {
        for (n, k, s, p, expected) in [(28, 5, 1, 2, 28), (28, 2, 2, 0, 14), (7, 3, 2, 1, 4), (5, 4, 1, 0, 2), (5, 2, 3, 0, 2),
                                       (1, 1, 1, 0, 1), (3, 5, 1, 1, 1), (17, 3, 2, 0, 8), (6, 7, 1, 0, -1)] {
            #expect(ImageReference.outputSize(n, kernel: k, stride: s, padding: p) == (expected < 0 ? nil : expected), "\(n) \(k) \(s) \(p)")
        }
    }

    /// Every gradient of a convolution against central differences of L = Σ r·out, for random r.
    @Test(arguments: [
        (Shape(channels: 1, height: 5, width: 7), 1, 3, 1, 0), (Shape(channels: 3, height: 6, width: 3), 2, 2, 1, 1),
        (Shape(channels: 2, height: 7, width: 5), 3, 3, 2, 2), (Shape(channels: 1, height: 4, width: 4), 1, 1, 3, 0),
        (Shape(channels: 3, height: 5, width: 6), 4, 5, 1, 2),
    ])
    func convolutionGradients(shape: Shape, outputs: Int, kernel: Int, stride: Int, padding: Int) throws {
        let conv = ImageReference.Convolution(input: shape, outputChannels: outputs, kernel: kernel, stride: stride, padding: padding)
        let out = try #require(conv.output)
        var image = Self.random(shape.count, seed: 1), weight = Self.random(conv.weightCount, seed: 2)
        var bias = Self.random(outputs, seed: 3)
        let r = Self.random(out.count, seed: 4)
        func loss() -> Double { zip(conv.forward(image, weight: weight, bias: bias), r).reduce(0) { $0 + $1.0 * $1.1 } }
        let analytic = conv.backward(image, weight: weight, outputGradient: r)
        func numeric(_ values: WritableKeyPath<Numbers, [Double]>) -> [Double] {
            var numbers = Numbers(image: image, weight: weight, bias: bias)
            var result: [Double] = []
            for i in numbers[keyPath: values].indices {
                let saved = numbers[keyPath: values][i]
                numbers[keyPath: values][i] = saved + 1e-6
                (image, weight, bias) = (numbers.image, numbers.weight, numbers.bias)
                let plus = loss()
                numbers[keyPath: values][i] = saved - 1e-6
                (image, weight, bias) = (numbers.image, numbers.weight, numbers.bias)
                let minus = loss()
                numbers[keyPath: values][i] = saved
                (image, weight, bias) = (numbers.image, numbers.weight, numbers.bias)
                result.append((plus - minus) / 2e-6)
            }
            return result
        }
        #expect(relativeError(analytic.input, numeric(\.image)) < 1e-7, "∂L/∂in at \(shape) K\(kernel) S\(stride) P\(padding)")
        #expect(relativeError(analytic.weight, numeric(\.weight)) < 1e-7, "∂L/∂w")
        #expect(relativeError(analytic.bias, numeric(\.bias)) < 1e-7, "∂L/∂b")
        // A padding that every window crosses leaves input elements no output sees only when the
        // stride skips them; elsewhere every input element gets a gradient.
        if stride <= kernel { #expect(analytic.input.allSatisfy { $0 != 0 }) }
    }

    struct Numbers { var image, weight, bias: [Double] }

    /// Max pooling: the window's maximum; a tie goes to the first in row-major order, and so does
    /// the gradient; overlapping windows add their gradients where they share a maximum.
    @Test func maxPoolByHand() throws {
        let shape = Shape(channels: 1, height: 3, width: 4)
        let image: [Double] = [1, 5, 5, 0,
                               5, 2, 3, 9,
                               4, 4, 8, 9]
        let pool = ImageReference.MaxPool(input: shape, size: 2)
        #expect(pool.output == Shape(channels: 1, height: 1, width: 2), "floor mode drops the last row")
        let (output, argmax) = pool.forward(image)
        #expect(output == [5, 9] && argmax == [1, 7], "the tie of 5s goes to (0, 1), the first in row-major order")
        #expect(pool.backward(outputGradient: [2, 3], argmax: argmax) == [0, 2, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0])
        let overlapping = ImageReference.MaxPool(input: shape, size: 2, stride: 1)
        #expect(overlapping.output == Shape(channels: 1, height: 2, width: 3))
        let (values, from) = overlapping.forward(image)
        #expect(values == [5, 5, 9, 5, 8, 9])
        #expect(overlapping.backward(outputGradient: [1, 1, 1, 1, 1, 1], argmax: from) == [0, 2, 0, 0, 1, 0, 0, 2, 0, 0, 1, 0])
    }

    /// Away from ties, max pooling's gradient is its central difference, channel by channel.
    @Test(arguments: [(Shape(channels: 3, height: 5, width: 7), 2, 2), (Shape(channels: 2, height: 7, width: 6), 3, 2),
                      (Shape(channels: 1, height: 4, width: 5), 3, 1)])
    func maxPoolGradients(shape: Shape, size: Int, stride: Int) throws {
        let pool = ImageReference.MaxPool(input: shape, size: size, stride: stride)
        let out = try #require(pool.output)
        var image = Self.random(shape.count, seed: 5)
        let r = Self.random(out.count, seed: 6)
        let analytic = pool.backward(outputGradient: r, argmax: pool.forward(image).argmax)
        var numeric: [Double] = []
        for i in image.indices {
            let saved = image[i]
            image[i] = saved + 1e-7
            let plus = zip(pool.forward(image).output, r).reduce(0) { $0 + $1.0 * $1.1 }
            image[i] = saved - 1e-7
            let minus = zip(pool.forward(image).output, r).reduce(0) { $0 + $1.0 * $1.1 }
            image[i] = saved
            numeric.append((plus - minus) / 2e-7)
        }
        #expect(relativeError(analytic, numeric) < 1e-6, "\(shape) size \(size) stride \(stride)")
    }

    /// Average pooling: each window's mean, floor mode; its gradient a share of 1/(K·K) to every
    /// pixel of the window, summed where windows overlap; global pooling averages each channel.
    @Test func averagePoolByHand() throws {
        let shape = Shape(channels: 1, height: 3, width: 4)
        let image: [Double] = [1, 5, 5, 0,
                               5, 2, 3, 9,
                               4, 4, 8, 9]
        let pool = ImageReference.AveragePool(input: shape, size: 2)
        #expect(pool.output == Shape(channels: 1, height: 1, width: 2), "floor mode drops the last row")
        #expect(pool.forward(image) == [13.0 / 4, 17.0 / 4])
        #expect(pool.backward(outputGradient: [4, 8]) == [1, 1, 2, 2, 1, 1, 2, 2, 0, 0, 0, 0])
        let overlapping = ImageReference.AveragePool(input: shape, size: 2, stride: 1)
        #expect(overlapping.backward(outputGradient: [4, 4, 4, 4, 4, 4]) == [1, 2, 2, 1, 2, 4, 4, 2, 1, 2, 2, 1])
        let global = ImageReference.AveragePool(global: Shape(channels: 2, height: 3, width: 4))
        #expect(global.output == Shape(channels: 2, height: 1, width: 1))
        #expect(global.forward(image + image.map { 2 * $0 }) == [55.0 / 12, 110.0 / 12])
    }

    /// Average pooling's gradient is its central difference, for square windows and the global one.
    @Test(arguments: [(Shape(channels: 3, height: 5, width: 7), 2, 2), (Shape(channels: 2, height: 7, width: 6), 3, 2),
                      (Shape(channels: 1, height: 4, width: 5), 3, 1), (Shape(channels: 3, height: 5, width: 3), 0, 0)])
    func averagePoolGradients(shape: Shape, size: Int, stride: Int) throws {
        // Size 0 stands for the global pooling.
        let pool = size == 0 ? ImageReference.AveragePool(global: shape) : ImageReference.AveragePool(input: shape, size: size, stride: stride)
        let out = try #require(pool.output)
        var image = Self.random(shape.count, seed: 7)
        let r = Self.random(out.count, seed: 8)
        let analytic = pool.backward(outputGradient: r)
        var numeric: [Double] = []
        for i in image.indices {
            let saved = image[i]
            image[i] = saved + 1e-6
            let plus = zip(pool.forward(image), r).reduce(0) { $0 + $1.0 * $1.1 }
            image[i] = saved - 1e-6
            let minus = zip(pool.forward(image), r).reduce(0) { $0 + $1.0 * $1.1 }
            image[i] = saved
            numeric.append((plus - minus) / 2e-6)
        }
        #expect(relativeError(analytic, numeric) < 1e-6, "\(shape) size \(size) stride \(stride)")
    }

    /// Flatten keeps NCHW order: channel, then row, then column.
    @Test func flattenKeepsNCHWOrder() {
        let shape = Shape(channels: 2, height: 2, width: 3)
        let image = (0..<12).map(Double.init)
        #expect(ImageReference.flatten(image, shape) == image)
        // Element (c, y, x) sits at (c·H + y)·W + x: (1, 0, 2) is the 9th.
        #expect(ImageReference.flatten(image, shape)[(1 * 2 + 0) * 3 + 2] == 8)
    }
}
