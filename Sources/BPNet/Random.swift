/// A seeded generator whose output is fixed by the algorithm alone (SplitMix64),
/// so the same seed gives the same network and shuffle on every machine and Swift version.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    /// The whole state: `SeededGenerator(seed: g.state)` continues exactly where `g` is.
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Uniform in 0..<bound without modulo bias.
    mutating func nextIndex(below bound: Int) -> Int {
        precondition(bound > 0)
        let limit = UInt64(bound)
        let threshold = (0 &- limit) % limit
        while true {
            let value = next()
            if value >= threshold { return Int(value % limit) }
        }
    }

    /// Standard normal by Marsaglia's polar method: it needs only log and sqrt,
    /// whose results do not vary between C libraries the way sin and cos can.
    public mutating func nextGaussian() -> Double {
        while true {
            let u = 2 * nextUnit() - 1
            let v = 2 * nextUnit() - 1
            let s = u * u + v * v
            if s > 0 && s < 1 {
                return u * (-2 * _log(s) / s).squareRoot()
            }
        }
    }

    /// Fisher–Yates shuffle driven by this generator alone.
    public mutating func shuffle(_ values: inout [Int32]) {
        guard values.count > 1 else { return }
        for i in stride(from: values.count - 1, to: 0, by: -1) {
            let j = nextIndex(below: i + 1)
            values.swapAt(i, j)
        }
    }
}

// BPNet builds for Linux (OpenCL ICDs, OpenBLAS and Debian packages): Glibc only.
import Glibc

@inline(__always) private func _log(_ x: Double) -> Double { log(x) }
