import Foundation

/// The IDX format of the MNIST family: a big-endian magic (0, 0, type 0x08 = ubyte, rank),
/// one big-endian u32 per dimension, then the values. Files may be gzip-compressed.
public enum IDX {
    /// Images `[count, rows·columns]` scaled to [0, 1] and their labels.
    public static func read(images imagesPath: String, labels labelsPath: String, classes: Int) throws -> Dataset {
        let images = try FileReading.read(imagesPath)
        let labels = try FileReading.read(labelsPath)
        let imageDims = try header(images, rank: 3, file: imagesPath)
        let labelDims = try header(labels, rank: 1, file: labelsPath)
        guard imageDims[0] == labelDims[0] else {
            throw BPNetError.data(
                file: labelsPath, problem: "holds \(labelDims[0]) labels but \(imagesPath) holds \(imageDims[0]) images")
        }
        let count = imageDims[0], width = imageDims[1] * imageDims[2]
        guard width > 0 else { throw BPNetError.data(file: imagesPath, problem: "images have zero size") }
        let pixels = images[16...]
        let inputs = pixels.map { Float($0) / 255 }
        var targets = [Float](repeating: 0, count: count * classes)
        for (i, label) in labels[8...].enumerated() {
            guard Int(label) < classes else {
                throw BPNetError.data(
                    file: labelsPath,
                    problem: "label \(label) of sample \(i) does not fit an output layer of \(classes) units")
            }
            targets[i * classes + Int(label)] = 1
        }
        return try Dataset(inputs: inputs, targets: targets, inputSize: width, outputSize: classes)
    }

    /// The largest label in a label file, so callers can size the output layer.
    public static func maxLabel(labels labelsPath: String) throws -> Int {
        let labels = try FileReading.read(labelsPath)
        _ = try header(labels, rank: 1, file: labelsPath)
        return Int(labels[8...].max() ?? 0)
    }

    /// Validates the magic, rank and that the file holds exactly the values its dimensions promise.
    static func header(_ bytes: [UInt8], rank: Int, file: String) throws -> [Int] {
        guard bytes.count >= 4 + 4 * rank else {
            throw BPNetError.data(file: file, problem: "too short for an IDX header (\(bytes.count) bytes)")
        }
        let expectedMagic = 0x0000_0800 | UInt32(rank)
        let magic = bigEndianU32(bytes, at: 0)
        guard magic == expectedMagic else {
            throw BPNetError.data(
                file: file,
                problem: String(format: "bad IDX magic 0x%08X, expected 0x%08X (unsigned bytes, rank %d)", magic, expectedMagic, rank))
        }
        let dims = (0..<rank).map { Int(bigEndianU32(bytes, at: 4 + 4 * $0)) }
        let expected = dims.reduce(1, *) + 4 + 4 * rank
        guard bytes.count == expected else {
            throw BPNetError.data(
                file: file,
                problem: "dimensions \(dims.map(String.init).joined(separator: "×")) need \(expected) bytes but the file has \(bytes.count)")
        }
        return dims
    }

    private static func bigEndianU32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 << 8 | UInt32(bytes[offset + $1]) }
    }

    /// Writes an uncompressed IDX file; used by tests and tools to make small data sets.
    public static func write(_ values: [UInt8], dimensions: [Int], to path: String) throws {
        var bytes: [UInt8] = [0, 0, 0x08, UInt8(dimensions.count)]
        for d in dimensions { bytes += withUnsafeBytes(of: UInt32(d).bigEndian, Array.init) }
        bytes += values
        try AtomicFile.write(Data(bytes), to: path)
    }
}
