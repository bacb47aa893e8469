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

    /// Clipping by global norm: (3, 4) to norm 1 is (0.6, 0.8); a limit above the norm keeps
    /// every bit; odd sizes, past the 16 lanes' whole groups, scale to the norm asked for, and
    /// elements past `count` are left alone.
    @Test func clipToGlobalNormScalesToTheLimitAndNoFurther() throws {
        let pair = try backend.makeBuffer([3, 4])
        try backend.clipToGlobalNorm(pair, count: 2, maxNorm: 1)
        let clipped = try backend.download(pair)
        #expect(relativeError(clipped, [0.6, 0.8] as [Double]) <= 1e-6)
        for count in [1, 17, 33, 1_031] {
            let values = TestData.uniform(count + 1, seed: UInt64(count))
            let norm = values.prefix(count).reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let x = try backend.makeBuffer(values)
            try backend.clipToGlobalNorm(x, count: count, maxNorm: Float(norm * 1.01))
            #expect(try backend.download(x) == values, "×\(count): a norm under the limit changed the values")
            try backend.clipToGlobalNorm(x, count: count, maxNorm: Float(norm / 4))
            let result = try backend.download(x)
            let resultNorm = result.prefix(count).reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            #expect(abs(resultNorm - norm / 4) <= 1e-5 * norm, "×\(count): norm \(resultNorm), not \(norm / 4)")
            #expect(result[count] == values[count], "×\(count): the element past count changed")
        }
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
