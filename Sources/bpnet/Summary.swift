import ArgumentParser
import BPNet
import Foundation

/// `bpnet summary MODEL`: the model's layers, output shapes and parameter counts.
struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a model file's layers, each with its output shape and parameter count, and the totals.")

    @Argument(help: "The model or checkpoint file (safetensors).")
    var model: String

    @OptionGroup var modelActivations: ModelActivationOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let summary = NetworkSummary(try modelActivations.load(model).network)
        if output.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
        } else {
            print(summary)
        }
    }
}
