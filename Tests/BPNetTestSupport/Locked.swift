import Foundation

/// A value that `@Sendable` callbacks (a trainer's checkpoint, a thread rank's) set and a test reads.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value

    public init(_ value: Value) { stored = value }

    public var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }

    /// Changes the value in place, under the lock.
    public func update(_ change: (inout Value) -> Void) { lock.withLock { change(&stored) } }
}
