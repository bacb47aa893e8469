/// The processes of one data-parallel run, as the trainer needs them. Every process trains its
/// shard of each global batch; the communicator sums the gradients between the backward pass and
/// the update, so every process applies the same step to the same weights.
///
/// The library never imports MPI: `MPICommunicator`, in the `BPNetMPI` target, implements this
/// over Open MPI. Every call is collective: each process must make the same calls in the same
/// order, or the run hangs.
public protocol Communicator: AnyObject, Sendable {
    /// This process's index, from 0; rank 0 prints, saves and checkpoints.
    var rank: Int { get }
    /// How many processes train together.
    var size: Int { get }
    /// Sums `values` element-wise across the processes, in place. Every process receives the same
    /// bits, so replicas that apply the same step stay bit-identical.
    func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws
    func allreduceSum(_ values: UnsafeMutableBufferPointer<Double>) throws
    /// Replaces `bytes` on every process with those of `root` (whose length they take).
    func broadcast(_ bytes: inout [UInt8], root: Int) throws
}

extension Communicator {
    /// `allreduceSum` of an array.
    public func allreduceSum(_ values: inout [Double]) throws {
        try values.withUnsafeMutableBufferPointer { try allreduceSum($0) }
    }

    /// Throws on every process when `failed` holds on any: `ownMessage` where it failed here,
    /// `otherMessage` elsewhere, so that no process waits on another that has given up.
    public func agree(failed: Bool, ownMessage: @autoclosure () -> String, otherMessage: String) throws {
        var flag = [failed ? 1.0 : 0.0]
        try allreduceSum(&flag)
        if failed { throw BPNetError.distributed(ownMessage()) }
        if flag[0] > 0 { throw BPNetError.distributed(otherMessage) }
    }
}

/// Which rows of a global batch a process takes: contiguous shards in rank order, the first
/// `rows % size` of them one row longer, so shards differ by at most one row.
public struct BatchShard: Equatable, Sendable {
    public var offset: Int
    public var rows: Int

    public init(rows: Int, rank: Int, size: Int) {
        let (base, extra) = rows.quotientAndRemainder(dividingBy: size)
        offset = rank * base + min(rank, extra)
        self.rows = base + (rank < extra ? 1 : 0)
    }
}
