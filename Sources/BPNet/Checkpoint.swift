import Foundation

/// Everything a run needs to continue exactly where it stopped: a resumed run gives the same
/// bits as one that never stopped, on the same backend. The trainer hands one to its
/// `checkpoint` callback at the end of every epoch, every `checkpointEvery` batches, and when
/// cancelled; `Trainer.train(…, resumingFrom:)` continues from one.
public struct TrainingCheckpoint: Sendable {
    /// The parameters after `step` updates.
    public var network: Network
    /// The run's options; `epochs` may grow on resume, nothing else may change.
    public var options: TrainingOptions
    /// Whole epochs done, and batches done of the next one (0 at an epoch boundary).
    public var epochsDone: Int
    public var batchesDone: Int
    /// Updates done: Adam's t, and the dropout generator's counter.
    public var step: Int
    /// The optimizer's state per parameter tensor (`Network.parameterTensors`, in arena order)
    /// and slot (`Optimizer.stateBuffers`): the velocity, Adam's two moments, or RMSprop's mean
    /// square and momentum buffer. The fused SGD
    /// update always keeps its velocity slot.
    public var optimizerState: [[[Float]]]
    /// The shuffle generator after the shuffle of the epoch in progress (or of the last one
    /// done), and that epoch's sample order: the next epoch shuffles this order again.
    public var shuffleState: UInt64
    public var order: [Int32]
    /// The loss and correct-count sums of the epoch in progress, two per batch done.
    public var batchMetrics: [Float]
    /// The training time of the epoch in progress so far, in seconds (0 at an epoch boundary), so
    /// that a resumed epoch reports its whole time.
    public var epochSeconds: Double = 0
    /// The reports of every epoch done.
    public var history: [EpochReport]
    /// Early stopping's best epoch so far, with its network.
    public var best: BestEpoch?
    /// Which training data the run saw, so that a resume on other data is refused.
    public var data: DataFingerprint

    public struct BestEpoch: Sendable, Equatable {
        public var epoch: Int
        public var accuracy: Double
        public var network: Network
    }

    /// Throws, naming the difference, unless a run with `options` on `network`'s shape and `data`
    /// can continue this one.
    public func checkResumable(network other: Network, options new: TrainingOptions, data: DataFingerprint) throws {
        func fail(_ problem: String) -> BPNetError { .invalidArgument("cannot resume: \(problem)") }
        if other.architecture != network.architecture {
            throw fail("the checkpoint's layers are \(network.architecture), this run's are \(other.architecture)")
        }
        if other.activations != network.activations {
            throw fail("the checkpoint's activations are \(network.activations.map(\.rawValue).joined(separator: ",")), "
                + "this run's are \(other.activations.map(\.rawValue).joined(separator: ","))")
        }
        // More epochs extend the run; fewer would change its schedule and end it early, with its
        // checkpoint overwritten.
        if new.epochs < options.epochs {
            throw fail("the checkpoint's run has \(counted(options.epochs, "epoch")), this run asks for \(new.epochs) (a resumed run may grow, never shrink)")
        }
        let saved = Dictionary(uniqueKeysWithValues: options.entries)
        for (key, value) in new.entries where key != "epochs" && saved[key] != value {
            throw fail("the checkpoint was trained with \(key) \(saved[key] ?? "unset"), this run asks for \(value)")
        }
        if let problem = stateProblem() { throw fail(problem) }
        if data != self.data {
            throw fail(
                "the training data differ from the checkpoint's (\(data.samples) samples, \(data.validationSamples) held out, "
                    + "fingerprint \(String(data.hash, radix: 16)); the checkpoint's: \(self.data.samples), "
                    + "\(self.data.validationSamples), \(String(self.data.hash, radix: 16)))")
        }
        // A finished checkpoint resumes to nothing more to do, so that a run killed between its
        // last checkpoint and its save can still end.
        if new.epochs < epochsDone + (batchesDone > 0 ? 1 : 0) {
            throw fail("the checkpoint is past epoch \(new.epochs): it has done \(counted(epochsDone, "epoch"))"
                + (batchesDone > 0 ? " and \(counted(batchesDone, "batch", plural: "batches")) of the next" : ""))
        }
    }
}

extension TrainingCheckpoint {
    /// What makes this state unusable, or nil: the trainer reads the order, the optimizer state
    /// and the sums straight into backend buffers, so their sizes must be the network's and the
    /// data's, whoever built the value.
    func stateProblem() -> String? {
        let samples = data.samples
        guard samples > 0, options.batchSize > 0 else { return "the checkpoint holds no samples" }
        guard order.count == samples else { return "training.order holds \(order.count) samples, not \(samples)" }
        var seen = [Bool](repeating: false, count: samples)
        for index in order {
            guard index >= 0, Int(index) < samples, !seen[Int(index)] else { return "training.order is not a permutation of the samples" }
            seen[Int(index)] = true
        }
        let batches = samples / options.batchSize + (samples % options.batchSize == 0 ? 0 : 1)
        let (expectedStep, overflow) = epochsDone.multipliedReportingOverflow(by: batches)
        guard epochsDone >= 0, batchesDone >= 0, !overflow, batchesDone < batches,
            expectedStep.addingReportingOverflow(batchesDone) == (step, false)
        else {
            return "checkpoint position is inconsistent: epoch \(epochsDone), batch \(batchesDone) of \(batches), step \(step)"
        }
        guard batchMetrics.count == 2 * batchesDone else {
            return "training.batch_metrics holds \(batchMetrics.count) values, not \(2 * batchesDone)"
        }
        let tensors = network.parameterTensors.map(\.tensor)
        let slots = optimizerState.first?.count ?? 0
        guard optimizerState.count == tensors.count, slots <= 2 else {
            return "the optimizer state does not have one entry per parameter tensor"
        }
        for (tensor, state) in zip(tensors, optimizerState) {
            guard state.count == slots, state.allSatisfy({ $0.count == tensor.count }) else {
                return "the optimizer state of \(tensor.name) does not match its shape"
            }
        }
        if let best, best.network.architecture != network.architecture {
            return "the best epoch's network has layers \(best.network.architecture), not \(network.architecture)"
        }
        return nil
    }
}

/// A dataset's identity for resume: its sample count, the count held out for validation, and
/// a 64-bit FNV-1a hash of its inputs and targets.
public struct DataFingerprint: Sendable, Equatable {
    public var samples: Int
    public var validationSamples: Int
    public var hash: UInt64

    public init(samples: Int, validationSamples: Int, hash: UInt64) {
        (self.samples, self.validationSamples, self.hash) = (samples, validationSamples, hash)
    }

    public init(training: Dataset, validation: Dataset?) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for values in [training.inputs, training.targets] {
            for value in values {
                hash = (hash ^ UInt64(value.bitPattern)) &* 0x0000_0100_0000_01B3
            }
        }
        self.init(samples: training.count, validationSamples: validation?.count ?? 0, hash: hash)
    }
}

extension TrainingOptions {
    /// Every option as a name and a value that reads back exactly: `Float`s and `Double`s print
    /// their shortest round-tripping form.
    var entries: [(key: String, value: String)] {
        var list: [(key: String, value: String)] = [
            ("epochs", "\(epochs)"), ("batch-size", "\(batchSize)"), ("learning-rate", "\(learningRate)"),
            ("optimizer", optimizer.name), ("loss", loss.rawValue), ("l2", "\(l2)"), ("momentum", "\(momentum)"),
            ("schedule", schedule.description), ("dropout", "\(dropout)"), ("early-stop", earlyStop.map(String.init) ?? "none"),
            ("clip-norm", clipNorm.map { "\($0)" } ?? "none"), ("augment", augment.description),
            ("seed", "\(seed)"), ("shuffle", "\(shuffle)"),
        ]
        switch optimizer {
        case .sgd, .nesterov: break
        case .adam(let beta1, let beta2, let epsilon):
            list += [("beta1", "\(beta1)"), ("beta2", "\(beta2)"), ("epsilon", "\(epsilon)")]
        case .adamw(let beta1, let beta2, let epsilon, let decay):
            list += [("beta1", "\(beta1)"), ("beta2", "\(beta2)"), ("epsilon", "\(epsilon)"), ("weight-decay", "\(decay)")]
        case .rmsprop(let alpha, let epsilon):
            list += [("alpha", "\(alpha)"), ("epsilon", "\(epsilon)")]
        }
        return list
    }

    /// The options `entries` wrote, or nil naming the first entry that is missing or unreadable.
    init(entries: [String: String]) throws {
        func value(_ key: String) throws -> String {
            guard let value = entries[key] else { throw BPNetError.invalidArgument("option \(key) is missing") }
            return value
        }
        func number<T: LosslessStringConvertible>(_ key: String, as type: T.Type = T.self) throws -> T {
            guard let parsed = T(try value(key)) else { throw BPNetError.invalidArgument("option \(key) '\(try value(key))' is not a number") }
            return parsed
        }
        let name = try value("optimizer")
        guard let kind = Optimizer.Kind(rawValue: name) else { throw BPNetError.invalidArgument("option optimizer '\(name)' is unknown") }
        // Each rule's hyperparameters are read only for it: Adam's β for Adam's rules, AdamW's
        // decay for AdamW, RMSprop's α for RMSprop, ε for both families.
        let adam = kind == .adam || kind == .adamw
        let optimizer = Optimizer(
            kind, beta1: adam ? try number("beta1") : nil, beta2: adam ? try number("beta2") : nil,
            epsilon: adam || kind == .rmsprop ? try number("epsilon") : nil, weightDecay: kind == .adamw ? try number("weight-decay") : nil,
            alpha: kind == .rmsprop ? try number("alpha") : nil)
        guard let loss = Loss(rawValue: try value("loss")) else { throw BPNetError.invalidArgument("option loss '\(try value("loss"))' is unknown") }
        let earlyStop = try value("early-stop")
        // Checkpoints from before clipping existed hold no clip-norm: they clipped nothing.
        let clipNorm = entries["clip-norm"] ?? "none"
        let augment = try Augmentation(parsing: entries["augment"] ?? "none")
        guard clipNorm == "none" || Float(clipNorm) != nil else {
            throw BPNetError.invalidArgument("option clip-norm '\(clipNorm)' is not a number")
        }
        guard let shuffle = Bool(try value("shuffle")) else { throw BPNetError.invalidArgument("option shuffle is not true or false") }
        self.init(
            epochs: try number("epochs"), batchSize: try number("batch-size"), learningRate: try number("learning-rate"),
            optimizer: optimizer, loss: loss, l2: try number("l2"), momentum: try number("momentum"),
            schedule: try Schedule(parsing: try value("schedule")), dropout: try number("dropout"),
            earlyStop: earlyStop == "none" ? nil : try number("early-stop"), clipNorm: Float(clipNorm), augment: augment, seed: try number("seed"),
            shuffle: shuffle)
        // Checkpoints from before such terms were refused may hold a λ that AdamW ignored or a μ
        // that Adam ignored: they never acted, so they are dropped, and the run resumes as it ran.
        if !optimizer.usesL2 { l2 = 0 }
        if !optimizer.usesMomentum { momentum = 0 }
        try validate()
    }
}
