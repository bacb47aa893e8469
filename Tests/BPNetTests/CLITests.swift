import BPNet
import BPNetTestSupport
import Foundation
import Testing

@Suite struct CLITests {
    let folder: String
    let trainCSV: String
    let testCSV: String

    init() throws {
        folder = try TestData.temporaryFolder()
        trainCSV = folder + "/train.csv"
        testCSV = folder + "/test.csv"
        try CSV.write(try TestData.classification(count: 203, inputs: 4, classes: 3, seed: 1), to: trainCSV)
        try CSV.write(try TestData.classification(count: 51, inputs: 4, classes: 3, seed: 2), to: testCSV)
    }

    func json(_ line: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func binaryIsBuilt() {
        #expect(FileManager.default.isExecutableFile(atPath: CLI.binary), "looked for bpnet beside the tests")
    }

    @Test func trainSaveInitEvaluatePredict() throws {
        let model = folder + "/model.safetensors"
        let train = try CLI.run([
            "train", "--data", trainCSV, "--test", testCSV, "--layers", "4,7,3", "--epochs", "3", "--batch-size", "17",
            "--learning-rate", "2", "--loss", "cross-entropy", "--momentum", "0.5", "--l2", "0.1", "--json",
            "--save", model, "--device", "cpu",
        ])
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stderr.contains("device: cpu"))
        let epochs = try train.stdoutLines.map(json)
        #expect(epochs.count == 3)
        for (i, epoch) in epochs.enumerated() {
            #expect(Set(epoch.keys) == ["epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds", "samples_per_second"])
            #expect(epoch["epoch"] as? Int == i + 1)
            let accuracy = try #require(epoch["test_accuracy"] as? Double)
            #expect((0...1).contains(accuracy))
        }
        let (network, metadata) = try ModelFile.load(model)
        #expect(network.sizes == [4, 7, 3])
        #expect(metadata.loss == .crossEntropy)

        // --init picks the sizes up from the model and continues from its weights.
        let resumed = try CLI.run([
            "train", "--data", trainCSV, "--init", model, "--epochs", "1", "--json", "--device", "cpu",
            "--learning-rate", "2", "--loss", "cross-entropy", "--no-shuffle",
        ])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let first = try json(train.stdoutLines[0])["train_loss"] as! Double
        let continued = try json(resumed.stdoutLines[0])["train_loss"] as! Double
        #expect(continued < first)
        #expect(try json(resumed.stdoutLines[0])["test_loss"] is NSNull)

        let evaluation = try CLI.run(["evaluate", "--model", model, "--data", testCSV, "--json", "--device", "cpu"])
        #expect(evaluation.status == 0, "\(evaluation.stderr)")
        let reported = try json(evaluation.stdout)
        let expected = try network.evaluate(
            on: try CSV.read(testCSV, inputs: 4, outputs: 3), loss: .crossEntropy, backend: CPUBackend())
        #expect(reported["samples"] as? Int == 51)
        #expect(abs((reported["accuracy"] as! Double) - expected.accuracy) < 1e-12)
        #expect(abs((reported["loss"] as! Double) - expected.loss) < 1e-9)

        let inputs = folder + "/inputs.csv"
        try "a,b,c,d\n0.1,0.2,0.3,0.4\n1,0,1,0\n0,0,0,0\n".write(toFile: inputs, atomically: true, encoding: .utf8)
        let classes = try CLI.run(["predict", "--model", model, "--input", inputs, "--classes"])
        #expect(classes.status == 0, "\(classes.stderr)")
        #expect(classes.stdoutLines.count == 3)
        let outputs = try CLI.run(["predict", "--model", model, "--input", inputs])
        let rows = outputs.stdoutLines.map { $0.split(separator: ",").compactMap { Float($0) } }
        #expect(rows.count == 3 && rows.allSatisfy { $0.count == 3 })
        let direct = network([0.1, 0.2, 0.3, 0.4])
        #expect(relativeError(rows[0], direct) < 1e-5)
        let argmax = rows.map { row in row.firstIndex(of: row.max()!)! }
        #expect(classes.stdoutLines == argmax.map(String.init))
    }

    @Test func readableTableAndIDXFolder() throws {
        let idx = folder + "/idx"
        try FileManager.default.createDirectory(atPath: idx, withIntermediateDirectories: true)
        for (split, count) in [("train", 30), ("t10k", 11)] {
            try IDX.write((0..<(count * 9)).map { UInt8($0 * 7 % 256) }, dimensions: [count, 3, 3], to: "\(idx)/\(split)-images-idx3-ubyte")
            try IDX.write((0..<count).map { UInt8($0 % 4) }, dimensions: [count], to: "\(idx)/\(split)-labels-idx1-ubyte")
        }
        let result = try CLI.run(["train", "--data", idx, "--epochs", "2", "--device", "cpu"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.tableLines.first == "epoch  train_loss  train_acc  test_loss  test_acc  seconds  samples/s")
        #expect(result.tableLines.count == 4)
        #expect(result.stdoutLines.last?.hasPrefix("final test accuracy: ") == true)
        #expect(result.stderr.contains("network 9-30-4 (sigmoid,sigmoid), 30 training and 11 test samples"))

        // A folder without the t10k pair trains without a test set.
        for kind in ["images-idx3", "labels-idx1"] { try FileManager.default.removeItem(atPath: "\(idx)/t10k-\(kind)-ubyte") }
        let untested = try CLI.run(["train", "--data", idx, "--epochs", "1", "--device", "cpu", "--json"])
        #expect(untested.status == 0, "\(untested.stderr)")
        #expect(try json(untested.stdoutLines[0])["test_accuracy"] is NSNull)
    }

    @Test func devicesListsTheCPU() throws {
        let result = try CLI.run(["devices"])
        #expect(result.status == 0)
        #expect(result.stdoutLines.first?.hasPrefix("cpu       OpenBLAS") == true)
        let listed = try CLI.run(["devices", "--json"])
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
        #expect(entries.first?["device"] as? String == "cpu")
    }

    /// bench --csv-load loads a file as train --data does and prints one JSON line; a bad file
    /// is the usual one-line error.
    @Test func benchLoadsACSV() throws {
        let labelled = folder + "/labelled.csv"
        try "a,b,label\n0.5,1,2\n\n-1e-3,0.25,0\r\n1,2,1\n".write(toFile: labelled, atomically: true, encoding: .utf8)
        let result = try CLI.run(["bench", "--csv-load", labelled])
        #expect(result.status == 0 && result.stdoutLines.count == 1, "\(result.stdout)\(result.stderr)")
        let figures = try json(result.stdoutLines.first ?? "")
        #expect(figures["rows"] as? Int == 3 && figures["inputs"] as? Int == 2 && figures["outputs"] as? Int == 3, "\(figures)")
        #expect((figures["peak_rss_mib"] as? Double ?? 0) >= (figures["peak_rss_mib_before"] as? Double ?? .infinity))
        let broken = folder + "/broken.csv"
        try "1,2,0\n1,x,1\n".write(toFile: broken, atomically: true, encoding: .utf8)
        let failed = try CLI.run(["bench", "--csv-load", broken])
        #expect(failed.status != 0 && failed.stdout.isEmpty)
        #expect(failed.stderr == "error: \(broken): line 2, column 2: 'x' is not a number\n")
    }

    @Test func badInputGivesOneLineAndNonZeroExit() throws {
        let corrupt = folder + "/corrupt.safetensors"
        try "garbage".write(toFile: corrupt, atomically: true, encoding: .utf8)
        let cases: [([String], String)] = [
            (["train", "--epochs", "0"], "epochs must be positive"),
            (["train", "--batch-size=-3"], "batch size must be positive"),
            (["train", "--learning-rate", "0"], "learning rate must be positive"),
            (["train", "--momentum", "1.5"], "momentum must be in [0, 1)"),
            (["train", "--limit", "0"], "--limit must be positive"),
            (["train", "--layers", "3,0,2"], "layer sizes must be positive"),
            (["train", "--layers", "3"], "at least an input and an output size"),
            (["train", "--layers", "784,100000000,10"], "is too large"),
            (["train", "--save", "/nonexistent-folder/m.safetensors"], "the folder /nonexistent-folder does not exist"),
            (["train", "--device", "gpu"], "unknown device 'gpu'"),
            (["train", "--loss", "hinge"], "hinge"),
            (["train", "--frobnicate"], "frobnicate"),
            (["train", "--data", folder + "/missing.csv", "--device", "cpu"], "no such file or folder"),
            (["train", "--data", trainCSV, "--layers", "9,3,2", "--device", "cpu"], "rows have 7 columns"),
            (["train", "--data", trainCSV, "--init", corrupt, "--device", "cpu"], "too short for a safetensors header"),
            (["evaluate", "--model", folder + "/none.safetensors", "--data", testCSV, "--device", "cpu"], "no such file"),
            (["predict", "--model", corrupt, "--input", testCSV], "corrupt.safetensors"),
            (["train", "--data", trainCSV, "--device", "opencl:99"], "opencl:99"),
        ]
        for (arguments, message) in cases {
            let result = try CLI.run(arguments)
            #expect(result.status != 0, "\(arguments) exited 0")
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(arguments): \(result.stderr)")
            #expect(result.stderr.hasPrefix("error: ") && result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
        let environment = try CLI.run(["train", "--data", trainCSV], environment: ["BPNET_DEVICE": "tpu"])
        #expect(environment.status != 0 && environment.stderr.contains("BPNET_DEVICE"))
    }

    @Test func failedRunLeavesExistingModelIntact() throws {
        let model = folder + "/keep.safetensors"
        try ModelFile.save(try Network(sizes: [4, 2, 3], seed: 1), to: model)
        let before = try Data(contentsOf: URL(fileURLWithPath: model))
        let bad = folder + "/bad.csv"
        try "1,2,3,4,0\n1,2,3,4,9\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let result = try CLI.run(["train", "--data", bad, "--layers", "4,2,3", "--save", model, "--device", "cpu"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("line 2, column 5"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: model)) == before)
    }
}
