@testable import BPNet
import BPNetTestSupport
import Foundation
import Testing

/// Convolutional models kept and read back: version 3 model files (the architecture as
/// `--layers` text, 4-D convolution weights), metadata-less files given their architecture,
/// checkpoints that resume exactly, and the command line from `--layers` to `summary`.
@Suite struct CNNPersistenceTests {
    static let architecture = try! Architecture(parsing: "3x7x5,conv:4:3:1:1,maxpool:2,flatten,6,3")
    let network = try! Network(architecture: CNNPersistenceTests.architecture, activations: [.relu, .tanh, .softmax], seed: 3)

    /// The JSON header of a safetensors file.
    static func header(_ data: Data) throws -> [String: Any] {
        let length = Int(data.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        return try #require(try JSONSerialization.jsonObject(with: data[8..<(8 + length)]) as? [String: Any])
    }

    /// `data` with its header text edited (same length), as a broken writer would leave it.
    static func replacing(_ old: String, with new: String, in data: Data) throws -> Data {
        let length = Int(data.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        let text = String(decoding: data[8..<(8 + length)], as: UTF8.self)
        let edited = text.replacingOccurrences(of: old, with: new)
        try #require(edited != text && edited.utf8.count == text.utf8.count)
        return data.prefix(8) + Data(edited.utf8) + data[(8 + length)...]
    }

    /// `network`'s tensors (4-D convolution weights included) and no `__metadata__`: what
    /// `safetensors.torch.save_file(model.state_dict())` writes for a model whose weight layers
    /// are `layers.0`, `layers.1`, ….
    static func withoutMetadata(_ network: Network) -> Data {
        Safetensors.encode(metadata: [], tensors: ModelFile.tensors(network)).replacingHeader { header in
            header.replacingOccurrences(of: "\"__metadata__\":{},", with: "")
        }
    }

    @Test func graphRoundTripIsExact() throws {
        let encoded = ModelFile.encode(network, metadata: .init(loss: .logLikelihood))
        let header = try Self.header(encoded)
        #expect(header["__metadata__"] as? [String: String] == [
            "format": "bpnet", "version": "3", "layers": "3x7x5,conv:4:3:1:1,maxpool:2:2,flatten,6,3",
            "activations": "relu,tanh,softmax", "loss": "log-likelihood",
        ])
        // k counts weight layers alone; a convolution's weight is PyTorch's [Cout, Cin, K, K].
        let shapes = ["layers.0.weight": [4, 3, 3, 3], "layers.0.bias": [4], "layers.1.weight": [6, 24], "layers.1.bias": [6],
                      "layers.2.weight": [3, 6], "layers.2.bias": [3]]
        for (name, shape) in shapes { #expect((header[name] as? [String: Any])?["shape"] as? [Int] == shape, "\(name)") }
        #expect(header.count == shapes.count + 1)

        let path = try TestData.temporaryFolder() + "/cnn.safetensors"
        try ModelFile.save(network, metadata: .init(loss: .logLikelihood), to: path)
        let (loaded, metadata) = try ModelFile.load(path)
        // `maxpool:2` reads back as `maxpool:2:2`: the same layer.
        #expect(loaded == network && metadata.loss == .logLikelihood)
        #expect(loaded.architecture.description == network.architecture.description)
        #expect(ModelFile.encode(loaded, metadata: .init(loss: .logLikelihood)) == encoded)
        let x = TestData.uniform(105, seed: 4)
        #expect(loaded(x) == network(x))
    }

    /// Dense networks still write version 2 with their sizes, byte for byte what they always did.
    @Test func denseFilesAreUnchanged() throws {
        let dense = try Network(sizes: [5, 7, 3], activations: [.relu, .softmax], seed: 1)
        let viaArchitecture = try Network(architecture: Architecture(parsing: "5,7,3"), activations: [.relu, .softmax], seed: 1)
        #expect(ModelFile.encode(viaArchitecture) == ModelFile.encode(dense))
        let header = try Self.header(ModelFile.encode(dense))
        #expect((header["__metadata__"] as? [String: String])?["version"] == "2")
        #expect((header["__metadata__"] as? [String: String])?["layers"] == "5,7,3")
        #expect((header["layers.0.weight"] as? [String: Any])?["shape"] as? [Int] == [7, 5])
        // The same bytes as the writer before convolutions: the header, then the tensors.
        var expected = #"{"__metadata__":{"format":"bpnet","version":"2","layers":"5,7,3","activations":"relu,softmax","loss":"quadratic"},"#
            + #""layers.0.weight":{"dtype":"F32","shape":[7,5],"data_offsets":[0,140]},"layers.0.bias":{"dtype":"F32","shape":[7],"data_offsets":[140,168]},"#
            + #""layers.1.weight":{"dtype":"F32","shape":[3,7],"data_offsets":[168,252]},"layers.1.bias":{"dtype":"F32","shape":[3],"data_offsets":[252,264]}}"#
        while expected.utf8.count % 8 != 0 { expected += " " }
        var bytes = Data()
        withUnsafeBytes(of: UInt64(expected.utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes += Data(expected.utf8)
        for layer in dense.layers {
            for value in layer.weights + layer.biases { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        }
        #expect(ModelFile.encode(dense) == bytes)
    }

    /// A tensor whose shape is not the one the recorded architecture gives is refused in one line
    /// that names it and both shapes; so is an architecture that cannot be.
    /// Batch norms' γ, β and running statistics round-trip under PyTorch's names, and a file whose
    /// batch-norm tensors are missing, misshapen, not finite or a negative variance is refused by
    /// name, in one line.
    @Test func batchNormTensorsRoundTripAndBadOnesAreRefused() throws {
        let architecture = try Architecture(parsing: "2x5x4,conv:3:3:1:1,batchnorm,flatten,4,batchnorm,2")
        var network = try Network(architecture: architecture, activations: [.gelu, try .leakyRelu(slope: 0.2), .softmax], seed: 4)
        network.normalizations[0] = try Normalization(scale: [1, 2, 3], shift: [0.5, 0, -1], runningMean: [0.1, 0.2, 0.3], runningVariance: [1, 2, 0])
        let data = ModelFile.encode(network)
        #expect(try ModelFile.decode(data, file: "m").network == network)
        let names = ModelFile.tensors(network).map(\.name)
        #expect(names == [
            "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias", "layers.1.running_mean", "layers.1.running_var",
            "layers.2.weight", "layers.2.bias", "layers.3.weight", "layers.3.bias", "layers.3.running_mean", "layers.3.running_var",
            "layers.4.weight", "layers.4.bias",
        ])
        func tampered(_ change: (inout [Safetensors.Tensor]) -> Void) -> Data {
            var tensors = ModelFile.tensors(network)
            change(&tensors)
            return Safetensors.encode(metadata: ModelFile.entries(network, metadata: .init()), tensors: tensors)
        }
        let cases: [(Data, String)] = [
            (tampered { $0.removeAll { $0.name == "layers.3.running_var" } }, "missing tensor layers.3.running_var"),
            (tampered { $0[4] = .init("layers.1.running_mean", shape: [2], floats: [0, 0]) },
             "layers.1.running_mean has shape [2], but batchnorm 1 of metadata layers '\(architecture)' needs [3]"),
            (tampered { $0[5] = .init("layers.1.running_var", shape: [3], floats: [1, -2, 1]) }, "layers.1.running_var holds a negative variance"),
            (tampered { $0[2] = .init("layers.1.weight", shape: [3], floats: [1, .nan, 1]) }, "layers.1.weight holds NaN or infinite values"),
        ]
        for (bytes, problem) in cases {
            #expect(throws: BPNetError.model(file: "m", problem: problem)) { try ModelFile.decode(bytes, file: "m") }
        }
    }

    @Test func wrongShapesAreRefusedByName() throws {
        let encoded = ModelFile.encode(network)
        // The metadata now says 2×2 kernels; the file holds 3×3 ones.
        let kernel = try Self.replacing("conv:4:3:1:1", with: "conv:4:2:1:1", in: encoded)
        #expect(throws: BPNetError.model(
            file: "k", problem: "layers.0.weight has shape [4, 3, 3, 3], but conv:4:2:1:1 of metadata layers "
                + "'3x7x5,conv:4:2:1:1,maxpool:2:2,flatten,6,3' needs [4, 3, 2, 2]")) { try ModelFile.decode(kernel, file: "k") }
        // 5 channels in: the first weight is fine for the kernel but not for the input.
        let channels = try Self.replacing("3x7x5,", with: "5x7x5,", in: encoded)
        #expect(throws: BPNetError.model(
            file: "c", problem: "layers.0.weight has shape [4, 3, 3, 3], but conv:4:3:1:1 of metadata layers "
                + "'5x7x5,conv:4:3:1:1,maxpool:2:2,flatten,6,3' needs [4, 5, 3, 3]")) { try ModelFile.decode(channels, file: "c") }
        let bias = try Self.replacing(#""shape":[6],"#, with: #""shape":[1],"#, in: encoded)
        #expect(throws: (any Error).self) { try ModelFile.decode(bias, file: "b") }
        let impossible = try Self.replacing("3x7x5,", with: "3x1x5,", in: encoded)
        let error = try #require(throws: BPNetError.self) { try ModelFile.decode(impossible, file: "i") }
        #expect(error.description.hasPrefix("i: metadata layers '3x1x5,conv:4:3:1:1,maxpool:2:2,flatten,6,3' are not a model: layer 2"))
        #expect(!error.description.contains("\n"))
        let fewer = try Self.replacing("flatten,6,3", with: "flatten,6  ", in: encoded)
        #expect(throws: BPNetError.self) { try ModelFile.decode(fewer, file: "f") }
        // Sizes past Int's range are refused, never trapped on.
        for huge in ["conv:4:3:1:4611686018427387904", "conv:4:4294967296:1:1", "conv:4611686018427387904:3:1:1"] {
            let file = encoded.replacingHeader { $0.replacingOccurrences(of: "conv:4:3:1:1", with: huge) }
            #expect(throws: BPNetError.self, "\(huge)") { try ModelFile.decode(file, file: "h") }
        }
    }

    /// A file without metadata whose weights are 4-D loads only with its architecture, against
    /// which every tensor is checked.
    @Test func metadataLessFileNeedsItsArchitecture() throws {
        let bare = Self.withoutMetadata(network)
        #expect(try Self.header(bare)["__metadata__"] == nil)
        let refused = try #require(throws: BPNetError.self) { try ModelFile.decode(bare, file: "pt", activationsIfUnrecorded: "relu,tanh,softmax") }
        #expect(refused.description.contains("layers.0.weight is 4-D") && refused.description.contains("--layers"), "\(refused)")
        let loaded = try ModelFile.decode(
            bare, file: "pt", activationsIfUnrecorded: "relu,tanh,softmax", architectureIfUnrecorded: Self.architecture)
        #expect(loaded.network == network)
        #expect(throws: BPNetError.model(
            file: "pt", problem: "layers.0.weight has shape [4, 3, 3, 3], but conv:4:5:1:2 of --layers "
                + "'3x7x5,conv:4:5:1:2,maxpool:2:2,flatten,6,3' needs [4, 3, 5, 5]")) {
            try ModelFile.decode(
                bare, file: "pt", activationsIfUnrecorded: "relu", architectureIfUnrecorded: Architecture(parsing: "3x7x5,conv:4:5:1:2,maxpool:2,flatten,6,3"))
        }
        #expect(throws: BPNetError.self) {
            try ModelFile.decode(bare, file: "pt", activationsIfUnrecorded: "relu", architectureIfUnrecorded: Architecture(parsing: "3x7x5,conv:4:3:1:1,maxpool:2,flatten,3"))
        }
        // A dense file without metadata is checked against a dense architecture too.
        let dense = try Network(sizes: [4, 5, 3], activations: [.relu, .softmax], seed: 3)
        let denseBare = Self.withoutMetadata(dense)
        #expect(try ModelFile.decode(denseBare, file: "d", activationsIfUnrecorded: "relu,softmax", architectureIfUnrecorded: .init(sizes: [4, 5, 3])).network == dense)
        #expect(throws: BPNetError.model(file: "d", problem: "layers.0.weight has shape [5, 4], but 6 of --layers '4,6,3' needs [6, 4]")) {
            try ModelFile.decode(denseBare, file: "d", activationsIfUnrecorded: "relu", architectureIfUnrecorded: .init(sizes: [4, 6, 3]))
        }

        // On the command line: --layers and --activations give what the file does not say.
        let folder = try TestData.temporaryFolder()
        let path = folder + "/pt.safetensors"
        try bare.write(to: URL(fileURLWithPath: path))
        let summary = try CLI.run(["summary", path, "--layers", Self.architecture.description, "--activations", "relu,tanh,softmax"])
        #expect(summary.status == 0 && summary.stdout == NetworkSummary(network).description + "\n", "\(summary.stderr)")
        let missing = try CLI.run(["summary", path, "--activations", "relu,tanh,softmax"])
        #expect(missing.status != 0 && missing.stderr.contains("is 4-D") && missing.stderr.split(separator: "\n").count == 1)
        // A file that records its architecture must agree with --layers.
        let recorded = folder + "/recorded.safetensors"
        try ModelFile.save(network, to: recorded)
        let disagree = try CLI.run(["summary", recorded, "--layers", "3x7x5,conv:4:3,flatten,6,3"])
        #expect(disagree.status != 0)
        #expect(disagree.stderr == "error: --layers 3x7x5,conv:4:3:1:0,flatten,6,3 differ from the model's 3x7x5,conv:4:3:1:1,maxpool:2:2,flatten,6,3\n")
    }

    /// A summary row per layer, pooling and flatten included, with its output shape.
    @Test func summaryListsEveryLayer() throws {
        let summary = NetworkSummary(network)
        #expect(summary.layers.map(\.layer) == ["input", "conv2d_0", "maxpool2d_0", "flatten_0", "dense_0", "dense_1"])
        #expect(summary.layers.map(\.output) == [[3, 7, 5], [4, 7, 5], [4, 3, 2], [24], [6], [3]])
        #expect(summary.layers.map(\.parameters) == [0, 4 * 3 * 9 + 4, 0, 0, 24 * 6 + 6, 6 * 3 + 3])
        #expect(summary.parameters == network.parameterCount && summary.parameters == 112 + 150 + 21)
        #expect(summary.description == """
            layer        output  activation  parameters
            input         3×7×5                       0
            conv2d_0      4×7×5  relu               112
            maxpool2d_0   4×3×2                       0
            flatten_0        24                       0
            dense_0           6  tanh               150
            dense_1           3  softmax             21
            total: 283 parameters (1.1 KiB as float32)
            """)
    }

    /// A checkpoint keeps the convolution's optimizer state as 4-D tensors, and a run with other
    /// layers cannot resume it.
    @Test func checkpointHoldsTheGraph() throws {
        let c = ResumeChecks.cnnCases[0]
        let (train, _) = try ResumeChecks.data(c)
        let saved = Locked<Data?>(nil)
        var trainer = Trainer(TrainingOptions(epochs: 1, batchSize: 10, optimizer: .adam(), loss: .logLikelihood, seed: 9))
        trainer.checkpoint = { checkpoint in saved.update { $0 = CheckpointFile.encode(checkpoint) } }
        var model = try c.network()
        _ = try trainer.train(&model, on: train, backend: CPUBackend())
        let bytes = try #require(saved.value)
        let header = try Self.header(bytes)
        #expect((header["optimizer.layers.0.weight.1"] as? [String: Any])?["shape"] as? [Int] == [4, 3, 3, 3])
        let checkpoint = try CheckpointFile.decode(bytes, file: "c")
        #expect(checkpoint.network == model && checkpoint.network.architecture == c.architecture)
        #expect(try ModelFile.decode(bytes, file: "c").network == model, "a checkpoint loads as a model")
        let other = try Network(architecture: Architecture(parsing: "3x7x5,conv:4:3:1:0,maxpool:2,flatten,6,3"), activations: c.activations)
        let error = try #require(throws: BPNetError.self) {
            try checkpoint.checkResumable(network: other, options: checkpoint.options, data: checkpoint.data)
        }
        #expect(error.description.hasPrefix("cannot resume: the checkpoint's layers are 3x7x5,conv:4:3:1:1,maxpool:2:2,flatten,6,3, this run's are 3x7x5,conv:4:3:1:0"))
    }

    // MARK: The command line

    /// An IDX folder of 9×9 images in 3 classes (a bright square whose corner is the class), 36
    /// to train on and 12 to test.
    static func imageFolder() throws -> String {
        let folder = try TestData.temporaryFolder() + "/idx"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for (split, count, seed) in [("train", 36, UInt64(1)), ("t10k", 12, 2)] {
            let noise = TestData.uniform(count * 81, seed: seed, in: 0...60)
            var pixels: [UInt8] = []
            for sample in 0..<count {
                let (top, left) = [(1, 1), (1, 5), (5, 3)][sample % 3]
                for y in 0..<9 {
                    for x in 0..<9 {
                        let inside = (top..<(top + 3)).contains(y) && (left..<(left + 3)).contains(x)
                        pixels.append(inside ? 230 : UInt8(noise[sample * 81 + y * 9 + x]))
                    }
                }
            }
            try IDX.write(pixels, dimensions: [count, 9, 9], to: "\(folder)/\(split)-images-idx3-ubyte")
            try IDX.write((0..<count).map { UInt8($0 % 3) }, dimensions: [count], to: "\(folder)/\(split)-labels-idx1-ubyte")
        }
        return folder
    }

    /// `bpnet train --layers 1x9x9,conv:…` on IDX images prints the model's summary before its
    /// epochs and saves a version 3 model that evaluate, predict and summary read; resuming its
    /// checkpoint gives the bytes of the run that never stopped.
    @Test func trainEvaluatePredictSummaryOnImages() throws {
        let idx = try Self.imageFolder()
        let folder = (idx as NSString).deletingLastPathComponent
        let layers = "1x9x9,conv:3:3,maxpool:2,flatten,3"
        let common = ["train", "--data", idx, "--layers", layers, "--activations", "relu,softmax", "--loss", "log-likelihood",
                      "--optimizer", "adam", "--learning-rate", "0.01", "--batch-size", "8", "--device", "cpu", "--seed", "2"]
        let model = folder + "/cnn.safetensors"
        let trained = try CLI.run(common + ["--epochs", "2", "--save", model])
        #expect(trained.status == 0, "\(trained.stderr)")
        let network = try ModelFile.load(model).network
        #expect(network.architecture == (try Architecture(parsing: layers)) && network.activations == [.relu, .softmax])
        // The summary, a blank line, then the table of epochs.
        #expect(trained.stdout.hasPrefix(NetworkSummary(network).description + "\n\nepoch  train_loss"), "\(trained.stdout)")
        #expect(trained.stdout.contains("\nconv2d_0      3×7×7  relu                30\n"), "\(trained.stdout)")
        #expect(trained.tableLines.first == "epoch  train_loss  train_acc  test_loss  test_acc  seconds  samples/s")
        #expect(trained.tableLines.count == 4 && trained.tableLines.last?.hasPrefix("final test accuracy: ") == true)
        #expect(trained.stderr.contains("network 1x9x9,conv:3:3:1:0,maxpool:2:2,flatten,3 (relu,softmax), 36 training and 12 test samples"))
        #expect(try Self.header(Data(contentsOf: URL(fileURLWithPath: model)))["__metadata__"].map { ($0 as? [String: String])?["version"] } == "3")

        let evaluated = try CLI.run(["evaluate", "--model", model, "--data", idx, "--device", "cpu", "--json"])
        #expect(evaluated.status == 0, "\(evaluated.stderr)")
        let figures = try #require(try JSONSerialization.jsonObject(with: Data(evaluated.stdout.utf8)) as? [String: Any])
        let expected = try network.evaluate(on: try DataSource.idx(folder: idx).load(.test, outputs: 3), loss: .logLikelihood, backend: CPUBackend())
        #expect(figures["samples"] as? Int == 12 && figures["accuracy"] as? Double == expected.accuracy)

        // predict takes rows of C·H·W values in NCHW order.
        let rows = (0..<2).map { TestData.uniform(81, seed: 10 + UInt64($0), in: 0...1) }
        let inputs = folder + "/inputs.csv"
        try rows.map { $0.map { "\($0)" }.joined(separator: ",") }.joined(separator: "\n").write(toFile: inputs, atomically: true, encoding: .utf8)
        let predicted = try CLI.run(["predict", "--model", model, "--input", inputs, "--device", "cpu"])
        #expect(predicted.status == 0, "\(predicted.stderr)")
        for (line, row) in zip(predicted.stdoutLines, rows) {
            let values = line.split(separator: ",").compactMap { Float($0) }
            let host = network(row)
            #expect(values.count == 3 && zip(values, host).allSatisfy { abs($0 - $1) < 1e-5 }, "\(values) vs \(host)")
        }
        let summary = try CLI.run(["summary", model])
        #expect(summary.status == 0 && summary.stdout == NetworkSummary(network).description + "\n")

        // One epoch, then a resume to two: the same bytes. --layers may be given again, or not.
        let checkpoint = folder + "/cnn.ckpt"
        let first = try CLI.run(common + ["--epochs", "1", "--checkpoint", checkpoint])
        #expect(first.status == 0, "\(first.stderr)")
        let resumedModel = folder + "/resumed.safetensors"
        let resumed = try CLI.run(common + ["--epochs", "2", "--resume", checkpoint, "--save", resumedModel])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: resumedModel)) == Data(contentsOf: URL(fileURLWithPath: model)))
        let otherLayers = try CLI.run(common.map { $0 == layers ? "1x9x9,conv:3:3,flatten,3" : $0 } + ["--epochs", "2", "--resume", checkpoint])
        #expect(otherLayers.status != 0)
        #expect(otherLayers.stderr == "error: cannot resume: the checkpoint's layers are 1x9x9,conv:3:3:1:0,maxpool:2:2,flatten,3, --layers asks for 1x9x9,conv:3:3:1:0,flatten,3\n")

        // --init from a file without metadata: --layers and --activations say what it is.
        let bare = folder + "/bare.safetensors"
        try Self.withoutMetadata(network).write(to: URL(fileURLWithPath: bare))
        let fromBare = try CLI.run(["train", "--data", idx, "--init", bare, "--layers", layers, "--activations", "relu,softmax",
                                    "--loss", "log-likelihood", "--epochs", "1", "--device", "cpu", "--json"])
        #expect(fromBare.status == 0, "\(fromBare.stderr)")
        #expect(fromBare.stdoutLines.count == 1, "--json prints no summary: \(fromBare.stdout)")
    }

    /// An image input whose C·H·W is not the data's is refused naming both; so are activations
    /// that do not count the weight layers, and layers that cannot be.
    @Test func mismatchesAreRefusedByName() throws {
        let idx = try Self.imageFolder()
        func refused(_ arguments: [String], _ message: String) throws {
            let result = try CLI.run(["train", "--data", idx, "--epochs", "1", "--device", "cpu"] + arguments)
            #expect(result.status != 0 && result.stderr.hasPrefix("error: ") && result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1 && result.stdout.isEmpty, "\(result.stderr)")
        }
        try refused(["--layers", "3x7x5,conv:2:3,flatten,3"], "images are 1×9×9 = 81 values but the input shape 3×7×5 holds 105")
        try refused(["--layers", "1x9x9,conv:2:3,flatten,3", "--activations", "relu,relu,softmax", "--loss", "log-likelihood"],
                    "3 activations given for 2 weight layers")
        try refused(["--layers", "1x9x9,conv:2:11,flatten,3"], "--layers '1x9x9,conv:2:11,flatten,3': layer 1 (conv:2:11:1:0): a 11×11 kernel is larger than its 9×9 input")
        try refused(["--layers", "1x9x9,conv:2:3"], "the last layer must be dense")
        try refused(["--layers", "1x9x9,conv:2:3,10"], "put flatten before it")
        try refused(["--layers", "1x9x9,conv:2:x,flatten,3"], "is not conv:C:K[:S[:P]]")
        try refused(["--layers", "1x9x9,conv:2:3:1:4611686018427387904,flatten,3"], "must span at most 2147483647 positions")
        // A stride past 32 bits keeps the output small, but the kernels index with 32-bit integers.
        try refused(["--layers", "1x9x9,maxpool:2:5000000000,flatten,3"], "must span at most 2147483647 positions")
        try refused(["--layers", "1x9x9,conv:1:1:2147483000:1000,flatten,3"], "must span at most 2147483647 positions")
        // Dropout acts on hidden weight layers: with none, it would do nothing.
        try refused(["--layers", "1x9x9,maxpool:3,flatten,3", "--dropout", "0.3"], "dropout 0.3 would do nothing")
        // A bare number keeps its flat meaning, and its old messages.
        try refused(["--layers", "80,3"], "images have 9×9 = 81 pixels but the input layer has 80 units")
    }

    /// Parameters that no longer fit the architecture (`layers` is settable) are refused before
    /// any kernel could index past them.
    @Test func layersThatNoLongerFitAreRefused() throws {
        var network = try Network(architecture: try Architecture(parsing: "1x5x5,conv:2:3,flatten,3"), activations: [.relu, .softmax])
        network.layers[0] = try Layer(inputs: 4, outputs: 2, weights: [Float](repeating: 0.1, count: 8), biases: [0, 0], activation: .relu)
        #expect(throws: BPNetError.self) { try network.predict([Float](repeating: 0.5, count: 25), backend: CPUBackend()) }
    }

    /// A CSV row holds the C·H·W inputs in NCHW order, then the targets.
    @Test func csvRowsHoldImages() throws {
        let folder = try TestData.temporaryFolder()
        let data = folder + "/images.csv"
        try CSV.write(try TestData.classification(count: 30, inputs: 2 * 3 * 4, classes: 3, seed: 5), to: data)
        let result = try CLI.run(["train", "--data", data, "--layers", "2x3x4,conv:2:2,flatten,3", "--epochs", "1", "--device", "cpu"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("data: 24 inputs, 3 target values from the last 3 columns"), "\(result.stderr)")
        #expect(result.stdout.hasPrefix("layer      output  activation  parameters\ninput       2×3×4"), "\(result.stdout)")
    }
}

extension Data {
    /// A safetensors file with its header text rewritten (and padded again).
    func replacingHeader(_ edit: (String) -> String) -> Data {
        let length = Int(prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        var header = Array(edit(String(decoding: self[8..<(8 + length)], as: UTF8.self).trimmingCharacters(in: .whitespaces)).utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var out = Data()
        Swift.withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        return out + Data(header) + self[(8 + length)...]
    }
}
