/// Seconds and calls per operation name, in the order the names were first seen.
public struct OperationTimes: Sendable {
    public private(set) var entries: [(operation: String, seconds: Double, calls: Int)] = []
    private var slots: [String: Int] = [:]

    public init() {}

    mutating func add(_ operation: String, seconds: Double) {
        if let slot = slots[operation] {
            entries[slot].seconds += seconds
            entries[slot].calls += 1
        } else {
            slots[operation] = entries.count
            entries.append((operation, seconds, 1))
        }
    }
}
