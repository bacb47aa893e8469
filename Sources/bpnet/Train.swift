import ArgumentParser
import BPNet
import BPNetMPI
import Foundation

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a network by backpropagation with mini-batches.",
        discussion: """
            For each mini-batch of m samples out of n: gW = (1/m) Σ δ·aᵀ + (λ/n)·W, gb = (1/m) Σ δ.
            sgd: v = μ·v − η·g, W += v.
            nesterov: v = μ·v − η·g, W += μ·v − η·g.
            adam: m = β₁m + (1−β₁)g, s = β₂s + (1−β₂)g², W −= η·m̂/(√ŝ + ε).
            adamw: W −= η·wd·W first, then adam with g = gW: no λ term, so --l2 is refused with adamw.
            rmsprop: v = αv + (1−α)g², u = g/(√v + ε), W −= η·u; with μ, b = μb + u, W −= η·b.

            η is --learning-rate, λ is --l2, μ is --momentum (sgd, nesterov and rmsprop), wd is --weight-decay \
            (adamw) and α is --alpha (rmsprop). An option that the chosen optimizer does not use is an error. The README gives every rule.
            """)

    @Option(help: "fashion-mnist, a folder of IDX files, or a CSV file.")
    var data = "fashion-mnist"

    @Option(help: "Test set: an IDX folder or a CSV file. Default: the t10k files of an IDX source, when it has them.")
    var test: String?

    @Option(help: ArgumentHelp(
        "The model: its input, then its layers, e.g. 784,30,10 (dense layers of 30 and 10 units on 784 inputs). Default: those of --init, else the data's inputs, 30, and its outputs.",
        discussion: """
            The input is a number (flat) or CxHxW (an image: IDX images are 1xHxW, a CSV row holds C·H·W values in NCHW \
            order). Then, comma-separated: N, a dense layer of N units (on a flat input); conv:C:K[:S[:P]], C channels of \
            K×K kernels, stride S (1), zero padding P (0); maxpool:K[:S], K×K max pooling every S (K); avgpool:K[:S], \
            K×K average pooling every S (K); gap, each channel's mean (C×1×1); batchnorm, right after a conv or dense layer, \
            whose activation then applies after it; flatten, an image as a flat vector. The last layer is dense. Such as \
            1x28x28,conv:32:5:1:2,maxpool:2,conv:64:5:1:2,maxpool:2,flatten,1024,10.
            """))
    var layers: String?

    @Option(parsing: .unconditional, help: "How many last columns of a CSV are target values (the rest are inputs). Default: from --layers, else the last column is a class label.")
    var targets: Int?

    @Option(parsing: .unconditional, help: "Passes over the training data.")
    var epochs = 30

    @Option(parsing: .unconditional, help: "Samples per mini-batch (the last one of an epoch may be smaller).")
    var batchSize = 10

    @Option(parsing: .unconditional, help: "η, the learning rate. Default: 3.0 for sgd and nesterov, 0.001 for adam and adamw, 0.01 for rmsprop.")
    var learningRate: Float?

    @Option(help: "quadratic, cross-entropy (sigmoid outputs) or log-likelihood (softmax outputs). Default: that of --init or --resume, else quadratic.")
    var loss: Loss?

    @Option(help: ArgumentHelp(
        "One per weight layer (dense or conv), e.g. relu,relu,softmax, or one for every layer: "
            + Activation.allCases.map(\.rawValue).joined(separator: ", ")
            + " (softmax: output only; gelu: hidden only; leaky-relu:S sets the slope, default 0.01). Default: those of --init, else sigmoid."))
    var activations: String?

    @Option(help: "sgd, nesterov, adam, adamw or rmsprop.")
    var optimizer = "sgd"

    @Option(parsing: .unconditional, help: "β₁ of adam and adamw. Default: \(Optimizer.defaultBeta1).")
    var beta1: Float?

    @Option(parsing: .unconditional, help: "β₂ of adam and adamw. Default: \(Optimizer.defaultBeta2).")
    var beta2: Float?

    @Option(parsing: .unconditional, help: "ε of adam, adamw and rmsprop. Default: \(Optimizer.defaultEpsilon).")
    var epsilon: Float?

    @Option(parsing: .unconditional, help: "α, rmsprop's smoothing constant of the mean square. Default: \(Optimizer.defaultAlpha).")
    var alpha: Float?

    @Option(parsing: .unconditional, help: "wd, adamw's decoupled weight decay (weights only). Default: \(Optimizer.defaultWeightDecay).")
    var weightDecay: Float?

    @Option(help: "normal (W ~ N(0, 1/n_in), b ~ N(0, 1)), xavier or he. Default: normal. Not with --init or --resume, whose weights are given.")
    var initializer: Initializer?

    @Option(help: "constant, step:K:γ (η·γ every K epochs) or cosine.")
    var schedule = "constant"

    @Option(parsing: .unconditional, help: "The probability of dropping each hidden unit in training, in [0, 1).")
    var dropout: Float = 0

    @Option(help: "Hold out this many training samples for validation, or a fraction such as 0.1, drawn with --seed.")
    var validation: String?

    @Option(parsing: .unconditional, help: "Stop after K epochs without a better validation accuracy; --save then keeps the best epoch's model.")
    var earlyStop: Int?

    @Option(parsing: .unconditional, help: "λ, the L2 strength of sgd, nesterov, adam and rmsprop (the weight term is λ/n·W). Default: 0.")
    var l2: Float?

    @Option(parsing: .unconditional, help: "μ, the momentum of sgd, nesterov and rmsprop, in [0, 1). Default: 0.")
    var momentum: Float?

    @Option(parsing: .unconditional, help: "Clip the gradients by their global norm c before each step, as PyTorch's clip_grad_norm_: g ·= min(1, c/(‖g‖ + 1e-6)).")
    var clipNorm: Float?

    @Option(help: "Crop and flip the training images at random: crop:P (shift by up to P pixels, zeros outside, as torchvision's RandomCrop with padding P), flip (mirror half of them), or crop:4,flip. Evaluation never augments.")
    var augment: String?

    @Option(parsing: .unconditional, help: "Seed of the initial weights, the shuffle, the dropout masks and the --validation split.")
    var seed: UInt64 = 0

    @Flag(help: "Keep file order instead of shuffling every epoch.")
    var noShuffle = false

    @Option(name: .customLong("init"), help: "Start from the weights of this model file.")
    var initModel: String?

    @Option(help: "Save the trained model here (safetensors, written atomically).")
    var save: String?

    @Option(help: "Write a checkpoint here (atomically) after every epoch: the model, the optimizer state and the run's position. It loads as a model too.")
    var checkpoint: String?

    @Option(parsing: .unconditional, help: "Also write the checkpoint every N batches.")
    var checkpointEvery: Int?

    @Option(help: "Continue the run this checkpoint holds; give the same options (--epochs may be larger). Checkpoints go on to this file unless --checkpoint names another.")
    var resume: String?

    @Option(help: "Keep a report in this folder, rewritten after every epoch: metrics.csv, curves.svg, confusion.svg (with a test set) and index.html, which works offline.")
    var report: String?

    @Option(parsing: .unconditional, help: "Use only the first N training samples.")
    var limit: Int?

    @Flag(help: "No live progress line (it shows only when stderr is a terminal, and never with --json).")
    var quiet = false

    @Flag(help: "Train data-parallel with the other processes of 'mpirun -np N': each takes its shard of every batch, and the gradients are summed over MPI. Rank 0 prints, saves, checkpoints and reports.")
    var distributed = false

    @Flag(help: "With --distributed, compare a checksum of the weights across the ranks after every epoch (a debugging aid).")
    var checkReplicas = false

    @OptionGroup var deviceOptions: DeviceOptions
    @OptionGroup var output: OutputOptions

    var chosenOptimizer: Optimizer {
        get throws {
            guard let kind = Optimizer.Kind(rawValue: optimizer) else {
                throw ValidationError("unknown optimizer '\(optimizer)' (expected " + Optimizer.names.joined(separator: ", ") + ")")
            }
            // A hyperparameter the rule does not take was refused in validate().
            return Optimizer(kind, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay, alpha: alpha)
        }
    }

    /// The options as given, with the loss of the --init or --resume file (`storedLoss`) when
    /// --loss is not given.
    func options(storedLoss: Loss? = nil) throws -> TrainingOptions {
        TrainingOptions(
            epochs: epochs, batchSize: batchSize, learningRate: learningRate, optimizer: try chosenOptimizer,
            loss: loss ?? storedLoss ?? .quadratic, l2: l2 ?? 0, momentum: momentum ?? 0, schedule: try Schedule(parsing: schedule),
            dropout: dropout, earlyStop: earlyStop, clipNorm: clipNorm, augment: try Augmentation(parsing: augment ?? "none"),
            seed: seed, shuffle: !noShuffle)
    }

    /// Every optimizer option given, with the optimizers that use it and what to use instead.
    var optimizerOptionsGiven: [(option: String, usedBy: Set<String>, instead: String)] {
        [
            (l2 == nil ? nil : ("--l2", ["sgd", "nesterov", "adam", "rmsprop"], "adamw decouples its weight decay (use --weight-decay)")),
            (momentum == nil ? nil : ("--momentum", ["sgd", "nesterov", "rmsprop"], "Adam's running mean of the gradient is --beta1")),
            (weightDecay == nil ? nil : ("--weight-decay", ["adamw"], "it is adamw's decoupled decay (use --l2 for an L2 term, or --optimizer adamw)")),
            (beta1 == nil ? nil : ("--beta1", ["adam", "adamw"], "it is Adam's (use --momentum, or --optimizer adam or adamw)")),
            (beta2 == nil ? nil : ("--beta2", ["adam", "adamw"], "it is Adam's (rmsprop's is --alpha)")),
            (epsilon == nil ? nil : ("--epsilon", ["adam", "adamw", "rmsprop"], "it is Adam's and RMSprop's (use --optimizer adam, adamw or rmsprop)")),
            (alpha == nil ? nil : ("--alpha", ["rmsprop"], "it is RMSprop's (Adam's is --beta2)")),
        ].compactMap { $0 }
    }

    func validate() throws {
        // An option that the chosen optimizer would ignore is refused, never silently dropped.
        if Optimizer.names.contains(optimizer) {
            for given in optimizerOptionsGiven where !given.usedBy.contains(optimizer) {
                throw ValidationError("\(given.option) does nothing with --optimizer \(optimizer): \(given.instead)")
            }
        }
        // Only a CSV has columns to divide into inputs and targets.
        if targets != nil, let source = try? DataSource(parsing: data), source != .csv(file: data) {
            throw ValidationError(
                "--targets does nothing with IDX data (\(data)), whose targets are its labels; it divides a CSV file's columns")
        }
        do {
            try options().validate()
            if let activations, let layers {
                try Activation.validate(try Activation.parseList(activations, layers: weightLayerCount(try parseLayers(layers))))
            }
            // The loss must fit the output layer; without --init or --resume that is known now.
            if initModel == nil && resume == nil {
                let names = activations?.split(separator: ",").map(String.init) ?? ["sigmoid"]
                let last = try Activation.parseList(names.last ?? "sigmoid", layers: 1)[0]
                try (loss ?? .quadratic).validate(output: last)
            }
        } catch let error as BPNetError {
            throw ValidationError(error.description)
        }
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive, got \(limit)") }
        if let targets, targets <= 0 { throw ValidationError("--targets must be positive, got \(targets)") }
        if earlyStop != nil, validation == nil { throw ValidationError("--early-stop needs --validation") }
        if let validation { _ = try heldOutCount(validation, of: Int.max) }
        if let layers { _ = try parseLayers(layers) }
        if let checkpointEvery, checkpointEvery <= 0 { throw ValidationError("--checkpoint-every must be positive, got \(checkpointEvery)") }
        if checkpointEvery != nil, checkpoint == nil, resume == nil { throw ValidationError("--checkpoint-every needs --checkpoint") }
        if checkReplicas, !distributed { throw ValidationError("--check-replicas needs --distributed") }
        if initializer != nil, let given = resume != nil ? "--resume" : initModel != nil ? "--init" : nil {
            throw ValidationError("--initializer does nothing with \(given), which gives the starting weights")
        }
        if resume != nil, initModel != nil {
            throw ValidationError("--resume and --init both give the starting weights; use --resume to continue a run, --init to start a new one")
        }
        // Checked now, so a long run does not end in a save that cannot happen; in a distributed
        // run, by rank 0 alone, which alone writes (see run()).
        if !distributed {
            do {
                try checkOutputPaths()
            } catch let error as BPNetError {
                throw ValidationError(error.description)
            }
        }
    }

    func checkOutputPaths() throws {
        if let save { try OutputPath.checkWritable(save, option: "--save") }
        if let checkpoint { try OutputPath.checkWritable(checkpoint, option: "--checkpoint") }
        if let report { try OutputPath.checkFolder(report, option: "--report") }
    }

    func run() throws {
        // Nothing of MPI is touched without --distributed. A job of one process (no mpirun, or
        // -np 1) trains as a plain run: MPI is finished at once, and nothing is exchanged.
        var communicator = distributed ? try MPICommunicator.start() : nil
        if let started = communicator, started.size == 1 {
            started.finish()
            communicator = nil
            if checkReplicas { throw ValidationError("--check-replicas has no replicas to compare: this job is one process") }
        }
        if let communicator {
            Console.speaks = communicator.rank == 0
            Console.errorPrefix = "rank \(communicator.rank): "
        }
        // A failure here ends the job (see BPNetCommand.main), so the others need not be told.
        if distributed, (communicator?.rank ?? 0) == 0 { try checkOutputPaths() }
        if distributed, communicator == nil {
            note("distributed: this job is one process (start it with mpirun -np N for more), so it trains as one")
        }
        let device = try deviceOptions.resolve()
        let backend = try (communicator.map { try device.forLocalRank($0.localRank) } ?? device).makeBackend()
        let requested = try layers.map(parseLayers)
        var architecture = requested
        // A network too large for the device or the host is refused now, before any data is read
        // (the batch, bounded by the data's size, is counted once the data is in).
        if let architecture {
            var parametersOnly = try options()
            parametersOnly.batchSize = 1
            try MemoryPlan(architecture: architecture, options: parametersOnly, distributed: communicator != nil).check(on: backend)
        }
        var network: Network?
        // In a distributed run rank 0 reads the checkpoint or model and sends it to the others.
        func read(_ path: String, decode: (Data) throws -> Void) throws {
            guard let communicator else { return try decode(try ModelFile.bytes(of: path)) }
            var bytes: [UInt8] = communicator.rank == 0 ? Array(try ModelFile.bytes(of: path)) : []
            try communicator.broadcast(&bytes, root: 0)
            try decode(Data(bytes))
        }
        var resumed: TrainingCheckpoint?
        // The loss of the --resume or --init file, which a run without --loss keeps.
        var storedLoss: Loss?
        if let resume { try read(resume) { resumed = try CheckpointFile.decode($0, file: resume) } }
        storedLoss = resumed?.options.loss
        if let resumed {
            if let requested, requested != resumed.network.architecture {
                throw ValidationError(
                    "cannot resume: the checkpoint's layers are \(resumed.network.architecture), --layers asks for \(requested)")
            }
            architecture = resumed.network.architecture
            network = resumed.network
        }
        if let initModel {
            var loaded: (network: Network, metadata: ModelFile.Metadata)?
            // --layers gives the architecture of a file that records none (and must match one that does).
            try read(initModel) {
                loaded = try decodeModel($0, file: initModel, activations: activations, layers: requested, role: "the --init model's")
            }
            let model = loaded!.network
            storedLoss = loaded!.metadata.loss
            architecture = model.architecture
            network = model
        }

        let source = try DataSource(parsing: data)
        let outputs = try architecture.map { try $0.shapes().last!.count }
        var trainingData = try source.load(
            .train, inputs: architecture?.input.count, outputs: outputs, targets: targets, inputShape: architecture?.input)
        // Said once the memory plan has passed, so that a refusal is the only line.
        var dataNotes = ["data: \(trainingData.layoutDescription)"]
        if let limit { trainingData = trainingData.prefix(limit) }
        var validationData: Dataset?
        if let validation {
            let count = try heldOutCount(validation, of: trainingData.count)
            let total = trainingData.count
            do {
                (trainingData, validationData) = try trainingData.holdingOut(count, seed: seed)
            } catch let error as BPNetError {
                throw ValidationError("--validation \(validation): \(error.description)")
            }
            dataNotes.append("validation: \(count) of the \(total) training samples held out, drawn with seed \(seed)")
        }
        let used = architecture ?? Architecture(sizes: [trainingData.inputSize, 30, trainingData.outputSize])
        let usedOutputs = try used.shapes().last!.count
        let testData: Dataset? =
            if let test {
                try DataSource(parsing: test).load(.test, outputs: usedOutputs, targets: targets, inputShape: used.input)
            } else if source.has(.test) {
                try source.load(.test, outputs: usedOutputs, inputShape: used.input)
            } else { nil }
        let functions = try activations.map { try Activation.parseList($0, layers: weightLayerCount(used)) }
        let plan = try MemoryPlan(
            architecture: used, options: try options(storedLoss: storedLoss), activations: functions ?? network?.activations ?? [],
            samples: trainingData.count, testSamples: testData?.count ?? 0, validationSamples: validationData?.count ?? 0,
            distributed: communicator != nil)
        try plan.check(on: backend)
        var model = try network ?? Network(architecture: used, activations: functions, initializer: initializer ?? .normal, seed: seed)
        if let resumed, let functions, functions != resumed.network.activations {
            throw ValidationError(
                "cannot resume: the checkpoint's activations are \(resumed.network.activations.map(\.rawValue).joined(separator: ",")), "
                    + "--activations asks for \(functions.map(\.rawValue).joined(separator: ","))")
        }
        let options = try self.options(storedLoss: storedLoss)
        try options.loss.validate(output: model.activations[model.activations.count - 1])
        try options.validate(for: model)
        try Trainer.checkNormalization(
            model, samples: trainingData.count, batch: min(options.batchSize, max(trainingData.count, 1)), ranks: communicator?.size ?? 1)
        // Refused before the first line of output; the trainer checks the same again.
        try resumed?.checkResumable(
            network: model, options: options, data: DataFingerprint(training: trainingData, validation: validationData))
        // Said once every check has passed, so that a refusal is the only line.
        dataNotes.forEach(note)

        let layout = Self.layout(model)
        note("device: \(backend.description)")
        note(
            "network \(layout) (\(model.activations.map(\.rawValue).joined(separator: ","))), \(trainingData.count) training and "
                + "\(counted(testData?.count ?? 0, "test sample")), \(counted(epochs, "epoch")) of batch \(batchSize), "
                + options.summary)
        // The report starts now, empty, so that a folder that cannot be written fails before training.
        var reportPage = RunReport(
            title: "bpnet train", settings: reportSettings(model: model, options: options, backend: backend, data: trainingData,
                                                          validation: validationData, test: testData),
            epochs: resumed?.history ?? [])
        let isRoot = (communicator?.rank ?? 0) == 0
        // A resumed run keeps the report it has (its confusion matrix included) until its next epoch.
        if let report, isRoot, resumed == nil { try reportPage.write(to: report) }
        let classNames = source == .fashionMNIST && model.outputSize == 10 ? ConfusionMatrix.fashionMNISTClassNames : nil
        if let communicator { note("distributed: \(counted(communicator.size, "rank")), each with its shard of every batch of \(batchSize)") }
        if !output.json {
            // The model, layer by layer, as `bpnet summary` prints it, then a blank line.
            printFromRoot("\(NetworkSummary(model))\n")
            printFromRoot("epoch  train_loss  train_acc" + (validationData == nil ? "" : "  val_loss   val_acc")
                + "  test_loss  test_acc  seconds  samples/s")
        }
        var trainer = Trainer(options)
        let live = !quiet && !output.json && isatty(2) != 0 && communicator == nil
        if live { trainer.batchProgress = { showProgress($0) } }
        trainer.measureConfusion = report != nil && testData != nil
        let checkpointPath = checkpoint ?? resume
        if let checkpointPath {
            trainer.checkpointEvery = checkpointEvery
            if isRoot { trainer.checkpoint = { try CheckpointFile.save($0, to: checkpointPath) } }
        }
        trainer.communicator = communicator
        trainer.checkReplicas = checkReplicas
        let interrupts = Interrupts()
        trainer.cancellation = interrupts.cancellation
        if let resumed, let resume {
            note(
                "resuming \(resume): \(counted(resumed.epochsDone, "epoch")) done"
                    + (resumed.batchesDone > 0 ? " and \(counted(resumed.batchesDone, "batch", plural: "batches")) of the next" : "")
                    + " (step \(resumed.step))")
        }
        let reports: [EpochReport]
        do {
            reports = try trainer.train(
                &model, on: trainingData, validation: validationData, test: testData, backend: backend, resumingFrom: resumed
            ) { report in
                if live { clearProgress() }
                if let checksum = report.replicaChecksum {
                    note("epoch \(report.epoch): weights identical on \(counted(communicator?.size ?? 1, "rank")) (checksum \(String(checksum, radix: 16)))")
                }
                if let folder = self.report, isRoot {
                    reportPage.epochs.append(report)
                    reportPage.confusion = report.testConfusion.map { .init(classes: $0.classes, counts: $0.counts, classNames: classNames) }
                    try reportPage.write(to: folder)
                }
                if output.json {
                    let validationFields = validationData == nil ? "" :
                        "\"validation_loss\":\(json(report.validationLoss)),\"validation_accuracy\":\(json(report.validationAccuracy)),"
                    printFromRoot(
                        "{\"epoch\":\(report.epoch),\"train_loss\":\(json(report.trainLoss)),"
                            + "\"train_accuracy\":\(json(report.trainAccuracy)),\(validationFields)"
                            + "\"test_loss\":\(json(report.testLoss)),\"test_accuracy\":\(json(report.testAccuracy)),"
                            + "\"seconds\":\(json(report.seconds)),\"samples_per_second\":\(json(report.samplesPerSecond))"
                            + (report.allreduceSeconds.map { ",\"allreduce_seconds\":\(json($0))" } ?? "") + "}")
                } else {
                    let testLoss = report.testLoss.map { String(format: "%.6f", $0) } ?? "-"
                    let testAccuracy = report.testAccuracy.map { String(format: "%.4f", $0) } ?? "-"
                    let validationColumns = validationData == nil ? "" :
                        padded(report.validationLoss.map { String(format: "%.6f", $0) } ?? "-", 8) + "  "
                        + padded(report.validationAccuracy.map { String(format: "%.4f", $0) } ?? "-", 8) + "  "
                    printFromRoot(
                        String(format: "%5d  %10.6f  %9.4f  ", report.epoch, report.trainLoss, report.trainAccuracy)
                            + validationColumns + padded(testLoss, 9) + "  " + padded(testAccuracy, 8)
                            + String(format: "  %7.3f  %9.0f", report.seconds, report.samplesPerSecond))
                }
                fflush(nil)
            }
        } catch BPNetError.cancelled(let epoch, let batch, let batches) {
            if live { clearProgress() }
            fflush(nil)
            let position = batch == batches ? "after epoch \(epoch)" : "in epoch \(epoch) after batch \(batch) of \(batches)"
            // A rank of a distributed run may stop at another's request, without a signal of its own.
            let reason = interrupts.signalNumber.map(Interrupts.name) ?? "another rank's request"
            if let checkpointPath {
                note("\(reason): stopped \(position); checkpoint in \(checkpointPath) (continue with --resume \(checkpointPath))")
            } else {
                note("\(reason): stopped \(position); nothing saved (--checkpoint PATH keeps a run)")
            }
            communicator?.finish()
            Foundation.exit(interrupts.exitCode)
        }
        // Training is over: a signal now ends the process as usual (the saves below are atomic).
        interrupts.disarm()
        // With early stopping the model kept is the best validation epoch's: name it, and report
        // its test accuracy, not the last epoch's.
        var kept = reports.last
        if earlyStop != nil, let best = reports.enumerated().max(by: {
            ($0.element.validationAccuracy ?? 0, -$0.offset) < ($1.element.validationAccuracy ?? 0, -$1.offset)
        })?.element {
            kept = best
            if best.epoch != reports.last?.epoch {
                note(
                    (reports.count < epochs ? "stopped early: " : "")
                        + "epoch \(best.epoch) had the best validation accuracy; its model is kept")
            }
        }
        if let last = kept, !output.json {
            // Without a test set, the last epoch's training accuracy (measured before each batch's update).
            if let accuracy = last.testAccuracy {
                printFromRoot(String(format: "final test accuracy: %.2f%%", accuracy * 100))
            } else {
                printFromRoot(String(format: "final train accuracy: %.2f%%", last.trainAccuracy * 100))
            }
        }
        if let communicator, let last = reports.last, let seconds = last.allreduceSeconds {
            let steps = (trainingData.count + batchSize - 1) / batchSize
            note(String(
                format: "allreduce: %.3f ms per step, %.1f %% of the last epoch's %.3f s", seconds / Double(steps) * 1000,
                seconds / last.seconds * 100, last.seconds))
            _ = communicator
        }
        if let save, isRoot {
            try ModelFile.save(model, metadata: ModelFile.Metadata(loss: options.loss), to: save)
            note("saved \(save)")
        }
        communicator?.finish()
        if let report { note("report: \((report as NSString).appendingPathComponent("index.html"))") }
    }

    /// The network as the run's notes and report name it: a dense one's sizes, `784-30-10`, any
    /// other's `--layers` text.
    static func layout(_ model: Network) -> String {
        model.isDense ? model.sizes.map(String.init).joined(separator: "-") : model.architecture.description
    }

    /// The run's settings as the report page lists them.
    func reportSettings(
        model: Network, options: TrainingOptions, backend: any Backend, data: Dataset, validation: Dataset?, test: Dataset?
    ) -> [RunReport.Setting] {
        var settings: [(String, String)] = [
            ("network", Self.layout(model)),
            ("activations", model.activations.map(\.rawValue).joined(separator: ",")),
            ("device", backend.description),
            ("data", self.data),
            ("samples", "\(data.count) training, \(validation?.count ?? 0) validation, \(test?.count ?? 0) test"),
            ("loss", options.loss.rawValue),
            ("optimizer", options.optimizer.name),
            ("learning rate", "\(options.learningRate) (\(options.schedule))"),
            ("batch size", "\(options.batchSize)"),
            ("epochs", "\(options.epochs)"),
            ("L2 λ", "\(options.l2)"),
            ("momentum μ", "\(options.momentum)"),
            ("dropout", "\(options.dropout)"),
            ("seed", "\(options.seed)"),
        ]
        if let earlyStop = options.earlyStop { settings.append(("early stop", "after \(counted(earlyStop, "epoch")) without a better validation accuracy")) }
        if let resume { settings.append(("resumed from", resume)) }
        settings.append(("started", ISO8601DateFormatter().string(from: Date())))
        settings.append(("bpnet", bpnetVersion))
        return settings.map { RunReport.Setting(name: $0.0, value: $0.1) }
    }
}

/// Right-aligns `text` in `width` columns.
private func padded(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: max(0, width - text.count)) + text
}

/// `--validation`: a whole count, or a fraction in (0, 1) of `total` samples.
private func heldOutCount(_ text: String, of total: Int) throws -> Int {
    if let count = Int(text), count > 0 { return count }
    if let fraction = Double(text), fraction > 0, fraction < 1, text.contains(".") {
        return max(1, Int((fraction * Double(total == Int.max ? 1 : total)).rounded()))
    }
    throw ValidationError("--validation takes a positive count or a fraction between 0 and 1, got '\(text)'")
}

/// The live progress line on a terminal's stderr: rewritten in place, cleared before each row.
private func showProgress(_ progress: BatchProgress) {
    let left = Int(progress.secondsLeft.isFinite ? progress.secondsLeft : 0)
    let line = String(
        format: "epoch %d/%d  batch %d/%d  %.0f samples/s  loss %.4f  ETA %d:%02d",
        progress.epoch, progress.epochs, progress.batch, progress.batches, progress.samplesPerSecond,
        progress.runningLoss, left / 60, left % 60)
    FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
}

private func clearProgress() {
    FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
}
