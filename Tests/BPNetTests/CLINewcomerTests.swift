@testable import BPNet
import BPNetTestSupport
import Foundation
import Testing

/// What a new user tripped on, each case as it was seen: wrong answers, lost runs, and messages.
@Suite struct CLINewcomerTests {
    let folder: String
    let trainCSV: String

    init() throws {
        folder = try TestData.temporaryFolder()
        trainCSV = folder + "/train.csv"
        try CSV.write(try TestData.classification(count: 23, inputs: 4, classes: 3, seed: 1), to: trainCSV)
    }

    /// One line on stderr that contains `message`, and a non-zero exit.
    func expectError(_ arguments: [String], _ message: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try CLI.run(arguments)
        #expect(result.status != 0, "\(arguments) exited 0", sourceLocation: sourceLocation)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("error: ") && lines[0].contains(message),
                "\(arguments): \(result.stderr)", sourceLocation: sourceLocation)
    }

    /// Every bad --save is refused before any work, with the real reason.
    @Test func badSavePathsAreRefusedBeforeTraining() throws {
        let models = folder + "/models"
        try FileManager.default.createDirectory(atPath: models, withIntermediateDirectories: true)
        let run = ["train", "--data", trainCSV, "--epochs", "1", "--device", "cpu", "--save"]
        try expectError(run + [models], "--save '\(models)' is a folder; give a file path in it")
        try expectError(run + [models + "/"], "--save '\(models)/' is a folder; give a file path in it")
        try expectError(run + [""], "--save is empty; give a file path such as runs/net.safetensors")
        try expectError(run + ["."], "--save '.' is a folder; give a file path in it, such as ./net.safetensors")
        try expectError(run + [trainCSV + "/m.safetensors"], "\(trainCSV) is not a folder")
        if getuid() != 0 {
            try expectError(run + ["/sys/m.safetensors"], "cannot create a file in /sys")
        } else {
            // Root writes almost anywhere; /proc still refuses new files.
            try expectError(run + ["/proc/m.safetensors"], "cannot create a file in /proc")
        }
        // Nothing was left behind by the check itself.
        #expect(try FileManager.default.contentsOfDirectory(atPath: models).isEmpty)
        try expectError(
            ["bench", "--gemm-only", "--configs", "A", "--output", models], "--output '\(models)' is a folder; give a file path in it, such as \(models)/bench.json")
    }

    /// A negative number where one is expected reaches validation instead of "Missing value".
    @Test func negativeNumbersGetTheRealMessage() throws {
        try expectError(["train", "--learning-rate", "-1"], "learning rate must be positive and finite, got -1.0")
        try expectError(["train", "--l2", "-0.5"], "l2 must be ≥ 0 and finite, got -0.5")
        try expectError(["train", "--epochs", "-2"], "epochs must be positive, got -2")
        try expectError(["train", "--seed", "-1"], "The value '-1' is invalid for '--seed <seed>'")
        try expectError(["evaluate", "--model", "m", "--limit", "-4"], "--limit must be positive, got -4")
        try expectError(["predict", "--model", "m", "--input", "x", "--precision", "-1"], "--precision must be 1 to 9, got -1")
    }

    /// The table and the JSON show the training accuracy; without a test set the last line is for training.
    @Test func trainAccuracyIsShown() throws {
        let table = try CLI.run(["train", "--data", trainCSV, "--epochs", "2", "--layers", "4,5,3", "--device", "cpu"])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.tableLines.first == "epoch  train_loss  train_acc  test_loss  test_acc  seconds  samples/s")
        #expect(table.tableLines.count == 4)
        #expect(table.stdoutLines.last?.hasPrefix("final train accuracy: ") == true)
        #expect(table.stderr.contains("23 training and 0 test samples, 2 epochs of batch 10"))
        let json = try CLI.run(["train", "--data", trainCSV, "--epochs", "1", "--layers", "4,5,3", "--device", "cpu", "--json"])
        let epoch = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let accuracy = try #require(epoch["train_accuracy"] as? Double)
        // 23 samples: the accuracy is a whole number of them.
        #expect((0...1).contains(accuracy) && abs(accuracy * 23 - (accuracy * 23).rounded()) < 1e-9)
        #expect(json.stderr.contains("1 epoch of batch 10"), "no '1 epochs'")
    }

    /// evaluate: an IDX folder without t10k falls back to train and says so; --split on a CSV is refused.
    @Test func evaluateSplitDefaults() throws {
        let model = folder + "/m.safetensors"
        let idx = folder + "/idx"
        try FileManager.default.createDirectory(atPath: idx, withIntermediateDirectories: true)
        try IDX.write((0..<(13 * 4)).map { UInt8($0 * 5 % 256) }, dimensions: [13, 2, 2], to: idx + "/train-images-idx3-ubyte")
        try IDX.write((0..<13).map { UInt8($0 % 3) }, dimensions: [13], to: idx + "/train-labels-idx1-ubyte")
        try ModelFile.save(try Network(sizes: [4, 3, 3], seed: 1), to: model)
        let fallback = try CLI.run(["evaluate", "--model", model, "--data", idx, "--device", "cpu", "--json"])
        #expect(fallback.status == 0, "\(fallback.stderr)")
        #expect(fallback.stderr.contains("\(idx) has no t10k files; evaluating on its train split"))
        let reported = try #require(try JSONSerialization.jsonObject(with: Data(fallback.stdout.utf8)) as? [String: Any])
        #expect(reported["samples"] as? Int == 13)
        try expectError(
            ["evaluate", "--model", model, "--data", trainCSV, "--split", "train"],
            "--split applies to IDX sources only: \(trainCSV) is a CSV file, which is one split")
    }

    /// predict prints every float32 exactly by default; --precision shortens it.
    @Test func predictPrintsFullPrecision() throws {
        let model = folder + "/p.safetensors"
        // Large weights saturate the sigmoid: outputs far below 1e-6, which %.6f printed as 0.000000.
        let layer = try Layer(inputs: 1, outputs: 2, weights: [-30, 30], biases: [0, -30])
        try ModelFile.save(try Network(layers: [layer]), to: model)
        let input = folder + "/in.csv"
        try "1\n".write(toFile: input, atomically: true, encoding: .utf8)
        let full = try CLI.run(["predict", "--model", model, "--input", input, "--device", "cpu"])
        #expect(full.status == 0, "\(full.stderr)")
        let values = full.stdout.trimmingCharacters(in: .newlines).split(separator: ",").map { Float($0) }
        let expected = try Network(layers: [layer])([1])
        #expect(values == expected.map { Optional($0) }, "printed values read back to the same floats")
        #expect(values.first.flatMap { $0 }.map { $0 > 0 && $0 < 1e-6 } == true)
        let short = try CLI.run(["predict", "--model", model, "--input", input, "--device", "cpu", "--precision", "3"])
        #expect(short.stdout == String(format: "%.3g,%.3g\n", expected[0], expected[1]))
    }

    @Test func versionAndPlurals() throws {
        let version = try CLI.run(["--version"])
        #expect(version.status == 0 && version.stdout == bpnetVersion + "\n")
        #expect(counted(1, "epoch") == "1 epoch" && counted(3, "epoch") == "3 epochs" && counted(0, "test sample") == "0 test samples")
    }

    /// Foundation's and the OpenCL compiler's raw output never reaches the user.
    @Test(.enabled(
        if: ProcessInfo.processInfo.environment["CI"] == "true" || !((try? OpenCLDeviceInfo.all()) ?? []).isEmpty,
        "no OpenCL device (install pocl-opencl-icd)"))
    func kernelFolderProblemsAreOneLine() throws {
        let result = try CLI.run(
            ["train", "--data", trainCSV, "--epochs", "1", "--device", "opencl:0"], environment: ["BPNET_KERNELS": folder + "/missing"])
        #expect(result.status != 0)
        #expect(result.stderr == "error: BPNET_KERNELS=\(folder)/missing: no such folder, or it cannot be read\n")
        let broken = folder + "/kernels"
        try FileManager.default.createDirectory(atPath: broken, withIntermediateDirectories: true)
        try "kernel void broken(global float* x) { x[0] = undefined_name; }".write(
            toFile: broken + "/broken.cl", atomically: true, encoding: .utf8)
        let build = try CLI.run(["train", "--data", trainCSV, "--epochs", "1", "--device", "opencl:0"], environment: ["BPNET_KERNELS": broken])
        #expect(build.status != 0)
        let lines = build.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("error: OpenCL kernels failed to build") && lines[0].contains("undefined_name"),
                "the compiler's own '1 error generated.' stays out: \(build.stderr)")
    }

    /// A first row with a typo is data with an error, not a header; predict keeps one line per row.
    @Test func csvHeaderIsARowWithoutNumbers() throws {
        let model = folder + "/h.safetensors"
        try ModelFile.save(try Network(sizes: [2, 3, 1], seed: 1), to: model)
        let typo = folder + "/typo.csv"
        try "1,O\n0,1\n1,1\n".write(toFile: typo, atomically: true, encoding: .utf8)
        try expectError(["predict", "--model", model, "--input", typo], "typo.csv: line 1, column 2: 'O' is not a number")
        let headed = folder + "/headed.csv"
        try "x,y\n1,0\n0,1\n1,1\n".write(toFile: headed, atomically: true, encoding: .utf8)
        let result = try CLI.run(["predict", "--model", model, "--input", headed, "--device", "cpu"])
        #expect(result.status == 0 && result.stdoutLines.count == 3, "one output line per data row: \(result.stdout)")
        let table = try CSV.parse(headed)
        #expect(table.rows == 3 && table.lines == [2, 3, 4])
    }

    /// predict reads standard input with --input -, and prints what the file gives.
    @Test func predictReadsStandardInput() throws {
        let model = folder + "/s.safetensors"
        try ModelFile.save(try Network(sizes: [2, 3, 2], seed: 1), to: model)
        let rows = "0.25,0.5\n1,0\n0,0\n"
        let file = folder + "/rows.csv"
        try rows.write(toFile: file, atomically: true, encoding: .utf8)
        let fromFile = try CLI.run(["predict", "--model", model, "--input", file, "--device", "cpu"])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["predict", "--model", model, "--input", "-", "--device", "cpu"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data(rows.utf8))
        try input.fileHandleForWriting.close()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(printed == fromFile.stdout && fromFile.stdoutLines.count == 3)
    }

    /// One-hot target columns without --layers are ambiguous: an error names the ways to say it,
    /// and every run says which split it used.
    @Test func ambiguousCSVColumnsAreAnError() throws {
        // trainCSV holds 4 inputs then 3 one-hot target columns, as CSV.write writes them.
        try expectError(
            ["train", "--data", trainCSV, "--epochs", "1", "--device", "cpu"],
            "the last 3 columns look like one-hot targets, but without --layers the last column alone is taken as a class label; "
                + "say how the 7 columns split with --targets 3 or --layers 4,30,3")
        let targets = try CLI.run(["train", "--data", trainCSV, "--epochs", "1", "--device", "cpu", "--targets", "3"])
        #expect(targets.status == 0, "\(targets.stderr)")
        #expect(targets.stderr.contains("data: 4 inputs, 3 target values from the last 3 columns"))
        #expect(targets.stderr.contains("network 4-30-3"))
        let labelled = folder + "/labels.csv"
        try "0.5,0.25,2\n0.1,0.9,0\n0.3,0.3,1\n".write(toFile: labelled, atomically: true, encoding: .utf8)
        let labels = try CLI.run(["train", "--data", labelled, "--epochs", "1", "--device", "cpu"])
        #expect(labels.status == 0, "\(labels.stderr)")
        #expect(labels.stderr.contains("data: 2 inputs, class labels in column 3 (3 classes, one-hot)"))
        try expectError(["train", "--data", trainCSV, "--targets", "7", "--device", "cpu"], "so --targets 7 leaves no input columns")
        try expectError(
            ["train", "--data", trainCSV, "--targets", "2", "--layers", "4,5,3", "--device", "cpu"],
            "rows have 7 columns: 5 inputs and 2 targets, but the input layer has 4 units")
    }

    /// A model of the wrong input width is told about the width, not about the labels.
    @Test func inputWidthIsCheckedBeforeLabels() throws {
        let idx = folder + "/wide"
        try FileManager.default.createDirectory(atPath: idx, withIntermediateDirectories: true)
        try IDX.write((0..<(7 * 9)).map { UInt8($0 % 256) }, dimensions: [7, 3, 3], to: idx + "/train-images-idx3-ubyte")
        try IDX.write((0..<7).map { UInt8($0 % 10) }, dimensions: [7], to: idx + "/train-labels-idx1-ubyte")
        let model = folder + "/narrow.safetensors"
        try ModelFile.save(try Network(sizes: [4, 3, 3], seed: 1), to: model)
        try expectError(
            ["evaluate", "--model", model, "--data", idx, "--split", "train", "--device", "cpu"],
            "train-images-idx3-ubyte: images have 3×3 = 9 pixels but the input layer has 4 units")
    }
}
