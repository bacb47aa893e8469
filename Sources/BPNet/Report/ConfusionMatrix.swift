/// How a classifier's predictions fall by true class: row `target`, column `predicted`, so the
/// diagonal holds the correct predictions and each row sums to that class's sample count.
/// `counts[target * classes + predicted]`.
public struct ConfusionMatrix: Sendable, Equatable {
    public var classes: Int
    public var counts: [Int]
    /// One name per class, such as Fashion-MNIST's; without them, classes show as 0…k-1.
    public var classNames: [String]?

    public init(classes: Int, counts: [Int], classNames: [String]? = nil) {
        self.classes = classes
        self.counts = counts
        self.classNames = classNames
    }

    /// Fashion-MNIST's labels 0…9, in order.
    public static let fashionMNISTClassNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]

    /// The most classes a report holds: 4096² counts are 128 MiB, and the bound keeps
    /// `classes * classes` far from overflow whatever a file claims.
    public static let maxClasses = 4096

    public func count(target: Int, predicted: Int) -> Int {
        precondition((0..<classes).contains(target) && (0..<classes).contains(predicted),
                     "class (\(target), \(predicted)) outside a \(classes)-class confusion matrix")
        return counts[target * classes + predicted]
    }

    /// Every sample counted.
    public var total: Int { counts.reduce(0, +) }

    /// The diagonal's share of `total`, or nil for an empty matrix.
    public var accuracy: Double? {
        let total = self.total
        guard total > 0 else { return nil }
        let correct = (0..<classes).reduce(0) { $0 + counts[$1 * classes + $1] }
        return Double(correct) / Double(total)
    }

    /// The name of class `index`, or its number.
    func name(_ index: Int) -> String {
        classNames?[index] ?? "\(index)"
    }

    /// Throws unless the fields fit together: 1…maxClasses classes, classes² counts that are
    /// non-negative and sum within Int, and one name per class.
    func validate() throws {
        func fail(_ problem: String) -> BPNetError { .invalidArgument("confusion matrix: \(problem)") }
        guard classes >= 1, classes <= Self.maxClasses else {
            throw fail("\(classes) classes; a report holds 1 to \(Self.maxClasses)")
        }
        guard counts.count == classes * classes else {
            throw fail("\(counts.count) counts for \(classes) classes, which need \(classes * classes)")
        }
        var sum = 0
        for count in counts {
            guard count >= 0 else { throw fail("a count is negative (\(count))") }
            let next = sum.addingReportingOverflow(count)
            guard !next.overflow else { throw fail("the counts sum past \(Int.max)") }
            sum = next.partialValue
        }
        if let classNames, classNames.count != classes {
            throw fail("\(classNames.count) class names for \(classes) classes")
        }
    }
}
