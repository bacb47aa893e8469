import ArgumentParser
import BPNet
import Foundation

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Report a model's loss and accuracy on a dataset.")

    @Option(help: "The model file (safetensors).")
    var model: String

    @Option(help: "fashion-mnist, a folder of IDX files, or a CSV file.")
    var data = "fashion-mnist"

    @Option(help: "The split of an IDX source: train or t10k.")
    var split: DataSource.Split = .test

    @Option(help: "quadratic or cross-entropy. Default: the loss the model was trained with.")
    var loss: Loss?

    @Option(help: "Use only the first N samples.")
    var limit: Int?

    @OptionGroup var deviceOptions: DeviceOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive, got \(limit)") }
    }

    func run() throws {
        let backend = try deviceOptions.resolve().makeBackend()
        let (network, metadata) = try ModelFile.load(model)
        var samples = try DataSource(parsing: data).load(split, inputs: network.inputSize, outputs: network.outputSize)
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
