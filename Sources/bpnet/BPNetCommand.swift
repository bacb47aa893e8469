import ArgumentParser
import BPNet
import BPNetMPI
import Foundation

@main
struct BPNetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bpnet",
        abstract: "Train dense and convolutional networks by backpropagation, on the CPU or an OpenCL device, and export them to ONNX.",
        version: bpnetVersion,
        subcommands: [
            Train.self, Evaluate.self, Predict.self, Summary.self, Export.self, Devices.self, Verify.self, Bench.self, Report.self,
        ])

    /// Every failure ends as one line on stderr and a non-zero exit; help and version still print as usual.
    static func main() {
        do {
            var command = try parseAsRoot()
            // Every command, so that a typo in a variable is never silently ignored.
            try OpenCLBackend.checkTuningEnvironment()
            try refuseUndeclaredMPIRanks(command)
            try command.run()
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }
            let message = (error as? BPNetError)?.description ?? message(for: error)
            let line = message.split(whereSeparator: \.isNewline).joined(separator: " ")
            let prefix = line.hasPrefix(Console.errorPrefix) ? "" : Console.errorPrefix
            FileHandle.standardError.write(Data("error: \(prefix)\(line)\n".utf8))
            let code = exitCode(for: error).rawValue
            // A process of a distributed run that fails alone takes the whole job down with it,
            // so that no other process waits for it.
            MPICommunicator.abort(code: code == 0 ? 1 : code)
        }
    }
}

/// `mpirun -np N bpnet train` without `--distributed` would run N trainings that each write the
/// same files: refused, naming the option.
func refuseUndeclaredMPIRanks(_ command: any ParsableCommand) throws {
    guard let train = command as? Train, !train.distributed, let processes = MPICommunicator.launchedProcesses, processes > 1 else { return }
    throw ValidationError(
        "this is one of \(processes) processes that mpirun started, but --distributed is not given: each would train alone "
            + "and write the same files; add --distributed to train one network together")
}

extension Loss: ExpressibleByArgument {}
extension Initializer: ExpressibleByArgument {}

/// `--device`, shared by every command that computes.
struct DeviceOptions: ParsableArguments {
    @Option(help: "auto, cpu, opencl or opencl:N (see 'bpnet devices'). Default: $BPNET_DEVICE, else auto.")
    var device: String?

    func validate() throws {
        if let device { _ = try Device(parsing: device) }
    }

    func resolve() throws -> Device {
        if let device { return try Device(parsing: device) }
        return try Device.fromEnvironment()
    }
}

/// `--json`, shared by commands that report.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print JSON instead of a table.")
    var json = false
}

/// Writes a diagnostic line to stderr, where it never mixes with JSON on stdout.
func note(_ text: String) {
    guard Console.speaks else { return }
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Whether this process prints: in a distributed run only rank 0 does, except for errors.
enum Console {
    /// Set once, before training starts, by the one thread that parses and runs the command.
    nonisolated(unsafe) static var speaks = true
    /// Prefixes every error line of a distributed run, such as "rank 1: ".
    nonisolated(unsafe) static var errorPrefix = ""
}

/// `print`, on the process that speaks.
func printFromRoot(_ text: String) {
    if Console.speaks { print(text) }
}

/// A finite number as JSON, anything else as null.
func json(_ value: Double?) -> String {
    guard let value, value.isFinite else { return "null" }
    return "\(value)"
}

/// `--layers`: a dense network's sizes, `784,30,10`, or the whole grammar of
/// `Architecture(parsing:)`, such as `1x28x28,conv:8:5,maxpool:2,flatten,10`, checked layer by
/// layer.
func parseLayers(_ text: String) throws -> Architecture {
    let parts = text.split(separator: ",", omittingEmptySubsequences: false)
    let sizes = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    if sizes.count == parts.count {
        // Numbers alone: a dense network, refused with the messages it always was.
        do {
            try Network.validate(sizes: sizes)
        } catch let error as BPNetError {
            throw ValidationError("--layers: \(error.description)")
        }
        return Architecture(sizes: sizes)
    }
    do {
        let architecture = try Architecture(parsing: text)
        _ = try architecture.shapes()
        try architecture.checkOutputLayer()
        return architecture
    } catch let error as BPNetError {
        let message = error.description
        throw ValidationError(message.hasPrefix("--layers") ? message : "--layers '\(text)': \(message)")
    }
}

/// The number of weight layers (dense and convolutions) `--layers` gives: one activation each.
func weightLayerCount(_ architecture: Architecture) -> Int { architecture.layers.filter(\.isWeightLayer).count }

/// A model file's network and metadata. `activations` (--activations) and `layers` (--layers)
/// name what a file without metadata computes; a file that records its own must agree with them.
func decodeModel(
    _ bytes: Data, file: String, activations: String?, layers: Architecture? = nil, role: String
) throws -> (network: Network, metadata: ModelFile.Metadata) {
    let model = try ModelFile.decode(bytes, file: file, activationsIfUnrecorded: activations, architectureIfUnrecorded: layers)
    if let layers, layers != model.network.architecture {
        throw ValidationError("--layers \(layers) differ from \(role) \(model.network.architecture)")
    }
    if let activations, try Activation.parseList(activations, layers: model.network.layers.count) != model.network.activations {
        throw ValidationError(
            "--activations \(activations) differ from \(role) " + model.network.activations.map(\.rawValue).joined(separator: ","))
    }
    return model
}

/// `--activations` and `--layers` of the commands that read a model.
struct ModelActivationOptions: ParsableArguments {
    @Option(help: "The activations of a model file without metadata, which does not record them, e.g. relu,softmax (one per weight layer, or one for all). A file that records them must agree.")
    var activations: String?

    @Option(help: "The layers of a model file without metadata, as train's --layers: needed when its weights are 4-D (a convolution's, such as 1x28x28,conv:8:5,maxpool:2,flatten,10), and every tensor is checked against them. A file that records them must agree.")
    var layers: String?

    func validate() throws {
        if let layers { _ = try parseLayers(layers) }
    }

    func load(_ path: String) throws -> (network: Network, metadata: ModelFile.Metadata) {
        try decodeModel(
            try ModelFile.bytes(of: path), file: path, activations: activations, layers: try layers.map(parseLayers), role: "the model's")
    }
}
