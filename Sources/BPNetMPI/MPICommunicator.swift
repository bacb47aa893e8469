import BPNet
import CMPIShim
import Foundation

/// `Communicator` over Open MPI's MPI_COMM_WORLD, for processes that `mpirun` starts.
/// Nothing of MPI is touched until `start()`.
public final class MPICommunicator: Communicator, @unchecked Sendable {
    public let rank: Int
    public let size: Int
    /// The rank among the processes on this machine, which picks this process's device.
    public let localRank: Int

    private init(rank: Int, size: Int, localRank: Int) {
        (self.rank, self.size, self.localRank) = (rank, size, localRank)
    }

    /// How many processes `mpirun` started in this job, as Open MPI tells each of them
    /// (OMPI_COMM_WORLD_SIZE); nil outside mpirun. Read without touching MPI.
    public static var launchedProcesses: Int? {
        ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"].flatMap { Int($0) }
    }

    /// Initialises MPI (once per process) and joins MPI_COMM_WORLD. Without `mpirun`, this is a
    /// run of one process.
    public static func start() throws -> MPICommunicator {
        var rank: Int32 = 0, size: Int32 = 1, localRank: Int32 = 0
        try call("MPI_Init_thread") { bpnet_mpi_init(&rank, &size, &localRank, $0, $1) }
        return MPICommunicator(rank: Int(rank), size: Int(size), localRank: Int(localRank))
    }

    public func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {
        guard let base = values.baseAddress, !values.isEmpty else { return }
        try Self.call("MPI allreduce") { bpnet_mpi_allreduce_sum_float(base, values.count, $0, $1) }
    }

    public func allreduceSum(_ values: UnsafeMutableBufferPointer<Double>) throws {
        guard let base = values.baseAddress, !values.isEmpty else { return }
        try Self.call("MPI allreduce") { bpnet_mpi_allreduce_sum_double(base, values.count, $0, $1) }
    }

    /// The root's length goes first, so that the others can make room.
    public func broadcast(_ bytes: inout [UInt8], root: Int) throws {
        var length = UInt64(bytes.count)
        try Self.call("MPI broadcast") { bpnet_mpi_broadcast(&length, 8, Int32(root), $0, $1) }
        guard let count = Int(exactly: length) else { throw BPNetError.distributed("MPI broadcast: a length of \(length) bytes") }
        if rank != root { bytes = [UInt8](repeating: 0, count: count) }
        guard count > 0 else { return }
        try bytes.withUnsafeMutableBytes { raw in
            try Self.call("MPI broadcast") { bpnet_mpi_broadcast(raw.baseAddress, count, Int32(root), $0, $1) }
        }
    }

    /// Ends every process of the job with `code`: what a process that failed alone must do, so
    /// that the others never wait on it.
    public static func abort(code: Int32) -> Never {
        if bpnet_mpi_initialized() != 0 { bpnet_mpi_abort(code) }
        exit(code)
    }

    /// MPI_Finalize, once every process is done.
    public func finish() { bpnet_mpi_finalize() }

    private static func call(_ name: String, _ body: (UnsafeMutablePointer<CChar>, Int32) -> Int32) throws {
        var error = [CChar](repeating: 0, count: 512)
        let code = error.withUnsafeMutableBufferPointer { body($0.baseAddress!, Int32($0.count)) }
        guard code == 0 else {
            let text = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw BPNetError.distributed("\(name) failed: \(text.isEmpty ? "error \(code)" : text)")
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
