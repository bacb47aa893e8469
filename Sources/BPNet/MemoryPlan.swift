import Foundation

/// The memory a training run will take, computed from the sizes alone before anything is
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
    /// The largest single buffer (a weight matrix, a batch of activations or a data set).
    public var largestBufferBytes: Double

    /// What `Trainer.train` allocates for `sizes` with `options`; `samples`, `testSamples` and
    /// `validationSamples` count the data (zero when not known yet). `hook` says that the trainer
    /// has a `betweenGradientAndUpdate`, and `distributed` that it has a communicator: both keep
    /// the gradients in buffers (`UpdatePath`), and an exchange needs a transfer area too.
    public init(
        sizes: [Int], options: TrainingOptions, samples: Int = 0, testSamples: Int = 0, validationSamples: Int = 0,
        hook: Bool = false, distributed: Bool = false
    ) {
        let floats = 4.0
        let layers = zip(sizes.dropLast(), sizes.dropFirst()).map { (Double($0) * Double($1), Double($1)) }
        let parameters = layers.reduce(0.0) { $0 + $1.0 + $1.1 }
        let path = UpdatePath(options, hook: hook, distributed: distributed)
        // State and gradients on the backend, and the exchange's host area (with its stop flag).
        let state = Double(path.parameterSizedBuffers) + (path.exchangesGradients ? 1 : 0)
        // The trainer's own capacity: the batch, or the evaluation chunk of the larger held-out set.
        let evaluationRows = min(max(testSamples, validationSamples), Trainer.evaluationRows(widest: sizes.max() ?? 1))
        let capacity = Double(max(samples == 0 ? options.batchSize : min(options.batchSize, samples), evaluationRows))
        let units = sizes.reduce(0.0) { $0 + Double($1) }
        let hidden = sizes.dropFirst().dropLast().reduce(0.0) { $0 + Double($1) }
        let batchFloats = capacity * (units + (units - Double(sizes[0])) + Double(sizes[sizes.count - 1]))
            + (options.dropout > 0 ? 2 * capacity * hidden : 0)
        let width = Double(sizes[0] + sizes[sizes.count - 1])
        hostParameterBytes = 2 * parameters * floats
        parameterBytes = parameters * floats
        workingBytes = (state * parameters + batchFloats) * floats
        dataBytes = Double(samples + testSamples + validationSamples) * width * floats
        largestBufferBytes = max(
            layers.map(\.0).max() ?? 0, capacity * Double(sizes.max() ?? 0), Double(samples) * Double(sizes[0])) * floats
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
