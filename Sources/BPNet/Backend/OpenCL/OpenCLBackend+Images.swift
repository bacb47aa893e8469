/// The image operations on the device (Kernels/image.cl): each work item computes a run of one
/// position's channels (a whole pixel on a CPU device, one element on a GPU), and the backward
/// passes are gathers in the CPU's summation order, so results are the CPU backend's bit for bit
/// (CPUKernels/image.c is the specification).
extension OpenCLBackend {
    /// The kernels index with 32-bit ints: every buffer an operation touches must hold at most
    /// Int32.max elements, and the buffers must be as large as the operation needs.
    func checkSizes(_ operation: String, _ buffers: [(name: String, needed: Int, buffer: any DeviceBuffer)]) throws {
        for (name, needed, buffer) in buffers {
            guard needed <= Int(Int32.max) else {
                throw BPNetError.invalidArgument(
                    "\(operation): \(name) of \(needed) elements is past the OpenCL kernels' 32-bit indexing (at most \(Int32.max))")
            }
            guard buffer.count >= needed else {
                throw BPNetError.invalidArgument("\(operation): \(name) holds \(buffer.count) elements, but \(needed) are needed")
            }
        }
    }

    private func checkGeometry(_ operation: String, _ g: WindowGeometry, samples: Int, pooling: Bool) throws {
        guard g.isValid, samples >= 0 else {
            throw BPNetError.invalidArgument("\(operation): no window fits \(g) with \(samples) samples")
        }
        guard !pooling || g.padding == 0 else {
            throw BPNetError.invalidArgument("\(operation): max pooling takes no padding, but \(g)")
        }
    }

    /// The NHWC kernels' range, (⌈channels / span⌉, positions), and its work group: the channel
    /// runs, up to the element work-group size, then as many positions as fill it, within the
    /// device's limits per dimension (a CPU device may allow one item in the second).
    private func channelRange(channels: Int, positions: Int) -> (global: (Int, Int), local: (Int, Int)) {
        let span = channelSpan
        let runs = (channels + span - 1) / span
        let across = min(max(runs, 1), elementLocal.0)
        return ((runs, positions), runtime.tuning.limits.fit((across, max(1, elementLocal.0 / across))))
    }

    /// The geometry's sizes as the kernels take them, after the element counts passed `checkSizes`.
    private func sizes(_ g: WindowGeometry) -> (Int32, Int32, Int32, Int32, Int32) {
        (Int32(g.channels), Int32(g.height), Int32(g.width), Int32(g.kernel), Int32(g.stride))
    }

    public func im2col(_ input: any DeviceBuffer, geometry g: WindowGeometry, samples: Int, into columns: any DeviceBuffer) throws {
        try checkGeometry("im2col", g, samples: samples, pooling: false)
        let count = samples * g.outputPositions * g.patchLength
        try checkSizes(
            "im2col", [("the input", samples * g.height * g.width * g.channels, input), ("the columns", count, columns)])
        guard count > 0 else { return }
        let (c, h, w, k, s) = sizes(g)
        // One work item per (run of channels, row), each writing its channels' K·K entries.
        let rows = samples * g.outputPositions
        let range = channelRange(channels: g.channels, positions: rows)
        try launch(
            .im2col, global: range.global, local: range.local, memory(input), memory(columns), Int32(rows), c, h, w, k, s,
            Int32(g.padding), Int32(g.outputHeight), Int32(g.outputWidth), Int32(channelSpan))
    }

    public func col2im(_ columns: any DeviceBuffer, geometry g: WindowGeometry, samples: Int, into image: any DeviceBuffer) throws {
        try checkGeometry("col2im", g, samples: samples, pooling: false)
        let count = samples * g.height * g.width * g.channels
        try checkSizes(
            "col2im", [("the columns", samples * g.outputPositions * g.patchLength, columns), ("the image", count, image)])
        guard count > 0 else { return }
        let (c, h, w, k, s) = sizes(g)
        let pixels = samples * g.height * g.width
        let range = channelRange(channels: g.channels, positions: pixels)
        try launch(
            .col2im, global: range.global, local: range.local, memory(columns), memory(image), Int32(pixels),
            c, h, w, k, s,
            Int32(g.padding), Int32(g.outputHeight), Int32(g.outputWidth), Int32(channelSpan))
    }

    public func maxPool(
        _ input: any DeviceBuffer, geometry g: WindowGeometry, samples: Int, into output: any DeviceBuffer, argmax: any DeviceBuffer
    ) throws {
        try checkGeometry("maxPool", g, samples: samples, pooling: true)
        let count = samples * g.outputPositions * g.channels
        try checkSizes(
            "maxPool",
            [("the input", samples * g.height * g.width * g.channels, input), ("the output", count, output), ("argmax", count, argmax)])
        guard count > 0 else { return }
        let (c, h, w, k, s) = sizes(g)
        let positions = samples * g.outputPositions
        let range = channelRange(channels: g.channels, positions: positions)
        try launch(
            .maxPool, global: range.global, local: range.local, memory(input), memory(output), memory(argmax),
            Int32(positions), c, h, w, k, s, Int32(g.outputHeight), Int32(g.outputWidth), Int32(channelSpan))
    }

    public func maxPoolBackward(
        _ outputGradient: any DeviceBuffer, argmax: any DeviceBuffer, geometry g: WindowGeometry, samples: Int,
        into inputGradient: any DeviceBuffer
    ) throws {
        try checkGeometry("maxPoolBackward", g, samples: samples, pooling: true)
        let count = samples * g.height * g.width * g.channels
        let outputs = samples * g.outputPositions * g.channels
        try checkSizes(
            "maxPoolBackward",
            [("the output gradient", outputs, outputGradient), ("argmax", outputs, argmax), ("the input gradient", count, inputGradient)])
        guard count > 0 else { return }
        let (c, h, w, k, s) = sizes(g)
        let pixels = samples * g.height * g.width
        let range = channelRange(channels: g.channels, positions: pixels)
        try launch(
            .maxPoolBackward, global: range.global, local: range.local, memory(outputGradient), memory(argmax),
            memory(inputGradient), Int32(pixels), c, h, w, k, s, Int32(g.outputHeight), Int32(g.outputWidth), Int32(channelSpan))
    }

    public func transposeSamples(_ x: any DeviceBuffer, samples: Int, rows: Int, columns: Int, into y: any DeviceBuffer) throws {
        guard samples >= 0, rows >= 0, columns >= 0 else {
            throw BPNetError.invalidArgument("transposeSamples: \(samples) samples of \(rows)×\(columns) is no shape")
        }
        let count = samples * rows * columns
        try checkSizes("transposeSamples", [("x", count, x), ("y", count, y)])
        guard count > 0 else { return }
        try launch(.transposeSamples, global: (count, 1), local: elementLocal, memory(x), memory(y), Int32(count), Int32(rows), Int32(columns))
    }

    /// `activation_backward`, the unfused hidden delta's element-wise step; identity changes nothing.
    public func multiplyDerivative(_ delta: any DeviceBuffer, activation: any DeviceBuffer, count: Int, function: Activation) throws {
        if function == .softmax { throw BPNetError.invalidArgument("softmax has no element-wise derivative: it is an output layer's") }
        if function == .identity { return }
        try checkSizes("multiplyDerivative", [("delta", count, delta), ("the activation", count, activation)])
        guard count > 0 else { return }
        try launch(
            .activationBackward, global: (count, 1), local: elementLocal, memory(delta), memory(activation), Int32(count), function.code,
            function.parameter)
    }

    /// `activate_elements`: a = f(z), for a layer that keeps z.
    public func activate(_ z: any DeviceBuffer, into a: any DeviceBuffer, count: Int, function: Activation) throws {
        if function == .softmax { throw BPNetError.invalidArgument("activate: softmax is a row operation, not an element-wise one") }
        try checkSizes("activate", [("z", count, z), ("a", count, a)])
        guard count > 0 else { return }
        try launch(
            .activateElements, global: (count, 1), local: elementLocal, memory(z), memory(a), Int32(count), function.code, function.parameter)
    }
}
