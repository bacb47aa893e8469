@testable import BPNet
import BPNetTestSupport
import Foundation
import Testing

/// An option that would do nothing in its combination is refused before any work, with one line
/// that names it and what to use instead: a run that ignores what was asked is worse than one
/// that refuses.
@Suite struct OptionRefusalTests {
    let folder: String
    let trainCSV: String

    init() throws {
        folder = try TestData.temporaryFolder()
        trainCSV = folder + "/train.csv"
        try CSV.write(try TestData.classification(count: 31, inputs: 4, classes: 3, seed: 1), to: trainCSV)
    }

    /// One line on stderr that contains `message`, nothing on stdout, and a non-zero exit.
    func expectError(
        _ arguments: [String], _ message: String, environment: [String: String] = [:], sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let result = try CLI.run(arguments, environment: environment)
        #expect(result.status != 0, "\(arguments) exited 0", sourceLocation: sourceLocation)
        #expect(result.stdout.isEmpty, "\(arguments) printed \(result.stdout)", sourceLocation: sourceLocation)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("error: ") && lines[0].contains(message),
                "\(arguments): \(result.stderr)", sourceLocation: sourceLocation)
    }

    var train: [String] { ["train", "--data", trainCSV, "--layers", "4,5,3", "--epochs", "1", "--device", "cpu"] }

    /// The activation grammar: a slope only for leaky ReLU, a number, at least 0; GELU only in a
    /// hidden layer (its f′ needs z, which an output layer's δ does not keep).
    @Test func activationNamesAndParametersAreChecked() throws {
        for (list, message) in [
            ("leaky-relu:-0.1,softmax", "leaky-relu's slope must be a finite number ≥ 0, not -0.1"),
            ("leaky-relu:nan,softmax", "leaky-relu's slope must be a finite number ≥ 0, not nan"),
            ("leaky-relu:x,softmax", "activation 'leaky-relu:x': the slope 'x' is not a number"),
            ("relu:0.1,softmax", "activation 'relu:0.1': only leaky-relu takes a parameter"),
            ("gelu,gelu", "gelu is for hidden layers, not the output layer"),
            ("swish,softmax", "unknown activation 'swish' (expected sigmoid, tanh, relu, identity, softmax, leaky-relu, gelu)"),
        ] {
            try expectError(train + ["--activations", list, "--loss", "log-likelihood"], message)
        }
        // The names read back as written; the default slope is left out, as PyTorch's repr does.
        for name in ["leaky-relu", "leaky-relu:0.2", "gelu"] {
            #expect(try Activation.parse(name).rawValue == name)
        }
        #expect(try Activation.parse("leaky-relu:0.01") == .leakyRelu)
        #expect(try Activation.parse("leaky-relu:0.2").parameter == 0.2)
        // A model file keeps the slope: the loaded network predicts what the trained one does.
        let model = folder + "/leaky.safetensors"
        let trained = try CLI.run(
            train + ["--activations", "gelu,leaky-relu:0.3", "--loss", "quadratic", "--learning-rate", "0.1", "--save", model])
        #expect(trained.status == 0, "\(trained.stderr)")
        let loaded = try ModelFile.load(model).network
        #expect(loaded.activations == [.gelu, try .leakyRelu(slope: 0.3)])
    }

    /// Batch norm needs a variance: a training batch of one sample after a dense layer is refused
    /// (PyTorch's BatchNorm1d refuses it too), and so is a process's shard of one sample in a
    /// distributed run, where each process normalizes its shard; a batch norm goes right after a
    /// conv or dense layer.
    @Test func batchNormNeedsTwoValuesAChannelInEveryBatchAndShard() throws {
        let layers = ["--layers", "4,5,batchnorm,3", "--activations", "relu,softmax", "--loss", "log-likelihood"]
        let message = "layer 2 (batchnorm) needs at least 2 values a channel in every training batch for a variance"
        try expectError(train + layers + ["--batch-size", "10"], message + ", but 31 samples in batches of 10 leave a batch of 1 sample")
        try expectError(train + layers + ["--batch-size", "1"], message)
        #expect(try CLI.run(train + layers + ["--batch-size", "8"]).status == 0)
        try expectError(
            train + ["--layers", "4,batchnorm,5,3"], "layer 1 (batchnorm): normalizes a conv or dense layer's output and applies its activation")
        let network = try Network(architecture: try Architecture(parsing: "4,5,batchnorm,3"), activations: [.relu, .softmax])
        #expect(throws: BPNetError.invalidArgument(
            message + ", but 31 samples in batches of 8 over 4 processes leave a shard of 1 sample: use another --batch-size")) {
            try Trainer.checkNormalization(network, samples: 31, batch: 8, ranks: 4)
        }
        try Trainer.checkNormalization(network, samples: 32, batch: 8, ranks: 4)
    }

    /// Each optimizer option with each optimizer that ignores it.
    @Test func optimizerOptionsTheOptimizerIgnores() throws {
        try expectError(train + ["--optimizer", "adamw", "--l2", "0.1"], "--l2 does nothing with --optimizer adamw: adamw decouples its weight decay (use --weight-decay)")
        for optimizer in ["adam", "adamw"] {
            try expectError(train + ["--optimizer", optimizer, "--momentum", "0.9"], "--momentum does nothing with --optimizer \(optimizer): Adam's running mean of the gradient is --beta1")
        }
        for optimizer in ["sgd", "nesterov", "adam"] {
            try expectError(train + ["--optimizer", optimizer, "--weight-decay", "0.1"], "--weight-decay does nothing with --optimizer \(optimizer): it is adamw's decoupled decay")
        }
        for optimizer in ["sgd", "nesterov"] {
            for option in ["--beta1", "--beta2", "--epsilon"] {
                try expectError(train + ["--optimizer", optimizer, option, "0.5"], "\(option) does nothing with --optimizer \(optimizer): it is Adam's")
            }
        }
        for optimizer in ["sgd", "nesterov", "adam", "adamw"] {
            try expectError(train + ["--optimizer", optimizer, "--alpha", "0.9"], "--alpha does nothing with --optimizer \(optimizer): it is RMSprop's")
        }
        for option in ["--beta1", "--beta2"] {
            try expectError(train + ["--optimizer", "rmsprop", option, "0.5"], "\(option) does nothing with --optimizer rmsprop: it is Adam's")
        }
        try expectError(train + ["--optimizer", "rmsprop", "--weight-decay", "0.1"], "--weight-decay does nothing with --optimizer rmsprop")
        // Augmentation crops and flips images: a flat input has none.
        try expectError(train + ["--augment", "crop:2,flip"], "--augment crop:2,flip would do nothing: it crops and flips images")
        try expectError(train + ["--augment", "crop:2,rotate"], "'rotate' is not crop:P (a padding of at least 1) or flip")
        // Each of them is taken where it does something.
        for (optimizer, option) in [
            ("sgd", "--l2"), ("nesterov", "--momentum"), ("adam", "--beta1"), ("adamw", "--weight-decay"), ("adam", "--l2"),
            ("rmsprop", "--alpha"), ("rmsprop", "--momentum"), ("rmsprop", "--epsilon"), ("rmsprop", "--l2"),
        ] {
            let run = try CLI.run(train + ["--optimizer", optimizer, option, "0.5"])
            #expect(run.status == 0, "\(optimizer) \(option): \(run.stderr)")
        }
    }

    /// The library refuses the same: λ with AdamW and μ with Adam would change nothing.
    @Test func libraryRefusesTermsTheRuleIgnores() {
        #expect(throws: BPNetError.invalidArgument("l2 does nothing with adamw, whose weight decay is decoupled: use its weight decay")) {
            try TrainingOptions(optimizer: .adamw(), l2: 0.5).validate()
        }
        #expect(throws: BPNetError.invalidArgument("momentum does nothing with adam: its running mean of the gradient is β₁")) {
            try TrainingOptions(optimizer: .adam(), momentum: 0.5).validate()
        }
        #expect(throws: Never.self) { try TrainingOptions(optimizer: .adam(), l2: 0.5).validate() }
    }

    /// --help says so too: adamw has no λ term.
    @Test func trainHelpSaysAdamWIgnoresL2() throws {
        // Lines are wrapped at the terminal's width: compare the words.
        let help = try CLI.run(["train", "--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(help.contains("adamw: W −= η·wd·W first, then adam with g = gW: no λ term, so --l2 is refused with adamw."))
        #expect(help.contains("Seed of the initial weights, the shuffle, the dropout masks and the --validation split"))
    }

    /// bench --csv-load only times a load: the options of the training benchmark would do nothing.
    @Test func benchOptionsWithCSVLoad() throws {
        for (option, value) in [("--configs", "A"), ("--epochs", "2"), ("--limit", "5"), ("--output", folder + "/b.json")] {
            try expectError(["bench", "--csv-load", trainCSV, option, value], "\(option) does nothing with --csv-load")
        }
        try expectError(["bench", "--csv-load", trainCSV, "--gemm-only"], "--gemm-only does nothing with --csv-load")
    }

    @Test func targetsWithIDXData() throws {
        try expectError(["train", "--targets", "2", "--epochs", "1"], "--targets does nothing with IDX data (fashion-mnist)")
    }

    /// A typo in the family variable is an error for every command, on the CPU too.
    @Test func unknownOpenCLFamilyOnTheCPU() throws {
        let message = "BPNET_OPENCL_FAMILY: unknown GEMM family 'bogus' (expected register-blocked, vector, naive)"
        try expectError(train, message, environment: ["BPNET_OPENCL_FAMILY": "bogus"])
        try expectError(["devices"], message, environment: ["BPNET_OPENCL_FAMILY": "bogus"])
        try expectError(train, "BPNET_GEMM_TUNING: unknown setting 'VWX=8'", environment: ["BPNET_GEMM_TUNING": "VWX=8"])
    }

    /// One of several mpirun processes without --distributed would train alone and overwrite the
    /// others' files; --distributed outside mpirun says once that it is one process.
    @Test func mpiRanksWithoutDistributed() throws {
        try expectError(
            train, "this is one of 2 processes that mpirun started, but --distributed is not given",
            environment: ["OMPI_COMM_WORLD_SIZE": "2"])
        let alone = try CLI.run(train + ["--distributed"])
        #expect(alone.status == 0, "\(alone.stderr)")
        let notes = alone.stderr.split(separator: "\n")
        #expect(notes.filter { $0.contains("this job is one process") }.count == 1, "\(alone.stderr)")
        #expect(!alone.stderr.contains("allreduce") && !alone.stdout.contains("allreduce"))
        // As one process it checks its output paths before any work, as any run does, and it has
        // no replicas to compare.
        try expectError(train + ["--distributed", "--save", folder + "/no/such/folder/m.safetensors"], "the folder \(folder)/no/such/folder does not exist")
        try expectError(train + ["--distributed", "--check-replicas"], "--check-replicas has no replicas to compare: this job is one process")
    }

    /// --initializer draws the starting weights, which --init and --resume give instead.
    @Test func initializerWithGivenWeights() throws {
        let model = folder + "/m.safetensors"
        try ModelFile.save(try Network(sizes: [4, 5, 3], seed: 1), to: model)
        try expectError(train + ["--init", model, "--initializer", "he"], "--initializer does nothing with --init, which gives the starting weights")
        try expectError(train + ["--resume", folder + "/run.ckpt", "--initializer", "xavier"], "--initializer does nothing with --resume")
    }

    /// --resume with fewer epochs than its checkpoint's run is refused before the first line of
    /// output; without --loss, --resume and --init take the file's loss.
    @Test func resumeWithFewerEpochsAndStoredLoss() throws {
        let checkpoint = folder + "/run.ckpt"
        let common = train.filter { $0 != "--epochs" && $0 != "1" } + ["--loss", "cross-entropy", "--learning-rate", "0.5"]
        let first = try CLI.run(common + ["--epochs", "3", "--checkpoint", checkpoint])
        #expect(first.status == 0, "\(first.stderr)")
        let before = try Data(contentsOf: URL(fileURLWithPath: checkpoint))
        try expectError(common + ["--epochs", "2", "--resume", checkpoint], "cannot resume: the checkpoint's run has 3 epochs, this run asks for 2")
        #expect(try Data(contentsOf: URL(fileURLWithPath: checkpoint)) == before, "the refused run left the checkpoint alone")
        // Every refusal of a resume comes before the table's header.
        try expectError(common.map { $0 == "0.5" ? "0.25" : $0 } + ["--epochs", "4", "--resume", checkpoint], "cannot resume: the checkpoint was trained with learning-rate 0.5")
        // Without --loss the checkpoint's cross-entropy is kept.
        let noLoss = common.filter { $0 != "--loss" && $0 != "cross-entropy" }
        let resumed = try CLI.run(noLoss + ["--epochs", "4", "--resume", checkpoint])
        #expect(resumed.status == 0, "\(resumed.stderr)")

        // --init of a softmax model takes its log-likelihood loss.
        let softmax = folder + "/softmax.safetensors"
        let trained = try CLI.run(train + ["--activations", "relu,softmax", "--loss", "log-likelihood", "--save", softmax])
        #expect(trained.status == 0, "\(trained.stderr)")
        let continued = try CLI.run(["train", "--data", trainCSV, "--init", softmax, "--epochs", "1", "--device", "cpu", "--save", folder + "/again.safetensors"])
        #expect(continued.status == 0, "\(continued.stderr)")
        #expect(continued.stderr.contains("log-likelihood loss"), "\(continued.stderr)")
        #expect(try ModelFile.load(folder + "/again.safetensors").metadata.loss == .logLikelihood)
    }

    /// A model file without __metadata__ says nothing of its activations: it is refused unless the
    /// command line names them, and then they are used.
    @Test func modelWithoutMetadataNeedsActivations() throws {
        let network = try Network(sizes: [4, 5, 3], activations: [.relu, .softmax], seed: 3)
        let bare = folder + "/bare.safetensors"
        try Self.withoutMetadata(network).write(to: URL(fileURLWithPath: bare))

        let message = "holds no bpnet metadata, so nothing says which activations its layers use; name them with --activations"
        try expectError(["evaluate", "--model", bare, "--data", trainCSV, "--device", "cpu"], message)
        try expectError(["predict", "--model", bare, "--input", trainCSV, "--device", "cpu"], message)
        try expectError(["train", "--init", bare, "--data", trainCSV, "--epochs", "1", "--device", "cpu"], message)
        #expect(throws: BPNetError.model(file: bare, problem: message + " (such as relu,softmax)")) { try ModelFile.load(bare) }
        // Metadata of another program's, without BPNet's format key, says no more.
        let foreign = Safetensors.encode(metadata: [("author", "someone")], tensors: ModelFile.tensors(network))
        #expect(throws: BPNetError.model(file: "f", problem: message + " (such as relu,softmax)")) { try ModelFile.decode(foreign, file: "f") }
        #expect(try ModelFile.decode(foreign, file: "f", activationsIfUnrecorded: "relu,softmax").network == network)

        let named = try ModelFile.load(bare, activationsIfUnrecorded: "relu,softmax").network
        #expect(named == network)
        let inputs = folder + "/inputs.csv"
        try "0.1,0.2,0.3,0.4\n".write(toFile: inputs, atomically: true, encoding: .utf8)
        let predicted = try CLI.run(["predict", "--model", bare, "--input", inputs, "--activations", "relu,softmax", "--device", "cpu"])
        #expect(predicted.status == 0, "\(predicted.stderr)")
        let expected = try network.predict([0.1, 0.2, 0.3, 0.4], backend: CPUBackend())
        #expect(predicted.stdout == expected.map { String(format: "%.9g", $0) }.joined(separator: ",") + "\n")
        // A file that records its activations must agree with --activations.
        let recorded = folder + "/recorded.safetensors"
        try ModelFile.save(network, to: recorded)
        try expectError(["predict", "--model", recorded, "--input", inputs, "--activations", "sigmoid", "--device", "cpu"],
                        "--activations sigmoid differ from the model's relu,softmax")
    }

    /// `network` as another writer leaves a safetensors file: its tensors, and no __metadata__.
    static func withoutMetadata(_ network: Network) -> Data {
        var entries: [String] = [], payload = Data(), offset = 0
        for (l, layer) in network.layers.enumerated() {
            for (name, shape, values) in [("weight", [layer.outputs, layer.inputs], layer.weights), ("bias", [layer.outputs], layer.biases)] {
                entries.append("\"layers.\(l).\(name)\":{\"dtype\":\"F32\",\"shape\":\(shape),\"data_offsets\":[\(offset),\(offset + 4 * values.count)]}")
                offset += 4 * values.count
                for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { payload.append(contentsOf: $0) } }
            }
        }
        var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var file = Data()
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { file.append(contentsOf: $0) }
        return file + header + payload
    }
}
