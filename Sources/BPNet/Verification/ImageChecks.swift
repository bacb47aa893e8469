import Foundation

extension Verification {
    /// One image case: a window over `samples` images (a partial batch where samples is 3).
    public struct ImageCase: Sendable, CustomStringConvertible {
        public var geometry: WindowGeometry
        public var samples: Int

        public var description: String {
            let g = geometry
            return "\(g.channels)×\(g.height)×\(g.width) k\(g.kernel) s\(g.stride) p\(g.padding) ×\(samples)"
        }
    }

    /// Kernels 1, 3 and 5, strides 1 and 2, paddings 0, 1 and 2 where the window fits, odd heights
    /// and widths, 1, 3 and 17 channels, 1 and 3 samples. Quick keeps to a few small ones: it runs
    /// under a simulator.
    public static func imageCases(_ depth: Depth) -> [ImageCase] {
        func make(_ c: Int, _ h: Int, _ w: Int, _ k: Int, _ s: Int, _ p: Int, _ n: Int) -> ImageCase {
            ImageCase(geometry: WindowGeometry(channels: c, height: h, width: w, kernel: k, stride: s, padding: p), samples: n)
        }
        switch depth {
        case .quick:
            return [
                make(1, 1, 1, 1, 1, 0, 1), make(3, 7, 5, 3, 1, 1, 3), make(3, 7, 5, 3, 2, 0, 1), make(1, 9, 11, 5, 2, 2, 3),
                make(17, 5, 7, 3, 2, 1, 3), make(3, 9, 11, 5, 1, 2, 1), make(17, 7, 5, 1, 2, 0, 3), make(1, 1, 1, 3, 1, 1, 1),
            ]
        case .full:
            // Every kernel, stride and padding that fits, cycling through the shapes, channels and samples.
            let shapes = [(7, 5), (9, 11), (1, 1)], channels = [1, 3, 17], samples = [1, 3]
            var cases: [ImageCase] = []
            for k in [1, 3, 5] {
                for s in [1, 2] {
                    for p in [0, 1, 2] {
                        for (index, (h, w)) in shapes.enumerated() {
                            let i = cases.count
                            let candidate = make(channels[(i + index) % 3], h, w, k, s, p, samples[i % 2])
                            if candidate.geometry.isValid { cases.append(candidate) }
                        }
                    }
                }
            }
            // A convolution and a pooling of MNIST's size: 32 channels of 28×28, a batch of 2; and
            // 67 channels, more than one run of a CPU device's work items (OpenCLTuning.channelSpan).
            return cases + [make(32, 28, 28, 3, 1, 1, 2), make(32, 28, 28, 2, 2, 0, 2), make(67, 9, 7, 3, 2, 1, 3)]
        }
    }

    /// im2col, col2im, max pooling forward (with ties and a NaN in its windows) and backward, the
    /// NCHW ↔ NHWC transpose and the element-wise derivative, against the CPU backend. The copies
    /// and comparisons (im2col, the transposes, the pooled values and their argmax) must be exact;
    /// the sums (col2im, the pooling gradient) add the CPU's terms in its order, and the derivative
    /// is within `operationTolerance`.
    public static func imageChecks(_ device: OpenCLBackend, cpu: any Backend, depth: Depth) -> [VerificationCheck] {
        imageCases(depth).enumerated().map { index, imageCase in
            check("image \(device.family.rawValue) \(imageCase)", tolerance: operationTolerance) {
                let expected = try imageOutputs(cpu, imageCase, seed: UInt64(index))
                let actual = try imageOutputs(device, imageCase, seed: UInt64(index))
                var errors: [String: Double] = [:]
                for (output, values) in expected {
                    let mine = actual[output] ?? []
                    if exactImageOutputs.contains(output) {
                        guard mine.map(\.bitPattern) == values.map(\.bitPattern) else {
                            return (.infinity, "\(output) differs from the CPU's (it must be exact)")
                        }
                        errors[output] = 0
                    } else {
                        errors[output] = relativeError(mine, values)
                    }
                }
                return worst(errors)
            }
        }
    }

    /// The outputs of `imageOutputs` that copy or compare, and so must be bit-identical.
    static let exactImageOutputs: Set<String> = ["im2col", "col2im", "maxPool", "argmax", "maxPoolBackward", "toNHWC", "toNCHW"]

    /// The image operations of one case on `backend`, from seeded inputs. The pooling runs on the
    /// case's window without padding, where it fits, over values on a coarse grid (so windows hold
    /// ties) with a NaN among them.
    static func imageOutputs(_ backend: any Backend, _ imageCase: ImageCase, seed: UInt64) throws -> [String: [Float]] {
        let (g, n) = (imageCase.geometry, imageCase.samples)
        let pixels = n * g.height * g.width * g.channels
        let rows = n * g.outputPositions
        var outputs: [String: [Float]] = [:]

        let image = try backend.makeBuffer(uniform(pixels, seed: 300 + seed))
        let columns = try backend.makeBuffer(count: rows * g.patchLength)
        try backend.im2col(image, geometry: g, samples: n, into: columns)
        outputs["im2col"] = try backend.download(columns)

        let columnGradient = try backend.makeBuffer(uniform(rows * g.patchLength, seed: 400 + seed))
        let imageGradient = try backend.makeBuffer(count: pixels)
        try backend.col2im(columnGradient, geometry: g, samples: n, into: imageGradient)
        outputs["col2im"] = try backend.download(imageGradient)

        var pool = g
        pool.padding = 0
        if pool.isValid {
            var values = uniform(pixels, seed: 500 + seed).map { ($0 * 2).rounded() / 2 }
            values[pixels / 2] = .nan
            let pooled = n * pool.outputPositions * g.channels
            let output = try backend.makeBuffer(count: pooled), argmax = try backend.makeIndexBuffer(count: pooled)
            try backend.maxPool(try backend.makeBuffer(values), geometry: pool, samples: n, into: output, argmax: argmax)
            outputs["maxPool"] = try backend.download(output)
            outputs["argmax"] = try backend.download(argmax)
            let inputGradient = try backend.makeBuffer(count: pixels)
            try backend.maxPoolBackward(
                try backend.makeBuffer(uniform(pooled, seed: 600 + seed)), argmax: argmax, geometry: pool, samples: n,
                into: inputGradient)
            outputs["maxPoolBackward"] = try backend.download(inputGradient)
        }

        // NCHW to NHWC, (rows, columns) = (C, H·W), and back.
        let nhwc = try backend.makeBuffer(count: pixels), nchw = try backend.makeBuffer(count: pixels)
        try backend.transposeSamples(image, samples: n, rows: g.channels, columns: g.height * g.width, into: nhwc)
        try backend.transposeSamples(nhwc, samples: n, rows: g.height * g.width, columns: g.channels, into: nchw)
        outputs["toNHWC"] = try backend.download(nhwc)
        outputs["toNCHW"] = try backend.download(nchw)

        for function in Activation.allCases where function != .softmax {
            let delta = try backend.makeBuffer(uniform(pixels, seed: 700 + seed))
            let activation = try backend.makeBuffer(uniform(pixels, seed: 800 + seed, in: [.sigmoid, .tanh].contains(function.kind) ? 0...1 : -1...1))
            try backend.multiplyDerivative(delta, activation: activation, count: pixels, function: function)
            outputs["multiplyDerivative \(function.rawValue)"] = try backend.download(delta)
        }
        return outputs
    }
}
