import BPNet
import BPNetTestSupport
import Testing

@Suite struct CPUBackendTests {
    let backend = CPUBackend()

    /// Read-only data of 8-bit images is held as bytes; a gathered batch must still be the
    /// exact floats, and data that is not k/255 must take the plain path unchanged.
    @Test(arguments: [true, false])
    func gatherFromReadOnlyDataIsExact(imageLike: Bool) throws {
        let rows = 17, width = 100
        var values = (0..<(rows * width)).map { Float(($0 * 37) % 256) / 255 }
        if !imageLike { values[5] = 0.123 }
        let source = try backend.makeReadOnlyBuffer(values)
        let order: [Int32] = [99, 16, 3, 0, 7, 7, 12]  // a prefix outside the slice, then repeats
        let indices = try backend.makeIndexBuffer(count: order.count)
        try order.withUnsafeBufferPointer { try backend.uploadIndices($0, to: indices) }
        let batch = try backend.makeBuffer(count: 6 * width)
        try backend.gather(source: source, rowLength: width, indices: indices, offset: 1, rows: 6, into: batch)
        let expected = order.dropFirst().flatMap { values[(Int($0) * width)..<((Int($0) + 1) * width)] }
        #expect(try backend.download(batch) == expected)
    }

    @Test func biasSigmoidMatchesFloat64WithinTolerance() throws {
        for (rows, columns) in [(1, 1), (3, 17), (100, 784), (7, 33)] {
            let values = TestData.uniform(rows * columns, seed: 3, in: -90...90)
            let bias = TestData.uniform(columns, seed: 4)
            let x = try backend.makeBuffer(values)
            try backend.addBiasActivation(x, bias: try backend.makeBuffer(bias), rows: rows, columns: columns, activation: .sigmoid)
            // z = x + b is formed in float32 on every backend; σ(z) is what is compared.
            let expected = (0..<(rows * columns)).map { 1 / (1 + exp(-Double(values[$0] + bias[$0 % columns]))) }
            let actual = try backend.download(x)
            #expect(relativeError(actual, expected) < 1e-6)
            // Element by element too: saturated outputs must stay in [0, 1] and close in absolute terms.
            #expect(zip(actual, expected).allSatisfy { abs(Double($0) - $1) < 1e-6 && (0...1).contains($0) })
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// The FMA probe that `bpnet bench` quotes rates against runs the CPU's widest vectors.
@Suite struct FMAPeakTests {
    @Test func probeUsesTheWidestVectorsAndMeasuresSomething() throws {
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("flags") }.map { Set($0.split(separator: " ").map(String.init)) } ?? []
        let expected = flags.contains("avx512f") ? 16 : (flags.contains("avx2") && flags.contains("fma") ? 8 : 1)
        let peak = FMAPeak.measure(threads: 1, seconds: 0.05)
        #expect(peak.lanes == expected)
        #expect(peak.threads == 1)
        #expect(peak.gflops.isFinite && peak.gflops > 0)
    }
}
