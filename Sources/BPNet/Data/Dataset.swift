/// Samples as two row-major matrices: inputs `[count, inputSize]` and targets `[count, outputSize]`.
/// Class labels are stored one-hot.
public struct Dataset: Sendable {
    public let inputs: [Float]
    public let targets: [Float]
    public let inputSize: Int
    public let outputSize: Int
    /// How a reader split its file into inputs and targets, such as "4 inputs, class labels in
    /// column 5 (3 classes)", so a front end can show which split it chose.
    public internal(set) var layout: String?

    /// `layout`, or for data built in code its widths: what `bpnet` prints after `data:`.
    public var layoutDescription: String { layout ?? "\(inputSize) inputs, \(outputSize) outputs" }

    public var count: Int { inputs.count / inputSize }

    public init(inputs: [Float], targets: [Float], inputSize: Int, outputSize: Int) throws {
        guard inputSize > 0, outputSize > 0 else {
            throw BPNetError.invalidArgument("a dataset needs positive input and output sizes")
        }
        guard inputs.count % inputSize == 0, targets.count % outputSize == 0,
            inputs.count / inputSize == targets.count / outputSize
        else {
            throw BPNetError.invalidArgument(
                "inputs (\(inputs.count) values of width \(inputSize)) and targets "
                    + "(\(targets.count) values of width \(outputSize)) hold different sample counts")
        }
        self.inputs = inputs
        self.targets = targets
        self.inputSize = inputSize
        self.outputSize = outputSize
    }

    /// For values already known to fit: a prefix of a valid dataset.
    private init(checked inputs: [Float], targets: [Float], inputSize: Int, outputSize: Int) {
        self.inputs = inputs
        self.targets = targets
        self.inputSize = inputSize
        self.outputSize = outputSize
    }

    /// Inputs with integer class labels in `0..<classes`, stored one-hot.
    public init(inputs: [Float], labels: [Int], inputSize: Int, classes: Int) throws {
        let size = labels.count.multipliedReportingOverflow(by: classes)
        guard classes > 0, !size.overflow else {
            throw BPNetError.invalidArgument("\(labels.count) labels of \(classes) classes cannot be one-hot targets")
        }
        var targets = [Float](repeating: 0, count: labels.count * classes)
        for (i, label) in labels.enumerated() {
            guard (0..<classes).contains(label) else {
                throw BPNetError.invalidArgument("label \(label) of sample \(i) is outside 0..<\(classes)")
            }
            targets[i * classes + label] = 1
        }
        try self.init(inputs: inputs, targets: targets, inputSize: inputSize, outputSize: classes)
    }

    /// The first `n` samples (all of them when there are fewer).
    public func prefix(_ n: Int) -> Dataset {
        let n = min(max(n, 0), count)
        return Dataset(
            checked: Array(inputs.prefix(n * inputSize)), targets: Array(targets.prefix(n * outputSize)),
            inputSize: inputSize, outputSize: outputSize)
    }

    /// The last `n` samples (all of them when there are fewer).
    public func suffix(_ n: Int) -> Dataset {
        let n = min(max(n, 0), count)
        return Dataset(
            checked: Array(inputs.suffix(n * inputSize)), targets: Array(targets.suffix(n * outputSize)),
            inputSize: inputSize, outputSize: outputSize)
    }

    /// `count` samples drawn at random by `seed` (the held-out set, in their original order) and
    /// the rest: a validation split that the same seed always draws the same.
    public func holdingOut(_ count: Int, seed: UInt64) throws -> (rest: Dataset, heldOut: Dataset) {
        guard count > 0, count < self.count else {
            throw BPNetError.invalidArgument("a validation set of \(count) samples needs 1 to \(self.count - 1) of the \(self.count)")
        }
        var order = (0..<Int32(self.count)).map { $0 }
        var generator = SeededGenerator(seed: seed ^ 0x5641_4C49_4441_5445)  // "VALIDATE"
        generator.shuffle(&order)
        let heldOut = Set(order.prefix(count).map(Int.init))
        func rows(_ keep: (Int) -> Bool) -> Dataset {
            let indices = (0..<self.count).filter(keep)
            return Dataset(
                checked: indices.flatMap { inputs[($0 * inputSize)..<(($0 + 1) * inputSize)] },
                targets: indices.flatMap { targets[($0 * outputSize)..<(($0 + 1) * outputSize)] },
                inputSize: inputSize, outputSize: outputSize)
        }
        return (rows { !heldOut.contains($0) }, rows(heldOut.contains))
    }

    /// The class of each sample: `predictedClass` of its target (the argmax, first index on ties).
    public var labels: [Int] {
        (0..<count).map { predictedClass(targets[($0 * outputSize)..<(($0 + 1) * outputSize)]) }
    }
}

/// The class that outputs (or a target row) stand for, the rule every backend's accuracy follows:
/// the argmax of several units, or for a single unit 1 when it reaches 0.5 and 0 below, as binary
/// accuracy is measured elsewhere (Keras, PyTorch).
public func predictedClass<C: Collection>(_ values: C) -> Int where C.Element == Float {
    if values.count == 1, let value = values.first { return value >= 0.5 ? 1 : 0 }
    return argmax(values)
}

/// Index of the largest value, the first one on ties; the rule every backend follows.
public func argmax<C: Collection>(_ values: C) -> Int where C.Element == Float {
    var best = 0, bestValue = -Float.infinity
    for (i, value) in values.enumerated() where i == 0 || value > bestValue {
        best = i
        bestValue = value
    }
    return best
}
