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
        if Self.sameFile(onnx, model) {
            throw ValidationError("--onnx '\(onnx)' is the model file itself; give another path, such as model.onnx")
        }
        try OutputPath.checkWritable(onnx, option: "--onnx", example: "net.onnx")
        let network = try modelActivations.load(model).network
        try ONNXExport.save(network, to: onnx)
        print("wrote \(onnx): \(network.architecture), opset \(ONNXExport.opset)")
    }

    /// Whether two paths name one existing file (the same device and inode), links included.
    static func sameFile(_ a: String, _ b: String) -> Bool {
        var first = stat(), second = stat()
        guard stat(a, &first) == 0, stat(b, &second) == 0 else { return false }
        return first.st_dev == second.st_dev && first.st_ino == second.st_ino
    }
}
