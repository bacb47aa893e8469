import ArgumentParser
import BPNet
import BPNetONNX
import Foundation

/// `bpnet export MODEL --onnx OUT.onnx`: the model as an ONNX graph, for ONNX Runtime and the
/// runtimes that read ONNX.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model file as an ONNX model (opset 13), for ONNX Runtime and other runtimes.",
        discussion: """
            The ONNX model's input is 'input', [N, features] or [N, C, H, W] with a symbolic batch size N; \
            its output is 'output', [N, outputs], the network's activations (a softmax output stays a softmax). \
            Batch norm is exported in evaluation mode, with its running statistics.
            """)

    @Argument(help: "The model or checkpoint file (safetensors).")
    var model: String

    @OptionGroup var modelActivations: ModelActivationOptions

    @Option(help: "The ONNX file to write, such as net.onnx (replaced atomically when it exists).")
    var onnx: String

    func run() throws {
        try OutputPath.checkWritable(onnx, option: "--onnx", example: "net.onnx")
        let network = try modelActivations.load(model).network
        try ONNXExport.save(network, to: onnx)
        print("wrote \(onnx): \(network.architecture), opset \(ONNXExport.opset)")
    }
}
