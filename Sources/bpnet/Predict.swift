import ArgumentParser
import BPNet
import Foundation

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a model's outputs for each row of a CSV file of inputs.")

    @Option(help: "The model file (safetensors).")
    var model: String

    @OptionGroup var modelActivations: ModelActivationOptions

    @Option(help: "A CSV file whose rows hold exactly the model's inputs, or - for standard input. One output line per row.")
    var input: String

    @Flag(help: "Print each row's class instead of its outputs: the index of the largest output, or with one output 1 when it is at least 0.5, else 0.")
    var classes = false

    @Option(parsing: .unconditional, help: "Significant digits of each printed output, 1 to 9 (9 shows every float32 exactly).")
    var precision = 9

    @OptionGroup var deviceOptions: DeviceOptions

    func validate() throws {
        guard (1...9).contains(precision) else { throw ValidationError("--precision must be 1 to 9, got \(precision)") }
    }

    func run() throws {
        let backend = try deviceOptions.resolve().makeBackend()
        let network = try modelActivations.load(model).network
        let inputs =
            input == "-"
            ? try CSV.readInputs(
                bytes: [UInt8](FileHandle.standardInput.readDataToEndOfFile()), name: "standard input", inputs: network.inputSize)
            : try CSV.readInputs(input, inputs: network.inputSize)
        let outputs = try network.predict(inputs, backend: backend)
        let width = network.outputSize
        var text = ""
        for row in 0..<(outputs.count / width) {
            let values = outputs[(row * width)..<((row + 1) * width)]
            if classes {
                text += "\(predictedClass(values))\n"
            } else {
                text += values.map { String(format: "%.\(precision)g", $0) }.joined(separator: ",") + "\n"
            }
        }
        print(text, terminator: "")
    }
}
