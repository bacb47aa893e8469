import BPNet
import Foundation
import SwiftProtobuf

/// A network as an ONNX model (opset 13, IR version 7), for ONNX Runtime and the runtimes that
/// read ONNX: input `input`, `[N, features]` or `[N, C, H, W]` with a symbolic batch size `N`;
/// output `output`, `[N, outputs]`, the network's activations (a softmax output stays a softmax).
///
/// Each layer becomes the operators PyTorch's exporter writes for it, in evaluation mode:
///
/// | BPNet | ONNX |
/// |---|---|
/// | dense | `Gemm(input, layers.{k}.weight, layers.{k}.bias)`, `transB = 1` |
/// | conv:C:K:S:P | `Conv`, kernel K×K, strides S, pads P on every side |
/// | batchnorm | `BatchNormalization` with the running statistics, ε 1e-5 |
/// | maxpool:K:S, avgpool:K:S | `MaxPool`, `AveragePool` (no padding, floor) |
/// | gap, flatten | `GlobalAveragePool`, `Flatten` (axis 1) |
/// | sigmoid, tanh, relu, leaky-relu:a, softmax | `Sigmoid`, `Tanh`, `Relu`, `LeakyRelu(alpha a)`, `Softmax` (axis 1) |
/// | gelu | 0.5·x·(1 + `Erf`(x/√2)): opset 13 has no `Gelu` |
/// | identity | nothing |
///
/// Initializers keep the model file's names (`layers.{k}.weight`, `layers.{k}.running_mean`…),
/// so the same tensors are found under the same names in both files.
public enum ONNXExport {
    /// ONNX's operator set and the IR version that came with it. Every operator above has its
    /// current form there, and runtimes released since 2021 read it.
    public static let opset = 13
    public static let irVersion = 7

    /// A protocol buffer holds at most 2 GiB. Larger models would need ONNX's external data
    /// (tensors in files beside the model), which this does not write.
    public static let maxBytes = Int(Int32.max)

    /// The model's bytes (a serialized `ModelProto`).
    public static func encode(_ network: Network) throws -> Data {
        try checkSize(tensorBytes: 4 * (network.parameterCount + 2 * network.normalizations.reduce(0) { $0 + $1.channels }))
        return try model(network).serializedData()
    }

    /// Refuses, naming ONNX's limit, a model whose tensors alone pass it.
    public static func checkSize(tensorBytes: Int) throws {
        // The graph's nodes, names and shapes take a few kilobytes beside the tensors.
        guard tensorBytes > maxBytes - (1 << 20) else { return }
        let gibibytes = String(format: "%.2f", Double(tensorBytes) / Double(1 << 30))
        throw BPNetError.invalidArgument(
            "the model's tensors take \(gibibytes) GiB, and an ONNX file holds at most 2 GiB (ONNX's external data is not written)")
    }

    /// Writes atomically: an existing file is replaced only once the new one is complete on disk.
    public static func save(_ network: Network, to path: String) throws {
        try OutputPath.write(try encode(network), to: path)
    }

    static func model(_ network: Network) throws -> Onnx_ModelProto {
        var graph = ONNXGraph()
        let architecture = network.architecture
        // The parameter tensors in layer order, with the model file's names and shapes.
        var tensors = network.parameterTensors[...]
        func constant() -> (name: String, tensor: ParameterTensor) {
            let (tensor, values) = tensors.removeFirst()
            return (graph.constant(tensor.name, dimensions: tensor.shape, values: values), tensor)
        }
        let owners = architecture.activationOwners
        var value = "input"
        for (index, layer) in architecture.layers.enumerated() {
            switch layer {
            case .dense:
                let (weight, tensor) = constant()
                let bias = constant().name
                value = graph.node(
                    "Gemm", [value, weight, bias], name: "layers.\(tensor.module).gemm", attributes: [ONNXGraph.attribute("transB", int: 1)])
            case .conv2d(_, let kernel, let stride, let padding):
                let (weight, tensor) = constant()
                let bias = constant().name
                value = graph.node(
                    "Conv", [value, weight, bias], name: "layers.\(tensor.module).conv",
                    attributes: [
                        ONNXGraph.attribute("kernel_shape", ints: [kernel, kernel]),
                        ONNXGraph.attribute("strides", ints: [stride, stride]),
                        ONNXGraph.attribute("pads", ints: [padding, padding, padding, padding]),
                        ONNXGraph.attribute("dilations", ints: [1, 1]),
                        ONNXGraph.attribute("group", int: 1),
                    ])
            case .batchNorm:
                let (scale, tensor) = constant()
                let shift = constant().name
                let state = network.normalizations[tensor.layer]
                let names = tensor.runningStatisticsNames
                let mean = graph.constant(names.mean, dimensions: tensor.shape, values: state.runningMean)
                let variance = graph.constant(names.variance, dimensions: tensor.shape, values: state.runningVariance)
                value = graph.node(
                    "BatchNormalization", [value, scale, shift, mean, variance], name: "layers.\(tensor.module).batchnorm",
                    attributes: [
                        ONNXGraph.attribute("epsilon", float: Normalization.epsilon),
                        // ONNX's momentum weighs the running statistic, PyTorch's the batch's.
                        ONNXGraph.attribute("momentum", float: 1 - Normalization.momentum),
                    ])
            case .maxPool2d(let size, let stride):
                value = graph.node("MaxPool", [value], name: "pool\(index)", attributes: Self.window(size, stride ?? size))
            case .avgPool2d(let size, let stride):
                value = graph.node("AveragePool", [value], name: "pool\(index)", attributes: Self.window(size, stride ?? size))
            case .globalAvgPool:
                value = graph.node("GlobalAveragePool", [value], name: "gap\(index)")
            case .flatten:
                value = graph.node("Flatten", [value], name: "flatten\(index)", attributes: [ONNXGraph.attribute("axis", int: 1)])
            }
            // A weight layer's activation, or, when a batch norm follows it, the batch norm's.
            if let owner = owners[index] { value = activation(network.layers[owner].activation, of: value, in: &graph) }
        }
        graph.renameLastOutput(to: "output")

        var graphProto = Onnx_GraphProto()
        graphProto.name = "bpnet"
        graphProto.node = graph.nodes
        graphProto.initializer = graph.initializers
        graphProto.input = [ONNXGraph.batchTensor("input", sample: architecture.input.dimensions)]
        graphProto.output = [ONNXGraph.batchTensor("output", sample: [network.outputSize])]

        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = Int64(Self.opset)
        var model = Onnx_ModelProto()
        model.irVersion = Int64(Self.irVersion)
        model.opsetImport = [opset]
        model.producerName = "bpnet"
        model.producerVersion = bpnetVersion
        model.docString = "BPNet \(bpnetVersion): --layers \(architecture) --activations \(network.activations.map(\.description).joined(separator: ","))"
        model.metadataProps = [
            ("layers", architecture.description),
            ("activations", network.activations.map(\.description).joined(separator: ",")),
        ].map { key, value in
            var entry = Onnx_StringStringEntryProto()
            (entry.key, entry.value) = (key, value)
            return entry
        }
        model.graph = graphProto
        return model
    }

    /// A pooling window's attributes: K×K every S, no padding (floor mode, ONNX's default).
    static func window(_ size: Int, _ stride: Int) -> [Onnx_AttributeProto] {
        [ONNXGraph.attribute("kernel_shape", ints: [size, size]), ONNXGraph.attribute("strides", ints: [stride, stride])]
    }

    /// f(value): the operators of one activation, appended to `graph`; returns its output.
    static func activation(_ f: Activation, of value: String, in graph: inout ONNXGraph) -> String {
        let name = "\(value).\(f.kind.rawValue)"
        switch f.kind {
        case .identity: return value
        case .sigmoid: return graph.node("Sigmoid", [value], name: name)
        case .tanh: return graph.node("Tanh", [value], name: name)
        case .relu: return graph.node("Relu", [value], name: name)
        case .leakyRelu:
            return graph.node("LeakyRelu", [value], name: name, attributes: [ONNXGraph.attribute("alpha", float: f.parameter)])
        case .softmax: return graph.node("Softmax", [value], name: name, attributes: [ONNXGraph.attribute("axis", int: 1)])
        case .gelu:
            // 0.5·x·(1 + erf(x·(1/√2))), as BPNet computes it (Activation's `sqrtHalf`).
            let scaled = graph.node("Mul", [value, graph.scalar("gelu.sqrt_half", Activation.sqrtHalf)], name: "\(name).scaled")
            let erf = graph.node("Erf", [scaled], name: "\(name).erf")
            let sum = graph.node("Add", [erf, graph.scalar("gelu.one", 1)], name: "\(name).sum")
            let product = graph.node("Mul", [value, sum], name: "\(name).product")
            return graph.node("Mul", [product, graph.scalar("gelu.half", 0.5)], name: name)
        }
    }
}
