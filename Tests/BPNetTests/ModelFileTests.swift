import BPNet
import BPNetTestSupport
import Foundation
import Testing

@Suite struct ModelFileTests {
    let network = try! Network(sizes: [5, 3, 1, 2], seed: 12)

    func path() throws -> String { try TestData.temporaryFolder() + "/model.safetensors" }

    /// Rebuilds a file from a header dictionary and a payload, as a hostile or broken writer would.
    func file(header: [String: Any], payload: [UInt8]) throws -> Data {
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var data = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        return data + json + Data(payload)
    }

    func validHeader() -> (header: [String: Any], payload: [UInt8]) {
        let encoded = ModelFile.encode(network)
        let length = Int(encoded.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        let header = try! JSONSerialization.jsonObject(with: encoded[8..<(8 + length)]) as! [String: Any]
        return (header, [UInt8](encoded[(8 + length)...]))
    }

    @Test func roundTripIsExact() throws {
        let path = try path()
        try ModelFile.save(network, metadata: .init(loss: .crossEntropy), to: path)
        let (loaded, metadata) = try ModelFile.load(path)
        #expect(loaded == network)
        #expect(metadata.loss == .crossEntropy)
    }

    @Test func followsTheSafetensorsLayout() throws {
        let encoded = ModelFile.encode(network)
        let length = Int(encoded.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        #expect(length % 8 == 0)
        let header = try #require(try JSONSerialization.jsonObject(with: encoded[8..<(8 + length)]) as? [String: Any])
        let meta = try #require(header["__metadata__"] as? [String: String])
        #expect(meta == ["format": "bpnet", "version": "2", "layers": "5,3,1,2", "activations": "sigmoid,sigmoid,sigmoid", "loss": "quadratic"])
        let weight = try #require(header["layers.1.weight"] as? [String: Any])
        #expect(weight["dtype"] as? String == "F32")
        #expect(weight["shape"] as? [Int] == [1, 3])
        // Offsets are contiguous and end exactly at the end of the file.
        var end = 0
        for l in 0..<3 {
            for kind in ["weight", "bias"] {
                let offsets = try #require((header["layers.\(l).\(kind)"] as? [String: Any])?["data_offsets"] as? [Int])
                #expect(offsets[0] == end)
                end = offsets[1]
            }
        }
        #expect(8 + length + end == encoded.count)
        // The first weight is stored as little-endian float32.
        let first = encoded[(8 + length)..<(8 + length + 4)].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        #expect(Float(bitPattern: first) == network.layers[0].weights[0])
    }

    /// A version 2 file round-trips its activations; a version 1 file (the first BPNet's) loads as
    /// all-sigmoid; unknown versions and activations are named.
    @Test func versionsAndActivations() throws {
        let mixed = try Network(sizes: [5, 4, 3, 3], activations: [.relu, .tanh, .softmax], initializer: .he, seed: 2)
        let loaded = try ModelFile.decode(ModelFile.encode(mixed, metadata: .init(loss: .logLikelihood)), file: "m")
        #expect(loaded.network == mixed && loaded.metadata.loss == .logLikelihood)

        func header(_ meta: String) -> Data {
            var file = ModelFile.encode(try! Network(sizes: [2, 1], seed: 1))
            let length = Int(file.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
            var json = String(decoding: file[8..<(8 + length)], as: UTF8.self)
            let start = json.range(of: "\"__metadata__\":{")!, end = json[start.upperBound...].range(of: "}")!
            json.replaceSubrange(start.upperBound..<end.lowerBound, with: meta)
            var bytes = Array(json.utf8)
            while bytes.count % 8 != 0 { bytes.append(0x20) }
            let payload = file[(8 + length)...]
            file = Data()
            withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { file.append(contentsOf: $0) }
            return file + bytes + payload
        }
        let version1 = try ModelFile.decode(header(#""format":"bpnet","version":"1","layers":"2,1","activation":"sigmoid","loss":"cross-entropy""#), file: "v1")
        #expect(version1.network.activations == [.sigmoid] && version1.metadata.loss == .crossEntropy)
        #expect(throws: BPNetError.model(file: "v4", problem: "version '4' is not supported (this bpnet reads versions 1 to 3)")) {
            try ModelFile.decode(header(#""format":"bpnet","version":"4","layers":"2,1""#), file: "v4")
        }
        #expect(throws: BPNetError.model(
            file: "x", problem: "metadata: unknown activation 'swish' (expected sigmoid, tanh, relu, identity, softmax, leaky-relu, gelu)")) {
            try ModelFile.decode(header(#""format":"bpnet","version":"2","layers":"2,1","activations":"swish""#), file: "x")
        }
        #expect(throws: BPNetError.model(file: "n", problem: "metadata activations 'relu,relu' name 2 layers but the file holds 1")) {
            try ModelFile.decode(header(#""version":"2","activations":"relu,relu""#), file: "n")
        }
        #expect(throws: BPNetError.model(file: "t", problem: "metadata key 'version' is not a string")) {
            try ModelFile.decode(header(#""version":2,"activations":"relu""#), file: "t")
        }
        // What Python's safetensors writes: only our keys, other keys ignored, no format key.
        let python = try ModelFile.decode(header(#""version":"2","activations":"tanh","loss":"quadratic","framework":"pt""#), file: "py")
        #expect(python.network.activations == [.tanh])
    }

    @Test func rejectsTruncatedFiles() throws {
        let encoded = ModelFile.encode(network)
        #expect(throws: BPNetError.model(file: "m", problem: "truncated: 5 bytes, too short for a safetensors header length")) {
            try ModelFile.decode(encoded.prefix(5), file: "m")
        }
        #expect(throws: BPNetError.model(
            file: "m", problem: "truncated: header length \(encoded.count) runs past the end of the 40-byte file")) {
            var short = Data()
            withUnsafeBytes(of: UInt64(encoded.count).littleEndian) { short.append(contentsOf: $0) }
            _ = try ModelFile.decode(short + encoded[8..<40], file: "m")
        }
        #expect { try ModelFile.decode(encoded.dropLast(4), file: "m") } throws: {
            "\($0)".contains("out of range")
        }
    }

    @Test func rejectsHeaderThatIsNotJSON() throws {
        var data = Data()
        withUnsafeBytes(of: UInt64(8).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: Array("{notjson".utf8))
        #expect(throws: BPNetError.model(file: "m", problem: "header is not a JSON object")) {
            try ModelFile.decode(data, file: "m")
        }
        // Without the '{' the file is some other kind of file altogether.
        data.replaceSubrange(8..<16, with: Array("not json".utf8))
        #expect(throws: BPNetError.model(file: "m", problem: "is not a safetensors file (its 9th byte should open the JSON header with '{')")) {
            try ModelFile.decode(data, file: "m")
        }
    }

    @Test func rejectsMissingTensorAndWrongDtype() throws {
        var (header, payload) = validHeader()
        header["layers.1.bias"] = nil
        #expect(throws: BPNetError.model(file: "m", problem: "missing tensor layers.1.bias")) {
            try ModelFile.decode(try file(header: header, payload: payload), file: "m")
        }
        (header, payload) = validHeader()
        var entry = header["layers.0.weight"] as! [String: Any]
        entry["dtype"] = "F16"
        header["layers.0.weight"] = entry
        #expect(throws: BPNetError.model(file: "m", problem: "tensor layers.0.weight has dtype F16, expected F32")) {
            try ModelFile.decode(try file(header: header, payload: payload), file: "m")
        }
    }

    @Test func rejectsShapesThatDoNotChain() throws {
        var (header, payload) = validHeader()
        var entry = header["layers.1.weight"] as! [String: Any]
        entry["shape"] = [3, 1]  // same byte count as [1, 3], but 1 input cannot follow 3 outputs
        header["layers.1.weight"] = entry
        // The weight is blamed, with the shape it should have, not the bias that follows it.
        #expect(throws: BPNetError.model(
            file: "m", problem: "layers.1.weight has shape [3, 1], expected [outputs, inputs] = [1, 3]")) {
            try ModelFile.decode(try file(header: header, payload: payload), file: "m")
        }
        (header, payload) = validHeader()
        entry = header["layers.2.weight"] as! [String: Any]
        entry["shape"] = [1, 2]
        header["layers.2.weight"] = entry
        var bias = header["layers.2.bias"] as! [String: Any]
        bias["shape"] = [1]
        let biasStart = (bias["data_offsets"] as! [Int])[0]
        bias["data_offsets"] = [biasStart, biasStart + 4]
        header["layers.2.bias"] = bias
        #expect(throws: BPNetError.model(
            file: "m", problem: "layers.2.weight has shape [1, 2], expected [outputs, inputs] = [2, 1]")) {
            try ModelFile.decode(try file(header: header, payload: payload), file: "m")
        }
    }

    @Test func rejectsOffsetsOutOfRange() throws {
        var (header, payload) = validHeader()
        var entry = header["layers.2.bias"] as! [String: Any]
        let offsets = entry["data_offsets"] as! [Int]
        entry["data_offsets"] = [offsets[0] + 1000, offsets[1] + 1000]
        header["layers.2.bias"] = entry
        #expect(throws: BPNetError.model(
            file: "m",
            problem: "tensor layers.2.bias data_offsets [\(offsets[0] + 1000), \(offsets[1] + 1000)] are out of range (data is \(payload.count) bytes)")) {
            try ModelFile.decode(try file(header: header, payload: payload), file: "m")
        }
    }

    @Test func saveIsAtomic() throws {
        let path = try path()
        try ModelFile.save(network, to: path)
        let other = try Network(sizes: [5, 3, 1, 2], seed: 99)
        try ModelFile.save(other, to: path)
        #expect(try ModelFile.load(path).network == other)
        let folder = (path as NSString).deletingLastPathComponent
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["model.safetensors"])
        // A save that cannot happen leaves nothing behind and throws one clear error.
        #expect { try ModelFile.save(network, to: folder + "/missing/model.safetensors") } throws: {
            "\($0)".contains("cannot create a file in \(folder)/missing")
        }
        #expect(try ModelFile.load(path).network == other)
    }
}
