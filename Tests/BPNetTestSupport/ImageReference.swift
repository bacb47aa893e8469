import Foundation

/// The float64 reference for image layers (issue 19's first step), written straight from the
/// definitions in plain loops, one sample at a time, in PyTorch's layouts, so that the kernels
/// to come can be checked against it and it against PyTorch:
/// - images are NCHW: element (c, y, x) of a C×H×W image is at (c·H + y)·W + x;
/// - a convolution's weight is [Cout, Cin, K, K], as `torch.nn.Conv2d` holds it, and the layer is a
///   cross-correlation (no kernel flip) with symmetric zero padding P and stride S;
/// - max pooling is floor mode without padding, and its gradient goes to the first maximum of
///   each window in row-major order; average pooling, also floor mode without padding, takes
///   each window's mean, and global average pooling each channel's;
/// - flatten keeps NCHW order (channel, row, column), as `torch.flatten` does.
public enum ImageReference {
    /// C×H×W.
    public struct Shape: Equatable, Sendable, CustomStringConvertible {
        public var channels, height, width: Int
        public init(channels: Int, height: Int, width: Int) { (self.channels, self.height, self.width) = (channels, height, width) }
        public var count: Int { channels * height * width }
        public var description: String { "\(channels)×\(height)×\(width)" }
        func index(_ c: Int, _ y: Int, _ x: Int) -> Int { (c * height + y) * width + x }
    }

    /// ⌊(n + 2P − K)/S⌋ + 1, or nil where no window fits.
    public static func outputSize(_ n: Int, kernel: Int, stride: Int, padding: Int) -> Int? {
        guard kernel > 0, stride > 0, padding >= 0, n + 2 * padding >= kernel else { return nil }
        return (n + 2 * padding - kernel) / stride + 1
    }

    /// A convolution's geometry.
    public struct Convolution: Equatable, Sendable {
        public var input: Shape
        public var outputChannels, kernel, stride, padding: Int
        public init(input: Shape, outputChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0) {
            (self.input, self.outputChannels, self.kernel, self.stride, self.padding) = (input, outputChannels, kernel, stride, padding)
        }

        public var output: Shape? {
            guard let h = outputSize(input.height, kernel: kernel, stride: stride, padding: padding),
                let w = outputSize(input.width, kernel: kernel, stride: stride, padding: padding)
            else { return nil }
            return Shape(channels: outputChannels, height: h, width: w)
        }

        public var weightCount: Int { outputChannels * input.channels * kernel * kernel }

        /// Weight (o, c, ky, kx) of [Cout, Cin, K, K].
        func weightIndex(_ o: Int, _ c: Int, _ ky: Int, _ kx: Int) -> Int { ((o * input.channels + c) * kernel + ky) * kernel + kx }

        /// The input position that output (y, x) sees at kernel offset (ky, kx), or nil in the padding.
        func source(_ y: Int, _ x: Int, _ ky: Int, _ kx: Int) -> (Int, Int)? {
            let (iy, ix) = (y * stride - padding + ky, x * stride - padding + kx)
            return iy >= 0 && iy < input.height && ix >= 0 && ix < input.width ? (iy, ix) : nil
        }

        /// out(o, y, x) = b(o) + Σ_c Σ_ky Σ_kx w(o, c, ky, kx) · in(c, y·S − P + ky, x·S − P + kx).
        public func forward(_ image: [Double], weight: [Double], bias: [Double]) -> [Double] {
            let out = output!
            var result = [Double](repeating: 0, count: out.count)
            for o in 0..<out.channels {
                for y in 0..<out.height {
                    for x in 0..<out.width {
                        var sum = bias[o]
                        for c in 0..<input.channels {
                            for ky in 0..<kernel {
                                for kx in 0..<kernel {
                                    guard let (iy, ix) = source(y, x, ky, kx) else { continue }
                                    sum += weight[weightIndex(o, c, ky, kx)] * image[input.index(c, iy, ix)]
                                }
                            }
                        }
                        result[out.index(o, y, x)] = sum
                    }
                }
            }
            return result
        }

        /// From ∂L/∂out: ∂L/∂in, ∂L/∂w and ∂L/∂b, each summed over every output position that
        /// used the element (the chain rule of `forward`, term by term).
        public func backward(_ image: [Double], weight: [Double], outputGradient g: [Double])
            -> (input: [Double], weight: [Double], bias: [Double])
        {
            let out = output!
            var inputGradient = [Double](repeating: 0, count: input.count)
            var weightGradient = [Double](repeating: 0, count: weightCount)
            var biasGradient = [Double](repeating: 0, count: outputChannels)
            for o in 0..<out.channels {
                for y in 0..<out.height {
                    for x in 0..<out.width {
                        let d = g[out.index(o, y, x)]
                        biasGradient[o] += d
                        for c in 0..<input.channels {
                            for ky in 0..<kernel {
                                for kx in 0..<kernel {
                                    guard let (iy, ix) = source(y, x, ky, kx) else { continue }
                                    weightGradient[weightIndex(o, c, ky, kx)] += d * image[input.index(c, iy, ix)]
                                    inputGradient[input.index(c, iy, ix)] += d * weight[weightIndex(o, c, ky, kx)]
                                }
                            }
                        }
                    }
                }
            }
            return (inputGradient, weightGradient, biasGradient)
        }
    }

    /// Max pooling's geometry: windows of size×size every `stride`, floor mode, no padding.
    public struct MaxPool: Equatable, Sendable {
        public var input: Shape
        public var size, stride: Int
        public init(input: Shape, size: Int, stride: Int? = nil) { (self.input, self.size, self.stride) = (input, size, stride ?? size) }

        public var output: Shape? {
            guard let h = outputSize(input.height, kernel: size, stride: stride, padding: 0),
                let w = outputSize(input.width, kernel: size, stride: stride, padding: 0)
            else { return nil }
            return Shape(channels: input.channels, height: h, width: w)
        }

        /// Each window's maximum, and where it came from: the first maximum in row-major order.
        public func forward(_ image: [Double]) -> (output: [Double], argmax: [Int]) {
            let out = output!
            var result = [Double](repeating: 0, count: out.count), from = [Int](repeating: 0, count: out.count)
            for c in 0..<out.channels {
                for y in 0..<out.height {
                    for x in 0..<out.width {
                        var best = input.index(c, y * stride, x * stride)
                        for wy in 0..<size {
                            for wx in 0..<size {
                                let at = input.index(c, y * stride + wy, x * stride + wx)
                                if image[at] > image[best] { best = at }  // strictly greater: ties keep the first
                            }
                        }
                        result[out.index(c, y, x)] = image[best]
                        from[out.index(c, y, x)] = best
                    }
                }
            }
            return (result, from)
        }

        /// ∂L/∂in: each window's gradient to its maximum, summed where overlapping windows share one.
        public func backward(outputGradient g: [Double], argmax: [Int]) -> [Double] {
            var inputGradient = [Double](repeating: 0, count: input.count)
            for (i, at) in argmax.enumerated() { inputGradient[at] += g[i] }
            return inputGradient
        }
    }

    /// Average pooling over windows of `height`×`width` every `stride` pixels, floor mode, no
    /// padding: `torch.nn.AvgPool2d(K, S)` with height = width = K, and global average pooling
    /// (`torch.nn.AdaptiveAvgPool2d(1)`) with the whole image as the one window.
    public struct AveragePool: Equatable, Sendable {
        public var input: Shape
        public var height, width, stride: Int
        public init(input: Shape, size: Int, stride: Int? = nil) {
            (self.input, height, width, self.stride) = (input, size, size, stride ?? size)
        }
        public init(global input: Shape) { (self.input, height, width, stride) = (input, input.height, input.width, 1) }

        public var output: Shape? {
            guard let h = outputSize(input.height, kernel: height, stride: stride, padding: 0),
                let w = outputSize(input.width, kernel: width, stride: stride, padding: 0)
            else { return nil }
            return Shape(channels: input.channels, height: h, width: w)
        }

        /// Each window's mean.
        public func forward(_ image: [Double]) -> [Double] {
            let out = output!
            var result = [Double](repeating: 0, count: out.count)
            for c in 0..<out.channels {
                for y in 0..<out.height {
                    for x in 0..<out.width {
                        var sum = 0.0
                        for wy in 0..<height {
                            for wx in 0..<width { sum += image[input.index(c, y * stride + wy, x * stride + wx)] }
                        }
                        result[out.index(c, y, x)] = sum / Double(height * width)
                    }
                }
            }
            return result
        }

        /// ∂L/∂in: each window's gradient, divided by its size, to every pixel in it, summed where
        /// windows overlap.
        public func backward(outputGradient g: [Double]) -> [Double] {
            let out = output!
            var inputGradient = [Double](repeating: 0, count: input.count)
            for c in 0..<out.channels {
                for y in 0..<out.height {
                    for x in 0..<out.width {
                        let share = g[out.index(c, y, x)] / Double(height * width)
                        for wy in 0..<height {
                            for wx in 0..<width { inputGradient[input.index(c, y * stride + wy, x * stride + wx)] += share }
                        }
                    }
                }
            }
            return inputGradient
        }
    }

    /// Flatten keeps NCHW order: (c, y, x) becomes element (c·H + y)·W + x of the vector, which is
    /// how the images above are stored, so it moves nothing.
    public static func flatten(_ image: [Double], _ shape: Shape) -> [Double] {
        precondition(image.count == shape.count)
        return image
    }
}
