/// Every failure BPNet reports. Each renders as one line that names the problem,
/// so a command-line front end can print it as is.
public enum BPNetError: Error, CustomStringConvertible, Equatable {
    /// A parameter or shape that cannot work (layer sizes, batch size, rates, …).
    case invalidArgument(String)
    /// A data file that cannot be read or does not hold what it should.
    case data(file: String, problem: String)
    /// A model file that cannot be read or written.
    case model(file: String, problem: String)
    /// A device that is missing or cannot be used.
    case device(String)
    /// An OpenCL call that failed, with the call and the `CL_*` code name.
    case openCL(call: String, code: String)
    /// A kernel program that did not compile; carries the full build log.
    case kernelBuild(device: String, log: String)
    /// Training stopped on a loss that is not finite.
    case diverged(epoch: Int, batch: Int, batches: Int, learningRate: Float)
    /// A data-parallel run whose processes disagree or fail together.
    case distributed(String)
    /// Training stopped because its `Cancellation` was cancelled, after this batch.
    case cancelled(epoch: Int, batch: Int, batches: Int)

    public var description: String {
        switch self {
        case .invalidArgument(let message): return message
        case .data(let file, let problem): return "\(file): \(problem)"
        case .model(let file, let problem): return "\(file): \(problem)"
        case .device(let message): return message
        case .openCL(let call, let code): return "OpenCL call \(call) failed with \(code)"
        case .diverged(let epoch, let batch, let batches, let eta):
            return "training diverged: the loss is not finite in epoch \(epoch), batch \(batch) of \(batches); "
                + "try a lower learning rate than η \(eta)"
        case .distributed(let message): return message
        case .cancelled(let epoch, let batch, let batches):
            return "training stopped after epoch \(epoch), batch \(batch) of \(batches)"
        case .kernelBuild(let device, let log):
            return "OpenCL kernels failed to build on \(device): "
                + log.split(whereSeparator: \.isNewline).joined(separator: " | ")
        }
    }
}
