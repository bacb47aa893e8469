/// The hyper-parameters of training. Defaults are Nielsen's: SGD, η 3, batch 10, 30 epochs.
public struct TrainingOptions: Sendable, Equatable {
    public var epochs = 30
    public var batchSize = 10
    /// η, before the schedule.
    public var learningRate: Float = 3.0
    public var loss = Loss.quadratic
    /// λ, the L2 strength; the weight term of g is (λ/n)·W with n the training-set size.
    public var l2: Float = 0
    /// μ, for SGD, Nesterov and RMSprop; 0 is plain SGD.
    public var momentum: Float = 0
    /// Drives the per-epoch shuffle and the dropout masks.
    public var seed: UInt64 = 0
    /// false keeps file order in every epoch.
    public var shuffle = true
    public var optimizer = Optimizer.sgd
    public var schedule = Schedule.constant
    /// The probability of dropping each hidden unit in training (inverted dropout); 0 for none.
    public var dropout: Float = 0
    /// Stop after this many epochs without a better validation accuracy, and keep the best
    /// epoch's network; nil trains every epoch. Needs a validation set.
    public var earlyStop: Int? = nil
    /// Gradient clipping by global norm, as `torch.nn.utils.clip_grad_norm_`: before each step,
    /// every gradient (the batch's, summed over the ranks of a distributed run, without the L2
    /// term) is scaled by min(1, c/(‖g‖ + 1e-6)), ‖g‖ the norm of all of them together. nil
    /// clips nothing and keeps the fused update paths.
    public var clipNorm: Float? = nil
    /// Random crops and flips of the training images (`Augmentation`), drawn from `seed`.
    public var augment = Augmentation.none

    public init(
        epochs: Int = 30, batchSize: Int = 10, learningRate: Float? = nil, optimizer: Optimizer = .sgd,
        loss: Loss = .quadratic, l2: Float = 0, momentum: Float = 0, schedule: Schedule = .constant,
        dropout: Float = 0, earlyStop: Int? = nil, clipNorm: Float? = nil, augment: Augmentation = .none, seed: UInt64 = 0,
        shuffle: Bool = true
    ) {
        self.earlyStop = earlyStop
        self.clipNorm = clipNorm
        self.augment = augment
        self.epochs = epochs
        self.batchSize = batchSize
        self.learningRate = learningRate ?? optimizer.defaultLearningRate
        self.optimizer = optimizer
        self.loss = loss
        self.l2 = l2
        self.momentum = momentum
        self.schedule = schedule
        self.dropout = dropout
        self.seed = seed
        self.shuffle = shuffle
    }

    /// The rule in one line, as `bpnet train` reports it: the optimizer with η and every term it
    /// uses, the schedule, dropout and the loss, such as `sgd η 3.0, μ 0.5, λ 0.1, quadratic loss`.
    public var summary: String {
        var parts = ["\(optimizer.name) η \(learningRate)" + (schedule == .constant ? "" : " (\(schedule))")]
        if optimizer.usesMomentum, momentum != 0 || optimizer == .nesterov { parts.append("μ \(momentum)") }
        if optimizer.usesL2, l2 != 0 { parts.append("λ \(l2)") }
        if !optimizer.hyperparameters.isEmpty { parts.append(optimizer.hyperparameters) }
        if dropout > 0 { parts.append("dropout \(dropout)") }
        if let clipNorm { parts.append("clip-norm \(clipNorm)") }
        if !augment.isNone { parts.append("augment \(augment)") }
        parts.append("\(loss.rawValue) loss")
        return parts.joined(separator: ", ")
    }

    /// The options' rules that depend on the network: dropout needs a hidden weight layer to act
    /// on, and augmentation an image input.
    public func validate(for network: Network) throws {
        try augment.validate(input: network.architecture.input)
        if dropout > 0, network.layers.count < 2 {
            throw BPNetError.invalidArgument(
                "dropout \(dropout) would do nothing: it acts on hidden weight layers, and this network has none")
        }
    }

    public func validate() throws {
        guard epochs > 0 else { throw BPNetError.invalidArgument("epochs must be positive, got \(epochs)") }
        guard batchSize > 0 else { throw BPNetError.invalidArgument("batch size must be positive, got \(batchSize)") }
        guard learningRate.isFinite, learningRate > 0 else {
            throw BPNetError.invalidArgument("learning rate must be positive and finite, got \(learningRate)")
        }
        guard l2.isFinite, l2 >= 0 else { throw BPNetError.invalidArgument("l2 must be ≥ 0 and finite, got \(l2)") }
        guard momentum.isFinite, momentum >= 0, momentum < 1 else {
            throw BPNetError.invalidArgument("momentum must be in [0, 1), got \(momentum)")
        }
        guard dropout.isFinite, dropout >= 0, dropout < 1 else {
            throw BPNetError.invalidArgument("dropout must be in [0, 1), got \(dropout)")
        }
        try optimizer.validate()
        // A term the rule would ignore is refused, never silently dropped.
        if l2 != 0, !optimizer.usesL2 {
            throw BPNetError.invalidArgument("l2 does nothing with \(optimizer.name), whose weight decay is decoupled: use its weight decay")
        }
        if momentum != 0, !optimizer.usesMomentum {
            throw BPNetError.invalidArgument("momentum does nothing with \(optimizer.name): its running mean of the gradient is β₁")
        }
        if let earlyStop, earlyStop <= 0 { throw BPNetError.invalidArgument("early stopping needs a positive patience, got \(earlyStop)") }
        if let clipNorm, !(clipNorm.isFinite && clipNorm > 0) {
            throw BPNetError.invalidArgument("the clipping norm must be positive and finite, got \(clipNorm)")
        }
    }
}

/// How a run updates its parameters, decided here alone: the trainer allocates by it, and
/// `MemoryPlan` counts by it, so the two cannot disagree.
public struct UpdatePath: Sendable, Equatable {
    /// The fused SGD update, whose gradient stays in registers: taken when nothing needs the
    /// gradients in buffers, neither a hook (`Trainer.betweenGradientAndUpdate`), an exchange
    /// between processes nor clipping.
    public var fused: Bool
    /// Optimizer state buffers per parameter buffer: the optimizer's own (`Optimizer.stateBuffers`),
    /// except that the fused update always keeps its velocity, which its epilogue writes.
    public var stateSlots: Int
    /// Whether the gradients cross to other processes, through a parameter-sized transfer area.
    public var exchangesGradients: Bool

    /// `normalizes`: the network has batch norms, whose γ and β take the arena's optimizer pass.
    public init(_ options: TrainingOptions, hook: Bool, distributed: Bool, normalizes: Bool = false) {
        fused = options.optimizer == .sgd && !hook && !distributed && options.clipNorm == nil && !normalizes
        stateSlots = fused ? 1 : options.optimizer.stateBuffers(momentum: options.momentum)
        exchangesGradients = distributed
    }

    /// Parameter-sized buffers on the backend besides the parameters: the state, and the
    /// gradients unless fused.
    public var parameterSizedBuffers: Int { stateSlots + (fused ? 0 : 1) }
}

/// What one epoch did. Losses are the mean per-sample cost without the L2 term.
public struct EpochReport: Sendable, Equatable, Codable {
    public var epoch: Int
    /// Mean cost over the epoch's mini-batches, each measured in its forward pass before its update.
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var testLoss: Double?
    public var testAccuracy: Double?
    /// On the held-out validation set, when there is one.
    public var validationLoss: Double? = nil
    public var validationAccuracy: Double? = nil
    /// Wall time of the epoch's training pass (the test pass is not counted).
    public var seconds: Double
    public var samplesPerSecond: Double
    /// The test set's confusion matrix, when `Trainer.measureConfusion` asks for it. Not kept in
    /// checkpoints' history: a report needs only the last one.
    public var testConfusion: ConfusionMatrix? = nil
    /// The weights' checksum, identical on every process, when `Trainer.checkReplicas` asks for it.
    public var replicaChecksum: UInt64? = nil
    /// Seconds this process spent in the gradient allreduce during the epoch, in a distributed run.
    public var allreduceSeconds: Double? = nil

    enum CodingKeys: String, CodingKey {
        case epoch, trainLoss, trainAccuracy, testLoss, testAccuracy, validationLoss, validationAccuracy, seconds, samplesPerSecond
    }
}

/// Where a run stands within an epoch (see `Trainer.batchProgress`).
public struct BatchProgress: Sendable, Equatable {
    public var epoch: Int
    public var epochs: Int
    /// Batches done in this epoch, from 1.
    public var batch: Int
    public var batches: Int
    /// This epoch's speed so far.
    public var samplesPerSecond: Double
    /// The mean loss of this epoch's batches so far, each measured before its update.
    public var runningLoss: Double
    /// The whole run's remaining time, at its speed so far.
    public var secondsLeft: Double
}

/// Loss and accuracy of a network on a dataset.
public struct Evaluation: Sendable, Equatable {
    public var samples: Int
    /// Mean per-sample cost.
    public var loss: Double
    /// Fraction of samples whose predicted class equals the target's (`predictedClass`).
    public var accuracy: Double
}

/// Mini-batch training of any architecture: per epoch a shuffle, then per batch of m samples
/// out of n the forward pass, backpropagation and one step of the options' optimizer (see
/// `Optimizer` for each rule) from the gradients averaged over the batch,
///
///     gW = (1/m) Σₓ ∂C/∂W,  gb = (1/m) Σₓ ∂C/∂b
///
/// with (λ/n)·W added to gW for the rules that take L2. The default, Nielsen's rule, is SGD:
///
///     vW = μ·vW − η·(gW + (λ/n)·W),  W += vW
///     vb = μ·vb − η·gb,              b += vb
///
/// The last batch of an epoch may be partial; its m is its real size.
public struct Trainer: Sendable {
    public var options: TrainingOptions

    /// The seam between gradient and update: it sees the arena's gradient tensors in their order,
    /// gW_0, gb_0, gW_1, gb_1, … with a batch norm's gγ and gβ where it stands (`Network.parameterTensors`),
    /// in buffers on the backend, after the backward pass and before the optimizer runs. An allreduce across
    /// processes goes here. With it set, the trainer never takes the fused SGD update.
    public var betweenGradientAndUpdate: (@Sendable ([any DeviceBuffer], any Backend) throws -> Void)?

    /// Called within epochs, at most every `progressInterval` seconds and after each epoch's last
    /// batch, with the position, speed, running loss and time left. Each call reads the epoch's
    /// per-batch sums from the backend once; without this callback nothing is read within an epoch.
    public var batchProgress: (@Sendable (BatchProgress) -> Void)?
    public var progressInterval = 0.25

    /// Called with the run's whole state at the end of every epoch, every `checkpointEvery`
    /// updates when that is set, and after the last batch before a cancelled run stops. Each
    /// call reads the state back from the backend; without this callback nothing is.
    public var checkpoint: (@Sendable (TrainingCheckpoint) throws -> Void)?
    public var checkpointEvery: Int?

    /// Checked after every batch: once cancelled, the run finishes the batch, calls `checkpoint`
    /// and throws `BPNetError.cancelled`.
    public var cancellation: Cancellation?

    /// Counts the test set's predictions by true class after every epoch (`testConfusion`). It
    /// reads the outputs back to the host, so it costs a test pass's downloads per epoch.
    public var measureConfusion = false

    /// Batch norm needs two values a channel in every training batch, as PyTorch's, for a
    /// variance: in a distributed run, in every process's shard of it (`ranks`), which each
    /// process normalizes alone.
    public static func checkNormalization(_ network: Network, samples n: Int, batch: Int, ranks: Int = 1) throws {
        let channels = try network.architecture.normalizedChannels()
        guard let first = channels.first else { return }
        let shapes = [network.architecture.input] + network.shapes
        let narrowest = channels.min { shapes[$0.layer + 1].count / $0.channels < shapes[$1.layer + 1].count / $1.channels } ?? first
        let positions = shapes[narrowest.layer + 1].count / narrowest.channels
        // The smallest shard that has rows at all, of a full batch or of the epoch's last.
        let smallest = [batch, n % batch].filter { $0 > 0 }.map { max($0 / ranks, 1) }.min() ?? batch
        guard smallest * positions >= 2 else {
            let whose = ranks > 1 ? "\(n) samples in batches of \(batch) over \(ranks) processes leave a shard" : "\(n) samples in batches of \(batch) leave a batch"
            throw BPNetError.invalidArgument(
                "layer \(narrowest.layer + 1) (batchnorm) needs at least 2 values a channel in every training batch for a variance, "
                    + "but \(whose) of 1 sample: use another --batch-size")
        }
    }

    /// Trains data-parallel with the other processes of `communicator`: each takes its shard of
    /// every global batch (`BatchShard`), the gradients are summed between the backward pass and
    /// the update, and every process applies the same step, so the weights stay identical. Every
    /// process must be given the same network, data and options (checked at the start), and the
    /// same `checkpointEvery`; only one of them, usually rank 0, needs `checkpoint`.
    public var communicator: (any Communicator)?

    /// With a communicator, compare a checksum of the weights across the processes after every
    /// epoch (`EpochReport.replicaChecksum`), and stop with an error if any differs.
    public var checkReplicas = false

    public init(_ options: TrainingOptions = TrainingOptions()) { self.options = options }

    /// Trains `network` in place on `backend`, calling `progress` after every epoch.
    /// Weights and data stay on the backend for the whole run; per epoch only the shuffled
    /// order goes up and a few sums come back.
    ///
    /// `validation` is measured after every epoch as well; with `options.earlyStop`, the
    /// run stops once the validation accuracy has not improved for that many epochs, and
    /// `network` becomes the best epoch's.
    ///
    /// With `resumingFrom`, the run continues from that checkpoint of a run with the same options
    /// (`epochs` may be larger), the same data and `network`'s shape, and gives the same bits as
    /// if it had never stopped; `network` becomes the checkpoint's before training. `progress`
    /// sees the new epochs only; the result holds the checkpoint's epochs too.
    @discardableResult
    public func train(
        _ network: inout Network, on data: Dataset, validation: Dataset? = nil, test: Dataset? = nil, backend: any Backend,
        resumingFrom resume: TrainingCheckpoint? = nil, progress: (EpochReport) throws -> Void = { _ in }
    ) throws -> [EpochReport] {
        let communicator = self.communicator
        let fingerprint =
            checkpoint != nil || resume != nil || communicator != nil ? DataFingerprint(training: data, validation: validation) : nil
        // The first collective call: every process gets here, whatever it was given.
        if let communicator, let fingerprint {
            try Trainer.checkSameRun(
                communicator: communicator, network: network, options: options, checkpointEvery: checkpointEvery,
                collectives: (measureConfusion && test != nil, checkReplicas), data: fingerprint, test: test?.count ?? 0,
                resumeStep: resume?.step)
        }
        // In a distributed run each step that can fail on one process alone is agreed on
        // (`together`), so that no process waits for one that has given up.
        let n = data.count
        let batch = min(options.batchSize, max(n, 1))
        try Trainer.together(communicator) {
            try options.validate()
            if let checkpointEvery, checkpointEvery <= 0 {
                throw BPNetError.invalidArgument("checkpoints need a positive interval in batches, got \(checkpointEvery)")
            }
            try Trainer.check(data, fits: network, role: "training data")
            if let test { try Trainer.check(test, fits: network, role: "test data") }
            if let validation { try Trainer.check(validation, fits: network, role: "validation data") }
            if options.earlyStop != nil, validation == nil {
                throw BPNetError.invalidArgument("early stopping needs a validation set")
            }
            try options.loss.validate(output: network.activations[network.activations.count - 1])
            if let resume, let fingerprint {
                try resume.checkResumable(network: network, options: options, data: fingerprint)
                network = resume.network
            }
            try options.validate(for: network)
            try Trainer.checkNormalization(network, samples: n, batch: batch, ranks: communicator?.size ?? 1)
            let (batchValues, overflow) = batch.multipliedReportingOverflow(by: network.widestRow)
            guard !overflow, batchValues <= Network.maxElements else {
                throw BPNetError.invalidArgument(
                    "batch size \(batch) is too large for layers of \(network.widestRow) values per sample: "
                        + "a batch matrix holds at most \(Network.maxElements) values")
            }
            try MemoryPlan(
                architecture: network.architecture, options: options, activations: network.activations, samples: n,
                testSamples: test?.count ?? 0,
                validationSamples: validation?.count ?? 0, hook: betweenGradientAndUpdate != nil, distributed: communicator != nil)
                .check(on: backend)
        }
        let rank = communicator?.rank ?? 0
        let ranks = communicator?.size ?? 1
        let evaluationRows = min(max(test?.count ?? 0, validation?.count ?? 0), Trainer.evaluationRows(network))
        let batches = (n + batch - 1) / batch
        let path = UpdatePath(
            options, hook: betweenGradientAndUpdate != nil, distributed: communicator != nil, normalizes: !network.normalizations.isEmpty)
        let fused = path.fused
        // A process's shard of a batch, and of an evaluation set.
        let shardCapacity = (batch + ranks - 1) / ranks
        if let resume {
            let needed = path.stateSlots
            let saved = resume.optimizerState.first?.count ?? 0
            let stateless = options.optimizer == .sgd && options.momentum == 0
            guard saved == needed || stateless else {
                throw BPNetError.invalidArgument(
                    "cannot resume: the checkpoint holds \(counted(saved, "optimizer state slot")) per parameter, this run keeps \(needed)")
            }
        }
        let (resident, train, testResident, validationResident, exchange) = try Trainer.together(communicator) {
            let resident = try ResidentNetwork(
                network, backend: backend, capacity: max(shardCapacity, evaluationRows),
                training: .init(update: path, dropout: options.dropout, augments: !options.augment.isNone),
                metricSlots: batches, samples: n,
                // The epoch's sums so far are whole-batch sums: one process holds them, or the
                // exchange would count them once per process.
                restoring: resume.map {
                    .init(optimizerState: $0.optimizerState, batchMetrics: rank == 0 ? $0.batchMetrics : [])
                })
            let exchange = try communicator.map {
                try GradientExchange(communicator: $0, backend: backend, group: resident.arena.gradients!)
            }
            let train = try ResidentDataset(data, backend: backend)
            let testResident = try test.map { try ResidentDataset($0, backend: backend) }
            let validationResident = try validation.map { try ResidentDataset($0, backend: backend) }
            return (resident, train, testResident, validationResident, exchange)
        }
        /// Loss and correct count of a whole evaluation set, each process measuring its shard.
        func evaluate(_ set: ResidentDataset) throws -> (loss: Double, correct: Int) {
            guard let communicator else { return try resident.evaluate(set, loss: options.loss) }
            let shard = BatchShard(rows: set.count, rank: rank, size: ranks)
            let local = try resident.evaluate(set, loss: options.loss, range: shard.offset..<(shard.offset + shard.rows))
            var sums = [local.loss, Double(local.correct)]
            try communicator.allreduceSum(&sums)
            return (sums[0], Int(sums[1]))
        }
        var best = resume?.best
        var permutation = resume?.order ?? (0..<Int32(n)).map { $0 }
        var generator = resume.map { SeededGenerator(seed: $0.shuffleState) } ?? Trainer.shuffleGenerator(seed: options.seed)
        let l2 = options.l2 / Float(n)
        let (totalSteps, stepsOverflow) = options.epochs.multipliedReportingOverflow(by: batches)
        guard !stepsOverflow else {
            throw BPNetError.invalidArgument("\(options.epochs) epochs of \(batches) batches are more steps than can be counted")
        }
        let dropout = options.dropout > 0

        var reports: [EpochReport] = resume?.history ?? []
        var step = resume?.step ?? 0
        let firstEpoch = (resume?.epochsDone ?? 0) + 1
        let firstBatch = resume?.batchesDone ?? 0
        let firstStep = step

        // The state after `epochsDone` epochs and `batchesDone` batches of the next, read back
        // from the backend; refused when the epoch's sums so far or the parameters are not
        // finite, so that the last checkpoint written is always a good one.
        // When the epoch in progress started, less the time its checkpoint carried when resumed.
        var epochStart = monotonicSeconds()
        func emitCheckpoint(epochsDone: Int, batchesDone: Int) throws {
            // Every process of a distributed run takes part in reducing the sums, with or without a callback.
            guard let fingerprint, checkpoint != nil || communicator != nil else { return }
            if let communicator { try resident.shareRunningStatistics(communicator) }
            var sums: [Float] = []
            if batchesDone > 0 {
                sums = Array(try backend.download(resident.metrics).prefix(2 * batchesDone))
                if let communicator {
                    var whole = sums.map(Double.init)
                    try communicator.allreduceSum(&whole)
                    sums = whole.map(Float.init)
                }
                if let slot = stride(from: 0, to: sums.count, by: 2).first(where: { !sums[$0].isFinite }) {
                    throw BPNetError.diverged(
                        epoch: epochsDone + 1, batch: slot / 2 + 1, batches: batches, learningRate: options.learningRate)
                }
            }
            try Trainer.together(communicator) {
                guard let checkpoint else { return }
                let parameters = try resident.download()
                let state = try resident.downloadState()
                // The loader refuses values that are not finite, so such a checkpoint is never written.
                let finite = { (arrays: [[[Float]]]) in arrays.allSatisfy { $0.allSatisfy { $0.allSatisfy(\.isFinite) } } }
                guard parameters.layers.allSatisfy({ $0.weights.allSatisfy(\.isFinite) && $0.biases.allSatisfy(\.isFinite) }),
                    finite(state)
                else {
                    throw BPNetError.diverged(
                        epoch: epochsDone + (batchesDone > 0 ? 1 : 0), batch: batchesDone > 0 ? batchesDone : batches, batches: batches,
                        learningRate: options.learningRate)
                }
                try checkpoint(
                    TrainingCheckpoint(
                        network: parameters, options: options, epochsDone: epochsDone, batchesDone: batchesDone, step: step,
                        optimizerState: state, shuffleState: generator.state, order: permutation,
                        batchMetrics: sums, epochSeconds: batchesDone > 0 ? monotonicSeconds() - epochStart : 0, history: reports,
                        best: best, data: fingerprint))
            }
        }

        let runStart = monotonicSeconds()
        var lastProgress = runStart
        var stopped = false
        // In a distributed run, whether any process was asked to stop, as of the last exchange:
        // processes stop at the same batch or not at all.
        var stopAgreed = false
        if let patience = options.earlyStop, let best, firstBatch == 0, firstEpoch - 1 - best.epoch >= patience { stopped = true }
        var epoch = firstEpoch
        while !stopped && epoch <= options.epochs {
            defer { epoch += 1 }
            let resumingWithinEpoch = epoch == firstEpoch && firstBatch > 0
            // A resumed epoch's time and speed cover the whole epoch, with the time before the
            // checkpoint as it carried it (older checkpoints carry none: then the part after it).
            let carried = resumingWithinEpoch ? resume?.epochSeconds ?? 0 : 0
            let start = monotonicSeconds() - carried
            epochStart = start
            // A resumed epoch keeps the order its checkpoint holds; every other epoch shuffles it again.
            if options.shuffle && !resumingWithinEpoch { generator.shuffle(&permutation) }
            try permutation.withUnsafeBufferPointer { try backend.uploadIndices($0, to: resident.order) }
            let startBatch = resumingWithinEpoch ? firstBatch : 0
            let allreduceBefore = exchange?.allreduceSeconds ?? 0
            for b in startBatch..<batches {
                step += 1
                let offset = b * batch
                let globalRows = min(batch, n - offset)
                // This process's rows of the batch: all of them, or its shard in a distributed run.
                let shard = BatchShard(rows: globalRows, rank: rank, size: ranks)
                let rows = shard.rows
                let eta = options.schedule.learningRate(options.learningRate, step: step, epoch: epoch, totalSteps: totalSteps)
                if rows > 0 {
                    try resident.gather(
                        train, indices: resident.order, offset: offset + shard.offset, rows: rows,
                        augment: options.augment.isNone ? nil : .init(augmentation: options.augment, key: Augmentation.key(options.seed), epoch: epoch))
                    try resident.forward(
                        rows: rows,
                        dropout: dropout
                            ? .init(rate: options.dropout, seed: Trainer.dropoutSeed(options.seed), step: UInt64(step), firstRow: shard.offset)
                            : nil,
                        training: true)
                    try resident.measureAndBackward(options.loss, rows: rows, slot: b, dropout: dropout)
                } else {
                    try [Float](repeating: 0, count: 2).withUnsafeBufferPointer { try backend.upload($0, to: resident.metrics, offset: 2 * b) }
                }
                if fused {
                    try resident.updateFused(rows: rows, learningRate: eta, l2: l2, momentum: options.momentum, dropout: dropout)
                } else {
                    var weightStep = OptimizerStep(
                        optimizer: options.optimizer, learningRate: eta, momentum: options.momentum, l2: l2, decoupledDecay: 0, step: step)
                    if case .adamw(_, _, _, let decay) = options.optimizer {
                        weightStep.l2 = 0
                        weightStep.decoupledDecay = eta * decay
                    }
                    let biasStep = weightStep.withoutWeightTerms
                    if exchange == nil && betweenGradientAndUpdate == nil && options.clipNorm == nil {
                        // Nothing needs the gradients: the backend may keep them in registers.
                        try resident.gradientStep(weightStep: weightStep, biasStep: biasStep, rows: rows, dropout: dropout)
                    } else {
                        if rows > 0 { try resident.gradients(rows: rows, dropout: dropout) }
                        if let exchange {
                            stopAgreed = try exchange.exchange(
                                localRows: rows, globalRows: globalRows, stop: cancellation?.isCancelled == true)
                        }
                        try betweenGradientAndUpdate?(resident.arena.gradients!.parts, backend)
                        if let clipNorm = options.clipNorm { try resident.arena.clipGradients(toNorm: clipNorm) }
                        try resident.applyOptimizer(weightStep: weightStep, biasStep: biasStep)
                    }
                }
                if let batchProgress, b == batches - 1 || monotonicSeconds() - lastProgress >= progressInterval {
                    lastProgress = monotonicSeconds()
                    let seen = min((b + 1) * batch, n) - startBatch * batch
                    let (lossSum, _) = try ResidentNetwork.sum(resident.metrics, backend: backend, slots: b + 1)
                    let elapsed = lastProgress - runStart
                    batchProgress(
                        BatchProgress(
                            epoch: epoch, epochs: options.epochs, batch: b + 1, batches: batches,
                            samplesPerSecond: Double(seen) / (lastProgress - start), runningLoss: lossSum / Double(min((b + 1) * batch, n)),
                            secondsLeft: elapsed / Double(step - firstStep) * Double(totalSteps - step)))
                }
                // The epoch's last batch goes on to the epoch's end, which checkpoints anyway.
                if b < batches - 1 {
                    if communicator == nil ? cancellation?.isCancelled == true : stopAgreed {
                        try emitCheckpoint(epochsDone: epoch - 1, batchesDone: b + 1)
                        throw BPNetError.cancelled(epoch: epoch, batch: b + 1, batches: batches)
                    }
                    if let checkpointEvery, step % checkpointEvery == 0 {
                        try emitCheckpoint(epochsDone: epoch - 1, batchesDone: b + 1)
                    }
                }
            }
            if let communicator { try resident.shareRunningStatistics(communicator) }
            let (lossSum, correct, diverged) = try ResidentNetwork.sumAndCheck(
                resident.metrics, backend: backend, communicator: communicator)
            if let slot = diverged {
                throw BPNetError.diverged(epoch: epoch, batch: slot + 1, batches: batches, learningRate: options.learningRate)
            }
            let seconds = monotonicSeconds() - start
            var report = EpochReport(
                epoch: epoch, trainLoss: lossSum / Double(n), trainAccuracy: Double(correct) / Double(n),
                testLoss: nil, testAccuracy: nil, seconds: seconds,
                samplesPerSecond: Double(carried > 0 ? n : n - startBatch * batch) / seconds)
            if let exchange { report.allreduceSeconds = exchange.allreduceSeconds - allreduceBefore }
            if let testResident {
                let (testLoss, testCorrect) = try evaluate(testResident)
                report.testLoss = testLoss / Double(testResident.count)
                report.testAccuracy = Double(testCorrect) / Double(testResident.count)
                if measureConfusion, let test {
                    report.testConfusion = try confusion(resident, testResident, labels: test.labels, communicator: communicator)
                }
            }
            if let validationResident {
                let (validationLoss, validationCorrect) = try evaluate(validationResident)
                report.validationLoss = validationLoss / Double(validationResident.count)
                let accuracy = Double(validationCorrect) / Double(validationResident.count)
                report.validationAccuracy = accuracy
                if options.earlyStop != nil, best == nil || accuracy > best!.accuracy {
                    best = .init(epoch: epoch, accuracy: accuracy, network: try resident.download())
                }
            }
            if let communicator, checkReplicas {
                report.replicaChecksum = try Trainer.checkReplicas(try resident.download(), communicator: communicator, epoch: epoch)
            }
            reports.append(report)
            try Trainer.together(communicator) { try progress(report) }
            try emitCheckpoint(epochsDone: epoch, batchesDone: 0)
            if communicator == nil ? cancellation?.isCancelled == true : stopAgreed, epoch < options.epochs {
                throw BPNetError.cancelled(epoch: epoch, batch: batches, batches: batches)
            }
            if let patience = options.earlyStop, let best, epoch - best.epoch >= patience { stopped = true }
        }
        network = try best?.network ?? resident.download()
        return reports
    }

    /// Rows evaluated at once: up to 1024, and never so many that a batch matrix of the widest
    /// layer passes the kernels' 32-bit indexing.
    static func evaluationRows(_ network: Network) -> Int { evaluationRows(widest: network.widestRow) }

    static func evaluationRows(widest: Int) -> Int { max(1, min(1024, Network.maxElements / max(widest, 1))) }

    /// The dropout masks' key: their own stream of the run's seed.
    public static func dropoutSeed(_ seed: UInt64) -> UInt64 { seed ^ 0x4452_4F50_4F55_5431 }  // "DROPOUT1"

    /// The generator behind the per-epoch shuffle: its own stream, so that `--init` with the same seed still shuffles the same way.
    public static func shuffleGenerator(seed: UInt64) -> SeededGenerator {
        SeededGenerator(seed: seed ^ 0x5348_5546_464C_4531)  // "SHUFFLE1"
    }

    static func check(_ data: Dataset, fits network: Network, role: String) throws {
        guard data.count > 0 else { throw BPNetError.invalidArgument("\(role) holds no samples") }
        guard data.inputSize == network.inputSize else {
            throw BPNetError.invalidArgument(
                "\(role) has \(data.inputSize) inputs per sample but the network's input layer has \(network.inputSize)")
        }
        guard data.outputSize == network.outputSize else {
            throw BPNetError.invalidArgument(
                "\(role) has \(data.outputSize) targets per sample but the network's output layer has \(network.outputSize)")
        }
    }
}

