import Foundation

/// Checkpoints as one safetensors file that is also a model file: the model's tensors and
/// metadata as `ModelFile` writes them, so `evaluate`, `predict` and `--init` load it as is, plus
///
/// - `optimizer.{tensor}.{k}`: state slot k of each parameter tensor, such as
///   `optimizer.layers.0.weight.1` (F32, of the tensor's shape: a convolution's weight state is
///   `[Cout, Cin, K, K]` too);
/// - `training.order`: the epoch's sample order (I32 `[n]`);
/// - `training.batch_metrics`: the epoch's per-batch sums so far (F32 `[2·b]`, when b > 0);
/// - `best.layers.*`: early stopping's best network, when there is one;
///
/// and metadata `checkpoint: 1`, `epochs_done`, `batches_done`, `step`, `epoch_seconds` (the
/// epoch in progress's training time so far; absent in older checkpoints), `shuffle_state`,
/// `dropout_key`, `optimizer_slots`, `history` (the epoch reports as JSON), `best_epoch`,
/// `best_accuracy`, `data_samples`, `data_validation_samples`, `data_hash`, and `option.{name}`
/// for every training option.
public enum CheckpointFile {
    public static let version = "1"

    /// Writes atomically, then flushes the folder: a kill at any moment leaves the previous
    /// checkpoint or this one, never a torn file.
    public static func save(_ checkpoint: TrainingCheckpoint, to path: String) throws {
        try AtomicFile.write(encode(checkpoint), to: path)
    }

    public static func load(_ path: String) throws -> TrainingCheckpoint {
        try decode(try ModelFile.bytes(of: path), file: path)
    }

    public static func encode(_ checkpoint: TrainingCheckpoint) -> Data {
        let c = checkpoint
        var metadata = ModelFile.entries(c.network, metadata: .init(loss: c.options.loss))
        let slots = c.optimizerState.first?.count ?? 0
        metadata += [
            ("checkpoint", version), ("epochs_done", "\(c.epochsDone)"), ("batches_done", "\(c.batchesDone)"),
            ("step", "\(c.step)"), ("epoch_seconds", "\(c.epochSeconds)"), ("shuffle_state", "\(c.shuffleState)"),
            ("dropout_key", "\(Trainer.dropoutSeed(c.options.seed))"), ("optimizer_slots", "\(slots)"),
            ("history", historyJSON(c.history)), ("data_samples", "\(c.data.samples)"),
            ("data_validation_samples", "\(c.data.validationSamples)"), ("data_hash", "\(c.data.hash)"),
        ]
        if let best = c.best { metadata += [("best_epoch", "\(best.epoch)"), ("best_accuracy", "\(best.accuracy)")] }
        metadata += c.options.entries.map { ("option.\($0.key)", $0.value) }

        var tensors = ModelFile.tensors(c.network)
        for (t, (tensor, _)) in c.network.parameterTensors.enumerated() {
            for k in 0..<slots {
                tensors.append(.init("optimizer.\(tensor.name).\(k)", shape: tensor.shape, floats: c.optimizerState[t][k]))
            }
        }
        tensors.append(.init("training.order", shape: [c.order.count], int32s: c.order))
        if !c.batchMetrics.isEmpty {
            tensors.append(.init("training.batch_metrics", shape: [c.batchMetrics.count], floats: c.batchMetrics))
        }
        if let best = c.best { tensors += ModelFile.tensors(best.network, prefix: "best.") }
        return Safetensors.encode(metadata: metadata, tensors: tensors)
    }

    public static func decode(_ data: Data, file: String) throws -> TrainingCheckpoint {
        let reader = try Safetensors.Reader(data, file: file)
        func fail(_ problem: String) -> BPNetError { reader.fail(problem) }
        let (network, _) = try ModelFile.decode(reader)
        let meta = reader.metadata
        guard let format = meta["checkpoint"] else {
            throw fail("is a model, not a checkpoint (it has no training state); use it with --init to start a new run from it")
        }
        guard format == version else { throw fail("checkpoint version '\(format)' is not supported (this bpnet reads version \(version))") }
        func integer<T: FixedWidthInteger>(_ key: String, as type: T.Type, minimum: T = 0) throws -> T {
            guard let text = meta[key] else { throw fail("checkpoint metadata has no \(key)") }
            guard let value = T(text), value >= minimum else { throw fail("checkpoint metadata \(key) '\(text)' is not a valid count") }
            return value
        }
        let options: TrainingOptions
        do {
            let prefix = "option."
            options = try TrainingOptions(
                entries: Dictionary(uniqueKeysWithValues: meta.filter { $0.key.hasPrefix(prefix) }.map { (String($0.key.dropFirst(prefix.count)), $0.value) }))
        } catch let error as BPNetError {
            throw fail("checkpoint options: \(error.description)")
        }
        let epochsDone = try integer("epochs_done", as: Int.self)
        let batchesDone = try integer("batches_done", as: Int.self)
        let step = try integer("step", as: Int.self)
        let slots = try integer("optimizer_slots", as: Int.self)
        guard slots <= 2 else { throw fail("checkpoint metadata optimizer_slots '\(slots)' is more than any optimizer keeps") }
        let optimizerState = try network.parameterTensors.map { tensor, _ in
            try (0..<slots).map { k in
                let name = "optimizer.\(tensor.name).\(k)"
                let state = try reader.floats(name)
                guard state.shape == tensor.shape else { throw fail("\(name) has shape \(state.shape), expected \(tensor.shape)") }
                guard state.values.allSatisfy(\.isFinite) else { throw fail("\(name) holds NaN or infinite values") }
                return state.values
            }
        }
        let dataFingerprint = DataFingerprint(
            samples: try integer("data_samples", as: Int.self, minimum: 1), validationSamples: try integer("data_validation_samples", as: Int.self),
            hash: try integer("data_hash", as: UInt64.self))
        let order = try reader.int32s("training.order")
        guard order.shape == [dataFingerprint.samples] else {
            throw fail("training.order has shape \(order.shape), expected [\(dataFingerprint.samples)]")
        }
        let batches = dataFingerprint.samples / options.batchSize + (dataFingerprint.samples % options.batchSize == 0 ? 0 : 1)
        let (expectedStep, overflow) = epochsDone.multipliedReportingOverflow(by: batches)
        guard !overflow, batchesDone < batches, expectedStep.addingReportingOverflow(batchesDone) == (step, false) else {
            throw fail("checkpoint position is inconsistent: epoch \(epochsDone), batch \(batchesDone) of \(batches), step \(step)")
        }
        var batchMetrics: [Float] = []
        if batchesDone > 0 {
            let metrics = try reader.floats("training.batch_metrics")
            guard metrics.shape == [2 * batchesDone] else {
                throw fail("training.batch_metrics has shape \(metrics.shape), expected [\(2 * batchesDone)]")
            }
            batchMetrics = metrics.values
        }
        guard let historyText = meta["history"], let history = try? JSONDecoder.snakeCase.decode([EpochReport].self, from: Data(historyText.utf8)),
            history.count == epochsDone
        else { throw fail("checkpoint metadata history is missing or does not hold \(counted(epochsDone, "epoch report"))") }
        var epochSeconds = 0.0
        if let text = meta["epoch_seconds"] {
            guard let value = Double(text), value.isFinite, value >= 0 else {
                throw fail("checkpoint metadata epoch_seconds '\(text)' is not a time in seconds")
            }
            epochSeconds = value
        }
        var best: TrainingCheckpoint.BestEpoch?
        if let epochText = meta["best_epoch"] {
            guard let epoch = Int(epochText), epoch >= 1, epoch <= epochsDone, let accuracy = meta["best_accuracy"].flatMap(Double.init) else {
                throw fail("checkpoint metadata best_epoch '\(epochText)' or best_accuracy is not valid")
            }
            let activations = network.activations.map(\.rawValue).joined(separator: ",")
            let bestNetwork =
                network.isDense
                ? try ModelFile.network(reader, prefix: "best.", activationList: activations, requireList: true)
                : try ModelFile.network(
                    reader, prefix: "best.", architecture: network.architecture, activations: activations, source: "metadata layers")
            guard bestNetwork.architecture == network.architecture else {
                throw fail("best.layers are \(bestNetwork.architecture), not \(network.architecture)")
            }
            best = .init(epoch: epoch, accuracy: accuracy, network: bestNetwork)
        }
        let checkpoint = TrainingCheckpoint(
            network: network, options: options, epochsDone: epochsDone, batchesDone: batchesDone, step: step,
            optimizerState: optimizerState, shuffleState: try integer("shuffle_state", as: UInt64.self),
            order: order.values, batchMetrics: batchMetrics, epochSeconds: epochSeconds, history: history, best: best, data: dataFingerprint)
        if let problem = checkpoint.stateProblem() { throw fail(problem) }
        return checkpoint
    }

    static func historyJSON(_ history: [EpochReport]) -> String {
        let data = (try? JSONEncoder.snakeCase.encode(history)) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

extension JSONEncoder {
    /// Sorted snake-case keys, as `--json` names them; non-finite numbers as strings.
    static var snakeCase: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }
}

extension JSONDecoder {
    static var snakeCase: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }
}
