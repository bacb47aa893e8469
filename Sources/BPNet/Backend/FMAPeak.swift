import CPUKernels
import Dispatch
import Foundation

/// The CPU's FP32 FMA peak, measured in the run that quotes it: machines here vary by 2× from
/// day to day, so a benchmark's figures mean something only as a share of a peak taken at the
/// same time.
public struct FMAPeak: Sendable {
    /// GFLOP/s over every thread.
    public var gflops: Double
    public var threads: Int
    /// Float lanes per FMA: 16 with AVX-512, 8 with AVX2, 1 without.
    public var lanes: Int

    /// Runs the probe on `threads` threads at once for about `seconds`, after a calibration run.
    public static func measure(threads: Int = ProcessInfo.processInfo.activeProcessorCount, seconds: Double = 0.5) -> FMAPeak {
        var sink: Float = 0
        var lanes: Int32 = 1
        let start = monotonicSeconds()
        _ = bpnet_fma_probe(1_000_000, &sink, &lanes)
        let rate = 1_000_000 / max(monotonicSeconds() - start, 1e-6)
        let iterations = max(1, Int(rate * seconds))
        let flops = Totals(count: threads)
        let begin = monotonicSeconds()
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            var sink: Float = 0
            var lanes: Int32 = 1
            flops.set(thread, bpnet_fma_probe(iterations, &sink, &lanes))
        }
        let elapsed = monotonicSeconds() - begin
        return FMAPeak(gflops: flops.sum / elapsed / 1e9, threads: threads, lanes: Int(lanes))
    }

    /// Per-thread results, each written by its own thread.
    private final class Totals: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [Double]
        init(count: Int) { values = Array(repeating: 0, count: count) }
        func set(_ index: Int, _ value: Double) { lock.withLock { values[index] = value } }
        var sum: Double { lock.withLock { values.reduce(0, +) } }
    }
}
