import Foundation
import SwiftProtobuf

/// An ONNX graph under construction: nodes in order, their float32 initializers, and each
/// intermediate tensor's name. `ONNXExport` lowers a network's layers into one.
struct ONNXGraph {
    private(set) var nodes: [Onnx_NodeProto] = []
    private(set) var initializers: [Onnx_TensorProto] = []
    private var names: Set<String> = []
    private var scalars: [String: Float] = [:]

    /// A float32 initializer `[dimensions]` named `name` (such as `layers.0.weight`, the model
    /// file's name), its values little-endian in `raw_data`. Returns its name.
    @discardableResult
    mutating func constant(_ name: String, dimensions: [Int], values: [Float]) -> String {
        precondition(dimensions.reduce(1, *) == values.count, "\(name): \(values.count) values for \(dimensions)")
        var tensor = Onnx_TensorProto()
        tensor.name = unique(name)
        tensor.dims = dimensions.map(Int64.init)
        tensor.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        var bytes = Data(capacity: values.count * 4)
        for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        tensor.rawData = bytes
        initializers.append(tensor)
        return tensor.name
    }

    /// A scalar constant, for the arithmetic of an activation that ONNX 13 has no operator for;
    /// written once, however many layers read it.
    mutating func scalar(_ name: String, _ value: Float) -> String {
        if let existing = scalars[name] {
            precondition(existing.bitPattern == value.bitPattern, "\(name) is \(existing), not \(value)")
            return name
        }
        scalars[name] = value
        return constant(name, dimensions: [], values: [value])
    }

    /// Appends `opType(inputs) -> output` and returns the output's name: `output` when given
    /// (the graph's own output), else a new name from `name`.
    @discardableResult
    mutating func node(
        _ opType: String, _ inputs: [String], name: String, output: String? = nil, attributes: [Onnx_AttributeProto] = []
    ) -> String {
        var node = Onnx_NodeProto()
        node.opType = opType
        node.name = unique(name)
        node.input = inputs
        if let output {
            node.output = [unique(output)]
        } else {
            node.output = [node.name]
        }
        node.attribute = attributes
        nodes.append(node)
        return node.output[0]
    }

    /// Names the last node's output `name`: the graph's output, which no node reads.
    mutating func renameLastOutput(to name: String) {
        guard let last = nodes.indices.last, nodes[last].output[0] != name else { return }
        names.insert(name)
        nodes[last].output = [name]
    }

    /// `name`, or `name_1`, `name_2`… when it is taken: ONNX wants every name in a graph once.
    private mutating func unique(_ name: String) -> String {
        var candidate = name
        var suffix = 1
        while names.contains(candidate) {
            candidate = "\(name)_\(suffix)"
            suffix += 1
        }
        names.insert(candidate)
        return candidate
    }

    static func attribute(_ name: String, int value: Int) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .int
        attribute.i = Int64(value)
        return attribute
    }

    static func attribute(_ name: String, ints values: [Int]) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .ints
        attribute.ints = values.map(Int64.init)
        return attribute
    }

    static func attribute(_ name: String, float value: Float) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .float
        attribute.f = value
        return attribute
    }

    /// A float32 tensor's type and shape, its first dimension the symbolic batch size `N`.
    static func batchTensor(_ name: String, sample: [Int]) -> Onnx_ValueInfoProto {
        var batch = Onnx_TensorShapeProto.Dimension()
        batch.dimParam = "N"
        var shape = Onnx_TensorShapeProto()
        shape.dim = [batch] + sample.map { size in
            var dimension = Onnx_TensorShapeProto.Dimension()
            dimension.dimValue = Int64(size)
            return dimension
        }
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.shape = shape
        var type = Onnx_TypeProto()
        type.tensorType = tensor
        var value = Onnx_ValueInfoProto()
        value.name = name
        value.type = type
        return value
    }
}
