/// Batch normalisation on the device (Kernels/normalization.cl): a work item per channel for the
/// sums, one per element for the normalisation and the input's gradient.
extension OpenCLBackend {
    public func normalizationStatistics(
        _ x: any DeviceBuffer, rows: Int, channels: Int, mean: any DeviceBuffer, variance: any DeviceBuffer,
        runningMean: any DeviceBuffer, runningVariance: any DeviceBuffer, momentum: Float
    ) throws {
        try checkSizes(
            "normalizationStatistics",
            [("x", rows * channels, x), ("mean", channels, mean), ("variance", channels, variance), ("runningMean", channels, runningMean),
             ("runningVariance", channels, runningVariance)])
        guard rows > 0, channels > 0 else { return }
        try launch(
            .batchNormStatistics, global: (channels, 1), local: elementLocal, memory(x), Int32(rows), Int32(channels), memory(mean),
            memory(variance), memory(runningMean), memory(runningVariance), momentum)
    }

    public func normalize(
        _ x: any DeviceBuffer, rows: Int, channels: Int, mean: any DeviceBuffer, variance: any DeviceBuffer, scale: any DeviceBuffer,
        shift: any DeviceBuffer, epsilon: Float, into y: any DeviceBuffer, activation: Activation
    ) throws {
        if activation == .softmax { throw BPNetError.invalidArgument("normalize: softmax is a row operation, not an element-wise one") }
        try checkSizes(
            "normalize",
            [("x", rows * channels, x), ("y", rows * channels, y), ("mean", channels, mean), ("variance", channels, variance),
             ("scale", channels, scale), ("shift", channels, shift)])
        guard rows > 0, channels > 0 else { return }
        try launch(
            .batchNorm, global: (channels, rows), local: elementLocal, memory(x), Int32(rows), Int32(channels), memory(mean),
            memory(variance), memory(scale), memory(shift), epsilon, memory(y), activation.code, activation.parameter)
    }

    public func normalizationBackward(
        _ delta: any DeviceBuffer, x: any DeviceBuffer, rows: Int, channels: Int, samples: Int, mean: any DeviceBuffer,
        variance: any DeviceBuffer, scale: any DeviceBuffer, epsilon: Float, scaleGradient: any DeviceBuffer,
        shiftGradient: any DeviceBuffer, into inputGradient: any DeviceBuffer
    ) throws {
        try checkSizes(
            "normalizationBackward",
            [("delta", rows * channels, delta), ("x", rows * channels, x), ("inputGradient", rows * channels, inputGradient),
             ("mean", channels, mean), ("variance", channels, variance), ("scale", channels, scale),
             ("scaleGradient", channels, scaleGradient), ("shiftGradient", channels, shiftGradient)])
        guard rows > 0, channels > 0 else { return }
        try launch(
            .batchNormBackward, global: (channels, 1), local: elementLocal, memory(delta), memory(x), Int32(rows), Int32(channels),
            Int32(samples), memory(mean), memory(variance), epsilon, memory(scaleGradient), memory(shiftGradient))
        try launch(
            .batchNormInputGradient, global: (channels, rows), local: elementLocal, memory(delta), memory(x), Int32(rows),
            Int32(channels), Int32(samples), memory(mean), memory(variance), memory(scale), epsilon, memory(scaleGradient),
            memory(shiftGradient), memory(inputGradient))
    }
}
