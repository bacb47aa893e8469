@testable import BPNet
import BPNetTestSupport
import Foundation
import Testing

/// Inputs that crashed a reader (found by `make fuzz`, or of the same class: sizes read from a
/// file that overflow Int), each of which must now end in one clear `BPNetError`.
@Suite struct FuzzRegressionTests {
    /// An IDX header: unsigned-byte magic, then one big-endian u32 per dimension.
    static func idxHeader(_ dims: [UInt32]) -> [UInt8] {
        dims.reduce([0, 0, 0x08, UInt8(dims.count)]) { $0 + withUnsafeBytes(of: $1.bigEndian, Array.init) }
    }

    /// A label file with no labels, so that only the image file can be wrong.
    static let noLabels = idxHeader([0])

    /// A safetensors file: the u64 little-endian header length, the header, then the payload.
    static func model(header json: String, payload: [UInt8] = [UInt8](repeating: 0, count: 8)) -> Data {
        let header = Array(json.utf8)
        return Data(withUnsafeBytes(of: UInt64(header.count).littleEndian, Array.init) + header + payload)
    }

    /// A one-layer (1 → 1) model header whose weight tensor has the given shape and offsets.
    static func weightHeader(shape: String, offsets: String) -> String {
        #"{"layers.0.weight":{"dtype":"F32","shape":"# + shape + #","data_offsets":"# + offsets + "},"
            + #""layers.0.bias":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
    }

    // MARK: IDX

    /// The known bug: `dims.reduce(1, *)` trapped ("Illegal instruction") on this header.
    @Test func idxDimensionsWhoseProductOverflows() throws {
        let images = Self.idxHeader([2_097_152, 2_097_152, 2_097_152])  // 2²¹ cubed = 2⁶³
        #expect(throws: BPNetError.data(file: "images", problem: "dimensions 2097152×2097152×2097152 overflow")) {
            try IDX.decode(images: images, labels: Self.noLabels, classes: 10, imagesFile: "images", labelsFile: "labels")
        }
    }

    /// Found by `make fuzz` (fuzz-IDX, before the fix): the input as the target splits it,
    /// classes inferred, a label file with no labels, images of 255×(2³²−1)×(2³²−1).
    @Test func idxFuzzerCrash() throws {
        let input: [UInt8] = [
            0x01, 0x08, 0x00, 0x00, 0x00, 0x08, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x08, 0x03, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00,
            0x00, 0x1c, 0x00, 0x00, 0x00, 0x1c,
        ]
        let labels = Array(input[3..<11]), images = Array(input[11...])
        let classes = try IDX.maxLabel(labels, file: "labels") + 1
        #expect(throws: BPNetError.data(file: "images", problem: "dimensions 255×4294967295×4294967295 overflow")) {
            try IDX.decode(images: images, labels: labels, classes: max(classes, 2), imagesFile: "images", labelsFile: "labels")
        }
    }

    /// With zero images the header's product is 0, but rows × columns still overflows.
    @Test func idxZeroImagesOfOverflowingSize() throws {
        let images = Self.idxHeader([0, 0xFFFF_FFFF, 0xFFFF_FFFF])
        #expect(throws: BPNetError.data(file: "images", problem: "dimensions 0×4294967295×4294967295 overflow")) {
            try IDX.decode(images: images, labels: Self.noLabels, classes: 10, imagesFile: "images", labelsFile: "labels")
        }
    }

    /// 4544113 × 47424961 × 42799 is exactly Int.max, so only adding the 16 header bytes overflows.
    @Test func idxHeaderBytesOverflow() throws {
        let images = Self.idxHeader([4_544_113, 47_424_961, 42_799])
        #expect(throws: BPNetError.data(file: "images", problem: "dimensions 4544113×47424961×42799 overflow")) {
            try IDX.decode(images: images, labels: Self.noLabels, classes: 10, imagesFile: "images", labelsFile: "labels")
        }
    }

    /// A class count from the caller (the network's output size) times the samples bounds the
    /// one-hot targets; past the matrix limit it used to be one enormous allocation.
    @Test func idxOneHotTargetsPastTheMatrixLimit() throws {
        let images = Self.idxHeader([3, 1, 1]) + [1, 2, 3], labels = Self.idxHeader([3]) + [0, 0, 0]
        #expect(throws: BPNetError.data(
            file: "labels", problem: "3 labels of 1073741824 classes need more one-hot target values than the 2147483647 a matrix may hold")) {
            try IDX.decode(images: images, labels: labels, classes: 1 << 30, imagesFile: "images", labelsFile: "labels")
        }
        #expect(throws: BPNetError.invalidArgument("the class count must be positive, got 0")) {
            try IDX.decode(images: images, labels: labels, classes: 0, imagesFile: "images", labelsFile: "labels")
        }
        #expect(try IDX.decode(images: images, labels: labels, classes: 2, imagesFile: "images", labelsFile: "labels").count == 3)
    }

    /// The same header through the public path, plain and gzip.
    @Test(arguments: [false, true])
    func idxOverflowFromFiles(gzip: Bool) throws {
        let folder = try TestData.temporaryFolder()
        let suffix = gzip ? ".gz" : ""
        let images = Self.idxHeader([2_097_152, 2_097_152, 2_097_152]), labels = Self.idxHeader([0])
        for (name, bytes) in [("train-images-idx3-ubyte", images), ("train-labels-idx1-ubyte", labels)] {
            try Data(gzip ? FileReading.gzip(bytes) : bytes).write(to: URL(fileURLWithPath: "\(folder)/\(name)\(suffix)"))
        }
        #expect(throws: BPNetError.data(
            file: "\(folder)/train-images-idx3-ubyte\(suffix)", problem: "dimensions 2097152×2097152×2097152 overflow")) {
            try DataSource.idx(folder: folder).load(.train)
        }
    }

    // MARK: gzip

    @Test func gzipOutputIsCapped() throws {
        let bomb = FileReading.gzip([UInt8](repeating: 0, count: 100_000))
        #expect(bomb.count < 1000)
        #expect(throws: BPNetError.data(file: "z", problem: "inflates to more than 4096 bytes, the most BPNet reads from a gzip file")) {
            try FileReading.gunzip(bomb, file: "z", limit: 4096)
        }
        #expect(try FileReading.gunzip(bomb, file: "z", limit: 100_000).count == 100_000)
    }

    @Test func gzipOddStreams() throws {
        #expect(throws: BPNetError.data(file: "z", problem: "truncated gzip stream")) {
            try FileReading.gunzip([], file: "z")
        }
        #expect(throws: BPNetError.data(file: "z", problem: "truncated gzip stream")) {
            try FileReading.gunzip([0x1F, 0x8B], file: "z")
        }
        let member = FileReading.gzip(Array("ab".utf8))
        #expect(try FileReading.gunzip(member + member, file: "z") == Array("abab".utf8))
        #expect(throws: BPNetError.data(file: "z", problem: "trailing bytes after the gzip stream")) {
            try FileReading.gunzip(member + [0], file: "z")
        }
    }

    /// Input past 4 GiB reaches zlib in slices; small slices take the same path, member
    /// boundaries and broken ends included.
    @Test(arguments: [1, 2, 3, 7, 64])
    func gzipInSlices(slice: Int) throws {
        let text = Array(String(repeating: "0.25,1,0\n", count: 50).utf8)
        let member = FileReading.gzip(text)
        #expect(try FileReading.gunzip(member + member, file: "z", slice: slice) == text + text)
        #expect(throws: BPNetError.data(file: "z", problem: "truncated gzip stream")) {
            try FileReading.gunzip(member + member.dropLast(3), file: "z", slice: slice)
        }
        #expect(throws: BPNetError.data(file: "z", problem: "trailing bytes after the gzip stream")) {
            try FileReading.gunzip(member + [0x20], file: "z", slice: slice)
        }
    }

    // MARK: safetensors

    /// Found by `make fuzz` (fuzz-ModelFile, before the fix): a bias shape of
    /// 39223372036854775807, past UInt64, that `NSNumber.intValue` wrapped; `count * 4` then
    /// trapped. The fuzzer's bytes, with the length prefix re-pointed at the header's end as the
    /// target does.
    @Test func modelFuzzerCrash() throws {
        let base64 =
            "gAEAAP//AAB7Il9fbWV0YWRhdGFfXyI6eyJmb3JtYXQiOiJicG5ldCIsInZlcnNpb24iOiIxIiwibGF5ZXJzIjoiMiwzLDIiLCJhY2tpdmF0aW9u"
            + "Ijoic2lnYyJ9LCJsYXllcnMuMC53ZWlnaHQiOnsiZHR5cGUiOiJGMzIiLCJzaGFwZSI6WzMsMl0sImRhdGFfb2Zmc2V0cyI6WzAsMjRdfSwibGF5"
            + "ZXJzLjAuYmlhcyI6eyJkdHlwZSI6IkYzMiIsInNoYXBlIjpbMzkyMjMzNzIwMzY4NTQ3NzU4MDddLCJkYXRhX29mZnNldHMiOlsyNCwzNl19LCJs"
            + "YXllcnMuMS53ZWlnaHQiOnsiZHR5cGUiOiJGMzIiLCJzaGFwZSI6WzIsM10sImRhdGFfb2Zmc2V0cyI6WzM2LDYwXX0sImxheWVycy4xLmJpYXMi"
            + "OnsiZHR5cGUiOiJGMzIiLCJzaGFwZSI6WzJdLCJkYXRhX29mZnNldHMiOls2MCw2OF19fSByeps+I0GlPgiobL77ET8/f4fwvqJyiL/vtB7AngxxvjNn"
            + "AT8Qk0s+6d3buztOIbzgmZ09PjiAP2MKmL8OgtS/nteSPg=="
        var bytes = try #require(Data(base64Encoded: base64).map { [UInt8]($0) })
        let closer = try #require(bytes.lastIndex(of: UInt8(ascii: "}")))
        let headerEnd = closer + 2  // the closing brace and one space of padding
        bytes.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(headerEnd - 8).littleEndian, Array.init))
        #expect(throws: BPNetError.model(file: "m", problem: "tensor layers.0.bias has a bad shape")) {
            try ModelFile.decode(Data(bytes), file: "m")
        }
    }

    @Test func modelShapeWhoseProductOverflows() throws {
        let file = Self.model(header: Self.weightHeader(shape: "[4294967296,4294967296]", offsets: "[0,4]"))
        #expect(throws: BPNetError.model(file: "m", problem: "tensor layers.0.weight shape [4294967296, 4294967296] overflows")) {
            try ModelFile.decode(file, file: "m")
        }
    }

    @Test func modelShapeWhoseByteCountOverflows() throws {
        let file = Self.model(header: Self.weightHeader(shape: "[4611686018427387904]", offsets: "[0,4]"))  // 2⁶², × 4 bytes
        #expect(throws: BPNetError.model(file: "m", problem: "tensor layers.0.weight shape [4611686018427387904] overflows")) {
            try ModelFile.decode(file, file: "m")
        }
    }

    @Test func modelHugeDataOffsets() throws {
        let outOfRange = Self.model(header: Self.weightHeader(shape: "[1,1]", offsets: "[0,9223372036854775807]"))
        #expect(throws: BPNetError.model(
            file: "m", problem: "tensor layers.0.weight data_offsets [0, 9223372036854775807] are out of range (data is 8 bytes)")) {
            try ModelFile.decode(outOfRange, file: "m")
        }
        let negative = Self.model(header: Self.weightHeader(shape: "[1,1]", offsets: "[-1,4]"))
        #expect(throws: BPNetError.model(file: "m", problem: "tensor layers.0.weight data_offsets [-1, 4] are out of range (data is 8 bytes)")) {
            try ModelFile.decode(negative, file: "m")
        }
        // Past Int, or not integers: NSNumber.intValue used to wrap or truncate these.
        for offsets in ["[0,18446744073709551615]", "[0,1e300]", "[0,4.5]", "[0,123456789012345678901234567890]", "[0,4,8]"] {
            let file = Self.model(header: Self.weightHeader(shape: "[1,1]", offsets: offsets))
            #expect(throws: BPNetError.model(file: "m", problem: "tensor layers.0.weight has bad data_offsets"), "\(offsets)") {
                try ModelFile.decode(file, file: "m")
            }
        }
    }

    @Test func modelShapesThatAreNotPositiveIntegers() throws {
        for shape in ["[2.5,1]", "[1e300,1]", "[-1,1]", "[18446744073709551615,1]", "[\"1\",1]", "{}"] {
            let file = Self.model(header: Self.weightHeader(shape: shape, offsets: "[0,4]"))
            #expect(throws: BPNetError.model(file: "m", problem: "tensor layers.0.weight has a bad shape"), "\(shape)") {
                try ModelFile.decode(file, file: "m")
            }
        }
        // Integral numbers written as reals still count.
        let real = Self.model(header: Self.weightHeader(shape: "[1.0,1e0]", offsets: "[0,4]"))
        #expect(try ModelFile.decode(real, file: "m", activationsIfUnrecorded: "sigmoid").network.sizes == [1, 1])
    }

    @Test func modelHeaderLengthsAndNesting() throws {
        var huge = Data(repeating: 0xFF, count: 8)
        huge.append(contentsOf: Array("{}".utf8))
        #expect(throws: BPNetError.model(
            file: "m", problem: "truncated: header length 18446744073709551615 runs past the end of the 10-byte file")) {
            try ModelFile.decode(huge, file: "m")
        }
        let nested = Self.model(
            header: "{\"a\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}", payload: [])
        #expect(throws: BPNetError.model(file: "m", problem: "header is not a JSON object")) {
            try ModelFile.decode(nested, file: "m")
        }
    }

    // MARK: CSV

    /// One large label sets the class count, and every row gets a one-hot row that wide:
    /// 2.2 KB of text asked for 3.3 billion floats.
    @Test func csvOneHotTargetsPastTheMatrixLimit() throws {
        let text = "0,16777215\n" + String(repeating: "0,0\n", count: 199)
        let table = try CSV.parse(bytes: Array(text.utf8), file: "c")
        #expect(throws: BPNetError.data(
            file: "c", problem: "200 rows of 16777216 classes need more one-hot target values than the 2147483647 a matrix may hold")) {
            try CSV.dataset(table, inputs: nil, outputs: nil)
        }
        #expect(throws: BPNetError.invalidArgument("a 9223372036854775807-input, 1-output network cannot match a CSV row")) {
            try CSV.dataset(table, inputs: Int.max, outputs: 1)
        }
    }

    /// The one-hot suffix check reads each cell at most once, and agrees with its definition
    /// (the widest width whose last columns hold only 0s and 1s with exactly one 1, in every row).
    @Test func csvOneHotSuffixMatchesItsDefinition() throws {
        var generator = SeededGenerator(seed: 7)
        for _ in 0..<2000 {
            let columns = Int.random(in: 1...6, using: &generator), rows = Int.random(in: 1...4, using: &generator)
            let cells: [Float] = (0..<(rows * columns)).map { _ in [0, 0, 1, 1, 2][Int.random(in: 0..<5, using: &generator)] }
            let text = stride(from: 0, to: cells.count, by: columns)
                .map { cells[$0..<($0 + columns)].map { "\(Int($0))" }.joined(separator: ",") }.joined(separator: "\n")
            let table = try CSV.parse(bytes: Array(text.utf8), file: "c")
            var expected: Int?
            if columns >= 3 {
                expected = stride(from: columns - 1, through: 2, by: -1).first { width in
                    (0..<rows).allSatisfy { r in
                        let tail = cells[((r + 1) * columns - width)..<((r + 1) * columns)]
                        return tail.allSatisfy { $0 == 0 || $0 == 1 } && tail.reduce(0, +) == 1
                    }
                }
            }
            #expect(table.oneHotSuffixWidth() == expected, "\(text)")
        }
        // 60,000 binary columns: quadratic took seconds here, linear takes milliseconds.
        let wide = try CSV.parse(bytes: Array((String(repeating: "0,", count: 60_000) + "1").utf8), file: "w")
        let clock = ContinuousClock(), start = clock.now
        #expect(wide.oneHotSuffixWidth() == 60_000)
        #expect(clock.now - start < .seconds(1))
    }

    // MARK: Command line

    /// A broken file ends `bpnet` with one `error:` line naming the file, not a trap and a stack dump.
    @Test func cliReportsOneLine() throws {
        let folder = try TestData.temporaryFolder()
        try Data(Self.idxHeader([2_097_152, 2_097_152, 2_097_152])).write(to: URL(fileURLWithPath: "\(folder)/train-images-idx3-ubyte"))
        try Data(Self.idxHeader([0])).write(to: URL(fileURLWithPath: "\(folder)/train-labels-idx1-ubyte"))
        let model = folder + "/overflow.safetensors"
        try Self.model(header: Self.weightHeader(shape: "[4294967296,4294967296]", offsets: "[0,4]")).write(to: URL(fileURLWithPath: model))
        let csv = folder + "/labels.csv"
        try ("0,16777215\n" + String(repeating: "0,0\n", count: 199)).write(toFile: csv, atomically: true, encoding: .utf8)

        let cases: [([String], String)] = [
            (["train", "--data", folder, "--epochs", "1", "--device", "cpu"],
             "error: \(folder)/train-images-idx3-ubyte: dimensions 2097152×2097152×2097152 overflow"),
            (["evaluate", "--model", model, "--data", csv, "--device", "cpu"],
             "error: \(model): tensor layers.0.weight shape [4294967296, 4294967296] overflows"),
            (["train", "--data", csv, "--epochs", "1", "--device", "cpu"],
             "error: \(csv): 200 rows of 16777216 classes need more one-hot target values than the 2147483647 a matrix may hold"),
        ]
        for (arguments, line) in cases {
            let result = try CLI.run(arguments)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.stderr == line + "\n", "\(arguments)")
            #expect(result.stdout.isEmpty, "\(arguments)")
        }
    }
}
