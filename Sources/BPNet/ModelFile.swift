import Foundation

/// Models as safetensors: a u64 little-endian header length, a JSON header padded with spaces
/// to a multiple of 8 bytes, then the raw little-endian float32 tensors. Tensors are
/// `layers.{l}.weight` `[n_{l+1}, n_l]` and `layers.{l}.bias` `[n_{l+1}]`; `__metadata__` holds
/// `format: bpnet`, `version: 2`, `layers`, `activations` (one per weight layer, such as
/// `relu,relu,softmax`) and `loss`. Version 1 files, with `activation: sigmoid`, load as all-sigmoid.
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

    public static func load(_ path: String) throws -> (network: Network, metadata: Metadata) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let exists = FileManager.default.fileExists(atPath: path)
            throw BPNetError.model(file: path, problem: exists ? "cannot be read" : "no such file")
        }
        return try decode(data, file: path)
    }

    public static func encode(_ network: Network, metadata: Metadata = Metadata()) -> Data {
        var entries: [String] = []
        var offset = 0
        var tensors: [[Float]] = []
        func add(_ name: String, shape: [Int], _ values: [Float]) {
            let end = offset + values.count * 4
            entries.append(
                "\"\(name)\":{\"dtype\":\"F32\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],"
                    + "\"data_offsets\":[\(offset),\(end)]}")
            offset = end
            tensors.append(values)
        }
        for (l, layer) in network.layers.enumerated() {
            add("layers.\(l).weight", shape: [layer.outputs, layer.inputs], layer.weights)
            add("layers.\(l).bias", shape: [layer.outputs], layer.biases)
        }
        let meta =
            "\"__metadata__\":{\"format\":\"\(format)\",\"version\":\"\(version)\","
            + "\"layers\":\"\(network.sizes.map(String.init).joined(separator: ","))\","
            + "\"activations\":\"\(network.activations.map(\.rawValue).joined(separator: ","))\","
            + "\"loss\":\"\(metadata.loss.rawValue)\"}"
        var header = Array(("{" + ([meta] + entries).joined(separator: ",") + "}").utf8)
        while header.count % 8 != 0 { header.append(0x20) }

        var out = Data(capacity: 8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        for values in tensors {
            let bits = values.map { $0.bitPattern.littleEndian }
            bits.withUnsafeBytes { out.append(contentsOf: $0) }
        }
        return out
    }

    /// The integer a JSON number holds exactly, or nil. JSONSerialization gives NSNumbers whose
    /// `intValue` silently truncates fractions (2.5 → 2) and wraps values past Int (1e300,
    /// 18446744073709551615), so a header could otherwise smuggle in sizes it never wrote.
    static func exactInteger(_ value: Any) -> Int? {
        guard let number = value as? NSNumber else { return nil }
        switch UInt8(bitPattern: number.objCType.pointee) {
        case UInt8(ascii: "d"), UInt8(ascii: "f"):  // fractions, exponents, and integers past 64 bits
            let real = number.doubleValue
            guard real == real.rounded(), real >= -0x1p63, real < 0x1p63 else { return nil }
            return Int(real)
        case UInt8(ascii: "Q"), UInt8(ascii: "L"), UInt8(ascii: "I"), UInt8(ascii: "S"), UInt8(ascii: "C"):
            return Int(exactly: number.uint64Value)
        default:
            return Int(exactly: number.int64Value)
        }
    }

    public static func decode(_ data: Data, file: String) throws -> (network: Network, metadata: Metadata) {
        func fail(_ problem: String) -> BPNetError { .model(file: file, problem: problem) }
        let bytes = [UInt8](data)
        guard bytes.count >= 8 else { throw fail("truncated: \(bytes.count) bytes, too short for a safetensors header length") }
        let headerLength = bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw fail("truncated: header length \(headerLength) runs past the end of the \(bytes.count)-byte file")
        }
        let dataStart = 8 + Int(headerLength)
        guard let header = try? JSONSerialization.jsonObject(with: Data(bytes[8..<dataStart])) as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        let payload = bytes.count - dataStart
        // safetensors metadata is strings only; a known key of another type is an error, not a
        // reason to ignore every key.
        let rawMeta = header["__metadata__"] as? [String: Any] ?? [:]
        for key in ["format", "version", "layers", "activation", "activations", "loss"] where rawMeta[key] != nil && !(rawMeta[key] is String) {
            throw fail("metadata key '\(key)' is not a string")
        }
        let meta = rawMeta.compactMapValues { $0 as? String }
        if let format = meta["format"], format != self.format { throw fail("metadata format is '\(format)', expected 'bpnet'") }
        let fileVersion = meta["version"] ?? "1"
        guard ["1", "2"].contains(fileVersion) else {
            throw fail("version '\(fileVersion)' is not supported (this bpnet reads versions 1 and 2)")
        }
        if let activation = meta["activation"], activation != "sigmoid" {
            throw fail("activation '\(activation)' is not supported (version 1 files are all sigmoid)")
        }
        var loss = Loss.quadratic
        if let name = meta["loss"] {
            guard let parsed = Loss(rawValue: name) else { throw fail("unknown loss '\(name)' in metadata") }
            loss = parsed
        }

        func tensor(_ name: String) throws -> (shape: [Int], values: [Float]) {
            guard let entry = header[name] as? [String: Any] else { throw fail("missing tensor \(name)") }
            guard let dtype = entry["dtype"] as? String else { throw fail("tensor \(name) has no dtype") }
            guard dtype == "F32" else { throw fail("tensor \(name) has dtype \(dtype), expected F32") }
            guard let shapeItems = entry["shape"] as? [Any] else { throw fail("tensor \(name) has a bad shape") }
            let shape = shapeItems.compactMap(exactInteger)
            guard shape.count == shapeItems.count, shape.allSatisfy({ $0 > 0 }) else { throw fail("tensor \(name) has a bad shape") }
            guard let offsets = (entry["data_offsets"] as? [Any])?.compactMap(exactInteger), offsets.count == 2,
                (entry["data_offsets"] as? [Any])?.count == 2
            else { throw fail("tensor \(name) has bad data_offsets") }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= payload else {
                throw fail("tensor \(name) data_offsets [\(begin), \(end)] are out of range (data is \(payload) bytes)")
            }
            // Shapes come from the file: their product, or its byte count, may pass Int.max.
            var count = 1
            for dimension in shape {
                let product = count.multipliedReportingOverflow(by: dimension)
                guard !product.overflow else { throw fail("tensor \(name) shape \(shape) overflows") }
                count = product.partialValue
            }
            let byteCount = count.multipliedReportingOverflow(by: 4)
            guard !byteCount.overflow else { throw fail("tensor \(name) shape \(shape) overflows") }
            guard end - begin == byteCount.partialValue else {
                throw fail("tensor \(name) shape \(shape) needs \(byteCount.partialValue) bytes but data_offsets span \(end - begin)")
            }
            var values = [Float](repeating: 0, count: count)
            for i in 0..<count {
                let at = dataStart + begin + 4 * i
                let bits = UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
                values[i] = Float(bitPattern: bits)
            }
            return (shape, values)
        }

        let layerCount = header.keys.filter { $0.hasPrefix("layers.") && $0.hasSuffix(".weight") }.count
        guard layerCount > 0 else { throw fail("missing tensor layers.0.weight") }
        // Version 2 names one activation per weight layer; version 1 files are all sigmoid.
        var functions = [Activation](repeating: .sigmoid, count: layerCount)
        if fileVersion == "2" {
            guard let list = meta["activations"] else { throw fail("version 2 metadata has no activations") }
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
            let weight = try tensor("layers.\(l).weight")
            let bias = try tensor("layers.\(l).bias")
            guard weight.shape.count == 2 else { throw fail("layers.\(l).weight has shape \(weight.shape), expected 2 dimensions") }
            guard bias.shape == [weight.shape[0]] else {
                throw fail("layers.\(l).bias has shape \(bias.shape), expected [\(weight.shape[0])]")
            }
            if let previous = layers.last, previous.outputs != weight.shape[1] {
                throw fail("shapes do not chain: layers.\(l - 1) has \(previous.outputs) outputs but layers.\(l).weight takes \(weight.shape[1]) inputs")
            }
            guard weight.values.allSatisfy(\.isFinite), bias.values.allSatisfy(\.isFinite) else {
                throw fail("layer \(l) holds NaN or infinite values")
            }
            layers.append(
                try Layer(
                    inputs: weight.shape[1], outputs: weight.shape[0], weights: weight.values, biases: bias.values,
                    activation: functions[l]))
        }
        let network = try Network(layers: layers)
        if let sizes = meta["layers"], sizes != network.sizes.map(String.init).joined(separator: ",") {
            throw fail("metadata layers '\(sizes)' do not match the tensors' shapes \(network.sizes)")
        }
        return (network, Metadata(loss: loss))
    }
}
