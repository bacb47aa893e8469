import Foundation

/// The safetensors container that model files and checkpoints share: a u64 little-endian header
/// length, a JSON header padded with spaces to a multiple of 8 bytes, then the raw little-endian
/// tensors. Metadata values are strings, as the format requires. Only 32-bit dtypes are used:
/// F32 for parameters and optimizer state, I32 for sample orders.
enum Safetensors {
    enum DType: String {
        case f32 = "F32"
        case i32 = "I32"
    }

    /// A tensor to write, as the bit patterns of its 32-bit elements.
    struct Tensor {
        var name: String
        var shape: [Int]
        var dtype: DType
        var bits: [UInt32]

        init(_ name: String, shape: [Int], floats: [Float]) {
            (self.name, self.shape, dtype, bits) = (name, shape, .f32, floats.map(\.bitPattern))
        }

        init(_ name: String, shape: [Int], int32s: [Int32]) {
            (self.name, self.shape, dtype, bits) = (name, shape, .i32, int32s.map { UInt32(bitPattern: $0) })
        }
    }

    /// Metadata is written in the order given, then the tensors in order, each right after the last.
    static func encode(metadata: [(key: String, value: String)], tensors: [Tensor]) -> Data {
        var entries: [String] = []
        var offset = 0
        for tensor in tensors {
            let end = offset + tensor.bits.count * 4
            entries.append(
                "\(jsonString(tensor.name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(tensor.shape.map(String.init).joined(separator: ","))],"
                    + "\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        let meta = "\"__metadata__\":{" + metadata.map { "\(jsonString($0.key)):\(jsonString($0.value))" }.joined(separator: ",") + "}"
        var header = Array(("{" + ([meta] + entries).joined(separator: ",") + "}").utf8)
        while header.count % 8 != 0 { header.append(0x20) }

        var out = Data(capacity: 8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        for tensor in tensors {
            let littleEndian = tensor.bits.map(\.littleEndian)
            littleEndian.withUnsafeBytes { out.append(contentsOf: $0) }
        }
        return out
    }

    /// A JSON string literal; plain ASCII text passes through unchanged.
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A parsed header over the file's bytes; tensors are read on demand, each checked against
    /// the data it claims.
    struct Reader {
        let file: String
        let header: [String: Any]
        /// The metadata's string values (the caller checks the types of keys it knows).
        let rawMetadata: [String: Any]
        private let bytes: [UInt8]
        private let dataStart: Int

        init(_ data: Data, file: String) throws {
            self.file = file
            bytes = [UInt8](data)
            guard bytes.count >= 8 else { throw Self.fail(file, "truncated: \(bytes.count) bytes, too short for a safetensors header length") }
            // The JSON header starts right after the length, with '{': any other byte there means
            // some other kind of file (a CSV, a text file), whose first 8 bytes are no length.
            guard bytes.count == 8 || bytes[8] == UInt8(ascii: "{") else {
                throw Self.fail(file, "is not a safetensors file (its 9th byte should open the JSON header with '{')")
            }
            let headerLength = bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard headerLength <= UInt64(bytes.count - 8) else {
                throw Self.fail(file, "truncated: header length \(headerLength) runs past the end of the \(bytes.count)-byte file")
            }
            dataStart = 8 + Int(headerLength)
            guard let header = try? JSONSerialization.jsonObject(with: Data(bytes[8..<dataStart])) as? [String: Any] else {
                throw Self.fail(file, "header is not a JSON object")
            }
            self.header = header
            rawMetadata = header["__metadata__"] as? [String: Any] ?? [:]
        }

        static func fail(_ file: String, _ problem: String) -> BPNetError { .model(file: file, problem: problem) }

        func fail(_ problem: String) -> BPNetError { Self.fail(file, problem) }

        /// Throws unless every one of `keys` present in the metadata is a string.
        func requireStrings(_ keys: [String]) throws {
            for key in keys where rawMetadata[key] != nil && !(rawMetadata[key] is String) {
                throw fail("metadata key '\(key)' is not a string")
            }
        }

        var metadata: [String: String] { rawMetadata.compactMapValues { $0 as? String } }

        func has(_ name: String) -> Bool { header[name] != nil }

        var tensorNames: [String] { header.keys.filter { $0 != "__metadata__" } }

        /// The shape and element bits of tensor `name`, which must have `dtype`.
        func tensor(_ name: String, dtype: DType) throws -> (shape: [Int], bits: [UInt32]) {
            let payload = bytes.count - dataStart
            guard let entry = header[name] as? [String: Any] else { throw fail("missing tensor \(name)") }
            guard let actual = entry["dtype"] as? String else { throw fail("tensor \(name) has no dtype") }
            guard actual == dtype.rawValue else { throw fail("tensor \(name) has dtype \(actual), expected \(dtype.rawValue)") }
            guard let shapeItems = entry["shape"] as? [Any] else { throw fail("tensor \(name) has a bad shape") }
            let shape = shapeItems.compactMap(Self.exactInteger)
            guard shape.count == shapeItems.count, shape.allSatisfy({ $0 > 0 }) else { throw fail("tensor \(name) has a bad shape") }
            guard let offsets = (entry["data_offsets"] as? [Any])?.compactMap(Self.exactInteger), offsets.count == 2,
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
            var bits = [UInt32](repeating: 0, count: count)
            for i in 0..<count {
                let at = dataStart + begin + 4 * i
                bits[i] = UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
            }
            return (shape, bits)
        }

        func floats(_ name: String) throws -> (shape: [Int], values: [Float]) {
            let (shape, bits) = try tensor(name, dtype: .f32)
            return (shape, bits.map(Float.init(bitPattern:)))
        }

        func int32s(_ name: String) throws -> (shape: [Int], values: [Int32]) {
            let (shape, bits) = try tensor(name, dtype: .i32)
            return (shape, bits.map { Int32(bitPattern: $0) })
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
    }
}
