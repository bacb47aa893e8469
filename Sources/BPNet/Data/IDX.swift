import Foundation

/// The IDX format of the MNIST family: a big-endian magic (0, 0, type 0x08 = ubyte, rank),
/// one big-endian u32 per dimension, then the values. Files may be gzip-compressed.
public enum IDX {
    /// Images `[count, rows·columns]` scaled to [0, 1] and their labels.
    public static func read(images imagesPath: String, labels labelsPath: String, classes: Int) throws -> Dataset {
        try decode(
            images: FileReading.read(imagesPath), labels: FileReading.read(labelsPath), classes: classes,
            imagesFile: imagesPath, labelsFile: labelsPath)
    }

    /// `read` on bytes already in memory (decompressed); the file names only label errors.
    static func decode(images: [UInt8], labels: [UInt8], classes: Int, imagesFile: String, labelsFile: String) throws -> Dataset {
        let imageDims = try header(images, rank: 3, file: imagesFile)
        let labelDims = try header(labels, rank: 1, file: labelsFile)
        guard imageDims[0] == labelDims[0] else {
            throw BPNetError.data(
                file: labelsFile, problem: "holds \(labelDims[0]) labels but \(imagesFile) holds \(imageDims[0]) images")
        }
        // With zero images the header check passes whatever rows × columns is, so it may still overflow.
        let count = imageDims[0], width = imageDims[1].multipliedReportingOverflow(by: imageDims[2])
        guard !width.overflow else { throw overflow(imageDims, file: imagesFile) }
        guard width.partialValue > 0 else { throw BPNetError.data(file: imagesFile, problem: "images have zero size") }
        guard classes > 0 else { throw BPNetError.invalidArgument("the class count must be positive, got \(classes)") }
        // The one-hot targets go to the device whole, as one matrix indexed with 32-bit integers.
        let targetCount = count.multipliedReportingOverflow(by: classes)
        guard !targetCount.overflow, targetCount.partialValue <= Network.maxElements else {
            throw BPNetError.data(
                file: labelsFile,
                problem: "\(count) labels of \(classes) classes need more one-hot target values than the \(Network.maxElements) a matrix may hold")
        }
        let pixels = images[16...]
        let inputs = pixels.map { Float($0) / 255 }
        var targets = [Float](repeating: 0, count: targetCount.partialValue)
        for (i, label) in labels[8...].enumerated() {
            guard Int(label) < classes else {
                throw BPNetError.data(
                    file: labelsFile,
                    problem: "label \(label) of sample \(i) does not fit an output layer of \(classes) units")
            }
            targets[i * classes + Int(label)] = 1
        }
        return try Dataset(inputs: inputs, targets: targets, inputSize: width.partialValue, outputSize: classes)
    }

    /// The largest label in a label file, so callers can size the output layer.
    public static func maxLabel(labels labelsPath: String) throws -> Int {
        try maxLabel(FileReading.read(labelsPath), file: labelsPath)
    }

    /// `maxLabel` on the bytes of a label file.
    static func maxLabel(_ labels: [UInt8], file: String) throws -> Int {
        _ = try header(labels, rank: 1, file: file)
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
        let expected = try valueCount(dims, file: file).addingReportingOverflow(4 + 4 * rank)
        guard !expected.overflow else { throw overflow(dims, file: file) }
        guard bytes.count == expected.partialValue else {
            throw BPNetError.data(
                file: file,
                problem: "dimensions \(dimensionList(dims)) need \(expected.partialValue) bytes but the file has \(bytes.count)")
        }
        return dims
    }

    /// The product of `dims`; each is below 2³², so three of them can pass Int.max.
    private static func valueCount(_ dims: [Int], file: String) throws -> Int {
        var count = 1
        for dim in dims {
            let product = count.multipliedReportingOverflow(by: dim)
            guard !product.overflow else { throw overflow(dims, file: file) }
            count = product.partialValue
        }
        return count
    }

    private static func overflow(_ dims: [Int], file: String) -> BPNetError {
        .data(file: file, problem: "dimensions \(dimensionList(dims)) overflow")
    }

    private static func dimensionList(_ dims: [Int]) -> String { dims.map(String.init).joined(separator: "×") }

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
