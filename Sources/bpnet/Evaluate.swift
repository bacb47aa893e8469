import ArgumentParser
import BPNet
import Foundation

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Report a model's loss and accuracy on a dataset.")

    @Option(help: "The model file (safetensors).")
    var model: String

    @OptionGroup var modelActivations: ModelActivationOptions

    @Option(help: "fashion-mnist, a folder of IDX files, or a CSV file.")
    var data = "fashion-mnist"

    @Option(help: "The split of an IDX source: train or t10k. Default: t10k when the folder has it, else train.")
    var split: DataSource.Split?

    @Option(help: "quadratic, cross-entropy or log-likelihood. Default: the loss the model was trained with.")
    var loss: Loss?

    @Option(parsing: .unconditional, help: "Use only the first N samples.")
    var limit: Int?

    @OptionGroup var deviceOptions: DeviceOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive, got \(limit)") }
    }

    func run() throws {
        let backend = try deviceOptions.resolve().makeBackend()
        let (network, metadata) = try modelActivations.load(model)
        let source = try DataSource(parsing: data)
        let chosen: DataSource.Split
        switch (source, split) {
        case (.csv, .some):
            throw ValidationError("--split applies to IDX sources only: \(data) is a CSV file, which is one split")
        case (_, let split?):
            chosen = split
        case (_, nil) where source.has(.test):
            chosen = .test
        case (_, nil):
            chosen = .train
            if case .idx = source { note("\(data) has no t10k files; evaluating on its train split") }
        }
        var samples = try source.load(chosen, outputs: network.outputSize, inputShape: network.architecture.input)
        // How the rows divided into inputs and targets, as train says it.
        note("data: \(samples.layoutDescription)")
        if let limit { samples = samples.prefix(limit) }
        note("device: \(backend.description)")
        let result = try network.evaluate(on: samples, loss: loss ?? metadata.loss, backend: backend)
        if output.json {
            print("{\"samples\":\(result.samples),\"loss\":\(json(result.loss)),\"accuracy\":\(json(result.accuracy))}")
        } else {
            print("samples: \(result.samples)")
            print(String(format: "loss: %.6f", result.loss))
            print(String(format: "accuracy: %.4f", result.accuracy))
        }
    }
}

extension DataSource.Split: ExpressibleByArgument {}
