import Foundation

/// Checkpoints as one safetensors file that is also a model file: the model's tensors and
/// metadata as `ModelFile` writes them, so `evaluate`, `predict` and `--init` load it as is, plus
///
/// - `optimizer.layers.{l}.weight.{k}` and `optimizer.layers.{l}.bias.{k}`: state slot k (F32, of
///   the parameter's shape: a convolution's weight state is `[Cout, Cin, K, K]` too);
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
        let slots = c.weightState.first?.count ?? 0
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
        let weightShapes = ModelFile.weightShapes(c.network)
        for (l, layer) in c.network.layers.enumerated() {
            for k in 0..<slots {
                tensors.append(.init("optimizer.layers.\(l).weight.\(k)", shape: weightShapes[l], floats: c.weightState[l][k]))
                tensors.append(.init("optimizer.layers.\(l).bias.\(k)", shape: [layer.outputs], floats: c.biasState[l][k]))
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
        var weightState: [[[Float]]] = []
        var biasState: [[[Float]]] = []
        let weightShapes = ModelFile.weightShapes(network)
        for (l, layer) in network.layers.enumerated() {
            var weightSlots: [[Float]] = []
            var biasSlots: [[Float]] = []
            for k in 0..<slots {
                let weight = try reader.floats("optimizer.layers.\(l).weight.\(k)")
                let bias = try reader.floats("optimizer.layers.\(l).bias.\(k)")
                guard weight.shape == weightShapes[l], bias.shape == [layer.outputs] else {
                    throw fail("optimizer state of layer \(l) has shapes \(weight.shape) and \(bias.shape), expected \(weightShapes[l]) and [\(layer.outputs)]")
                }
                guard weight.values.allSatisfy(\.isFinite), bias.values.allSatisfy(\.isFinite) else {
                    throw fail("optimizer state of layer \(l) holds NaN or infinite values")
                }
                weightSlots.append(weight.values)
                biasSlots.append(bias.values)
            }
            weightState.append(weightSlots)
            biasState.append(biasSlots)
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
            weightState: weightState, biasState: biasState, shuffleState: try integer("shuffle_state", as: UInt64.self),
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
