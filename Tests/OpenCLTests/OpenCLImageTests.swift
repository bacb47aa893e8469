@testable import BPNet
import BPNetTestSupport
import Foundation
import Testing

/// The image kernels (Kernels/image.cl) and the gradient divisor `samples`, in the one serialized
/// suite: an extension of `OpenCLParityTests`, so these tests share its context and never run
/// beside the others.
extension OpenCLParityTests {
    /// `bpnet verify`'s image checks at full depth (the image kernels are the same whichever
    /// GEMM family runs).
    @Test func imageChecksMatchCPU() throws {
        let checks = Verification.imageChecks(try Self.device(), cpu: cpu, depth: .full)
        #expect(checks.count == Verification.imageCases(.full).count)
        expectAllPass(checks)
    }

    /// Odd shapes, paddings, strides and partial batches: the copies, comparisons and gathered sums
    /// are the CPU's bit for bit; the derivative is within 1e-6. Whatever run of channels a work
    /// item takes (the device's, one, or runs of 5 and 64 that split 67 channels unevenly).
    @Test(arguments: [nil, 1, 5, 64])
    func imageOperationsAreTheCPUsBits(channelSpan: Int?) throws {
        let defaultDevice = try Self.device()
        let device = channelSpan.map { defaultDevice.withChannelSpan($0) } ?? defaultDevice
        let cases = Verification.imageCases(.quick) + [
            Verification.ImageCase(geometry: WindowGeometry(channels: 5, height: 11, width: 9, kernel: 5, stride: 2, padding: 1), samples: 3),
            Verification.ImageCase(geometry: WindowGeometry(channels: 2, height: 13, width: 3, kernel: 3, stride: 3, padding: 2), samples: 2),
            Verification.ImageCase(geometry: WindowGeometry(channels: 3, height: 4, width: 6, kernel: 2, stride: 2, padding: 0), samples: 5),
            Verification.ImageCase(geometry: WindowGeometry(channels: 67, height: 7, width: 5, kernel: 3, stride: 2, padding: 1), samples: 3),
        ]
        for (index, imageCase) in cases.enumerated() {
            let expected = try Verification.imageOutputs(cpu, imageCase, seed: UInt64(index))
            let actual = try Verification.imageOutputs(device, imageCase, seed: UInt64(index))
            #expect(Set(actual.keys) == Set(expected.keys))
            let pools = imageCase.geometry.height >= imageCase.geometry.kernel && imageCase.geometry.width >= imageCase.geometry.kernel
            #expect(expected["argmax"] != nil || !pools, "\(imageCase): pooling ran")
            for (output, values) in expected {
                let mine = try #require(actual[output])
                if output.hasPrefix("multiplyDerivative") {
                    #expect(relativeError(mine, values) <= 1e-6, "\(imageCase) \(output)")
                } else {
                    #expect(mine.map(\.bitPattern) == values.map(\.bitPattern), "\(imageCase) \(output) differs from the CPU's")
                }
            }
        }
    }

    /// Ties, NaN and −∞ in overlapping windows: the first maximum in row-major order wins a tie, a
    /// NaN wins from where it stands, a window of −∞ keeps its first position; argmax and the
    /// backward sums equal the CPU's; with the device's run of channels and with one channel per
    /// work item (a GPU's), whose sums stay in registers.
    @Test(arguments: [nil, 1])
    func maxPoolTiesAndNaNFollowPyTorch(channelSpan: Int?) throws {
        let device = try channelSpan.map { try Self.device().withChannelSpan($0) } ?? Self.device()
        let inf = Float.infinity, nan = Float.nan
        // One sample, 2 channels (interleaved, NHWC), 4×5; kernel 2, stride 1: windows overlap.
        let channel0: [Float] = [
            1, 1, 0, 2, 2,
            1, 1, 0, nan, 2,
            -inf, -inf, 3, 3, 0,
            -inf, -inf, 3, 3, 5,
        ]
        let channel1: [Float] = [
            0, 0, 0, 0, 0,
            0, 0, 0, 0, 0,
            7, -1, nan, nan, 1,
            -1, 7, 1, 1, 1,
        ]
        let input = zip(channel0, channel1).flatMap { [$0, $1] }
        let g = WindowGeometry(channels: 2, height: 4, width: 5, kernel: 2, stride: 1)
        let pooled = g.outputPositions * g.channels
        let gradient = TestData.uniform(pooled, seed: 11)
        var results: [(output: [Float], argmax: [Int32], backward: [Float])] = []
        for backend in [device as any Backend, cpu] {
            let output = try backend.makeBuffer(count: pooled), argmax = try backend.makeIndexBuffer(count: pooled)
            try backend.maxPool(try backend.makeBuffer(input), geometry: g, samples: 1, into: output, argmax: argmax)
            let inputGradient = try backend.makeBuffer(count: input.count)
            try backend.maxPoolBackward(
                try backend.makeBuffer(gradient), argmax: argmax, geometry: g, samples: 1, into: inputGradient)
            results.append((
                try backend.download(output), try backend.download(argmax).map { Int32(bitPattern: $0.bitPattern) },
                try backend.download(inputGradient)))
        }
        let (mine, theirs) = (results[0], results[1])
        #expect(mine.argmax == theirs.argmax)
        #expect(mine.output.map(\.bitPattern) == theirs.output.map(\.bitPattern))
        #expect(mine.backward.map(\.bitPattern) == theirs.backward.map(\.bitPattern))
        // Channel 0, by hand: windows are 3×4, argmax is y·5 + x.
        let argmax0 = stride(from: 0, to: pooled, by: 2).map { mine.argmax[$0] }
        #expect(argmax0 == [0, 1, 8, 8, 5, 12, 8, 8, 10, 12, 12, 19])
        #expect(stride(from: 0, to: pooled, by: 2).map { mine.output[$0] }[0..<2] == [1, 1])
        #expect(mine.output[2 * 2].isNaN && mine.output[2 * 8] == -inf, "NaN wins; a window of −∞ keeps −∞")
        // Channel 1: the NaNs at (2, 2) and (2, 3) take their windows, a later NaN taking over from
        // an earlier one; the tie of 7s goes to the first.
        let argmax1 = stride(from: 1, to: pooled, by: 2).map { mine.argmax[$0] }
        #expect(argmax1 == [0, 1, 2, 3, 10, 12, 13, 13, 10, 12, 13, 13])
    }

    /// multiplyDerivative: softmax is refused as on the CPU; identity changes nothing.
    @Test func multiplyDerivativeRefusesSoftmaxAndSkipsIdentity() throws {
        let device = try Self.device()
        let values = TestData.uniform(17, seed: 3)
        let delta = try device.makeBuffer(values), activation = try device.makeBuffer(TestData.uniform(17, seed: 4))
        #expect(throws: BPNetError.self) { try device.multiplyDerivative(delta, activation: activation, count: 17, function: .softmax) }
        try device.multiplyDerivative(delta, activation: activation, count: 17, function: .identity)
        #expect(try device.download(delta) == values)
    }

    /// Sizes past what 32-bit indices hold, or past a buffer's end, are named errors.
    @Test func imageOperationsRefuseWhatTheyCannotIndex() throws {
        let device = try Self.device()
        let small = try device.makeBuffer(count: 4)
        let g = WindowGeometry(channels: 1, height: 2, width: 2, kernel: 1)
        #expect(throws: BPNetError.self) { try device.im2col(small, geometry: g, samples: 2, into: small) }
        #expect(throws: BPNetError.self) {
            try device.transposeSamples(small, samples: 1 << 20, rows: 1 << 10, columns: 1 << 10, into: small)
        }
        #expect(throws: BPNetError.self) {
            try device.maxPool(small, geometry: WindowGeometry(channels: 1, height: 2, width: 2, kernel: 2, padding: 1), samples: 1,
                into: small, argmax: small)
        }
    }

    /// A dense layer's gradients with `samples` ≠ rows: (rows/samples)× those with samples = rows,
    /// on every family, in each one-call form, and the CPU's values.
    @Test(arguments: GEMMFamily.allCases)
    func gradientsDivideBySamples(family: GEMMFamily) throws {
        let device = try Self.device().with(family)
        let (rows, samples, outputs, inputs) = (12, 3, 5, 7)
        let ratio = Float(rows / samples)
        let delta = TestData.uniform(rows * outputs, seed: 21), input = TestData.uniform(rows * inputs, seed: 22)
        let w0 = TestData.uniform(outputs * inputs, seed: 23), b0 = TestData.uniform(outputs, seed: 24)
        func close(_ a: [Float], _ b: [Float], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
            let error = relativeError(a, b)
            #expect(error <= 1e-5, "\(family) \(what): relative error \(error)", sourceLocation: sourceLocation)
        }

        func gradients(_ backend: any Backend, samples: Int, fused: Bool) throws -> [Float] {
            let (d, x) = (try backend.makeBuffer(delta), try backend.makeBuffer(input))
            let gw = try backend.makeBuffer(count: outputs * inputs), gb = try backend.makeBuffer(count: outputs)
            if fused {
                try backend.layerGradients(
                    delta: d, input: x, weightGradient: gw, biasGradient: gb, rows: rows, samples: samples, outputs: outputs, inputs: inputs)
            } else {
                try backend.weightGradient(delta: d, input: x, gradient: gw, rows: rows, samples: samples, outputs: outputs, inputs: inputs)
                try backend.biasGradient(delta: d, gradient: gb, rows: rows, samples: samples, outputs: outputs)
            }
            return try backend.download(gw) + backend.download(gb)
        }
        let whole = try gradients(device, samples: rows, fused: true)
        for fused in [true, false] {
            let partial = try gradients(device, samples: samples, fused: fused)
            close(partial, whole.map { $0 * ratio }, fused ? "layerGradients" : "weightGradient + biasGradient")
            close(partial, try gradients(cpu, samples: samples, fused: fused), "against the CPU")
        }
        // The bias gradient alone, and as the samples = rows one, bit for bit (a division by rows).
        let biasWhole = try gradients(cpu, samples: rows, fused: false)
        #expect(whole.suffix(outputs).map(\.bitPattern) == (try gradients(device, samples: rows, fused: false)).suffix(outputs).map(\.bitPattern))
        close(whole, biasWhole, "samples = rows against the CPU")

        // The SGD update in one call: η with samples equals 4η with samples = rows, l2 = 0.
        func update(_ backend: any Backend, samples: Int, learningRate: Float) throws -> [Float] {
            let w = try backend.makeBuffer(w0), b = try backend.makeBuffer(b0)
            let v = try backend.makeBuffer(TestData.uniform(outputs * inputs, seed: 25, in: -0.1...0.1))
            let vb = try backend.makeBuffer(TestData.uniform(outputs, seed: 26, in: -0.1...0.1))
            try backend.updateLayer(
                weights: w, weightVelocity: v, bias: b, biasVelocity: vb, delta: try backend.makeBuffer(delta),
                input: try backend.makeBuffer(input), rows: rows, samples: samples, outputs: outputs, inputs: inputs,
                learningRate: learningRate, l2: 0, momentum: 0.5)
            return try backend.download(w) + backend.download(b) + backend.download(v) + backend.download(vb)
        }
        let updated = try update(device, samples: samples, learningRate: 0.3)
        close(updated, try update(device, samples: rows, learningRate: 0.3 * ratio), "updateLayer")
        close(updated, try update(cpu, samples: samples, learningRate: 0.3), "updateLayer against the CPU")

        // Adam's step in one call: the step from the gradients (rows/samples)× those of samples = rows.
        let adam = OptimizerStep(optimizer: .adam(), learningRate: 0.01, momentum: 0, l2: 0, decoupledDecay: 0, step: 1)
        func adamStep(_ backend: any Backend, gradient: [Float]?) throws -> [Float] {
            let w = try backend.makeBuffer(w0), b = try backend.makeBuffer(b0)
            let ws = [try backend.makeBuffer(count: outputs * inputs), try backend.makeBuffer(count: outputs * inputs)]
            let bs = [try backend.makeBuffer(count: outputs), try backend.makeBuffer(count: outputs)]
            if let gradient {
                try backend.optimizerStep(
                    adam, parameters: w, gradient: try backend.makeBuffer(Array(gradient.prefix(outputs * inputs))), state: ws,
                    count: outputs * inputs)
                try backend.optimizerStep(
                    adam.withoutWeightTerms, parameters: b, gradient: try backend.makeBuffer(Array(gradient.suffix(outputs))), state: bs,
                    count: outputs)
            } else {
                try backend.gradientStepLayer(
                    weightStep: adam, weights: w, weightState: ws, biasStep: adam.withoutWeightTerms, bias: b, biasState: bs,
                    delta: try backend.makeBuffer(delta), input: try backend.makeBuffer(input),
                    weightGradient: try backend.makeBuffer(count: outputs * inputs), biasGradient: try backend.makeBuffer(count: outputs),
                    rows: rows, samples: samples, outputs: outputs, inputs: inputs)
            }
            var values = try backend.download(w) + backend.download(b)
            for buffer in ws + bs { values += try backend.download(buffer) }
            return values
        }
        let stepped = try adamStep(device, gradient: nil)
        close(stepped, try adamStep(device, gradient: whole.map { $0 * ratio }), "gradientStepLayer (Adam)")
        close(stepped, try adamStep(cpu, gradient: nil), "gradientStepLayer (Adam) against the CPU")
    }
}
