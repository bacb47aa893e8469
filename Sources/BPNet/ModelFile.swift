import Foundation

/// Models as safetensors: a u64 little-endian header length, a JSON header padded with spaces
/// to a multiple of 8 bytes, then the raw little-endian float32 tensors. Tensors are
/// `layers.{k}.weight` and `layers.{k}.bias` for the k-th layer with parameters (dense, convolution
/// or batch norm; pooling and flatten hold none): a dense weight is `[outputs, inputs]`, a
/// convolution's PyTorch's `[Cout, Cin, K, K]`, a bias `[outputs]`, a batch norm's γ and β `[C]`
/// with its `layers.{k}.running_mean` and `layers.{k}.running_var` beside them. `__metadata__` holds `format: bpnet`,
/// `version`, `layers`, `activations` (one per weight layer, such as `relu,relu,softmax`) and
/// `loss`. A dense network is written as version 2, `layers` its sizes (`784,30,10`), exactly as
/// before; any other as version 3, `layers` its `--layers` text
/// (`1x28x28,conv:32:5:1:2,maxpool:2:2,flatten,10`), which loading parses and checks every
/// tensor's shape against. Version 1 files, with `activation: sigmoid`, load as all-sigmoid.
/// A file with no `__metadata__` at all (one written by another program, such as a PyTorch state
/// dict) says nothing of its activations, so it loads only when the caller names them
/// (`activationsIfUnrecorded`); nor, when its weights are 4-D, of its input shape, strides,
/// padding and pooling, which the caller gives as an `Architecture` (`architectureIfUnrecorded`,
/// `--layers`), every tensor checked against it.
public enum ModelFile {
    public static let format = "bpnet"
    /// The version of a dense network's file; any other architecture writes `graphVersion`.
    public static let version = "2"
    public static let graphVersion = "3"

    /// What a model file holds besides the parameters.
    public struct Metadata: Equatable, Sendable {
        public var loss: Loss
        public init(loss: Loss = .quadratic) { self.loss = loss }
    }

    /// Writes atomically: an existing model is replaced only once the new one is complete on disk.
    public static func save(_ network: Network, metadata: Metadata = Metadata(), to path: String) throws {
        try AtomicFile.write(encode(network, metadata: metadata), to: path)
    }

    public static func load(
        _ path: String, activationsIfUnrecorded: String? = nil, architectureIfUnrecorded: Architecture? = nil
    ) throws -> (network: Network, metadata: Metadata) {
        try decode(
            try bytes(of: path), file: path, activationsIfUnrecorded: activationsIfUnrecorded,
            architectureIfUnrecorded: architectureIfUnrecorded)
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
        let (version, layers) =
            network.isDense
            ? (version, network.sizes.map(String.init).joined(separator: ",")) : (graphVersion, network.architecture.description)
        return [
            ("format", format), ("version", version), ("layers", layers),
            ("activations", network.activations.map(\.rawValue).joined(separator: ",")), ("loss", metadata.loss.rawValue),
        ]
    }

    /// Every parameter tensor under its name (`layers.{k}.weight`, `layers.{k}.bias`) after `prefix`,
    /// and after a batch norm's β its running statistics (`layers.{k}.running_mean`, `running_var`).
    static func tensors(_ network: Network, prefix: String = "") -> [Safetensors.Tensor] {
        network.parameterTensors.flatMap { tensor, values -> [Safetensors.Tensor] in
            let parameter = Safetensors.Tensor(prefix + tensor.name, shape: tensor.shape, floats: values)
            guard tensor.role == .shift else { return [parameter] }
            let state = network.normalizations[tensor.layer], names = tensor.runningStatisticsNames
            return [
                parameter, Safetensors.Tensor(prefix + names.mean, shape: tensor.shape, floats: state.runningMean),
                Safetensors.Tensor(prefix + names.variance, shape: tensor.shape, floats: state.runningVariance),
            ]
        }
    }

    /// `activationsIfUnrecorded` (such as `relu,softmax`, or one name for every layer) gives the
    /// activations of a file without `__metadata__`, and `architectureIfUnrecorded` its
    /// architecture (needed when its weights are 4-D, checked against every tensor when given); a
    /// file that records its own ignores both, so the caller compares them.
    public static func decode(
        _ data: Data, file: String, activationsIfUnrecorded: String? = nil, architectureIfUnrecorded: Architecture? = nil
    ) throws -> (network: Network, metadata: Metadata) {
        try decode(
            Safetensors.Reader(data, file: file), activationsIfUnrecorded: activationsIfUnrecorded,
            architectureIfUnrecorded: architectureIfUnrecorded)
    }

    static func decode(
        _ reader: Safetensors.Reader, activationsIfUnrecorded: String? = nil, architectureIfUnrecorded: Architecture? = nil
    ) throws -> (network: Network, metadata: Metadata) {
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
            var network: Network
            if let architecture = architectureIfUnrecorded {
                network = try self.network(reader, prefix: "", architecture: architecture, activations: nil, source: "--layers")
            } else {
                // 4-D weights are a convolution's, whose input shape, stride, padding and pooling
                // no tensor records.
                if let name = reader.tensorNames.sorted().first(where: { ((reader.header[$0] as? [String: Any])?["shape"] as? [Any])?.count == 4 }) {
                    throw fail(
                        "holds no bpnet metadata and \(name) is 4-D, a convolution's: nothing says the input's shape, the strides, "
                            + "padding or pooling; give the architecture with --layers (such as 1x28x28,conv:8:5,maxpool:2,flatten,10)")
                }
                network = try self.network(reader, prefix: "", activationList: nil, requireList: false)
            }
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
        guard ["1", "2", graphVersion].contains(fileVersion) else {
            throw fail("version '\(fileVersion)' is not supported (this bpnet reads versions 1 to \(graphVersion))")
        }
        if let activation = meta["activation"], activation != "sigmoid" {
            throw fail("activation '\(activation)' is not supported (version 1 files are all sigmoid)")
        }
        if fileVersion == graphVersion {
            guard let text = meta["layers"] else { throw fail("version \(graphVersion) metadata has no layers") }
            let architecture: Architecture
            do {
                architecture = try Architecture(parsing: text)
                _ = try architecture.shapes()
            } catch let error as BPNetError {
                throw fail("metadata layers '\(text)' are not a model: \(error.description)")
            }
            guard let list = meta["activations"] else { throw fail("version \(graphVersion) metadata has no activations") }
            let network = try network(reader, prefix: "", architecture: architecture, activations: list, source: "metadata layers")
            return (network, Metadata(loss: loss))
        }
        let network = try network(reader, prefix: "", activationList: fileVersion == "2" ? meta["activations"] : nil,
                                  requireList: fileVersion == "2")
        if let sizes = meta["layers"], sizes != network.sizes.map(String.init).joined(separator: ",") {
            throw fail("metadata layers '\(sizes)' do not match the tensors' shapes \(network.sizes)")
        }
        return (network, Metadata(loss: loss))
    }

    /// The activations `list` names, one per weight layer of `layerCount`.
    static func activations(_ list: String, layerCount: Int, _ reader: Safetensors.Reader) throws -> [Activation] {
        func fail(_ problem: String) -> BPNetError { reader.fail(problem) }
        let names = list.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard names.count == layerCount else {
            throw fail("metadata activations '\(list)' name \(names.count) layers but the file holds \(layerCount)")
        }
        do {
            let functions = try names.map(Activation.parse)
            try Activation.validate(functions)
            return functions
        } catch let error as BPNetError {
            throw fail("metadata: \(error.description)")
        }
    }

    /// The network of `architecture` held in the `{prefix}layers.*` tensors, each of which must
    /// have exactly the shape the architecture gives; `source` names where the architecture came
    /// from. With `activations` nil, every layer is sigmoid until the caller names them.
    static func network(
        _ reader: Safetensors.Reader, prefix: String, architecture: Architecture, activations list: String?, source: String
    ) throws -> Network {
        func fail(_ problem: String) -> BPNetError { reader.fail(problem) }
        let tensors: [ParameterTensor]
        do {
            tensors = try architecture.parameterTensors()
        } catch let error as BPNetError {
            throw fail("\(source) '\(architecture)' are not a model: \(error.description)")
        }
        let weightLayers = architecture.layers.filter(\.isWeightLayer)
        let modules = Set(tensors.map(\.module)).count
        let held = reader.tensorNames.filter { $0.hasPrefix("\(prefix)layers.") && $0.hasSuffix(".weight") }.count
        guard held == modules else {
            throw fail(
                "holds \(counted(held, "weight tensor")) (\(prefix)layers.*.weight) but \(source) '\(architecture)' have "
                    + counted(modules, "layer") + " with parameters")
        }
        let functions = try list.map { try activations($0, layerCount: weightLayers.count, reader) }
            ?? Array(repeating: .sigmoid, count: weightLayers.count)
        var values = [[ParameterTensor.Role: [Float]]](repeating: [:], count: weightLayers.count)
        var normalizations: [Normalization] = []
        func read(_ name: String, shape: [Int], of layer: String) throws -> [Float] {
            let read = try reader.floats(name)
            guard read.shape == shape else {
                throw fail("\(name) has shape \(read.shape), but \(layer) of \(source) '\(architecture)' needs \(shape)")
            }
            guard read.values.allSatisfy(\.isFinite) else { throw fail("\(name) holds NaN or infinite values") }
            return read.values
        }
        for (t, tensor) in tensors.enumerated() {
            switch tensor.role {
            case .weight, .bias:
                values[tensor.layer][tensor.role] = try read(prefix + tensor.name, shape: tensor.shape, of: "\(weightLayers[tensor.layer])")
            case .scale:
                let names = tensor.runningStatisticsNames
                let state = try [tensor.name, tensors[t + 1].name, names.mean, names.variance].map {
                    try read(prefix + $0, shape: tensor.shape, of: "batchnorm \(tensor.layer + 1)")
                }
                guard state[3].allSatisfy({ $0 >= 0 }) else { throw fail("\(prefix + names.variance) holds a negative variance") }
                normalizations.append(try Normalization(scale: state[0], shift: state[1], runningMean: state[2], runningVariance: state[3]))
            case .shift: break
            }
        }
        let layers = try zip(try architecture.weights(), values).enumerated().map { l, pair in
            try Layer(
                inputs: pair.0.inputs, outputs: pair.0.outputs, weights: pair.1[.weight] ?? [], biases: pair.1[.bias] ?? [],
                activation: functions[l])
        }
        do {
            return try Network(architecture: architecture, layers: layers, normalizations: normalizations)
        } catch let error as BPNetError {
            throw fail("\(source) '\(architecture)': \(error.description)")
        }
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
            functions = try activations(list, layerCount: layerCount, reader)
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
