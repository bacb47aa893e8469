import CBLAS

/// One distributed step's gradient exchange. Every layer's gW and gb live in one device buffer
/// (`Backend.makeBufferGroup`), so the step reads them back in one transfer into transfer
/// memory, weights them by this shard's share of the global batch, sums them across the
/// processes, and writes the sum back in one transfer.
///
/// Each process's gradient is its shard's mean, (1/m_r)·Σ over its m_r rows; weighted by m_r/B
/// and summed, it is the mean over the whole global batch of B rows, as one process computes it.
/// One more element rides along: a stop flag, so that every process learns in the same step
/// whether any of them was asked to stop.
final class GradientExchange {
    let communicator: any Communicator
    let backend: any Backend
    let group: BufferGroup
    private let staging: TransferMemory
    /// Time spent in the allreduce itself, over the run.
    private(set) var allreduceSeconds = 0.0
    private(set) var exchanges = 0

    init(communicator: any Communicator, backend: any Backend, group: BufferGroup) throws {
        self.communicator = communicator
        self.backend = backend
        self.group = group
        staging = try backend.makeTransferMemory(count: group.whole.count + 1)
    }

    /// Sums the gradients of the processes' shards, `localRows` of the batch's `globalRows` here,
    /// and returns whether any process asked to stop.
    func exchange(localRows: Int, globalRows: Int, stop: Bool) throws -> Bool {
        let count = group.whole.count
        let values = staging.values
        if localRows > 0 {
            try backend.download(group.whole, into: UnsafeMutableBufferPointer(rebasing: values[0..<count]))
            let share = Float(localRows) / Float(globalRows)
            for start in stride(from: 0, to: count, by: Int(Int32.max)) {
                cblas_sscal(Int32(min(count - start, Int(Int32.max))), share, values.baseAddress! + start, 1)
            }
        } else {
            // An empty shard (a last batch smaller than the process count) adds nothing; its
            // buffers still hold the previous step's gradient.
            UnsafeMutableBufferPointer(rebasing: values[0..<count]).update(repeating: 0)
        }
        values[count] = stop ? 1 : 0
        let start = monotonicSeconds()
        try communicator.allreduceSum(values)
        allreduceSeconds += monotonicSeconds() - start
        exchanges += 1
        try backend.upload(UnsafeBufferPointer(rebasing: values[0..<count]), to: group.whole, offset: 0)
        return values[count] > 0
    }
}
