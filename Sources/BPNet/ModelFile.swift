import Foundation

/// Models as safetensors: a u64 little-endian header length, a JSON header padded with spaces
/// to a multiple of 8 bytes, then the raw little-endian float32 tensors. Tensors are
/// `layers.{l}.weight` `[n_{l+1}, n_l]` and `layers.{l}.bias` `[n_{l+1}]`; `__metadata__` holds
/// `format: bpnet`, `version: 2`, `layers`, `activations` (one per weight layer, such as
/// `relu,relu,softmax`) and `loss`. Version 1 files, with `activation: sigmoid`, load as all-sigmoid.
/// A file with no `__metadata__` at all (one written by another program) says nothing of its
/// activations, so it loads only when the caller names them (`activationsIfUnrecorded`).
public enum ModelFile {
    public static let format = "bpnet"
    public static let version = "2"

    /// What a model file holds besides the parameters.
    public struct Metadata: Equatable, Sendable {
        public var loss: Loss
        public init(loss: Loss = .quadratic) { self.loss = loss }
    }

    /// Writes atomically: an existing model is replaced only once the new one is complete on disk.
    public static func save(_ network: Network, metadata: Metadata = Metadata(), to path: String) throws {
        try AtomicFile.write(encode(network, metadata: metadata), to: path)
    }

    public static func load(_ path: String, activationsIfUnrecorded: String? = nil) throws -> (network: Network, metadata: Metadata) {
        try decode(try bytes(of: path), file: path, activationsIfUnrecorded: activationsIfUnrecorded)
    }

    /// A model or checkpoint file's bytes, or an error that says whether it is missing, a folder
    /// or unreadable.
    public static func bytes(of path: String) throws -> Data {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            throw BPNetError.model(file: path, problem: "is a folder, not a model file")
        }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let exists = FileManager.default.fileExists(atPath: path)
            throw BPNetError.model(file: path, problem: exists ? "cannot be read" : "no such file")
        }
    }

    public static func encode(_ network: Network, metadata: Metadata = Metadata()) -> Data {
        Safetensors.encode(metadata: entries(network, metadata: metadata), tensors: tensors(network))
    }

    /// The metadata of a model file, in the order written.
    static func entries(_ network: Network, metadata: Metadata) -> [(key: String, value: String)] {
        [
            ("format", format), ("version", version), ("layers", network.sizes.map(String.init).joined(separator: ",")),
            ("activations", network.activations.map(\.rawValue).joined(separator: ",")), ("loss", metadata.loss.rawValue),
        ]
    }

    /// `{prefix}layers.{l}.weight` and `{prefix}layers.{l}.bias` for every layer.
    static func tensors(_ network: Network, prefix: String = "") -> [Safetensors.Tensor] {
        network.layers.enumerated().flatMap { l, layer in
            [
                Safetensors.Tensor("\(prefix)layers.\(l).weight", shape: [layer.outputs, layer.inputs], floats: layer.weights),
                Safetensors.Tensor("\(prefix)layers.\(l).bias", shape: [layer.outputs], floats: layer.biases),
            ]
        }
    }

    /// `activationsIfUnrecorded` (such as `relu,softmax`, or one name for every layer) gives the
    /// activations of a file without `__metadata__`; a file that records its own ignores it, so
    /// the caller compares the two.
    public static func decode(_ data: Data, file: String, activationsIfUnrecorded: String? = nil) throws -> (network: Network, metadata: Metadata) {
        try decode(Safetensors.Reader(data, file: file), activationsIfUnrecorded: activationsIfUnrecorded)
    }

    static func decode(_ reader: Safetensors.Reader, activationsIfUnrecorded: String? = nil) throws -> (network: Network, metadata: Metadata) {
        func fail(_ problem: String) -> BPNetError { reader.fail(problem) }
        // safetensors metadata is strings only; a known key of another type is an error, not a
        // reason to ignore every key.
        try reader.requireStrings(["format", "version", "layers", "activation", "activations", "loss"])
        let meta = reader.metadata
        var loss = Loss.quadratic
        if let name = meta["loss"] {
            guard let parsed = Loss(rawValue: name) else { throw fail("unknown loss '\(name)' in metadata") }
            loss = parsed
        }
        // BPNet's files say `format: bpnet`, and files that others write with BPNet's keys name
        // their activations; any other file (no metadata, or only its own) says nothing of what
        // its layers compute.
        guard meta["format"] != nil || meta["activations"] != nil || meta["activation"] != nil else {
            // The tensors are checked first, as in any file. Then: nothing says what the layers
            // compute, and loading them as sigmoid would give a ReLU model's wrong outputs
            // without a word.
            var network = try network(reader, prefix: "", activationList: nil, requireList: false)
            guard let named = activationsIfUnrecorded else {
                throw fail("holds no bpnet metadata, so nothing says which activations its layers use; name them with --activations (such as relu,softmax)")
            }
            let functions = try Activation.parseList(named, layers: network.layers.count)
            try Activation.validate(functions)
            for l in network.layers.indices { network.layers[l].activation = functions[l] }
            return (network, Metadata(loss: loss))
        }
        if let format = meta["format"], format != self.format { throw fail("metadata format is '\(format)', expected 'bpnet'") }
        let fileVersion = meta["version"] ?? "1"
        guard ["1", "2"].contains(fileVersion) else {
            throw fail("version '\(fileVersion)' is not supported (this bpnet reads versions 1 and 2)")
        }
        if let activation = meta["activation"], activation != "sigmoid" {
            throw fail("activation '\(activation)' is not supported (version 1 files are all sigmoid)")
        }
        let network = try network(reader, prefix: "", activationList: fileVersion == "2" ? meta["activations"] : nil,
                                  requireList: fileVersion == "2")
        if let sizes = meta["layers"], sizes != network.sizes.map(String.init).joined(separator: ",") {
            throw fail("metadata layers '\(sizes)' do not match the tensors' shapes \(network.sizes)")
        }
        return (network, Metadata(loss: loss))
    }

    /// The network held in the `{prefix}layers.*` tensors, with the activations `activationList`
    /// names (all sigmoid when nil and not required).
    static func network(_ reader: Safetensors.Reader, prefix: String, activationList: String?, requireList: Bool) throws -> Network {
        func fail(_ problem: String) -> BPNetError { reader.fail(problem) }
        let layerCount = reader.tensorNames.filter { $0.hasPrefix("\(prefix)layers.") && $0.hasSuffix(".weight") }.count
        guard layerCount > 0 else { throw fail("missing tensor \(prefix)layers.0.weight") }
        // The metadata's layers, when they name one size more than there are weights: they tell a
        // weight stored transposed. (Any other disagreement is reported once the tensors are read.)
        let expectedSizes = reader.metadata["layers"].map { $0.split(separator: ",").compactMap { Int($0) } }
            .flatMap { $0.count == layerCount + 1 && $0.allSatisfy { $0 > 0 } ? $0 : nil }
        // Version 2 names one activation per weight layer; version 1 files are all sigmoid.
        var functions = [Activation](repeating: .sigmoid, count: layerCount)
        if requireList {
            guard let list = activationList else { throw fail("version 2 metadata has no activations") }
            let names = list.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard names.count == layerCount else {
                throw fail("metadata activations '\(list)' name \(names.count) layers but the file holds \(layerCount)")
            }
            functions = try names.map { name in
                guard let function = Activation(rawValue: name) else {
                    throw fail("unknown activation '\(name)' in metadata (expected "
                        + Activation.allCases.map(\.rawValue).joined(separator: ", ") + ")")
                }
                return function
            }
            if let hidden = functions.dropLast().firstIndex(of: .softmax) {
                throw fail("softmax may only be the last layer's activation, not layer \(hidden)'s")
            }
        }
        var layers: [Layer] = []
        for l in 0..<layerCount {
            let weight = try reader.floats("\(prefix)layers.\(l).weight")
            let bias = try reader.floats("\(prefix)layers.\(l).bias")
            guard weight.shape.count == 2 else { throw fail("\(prefix)layers.\(l).weight has shape \(weight.shape), expected 2 dimensions") }
            // The weight first, as [outputs, inputs]: a weight stored transposed is the weight's
            // fault, not its bias's. Inputs are known from the metadata's layers or the layer
            // before; outputs from the metadata or the bias.
            func wrongWeight(outputs: Int, inputs: Int) -> BPNetError {
                fail("\(prefix)layers.\(l).weight has shape \(weight.shape), expected [outputs, inputs] = [\(outputs), \(inputs)]")
            }
            if let known = expectedSizes.map({ (outputs: $0[l + 1], inputs: $0[l]) }), known.outputs != known.inputs,
                weight.shape == [known.inputs, known.outputs]
            {
                throw wrongWeight(outputs: known.outputs, inputs: known.inputs)
            }
            let outputs = bias.shape.count == 1 ? bias.shape[0] : weight.shape[0]
            if let inputs = layers.last?.outputs, weight.shape[1] != inputs {
                throw wrongWeight(outputs: outputs, inputs: inputs)
            } else if layers.isEmpty, weight.shape[0] != outputs, weight.shape[1] == outputs {
                throw wrongWeight(outputs: outputs, inputs: weight.shape[0])
            }
            guard bias.shape == [weight.shape[0]] else {
                throw fail("\(prefix)layers.\(l).bias has shape \(bias.shape), expected [\(weight.shape[0])]")
            }
            guard weight.values.allSatisfy(\.isFinite), bias.values.allSatisfy(\.isFinite) else {
                throw fail("layer \(l) holds NaN or infinite values")
            }
            layers.append(
                try Layer(
                    inputs: weight.shape[1], outputs: weight.shape[0], weights: weight.values, biases: bias.values,
                    activation: functions[l]))
        }
        return try Network(layers: layers)
    }
}
