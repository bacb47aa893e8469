@testable import BPNet
import BPNetTestSupport
import Foundation
import Testing

@Suite struct IDXReaderTests {
    /// Writes an image/label pair (3 images of 2×3 pixels) and returns the folder.
    func makeFolder(gzip: Bool, labels: [UInt8] = [2, 0, 1], imageCount: Int = 3) throws -> String {
        let folder = try TestData.temporaryFolder()
        let pixels = (0..<(imageCount * 6)).map { UInt8($0 * 13 % 256) }
        for (name, values, dims) in [
            ("train-images-idx3-ubyte", pixels, [imageCount, 2, 3]), ("train-labels-idx1-ubyte", labels, [labels.count]),
        ] {
            let path = "\(folder)/\(name)"
            try IDX.write(values, dimensions: dims, to: path)
            if gzip {
                let raw = try FileReading.read(path)
                try Data(FileReading.gzip(raw)).write(to: URL(fileURLWithPath: path + ".gz"))
                try FileManager.default.removeItem(atPath: path)
            }
        }
        return folder
    }

    @Test(arguments: [false, true])
    func roundTrip(gzip: Bool) throws {
        let folder = try makeFolder(gzip: gzip)
        let data = try DataSource.idx(folder: folder).load(.train, outputs: 4)
        #expect(data.count == 3 && data.inputSize == 6 && data.outputSize == 4)
        #expect(data.inputs[1] == Float(13) / 255)
        #expect(data.labels == [2, 0, 1])
        #expect(data.targets[0..<4] == [0, 0, 1, 0])
        // Without a known output size, classes = largest label + 1.
        #expect(try DataSource.idx(folder: folder).load(.train).outputSize == 3)
    }

    @Test func rejectsBadMagic() throws {
        let folder = try makeFolder(gzip: false)
        var bytes = try FileReading.read("\(folder)/train-images-idx3-ubyte")
        bytes[2] = 0x0D  // float instead of ubyte
        try Data(bytes).write(to: URL(fileURLWithPath: "\(folder)/train-images-idx3-ubyte"))
        #expect(throws: BPNetError.data(
            file: "\(folder)/train-images-idx3-ubyte",
            problem: "bad IDX magic 0x00000D03, expected 0x00000803 (unsigned bytes, rank 3)")) {
            try DataSource.idx(folder: folder).load(.train, outputs: 3)
        }
    }

    @Test func rejectsSizeMismatchAndCountMismatch() throws {
        let folder = try makeFolder(gzip: false)
        let path = "\(folder)/train-images-idx3-ubyte"
        let bytes = try FileReading.read(path)
        try Data(bytes.dropLast()).write(to: URL(fileURLWithPath: path))
        #expect(throws: BPNetError.data(file: path, problem: "dimensions 3×2×3 need 34 bytes but the file has 33")) {
            try DataSource.idx(folder: folder).load(.train, outputs: 3)
        }
        let other = try makeFolder(gzip: false, labels: [1, 0])
        #expect(throws: BPNetError.data(
            file: "\(other)/train-labels-idx1-ubyte", problem: "holds 2 labels but \(other)/train-images-idx3-ubyte holds 3 images")) {
            try DataSource.idx(folder: other).load(.train, outputs: 3)
        }
    }

    @Test func rejectsLabelsThatDoNotFitTheOutputLayer() throws {
        let folder = try makeFolder(gzip: false)
        #expect(throws: BPNetError.data(
            file: "\(folder)/train-labels-idx1-ubyte", problem: "label 2 of sample 0 does not fit an output layer of 2 units")) {
            try DataSource.idx(folder: folder).load(.train, outputs: 2)
        }
    }

    @Test func rejectsTruncatedAndCorruptGzip() throws {
        let folder = try makeFolder(gzip: true)
        let path = "\(folder)/train-images-idx3-ubyte.gz"
        let compressed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        try Data(compressed.prefix(compressed.count - 10)).write(to: URL(fileURLWithPath: path))
        #expect(throws: BPNetError.data(file: path, problem: "truncated gzip stream")) {
            try DataSource.idx(folder: folder).load(.train, outputs: 3)
        }
        var corrupt = compressed
        corrupt[12] ^= 0xFF
        corrupt[13] ^= 0xFF
        try Data(corrupt).write(to: URL(fileURLWithPath: path))
        #expect {
            try DataSource.idx(folder: folder).load(.train, outputs: 3)
        } throws: { error in
            "\(error)".hasPrefix("\(path): corrupt gzip stream")
        }
    }

    @Test func namesMissingFiles() throws {
        let folder = try TestData.temporaryFolder()
        #expect(throws: BPNetError.data(file: folder, problem: "holds neither train-images-idx3-ubyte nor train-images-idx3-ubyte.gz")) {
            try DataSource.idx(folder: folder).load(.train)
        }
        #expect(throws: BPNetError.self) { try DataSource(parsing: "\(folder)/nothing-here.csv") }
    }

    /// Skipped where Debian's dataset-fashion-mnist is missing, except under CI=true, where it must be.
    @Test(.enabled(
        if: ProcessInfo.processInfo.environment["CI"] == "true" || FileManager.default.fileExists(atPath: DataSource.fashionMNISTFolder),
        "dataset-fashion-mnist is not installed"))
    func readsFashionMNISTWhenInstalled() throws {
        let data = try #require(try TestData.fashionMNIST(count: 100), "CI must install dataset-fashion-mnist")
        #expect(data.count == 100 && data.inputSize == 784 && data.outputSize == 10)
        #expect(data.inputs.allSatisfy { (0...1).contains($0) })
        let test = try DataSource.fashionMNIST.load(.test)
        #expect(test.count == 10_000)
    }
}

@Suite struct CSVReaderTests {
    func write(_ text: String) throws -> String {
        let path = try TestData.temporaryFolder() + "/data.csv"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func readsLabelsWithHeaderAndBlankLines() throws {
        let path = try write("x1,x2,label\n0.5,1,2\n\n0,0.25,0\r\n 1 , 2 , 1 \n")
        let data = try CSV.read(path, inputs: 2, outputs: 3)
        #expect(data.count == 3)
        #expect(data.inputs == [0.5, 1, 0, 0.25, 1, 2])
        #expect(data.labels == [2, 0, 1])
        let inferred = try CSV.read(path)
        #expect(inferred.inputSize == 2 && inferred.outputSize == 3)
    }

    @Test func readsTargets() throws {
        let path = try write("1,2,0.1,0.9\n3,4,0.7,0.3\n")
        let data = try CSV.read(path, inputs: 2, outputs: 2)
        #expect(data.targets == [0.1, 0.9, 0.7, 0.3])
    }

    @Test func roundTrip() throws {
        let original = try TestData.regression(count: 17, inputs: 3, outputs: 2, seed: 5)
        let path = try TestData.temporaryFolder() + "/round.csv"
        try CSV.write(original, to: path)
        let read = try CSV.read(path, inputs: 3, outputs: 2)
        #expect(read.inputs == original.inputs && read.targets == original.targets)
    }

    @Test func errorsNameLineAndColumn() throws {
        let notNumber = try write("a,b,c\n1,2,0\n1,x,1\n")
        #expect(throws: BPNetError.data(file: notNumber, problem: "line 3, column 2: 'x' is not a number")) {
            try CSV.read(notNumber, inputs: 2, outputs: 2)
        }
        let nan = try write("1,2,0\n1,nan,1\n")
        #expect(throws: BPNetError.data(file: nan, problem: "line 2, column 2: nan is not finite")) {
            try CSV.read(nan, inputs: 2, outputs: 2)
        }
        let inf = try write("1,2,0\n1,2,inf\n")
        #expect(throws: BPNetError.data(file: inf, problem: "line 2, column 3: inf is not finite")) {
            try CSV.read(inf, inputs: 2, outputs: 2)
        }
        let ragged = try write("1,2,0\n\n1,2\n")
        #expect(throws: BPNetError.data(file: ragged, problem: "line 3 has 2 columns, expected 3")) {
            try CSV.read(ragged, inputs: 2, outputs: 2)
        }
        let badLabel = try write("1,2,0\n1,2,5\n")
        #expect(throws: BPNetError.data(
            file: badLabel, problem: "line 2, column 3: class label 5 does not fit an output layer of 2 units")) {
            try CSV.read(badLabel, inputs: 2, outputs: 2)
        }
        let fractional = try write("1,2,0.5\n")
        #expect(throws: BPNetError.data(
            file: fractional, problem: "line 1, column 3: class label 0.5 is not a non-negative integer")) {
            try CSV.read(fractional, inputs: 2, outputs: 3)
        }
        let wrongWidth = try write("1,2,3,4,5\n")
        #expect(throws: BPNetError.self) { try CSV.read(wrongWidth, inputs: 2, outputs: 2) }
        let empty = try write("a,b\n\n")
        #expect(throws: BPNetError.data(file: empty, problem: "holds no data rows")) { try CSV.read(empty) }
    }
}

@Suite struct FileReadingTests {
    /// Files of odd sizes, past the 64 KiB chunk that files of unknown size are read in, come back whole.
    @Test func readsWholeFiles() throws {
        let folder = try TestData.temporaryFolder()
        var generator = SeededGenerator(seed: 3)
        for size in [0, 1, 65_535, 65_537, 200_003] {
            let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }.map { $0 == 0x1F ? 0 : $0 }  // no gzip magic
            let path = "\(folder)/file-\(size)"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            #expect(try FileReading.read(path) == bytes, "\(size) bytes")
        }
        #expect(throws: BPNetError.data(file: folder, problem: "cannot be read")) { try FileReading.read(folder) }
        #expect(throws: BPNetError.data(file: folder + "/none", problem: "no such file")) { try FileReading.read(folder + "/none") }
    }

    /// A named pipe has no size to read ahead of time; it is read to its end all the same.
    @Test func readsAPipeToItsEnd() throws {
        let path = try TestData.temporaryFolder() + "/pipe"
        #expect(mkfifo(path, 0o600) == 0)
        let text = (0..<30_001).map { "\($0 % 10)" }.joined(separator: ",") + "\n"
        let writer = Thread {
            // Opening a pipe for writing waits for its reader.
            let handle = FileHandle(forWritingAtPath: path)
            handle?.write(Data(text.utf8))
            try? handle?.close()
        }
        writer.start()
        let table = try CSV.parse(path)
        #expect(table.columns == 30_001 && table.rows == 1 && table.cells[30_000] == 0)
    }
}
