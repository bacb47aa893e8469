import ArgumentParser
import BPNet
import Foundation

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a model's outputs for each row of a CSV file of inputs.")

    @Option(help: "The model file (safetensors).")
    var model: String

    @Option(help: "A CSV file whose rows hold exactly the model's inputs.")
    var input: String

    @Flag(help: "Print the index of the largest output instead of the outputs.")
    var classes = false

    @OptionGroup var deviceOptions: DeviceOptions

    func run() throws {
        let backend = try deviceOptions.resolve().makeBackend()
        let network = try ModelFile.load(model).network
        let inputs = try CSV.readInputs(input, inputs: network.inputSize)
        let outputs = try network.predict(inputs, backend: backend)
        let width = network.outputSize
        var text = ""
        for row in 0..<(outputs.count / width) {
            let values = outputs[(row * width)..<((row + 1) * width)]
            if classes {
                text += "\(predictedClass(values))\n"
            } else {
                text += values.map { String(format: "%.6f", $0) }.joined(separator: ",") + "\n"
            }
        }
        print(text, terminator: "")
    }
}
