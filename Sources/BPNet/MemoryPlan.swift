import Foundation

/// The memory a training run will take, computed from the architecture alone before anything is
/// allocated, so that a network too large for its device is refused at once with the numbers,
/// instead of being killed by the kernel after minutes.
public struct MemoryPlan: Sendable, Equatable, CustomStringConvertible {
    /// The parameters on the host: the `Network` value, and the trained copy it is replaced by.
    public var hostParameterBytes: Double
    /// The parameters on the backend.
    public var parameterBytes: Double
    /// Optimizer state, gradient buffers, activations, deltas, targets and dropout masks.
    public var workingBytes: Double
    /// The training and test sets on the backend.
    public var dataBytes: Double
    /// The largest single buffer (the parameter arena, a batch of activations or a data set).
    public var largestBufferBytes: Double

    /// What `Trainer.train` allocates for the dense network of `sizes` with `options` (see the
    /// architecture's form).
    public init(
        sizes: [Int], options: TrainingOptions, samples: Int = 0, testSamples: Int = 0, validationSamples: Int = 0,
        hook: Bool = false, distributed: Bool = false
    ) throws {
        try self.init(
            architecture: Architecture(sizes: sizes), options: options, samples: samples, testSamples: testSamples,
            validationSamples: validationSamples, hook: hook, distributed: distributed)
    }

    /// What `Trainer.train` allocates for `architecture` with `options`; `samples`, `testSamples`
    /// and `validationSamples` count the data (zero when not known yet). `hook` says that the
    /// trainer has a `betweenGradientAndUpdate`, and `distributed` that it has a communicator:
    /// both keep the gradients in buffers (`UpdatePath`), and an exchange needs a transfer area
    /// too. A convolution's im2col patches, its patch gradient and pooling's argmax count as
    /// working memory, and so does the pre-activation z of each weight layer whose activation in
    /// `activations` (one per weight layer, when known) keeps it (GELU).
    public init(
        architecture: Architecture, options: TrainingOptions, activations: [Activation] = [], samples: Int = 0, testSamples: Int = 0,
        validationSamples: Int = 0, hook: Bool = false, distributed: Bool = false
    ) throws {
        let floats = 4.0
        let shapes = try architecture.shapes()
        let widths = ([architecture.input] + shapes).map { Double($0.count) }
        // What the lowering allocates per sample, from its own stages: patches per convolution,
        // argmax per pooling, masks per hidden weight layer (a convolution's also drawn in NCHW).
        let stages = ResidentNetwork.stages(of: architecture, shapes: shapes)
        let patches = ResidentNetwork.patchElements(stages).map(Double.init)
        let owners = ResidentNetwork.activationOwners(stages)
        var pooled = 0.0, hidden = 0.0, imageMask = 0.0, kept = 0.0
        for (s, stage) in stages.enumerated() {
            if case .maxPool = stage { pooled += widths[s + 1] }
            guard let owner = owners[s] else { continue }
            // z, kept where the activation's f′ reads it; a mask and a masked copy of a hidden layer's output.
            if activations.indices.contains(owner.layer), activations[owner.layer].derivativeReadsPreactivation { kept += widths[s + 1] }
            if s + 1 < stages.count {
                hidden += widths[s + 1]
                if owner.geometry != nil { imageMask = max(imageMask, widths[s + 1]) }
            }
        }
        // The arena: every parameter tensor in one buffer per kind (parameters, gradients, each
        // state slot), padded as the CPU lays it out (a device with a coarser base alignment pads
        // a little more).
        let tensors = try architecture.parameterTensors()
        let parameters = Double(MemoryPlan.arenaElements(tensors))
        let normalizations = try architecture.normalizedChannels()
        let path = UpdatePath(options, hook: hook, distributed: distributed, normalizes: !normalizations.isEmpty)
        // State and gradients on the backend, and the exchange's host area (with its stop flag).
        let state = Double(path.parameterSizedBuffers) + (path.exchangesGradients ? 1 : 0)
        // The trainer's own capacity: the batch, or the evaluation chunk of the larger held-out set.
        let widest = Int((widths + patches).max() ?? 1)
        let evaluationRows = min(max(testSamples, validationSamples), Trainer.evaluationRows(widest: widest))
        let capacity = Double(max(samples == 0 ? options.batchSize : min(options.batchSize, samples), evaluationRows))
        let units = widths.reduce(0, +)
        // Activations, deltas and targets; under dropout masks and masked copies.
        var batchFloats = capacity * (units + (units - widths[0]) + widths[widths.count - 1])
            + (options.dropout > 0 ? capacity * (2 * hidden + imageMask) : 0)
        // Patches per convolution and average pooling; one patch gradient, for those after the first
        // weight layer (which passes no gradient down); the argmax of each max pooling; the ones of
        // average pooling's products (a handful, uncounted); and the input
        // as NHWC when an image of several channels is read by the first layer.
        batchFloats += capacity * (patches.reduce(0, +) + Double(ResidentNetwork.patchGradientElements(stages)) + pooled + kept)
        if let geometry = ResidentNetwork.inputGeometry(stages), geometry.channels > 1 {
            batchFloats += capacity * widths[0]
        }
        // Augmentation gathers the batch aside before cropping and flipping it.
        if !options.augment.isNone { batchFloats += capacity * widths[0] }
        // Batch norms' statistics: the batch's and the running ones, per channel (a handful).
        batchFloats += 4 * Double(normalizations.reduce(0) { $0 + $1.channels })
        let width = widths[0] + widths[widths.count - 1]
        hostParameterBytes = 2 * Double(tensors.reduce(0) { $0 + $1.count }) * floats
        parameterBytes = parameters * floats
        workingBytes = (state * parameters + batchFloats) * floats
        dataBytes = Double(samples + testSamples + validationSamples) * width * floats
        largestBufferBytes = max(
            parameters, capacity * (widths.max() ?? 0), capacity * (patches.max() ?? 0), Double(samples) * widths[0])
            * floats
    }

    /// Refuses, with the numbers, an evaluation or prediction of `network` in chunks of `rows`
    /// that `backend` cannot hold: a small model file can describe convolutions whose activations
    /// and patches need far more memory than its parameters.
    static func checkInference(_ network: Network, rows: Int, on backend: any Backend) throws {
        guard let limits = backend.memoryLimits else { return }
        let stages = ResidentNetwork.stages(of: network)
        let perSample = network.sizes.reduce(0.0) { $0 + Double($1) }
            + ResidentNetwork.patchElements(stages).reduce(0.0) { $0 + Double($1) } + Double(network.outputSize)
            + zip(stages, network.sizes.dropFirst()).reduce(0.0) { total, pair in
                if case .maxPool = pair.0 { return total + Double(pair.1) }
                return total
            }
            + Double(network.inputSize)  // the input as NHWC, at most
        let arena = Double(MemoryPlan.arenaElements(network.parameterTensors.map(\.tensor)))
        let bytes = (arena + Double(rows) * perSample) * 4
        let largest = max(Double(rows) * Double(network.widestRow), arena) * 4
        let name = String(backend.description.prefix { $0 != " " })
        if bytes > limits.totalBytes || largest > limits.largestBufferBytes {
            throw BPNetError.invalidArgument(
                "this network needs \(MemoryPlan.format(bytes)) on \(name) for \(counted(rows, "sample")) at once, "
                    + "which has \(MemoryPlan.format(limits.totalBytes)) (its largest buffer \(MemoryPlan.format(limits.largestBufferBytes)))")
        }
    }

    /// One arena buffer's elements: each tensor padded to the CPU's part alignment.
    static func arenaElements(_ tensors: [ParameterTensor]) -> Int {
        let line = CPUBackend.partAlignment
        return tensors.reduce(0) { $0 + ($1.count + line - 1) / line * line }
    }

    /// What the backend holds.
    public var backendBytes: Double { parameterBytes + workingBytes + dataBytes }

    public var description: String {
        "\(MemoryPlan.format(backendBytes)) on the backend (parameters \(MemoryPlan.format(parameterBytes)), working memory "
            + "\(MemoryPlan.format(workingBytes)), data \(MemoryPlan.format(dataBytes))) and "
            + "\(MemoryPlan.format(hostParameterBytes)) of parameters on the host"
    }

    /// Throws, with the numbers, unless the plan fits `backend` (and the host, which holds the
    /// network's parameters too).
    public func check(on backend: any Backend) throws {
        // "cpu" or "opencl:N", the name a user gives --device.
        let name = String(backend.description.prefix { $0 != " " })
        // On the CPU the backend's memory is the host's, and the data sets are shared with the
        // caller, who holds them already.
        let onHost = backend is CPUBackend
        if !onHost, let host = MemoryPlan.hostAvailableBytes, hostParameterBytes > host {
            throw BPNetError.invalidArgument(
                "training needs \(MemoryPlan.format(hostParameterBytes)) of host memory for the parameters, "
                    + "and the host has \(MemoryPlan.format(host)) available")
        }
        guard let limits = backend.memoryLimits else { return }
        let needed = onHost ? hostParameterBytes + backendBytes - dataBytes : backendBytes
        if needed > limits.totalBytes {
            throw BPNetError.invalidArgument(
                "training needs \(MemoryPlan.format(needed)) on \(name), which has \(MemoryPlan.format(limits.totalBytes))")
        }
        // PoCL reports a share of the host's RAM as its global memory, and allocates from the same
        // RAM as the host's copy of the parameters.
        if !onHost, limits.sharesHostMemory, let host = MemoryPlan.hostAvailableBytes, hostParameterBytes + backendBytes > host {
            throw BPNetError.invalidArgument(
                "training needs \(MemoryPlan.format(hostParameterBytes + backendBytes)) on \(name) and the host together, "
                    + "whose memory is the same, which has \(MemoryPlan.format(host)) available")
        }
        if largestBufferBytes > limits.largestBufferBytes {
            throw BPNetError.invalidArgument(
                "training needs a \(MemoryPlan.format(largestBufferBytes)) buffer on \(name), whose largest is "
                    + MemoryPlan.format(limits.largestBufferBytes))
        }
    }

    /// MemAvailable from /proc/meminfo, or nil where it cannot be read.
    static var hostAvailableBytes: Double? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
            let kib = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
        else { return nil }
        return kib * 1024
    }

    /// Bytes as GiB, MiB or KiB with one decimal.
    static func format(_ bytes: Double) -> String {
        for (unit, size) in [("GiB", 1_073_741_824.0), ("MiB", 1_048_576.0), ("KiB", 1024.0)] where bytes >= size {
            return String(format: "%.1f %@", bytes / size, unit)
        }
        return String(format: "%.0f bytes", bytes)
    }
}

/// How much memory a backend can give: in all, and in one buffer.
public struct MemoryLimits: Sendable {
    public var totalBytes: Double
    public var largestBufferBytes: Double
    /// Whether the backend's memory comes out of the host's RAM, as a CPU OpenCL device's (PoCL)
    /// does: its global memory size is then only a ceiling, and what the host has left is the limit.
    public var sharesHostMemory = false

    public init(totalBytes: Double, largestBufferBytes: Double, sharesHostMemory: Bool = false) {
        (self.totalBytes, self.largestBufferBytes, self.sharesHostMemory) = (totalBytes, largestBufferBytes, sharesHostMemory)
    }
}
