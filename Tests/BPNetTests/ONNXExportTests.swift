import BPNet
import BPNetONNX
import BPNetTestSupport
import Foundation
import Testing

/// `make onnx-runtime`'s Python, with onnx and onnxruntime, where it is installed.
let onnxPython: String? = {
    let path = ONNXExportTests.root.appendingPathComponent(".build/onnx/bin/python3").path
    return FileManager.default.isExecutableFile(atPath: path) ? path : nil
}()
let onnxTestsEnabled = ProcessInfo.processInfo.environment["CI"] == "true" || onnxPython != nil

/// `bpnet export` and `ONNXExport` against ONNX itself: every model passes
/// `onnx.checker.check_model(full_check=True)` and ONNX Runtime's outputs match BPNet's within
/// 1e-5 relative error (Tests/Scripts/onnx_check.py runs the Python side).
@Suite struct ONNXExportTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
    static let tolerance = 1e-5

    /// A network with random parameters and, for each batch norm, random γ, β and running
    /// statistics, so that evaluation mode's arithmetic is checked, not PyTorch's initial values.
    static func network(_ layers: String, _ activations: String, seed: UInt64) throws -> Network {
        let architecture = try Architecture(parsing: layers)
        var network = try Network(
            architecture: architecture, activations: try Activation.parseList(activations, layers: architecture.layers.filter(\.isWeightLayer).count),
            initializer: .normal, seed: seed)
        network.normalizations = try network.normalizations.enumerated().map { index, state in
            let n = state.channels
            let draw = { (offset: UInt64, range: ClosedRange<Float>) in
                TestData.uniform(n, seed: seed &* 31 &+ UInt64(index) &* 7 &+ offset, in: range)
            }
            return try Normalization(
                scale: draw(1, 0.5...1.5), shift: draw(2, -0.5...0.5), runningMean: draw(3, -0.5...0.5),
                runningVariance: draw(4, 0.25...2))
        }
        return network
    }

    /// One model for the checker: its ONNX file, one sample's dimensions, and its input batches
    /// with the outputs BPNet gives for them.
    struct Case {
        var name: String
        var model: String
        var sample: [Int]
        var batches: [(input: String, expected: [[Float]])]
    }

    /// Runs the checker on `cases`; returns, per model, what it reported and ONNX Runtime's
    /// outputs for each batch.
    static func runtime(_ cases: [Case], in folder: String) throws -> [(report: [String: Any], outputs: [[[Float]]])] {
        let python = try #require(onnxPython, "onnx and onnxruntime are missing: run make onnx-runtime (CI=true needs them)")
        let manifest: [[String: Any]] = cases.map { c in
            ["model": c.model, "sample": c.sample, "runs": c.batches.map { [$0.input, $0.input + ".onnx.csv"] }]
        }
        let manifestPath = folder + "/manifest.json"
        try JSONSerialization.data(withJSONObject: manifest).write(to: URL(fileURLWithPath: manifestPath))
        let result = try CLI.run(
            [root.appendingPathComponent("Tests/Scripts/onnx_check.py").path, manifestPath], executable: python)
        try #require(result.status == 0, "onnx_check.py: \(result.stderr.suffix(3_000))")
        let reports = result.stdoutLines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        try #require(reports.count == cases.count, "\(reports.count) reports for \(cases.count) models: \(result.stdout)")
        return try zip(cases, reports).map { c, report in
            (report, try c.batches.map { try rows(of: String(contentsOfFile: $0.input + ".onnx.csv", encoding: .utf8)) })
        }
    }

    static func rows(of csv: String) -> [[Float]] {
        csv.split(separator: "\n").map { $0.split(separator: ",").map { Float(String($0)) ?? .nan } }
    }

    static func writeCSV(_ values: [Float], width: Int, to path: String) throws {
        let text = stride(from: 0, to: values.count, by: width).map { start in
            values[start..<(start + width)].map { String(format: "%.9g", $0) }.joined(separator: ",")
        }.joined(separator: "\n") + "\n"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// ‖a − b‖ / ‖b‖ over every value, in Double.
    static func relativeError(_ a: [[Float]], _ b: [[Float]]) -> Double {
        guard a.count == b.count, zip(a, b).allSatisfy({ $0.count == $1.count }) else { return .infinity }
        var difference = 0.0, norm = 0.0
        for (x, y) in zip(a.joined(), b.joined()) {
            difference += (Double(x) - Double(y)) * (Double(x) - Double(y))
            norm += Double(y) * Double(y)
        }
        return (difference / max(norm, .leastNormalMagnitude)).squareRoot()
    }

    // MARK: The models and batches the issue names

    /// MLPs, a CNN and a CNN with every layer and activation of issue 20, with random parameters
    /// and running statistics, saved as model files (one without metadata, given `--activations`
    /// and `--layers`), exported by `bpnet export`, and run by ONNX Runtime and by `bpnet
    /// predict` on batches of 1 and 37: random inputs, and Fashion-MNIST's test images.
    @Test(.enabled(if: onnxTestsEnabled, "onnx and onnxruntime are not installed (make onnx-runtime)"))
    func exportedModelsMatchPredict() throws {
        let folder = try TestData.temporaryFolder()
        let models: [(name: String, layers: String, activations: String, metadata: Bool)] = [
            ("mlp", "784,33,17,10", "sigmoid,tanh,softmax", true),
            ("mlp-regression", "784,17,3", "relu,sigmoid", true),
            ("cnn", "1x28x28,conv:8:3:1:1,maxpool:2,conv:16:3:2:1,maxpool:3:2,flatten,33,10", "relu,relu,relu,softmax", true),
            (
                "cnn-issue-20", "1x28x28,conv:6:5:1:2,batchnorm,avgpool:3:2,conv:8:3,batchnorm,maxpool:2,conv:5:1,gap,flatten,17,batchnorm,10",
                "gelu,leaky-relu:0.1,identity,tanh,softmax", true
            ),
            ("cnn-no-metadata", "1x28x28,conv:4:5:2:0,avgpool:2,flatten,11", "tanh,softmax", false),
        ]
        var images: [Float] = []
        if let test = try? DataSource.fashionMNIST.load(.test) {
            images = Array(test.inputs.prefix(37 * 784))
        } else if ProcessInfo.processInfo.environment["CI"] == "true" {
            Issue.record("Fashion-MNIST is missing (apt-get install dataset-fashion-mnist), and CI=true needs it")
        }
        var batches: [(name: String, values: [Float])] = [
            ("random-1", TestData.uniform(784, seed: 5, in: 0...1)), ("random-37", TestData.uniform(37 * 784, seed: 6, in: 0...1)),
        ]
        if !images.isEmpty { batches += [("fashion-1", Array(images.prefix(784))), ("fashion-37", images)] }
        for batch in batches { try Self.writeCSV(batch.values, width: 784, to: "\(folder)/\(batch.name).csv") }

        var cases: [Case] = []
        var networks: [Network] = []
        for (index, model) in models.enumerated() {
            let network = try Self.network(model.layers, model.activations, seed: 40 + UInt64(index))
            networks.append(network)
            let path = "\(folder)/\(model.name).safetensors"
            var given: [String] = []
            if model.metadata {
                try ModelFile.save(network, to: path)
            } else {
                try CNNPersistenceTests.withoutMetadata(network).write(to: URL(fileURLWithPath: path))
                given = ["--activations", model.activations, "--layers", model.layers]
            }
            let export = try CLI.run(["export", path, "--onnx", "\(folder)/\(model.name).onnx"] + given)
            try #require(export.status == 0, "\(model.name): \(export.stderr)")
            #expect(export.stdout.contains("wrote \(folder)/\(model.name).onnx"), "\(export.stdout)")
            var runs: [(String, [[Float]])] = []
            for batch in batches {
                let input = "\(folder)/\(model.name)-\(batch.name).csv"
                try FileManager.default.copyItem(atPath: "\(folder)/\(batch.name).csv", toPath: input)
                let predict = try CLI.run(["predict", "--model", path, "--input", input, "--device", "cpu"] + given)
                try #require(predict.status == 0, "\(model.name): \(predict.stderr)")
                runs.append((input, Self.rows(of: predict.stdout)))
            }
            cases.append(Case(name: model.name, model: "\(folder)/\(model.name).onnx", sample: network.architecture.input.dimensions, batches: runs))
        }

        let results = try Self.runtime(cases, in: folder)
        for (c, (network, (report, outputs))) in zip(cases, zip(networks, results)) {
            #expect(report["opset"] as? Int == ONNXExport.opset && report["ir_version"] as? Int == ONNXExport.irVersion, "\(report)")
            #expect(report["input"] as? [AnyHashable] == ["input", "N"] + network.architecture.input.dimensions.map { $0 as AnyHashable })
            #expect(report["output"] as? [AnyHashable] == ["output", "N", network.outputSize as AnyHashable])
            for (batch, output) in zip(c.batches, outputs) {
                #expect(output.count == batch.expected.count, "\(c.name) \(batch.input): \(output.count) rows")
                let error = Self.relativeError(output, batch.expected)
                #expect(error <= Self.tolerance, "\(c.name) \(batch.input): relative error \(error)")
            }
        }
        // The operators that the issue-20 model must have used: none lowered to something else.
        let operators = Set((results[3].report["operators"] as? [String]) ?? [])
        for name in ["Conv", "BatchNormalization", "AveragePool", "MaxPool", "GlobalAveragePool", "Flatten", "Gemm", "Erf", "LeakyRelu", "Tanh", "Softmax"] {
            #expect(operators.contains(name), "\(name) is not among \(operators.sorted())")
        }
    }

    // MARK: Every architecture

    /// A random architecture from the whole grammar: a flat or image input of odd sizes; then,
    /// for an image, convolutions with odd kernels, strides and paddings, each maybe with batch
    /// norm and max, average or global pooling, then flatten; dense layers, maybe with batch
    /// norm; every hidden activation, and every output one.
    static func randomArchitecture(_ random: inout SeededGenerator) -> (layers: String, activations: [String]) {
        let hidden = ["sigmoid", "tanh", "relu", "identity", "leaky-relu", "leaky-relu:0.3", "gelu"]
        let outputs = ["softmax", "sigmoid", "identity", "tanh", "relu", "leaky-relu:0.2"]
        var tokens: [String] = []
        var activations: [String] = []
        if Bool.random(using: &random) {
            let (c, h, w) = (Int.random(in: 1...3, using: &random), Int.random(in: 5...13, using: &random), Int.random(in: 5...13, using: &random))
            tokens.append("\(c)x\(h)x\(w)")
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let kernel = [1, 2, 3, 5].randomElement(using: &random)!
                tokens.append("conv:\(Int.random(in: 1...7, using: &random)):\(kernel):\(Int.random(in: 1...2, using: &random)):\(Int.random(in: 0...2, using: &random))")
                activations.append(hidden.randomElement(using: &random)!)
                if Bool.random(using: &random) { tokens.append("batchnorm") }
                switch Int.random(in: 0...3, using: &random) {
                case 0: tokens.append("maxpool:\(Int.random(in: 2...3, using: &random)):\(Int.random(in: 1...2, using: &random))")
                case 1: tokens.append("avgpool:\(Int.random(in: 2...3, using: &random))")
                default: break
                }
            }
            if Int.random(in: 0...3, using: &random) == 0 { tokens.append("gap") }
            tokens.append("flatten")
        } else {
            tokens.append("\(Int.random(in: 1...40, using: &random))")
        }
        for _ in 0..<Int.random(in: 0...2, using: &random) {
            tokens.append("\(Int.random(in: 1...19, using: &random))")
            activations.append(hidden.randomElement(using: &random)!)
            if Bool.random(using: &random) { tokens.append("batchnorm") }
        }
        // A softmax over one output is 1 whatever the network computes: two at least.
        let output = outputs.randomElement(using: &random)!
        tokens.append("\(Int.random(in: (output == "softmax" ? 2 : 1)...5, using: &random))")
        activations.append(output)
        return (tokens.joined(separator: ","), activations)
    }

    /// The property: every architecture drawn exports through `ONNXExport`, passes the checker,
    /// and ONNX Runtime runs it to BPNet's host forward pass on a batch of 3, within 1e-5; with
    /// them the README's recipes and `bench`'s configs. Draws that are not a valid network (a
    /// window larger than its input) are drawn again.
    @Test(.enabled(if: onnxTestsEnabled, "onnx and onnxruntime are not installed (make onnx-runtime)"))
    func everyArchitectureExports() throws {
        let folder = try TestData.temporaryFolder()
        var random = SeededGenerator(seed: 2026)
        var models: [(layers: String, activations: String)] = [
            ("784,30,10", "sigmoid,sigmoid"),
            ("784,256,128,10", "relu,relu,softmax"),
            ("1x28x28,conv:32:3:1:1,batchnorm,maxpool:2,conv:64:3:1:1,batchnorm,maxpool:2,flatten,256,batchnorm,10", "relu,relu,relu,softmax"),
        ]
        while models.count < 40 {
            let drawn = Self.randomArchitecture(&random)
            guard let architecture = try? Architecture(parsing: drawn.layers), (try? architecture.shapes()) != nil else { continue }
            models.append((drawn.layers, drawn.activations.joined(separator: ",")))
        }
        var cases: [Case] = []
        var kinds = Set<String>(), functions = Set<String>()
        for (index, model) in models.enumerated() {
            let network = try Self.network(model.layers, model.activations, seed: 100 + UInt64(index))
            kinds.formUnion(network.architecture.layers.map(\.kind))
            functions.formUnion(network.activations.map(\.kind.rawValue))
            let path = "\(folder)/model-\(index).onnx"
            try ONNXExport.save(network, to: path)
            let x = TestData.uniform(3 * network.inputSize, seed: 500 + UInt64(index))
            let input = "\(folder)/input-\(index).csv"
            try Self.writeCSV(x, width: network.inputSize, to: input)
            let expected = (0..<3).map { row in network(Array(x[(row * network.inputSize)..<((row + 1) * network.inputSize)])) }
            cases.append(Case(name: "\(model.layers) (\(model.activations))", model: path, sample: network.architecture.input.dimensions, batches: [(input, expected)]))
        }
        // Outputs that do not vary (a ReLU output that is 0 everywhere) would match any export.
        let varying = cases.filter { c in Set(c.batches[0].expected.joined()).count > 1 }.count
        #expect(varying >= 36, "\(varying) of \(cases.count) models have outputs that vary")
        #expect(kinds == ["dense", "conv2d", "batchnorm", "maxpool2d", "avgpool2d", "globalavgpool", "flatten"], "\(kinds)")
        #expect(functions == Set(Activation.Kind.allCases.map(\.rawValue)), "\(functions)")
        for (c, (_, outputs)) in zip(cases, try Self.runtime(cases, in: folder)) {
            let error = Self.relativeError(outputs[0], c.batches[0].expected)
            #expect(error <= Self.tolerance, "\(c.name): relative error \(error)")
        }
    }

    // MARK: The command's errors

    /// Each mistake is one line that names it, and a non-zero exit; nothing is written.
    @Test func exportRefusesBadInput() throws {
        let folder = try TestData.temporaryFolder()
        let model = "\(folder)/m.safetensors"
        try ModelFile.save(try Self.network("5,3,2", "relu,softmax", seed: 1), to: model)
        let cases: [([String], String)] = [
            (["export", model], "Missing expected argument '--onnx <onnx>'"),
            (["export", "\(folder)/missing.safetensors", "--onnx", "\(folder)/m.onnx"], "no such file"),
            (["export", model, "--onnx", folder], "--onnx '\(folder)' is a folder; give a file path in it, such as \(folder)/net.onnx"),
            (["export", model, "--onnx", "\(folder)/no/m.onnx"], "the folder \(folder)/no does not exist"),
            (["export", model, "--onnx", "\(folder)/m.onnx", "--activations", "relu,relu"], "activations"),
            (["export", model, "--onnx", model], "--onnx '\(model)' is the model file itself; give another path, such as model.onnx"),
        ]
        for (arguments, message) in cases {
            let result = try CLI.run(arguments)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: "\(folder)/m.onnx"))
        #expect(try ModelFile.load(model).network.layers.count == 2, "the model file is untouched")

        // A protocol buffer holds 2 GiB: a larger model is refused by name, not failed in the encoder.
        try ONNXExport.checkSize(tensorBytes: ONNXExport.maxBytes - (2 << 20))
        #expect(throws: BPNetError.self) { try ONNXExport.checkSize(tensorBytes: ONNXExport.maxBytes) }
        var message = "nothing thrown"
        do { try ONNXExport.checkSize(tensorBytes: 3 << 30) } catch { message = "\(error)" }
        #expect(message.contains("the model's tensors take 3.00 GiB, and an ONNX file holds at most 2 GiB"), "\(message)")
    }
}
