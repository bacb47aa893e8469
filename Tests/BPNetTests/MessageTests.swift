@testable import BPNet
import BPNetTestSupport
import Foundation
import Testing

/// Messages that point the right way: each names what is really wrong, or says what really ran.
@Suite struct MessageTests {
    let folder: String
    let trainCSV: String

    init() throws {
        folder = try TestData.temporaryFolder()
        trainCSV = folder + "/train.csv"
        try CSV.write(try TestData.classification(count: 29, inputs: 4, classes: 3, seed: 1), to: trainCSV)
    }

    /// A text file or a folder given as a model says what it is, not a header length.
    @Test func notAModelFile() throws {
        let text = folder + "/notes.txt"
        try "format,bpnet\nthis is a CSV, not a model\n".write(toFile: text, atomically: true, encoding: .utf8)
        for command in [["evaluate", "--data", trainCSV], ["predict", "--input", trainCSV]] {
            let run = try CLI.run(command + ["--model", text, "--device", "cpu"])
            #expect(run.status != 0 && run.stderr == "error: \(text): is not a safetensors file (its 9th byte should open the JSON header with '{')\n", "\(run.stderr)")
            let folderRun = try CLI.run(command + ["--model", folder, "--device", "cpu"])
            #expect(folderRun.status != 0 && folderRun.stderr == "error: \(folder): is a folder, not a model file\n", "\(folderRun.stderr)")
        }
        #expect(throws: BPNetError.model(file: "m", problem: "is not a safetensors file (its 9th byte should open the JSON header with '{')")) {
            try ModelFile.decode(Data("0123456789abcdef".utf8), file: "m")
        }
    }

    /// A weight stored transposed is the weight's fault, with the expected [outputs, inputs].
    @Test func transposedWeightIsNamed() throws {
        let network = try Network(sizes: [3, 5, 2], seed: 1)
        for l in 0..<2 {
            var layers = ModelFile.tensors(network)
            let weight = layers[2 * l]
            layers[2 * l] = .init(weight.name, shape: weight.shape.reversed(), floats: weight.bits.map(Float.init(bitPattern:)))
            let (outputs, inputs) = (network.sizes[l + 1], network.sizes[l])
            let expected = "layers.\(l).weight has shape [\(inputs), \(outputs)], expected [outputs, inputs] = [\(outputs), \(inputs)]"
            // With the metadata's layers, and as another writer leaves it, without any metadata.
            let withMetadata = Safetensors.encode(metadata: ModelFile.entries(network, metadata: .init()), tensors: layers)
            #expect(throws: BPNetError.model(file: "m", problem: expected)) { try ModelFile.decode(withMetadata, file: "m") }
            let bare = Safetensors.encode(metadata: [], tensors: layers)
            #expect(throws: BPNetError.model(file: "m", problem: expected)) {
                try ModelFile.decode(bare, file: "m", activationsIfUnrecorded: "sigmoid")
            }
        }
        // A bias of the wrong size is still the bias's fault.
        var layers = ModelFile.tensors(network)
        layers[3] = .init("layers.1.bias", shape: [3], floats: [0, 0, 0])
        #expect(throws: BPNetError.model(file: "m", problem: "layers.1.bias has shape [3], expected [2]")) {
            try ModelFile.decode(Safetensors.encode(metadata: [], tensors: layers), file: "m", activationsIfUnrecorded: "sigmoid")
        }
    }

    /// `bpnet report DIR` writes the page and its charts from the CSV files there, and adds none.
    @Test func reportRebuildAddsNoCSV() throws {
        let report = folder + "/report"
        let run = try CLI.run(["train", "--data", trainCSV, "--layers", "4,5,3", "--epochs", "2", "--device", "cpu", "--report", report])
        #expect(run.status == 0, "\(run.stderr)")
        try FileManager.default.removeItem(atPath: report + "/settings.csv")
        try FileManager.default.removeItem(atPath: report + "/index.html")
        let rebuilt = try CLI.run(["report", report])
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: report))
        #expect(files == ["metrics.csv", "curves.svg", "index.html"], "\(files)")
    }

    /// The summary names every term of the rule, and the thread count reads as a count.
    @Test func summaryNamesEveryTerm() throws {
        func summary(_ options: [String]) throws -> String {
            let run = try CLI.run(["train", "--data", trainCSV, "--layers", "4,5,3", "--epochs", "1", "--device", "cpu"] + options)
            #expect(run.status == 0, "\(run.stderr)")
            return run.stderr
        }
        let sgd = try summary(["--momentum", "0.5", "--l2", "0.1", "--dropout", "0.2", "--schedule", "cosine", "--loss", "cross-entropy"])
        #expect(sgd.contains("sgd η 3.0 (cosine), μ 0.5, λ 0.1, dropout 0.2, cross-entropy loss"), "\(sgd)")
        let adamw = try summary(["--optimizer", "adamw", "--weight-decay", "0.05"])
        #expect(adamw.contains("adamw η 0.001, β₁ 0.9, β₂ 0.999, ε 1e-08, wd 0.05, quadratic loss"), "\(adamw)")
        #expect(!sgd.contains(" 1 threads"))
        #expect(TrainingOptions(optimizer: .nesterov, momentum: 0.9).summary == "nesterov η 3.0, μ 0.9, quadratic loss")
        #expect(counted(1, "thread") == "1 thread")
    }

    /// Every command that reads labelled data says how its rows divided, as train does.
    @Test func evaluatePrintsTheDataLine() throws {
        let model = folder + "/m.safetensors"
        let trained = try CLI.run(["train", "--data", trainCSV, "--layers", "4,5,3", "--epochs", "1", "--device", "cpu", "--save", model])
        #expect(trained.status == 0, "\(trained.stderr)")
        let dataLine = try #require(trained.stderr.split(separator: "\n").first { $0.hasPrefix("data: ") })
        let evaluated = try CLI.run(["evaluate", "--model", model, "--data", trainCSV, "--device", "cpu"])
        #expect(evaluated.status == 0, "\(evaluated.stderr)")
        #expect(evaluated.stderr.split(separator: "\n").contains(dataLine), "\(evaluated.stderr)")
    }

    /// --help wraps its paragraphs itself: no line of a discussion stops short in mid-sentence.
    @Test(arguments: ["train", "bench", "verify", "report"])
    func helpBreaksOnlyBetweenSentences(command: String) throws {
        let help = try CLI.run([command, "--help"]).stdout
        let discussion = help.components(separatedBy: "\n\nUSAGE:")[0].components(separatedBy: "\n\n").dropFirst()
        #expect(!discussion.isEmpty)
        for paragraph in discussion {
            let lines = paragraph.split(separator: "\n")
            for (line, next) in zip(lines, lines.dropFirst()) {
                // ArgumentParser wraps at 80 columns: a shorter line that ends without a full stop
                // was broken by hand.
                let ended = [".", ":", ")"].contains { line.hasSuffix($0) }
                #expect(ended || line.count > 60, "'\(line)' / '\(next)'")
            }
        }
    }

    /// `predict` is a filter: zero rows in (an empty file, a header alone, empty standard input)
    /// give zero lines out and exit 0.
    @Test func predictOnNoRowsPrintsNothing() throws {
        let model = folder + "/m.safetensors"
        try ModelFile.save(try Network(sizes: [4, 5, 3], seed: 1), to: model)
        for (name, text) in [("empty.csv", ""), ("header.csv", "a,b,c,d\n"), ("blank.csv", "\n\n")] {
            try text.write(toFile: folder + "/" + name, atomically: true, encoding: .utf8)
            let run = try CLI.run(["predict", "--model", model, "--input", folder + "/" + name, "--device", "cpu"])
            #expect(run.status == 0 && run.stdout.isEmpty, "\(name): \(run.status) \(run.stderr)")
        }
        let piped = try CLI.run(["-c", "\(CLI.binary) predict --model \(model) --input - --device cpu < /dev/null"], executable: "/bin/sh")
        #expect(piped.status == 0 && piped.stdout.isEmpty, "\(piped.stderr)")
        #expect(try Network(sizes: [4, 5, 3], seed: 1).predict([], backend: CPUBackend()).isEmpty)
    }

    /// A resumed epoch's time covers the whole epoch: the checkpoint carries the time so far.
    @Test func resumedEpochCountsItsWholeTime() throws {
        let data = try TestData.classification(count: 60, inputs: 5, classes: 3, seed: 3)
        let options = TrainingOptions(epochs: 1, batchSize: 6, learningRate: 1, seed: 2)
        let saved = Locked<TrainingCheckpoint?>(nil)
        var trainer = Trainer(options)
        trainer.checkpointEvery = 5
        trainer.checkpoint = { if $0.batchesDone == 5 { saved.value = $0 } }
        var network = try Network(sizes: [5, 7, 3], seed: 2)
        try trainer.train(&network, on: data, backend: CPUBackend())
        var checkpoint = try #require(saved.value)
        #expect(checkpoint.epochSeconds > 0)
        // As if the first half had taken 100 s: the resumed epoch reports more than that, and its
        // speed over all 60 samples.
        checkpoint.epochSeconds = 100
        let reloaded = try CheckpointFile.decode(CheckpointFile.encode(checkpoint), file: "c")
        #expect(reloaded.epochSeconds == 100)
        var resumed = reloaded.network
        let report = try #require(try Trainer(options).train(&resumed, on: data, backend: CPUBackend(), resumingFrom: reloaded).last)
        #expect(report.seconds >= 100 && report.seconds < 200)
        #expect(abs(report.samplesPerSecond - 60 / report.seconds) < 1e-9)
    }
}
