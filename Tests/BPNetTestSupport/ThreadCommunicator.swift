import BPNet
import Foundation

/// Ranks as threads of one process, for testing distributed training without MPI: every
/// collective waits for all ranks, and every rank sums the contributions in rank order, so all
/// receive the same bits, as `MPICommunicator` guarantees.
public final class ThreadCommunicator: Communicator, @unchecked Sendable {
    public let rank: Int
    public var size: Int { shared.size }
    private let shared: Shared

    /// `size` communicators, one per rank, that talk to each other.
    public static func group(size: Int) -> [ThreadCommunicator] {
        let shared = Shared(size: size)
        return (0..<size).map { ThreadCommunicator(rank: $0, shared: shared) }
    }

    private init(rank: Int, shared: Shared) {
        self.rank = rank
        self.shared = shared
    }

    final class Shared: @unchecked Sendable {
        let size: Int
        let condition = NSCondition()
        var arrived = 0
        var generation = 0
        var slots: [UnsafeMutableRawPointer?]
        var bytes: [UInt8] = []

        init(size: Int) {
            self.size = size
            slots = Array(repeating: nil, count: size)
        }

        /// Waits until every rank has arrived.
        func barrier() {
            condition.lock()
            let mine = generation
            arrived += 1
            if arrived == size {
                arrived = 0
                generation += 1
                condition.broadcast()
            } else {
                while generation == mine { condition.wait() }
            }
            condition.unlock()
        }
    }

    private func allreduce<T: FloatingPoint>(_ values: UnsafeMutableBufferPointer<T>) {
        let copy = Array(values)
        copy.withUnsafeBufferPointer { own in
            shared.condition.lock()
            shared.slots[rank] = UnsafeMutableRawPointer(mutating: own.baseAddress)
            shared.condition.unlock()
            shared.barrier()
            for i in 0..<values.count {
                var sum = T.zero
                for r in 0..<shared.size { sum += shared.slots[r]!.assumingMemoryBound(to: T.self)[i] }
                values[i] = sum
            }
            shared.barrier()
        }
    }

    public func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws { allreduce(values) }
    public func allreduceSum(_ values: UnsafeMutableBufferPointer<Double>) throws { allreduce(values) }

    public func broadcast(_ bytes: inout [UInt8], root: Int) throws {
        if rank == root {
            shared.condition.lock()
            shared.bytes = bytes
            shared.condition.unlock()
        }
        shared.barrier()
        if rank != root { bytes = shared.bytes }
        shared.barrier()
    }

    /// Runs `body(rank, communicator)` on one thread per rank and returns their results in rank order.
    public static func run<T: Sendable>(ranks: Int, _ body: @escaping @Sendable (Int, ThreadCommunicator) throws -> T) throws -> [T] {
        let communicators = group(size: ranks)
        let results = Results<T>(count: ranks)
        let threads = (0..<ranks).map { rank in
            Thread {
                results.set(rank, Result { try body(rank, communicators[rank]) })
            }
        }
        for thread in threads {
            thread.stackSize = 8 << 20
            thread.start()
        }
        results.wait()
        return try results.values.map { try $0!.get() }
    }

    final class Results<T: Sendable>: @unchecked Sendable {
        private let condition = NSCondition()
        private(set) var values: [Result<T, any Error>?]

        init(count: Int) { values = Array(repeating: nil, count: count) }

        func set(_ index: Int, _ value: Result<T, any Error>) {
            condition.lock()
            values[index] = value
            condition.broadcast()
            condition.unlock()
        }

        func wait() {
            condition.lock()
            while values.contains(where: { $0 == nil }) { condition.wait() }
            condition.unlock()
        }
    }
}
