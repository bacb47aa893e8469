import BPNet
import Foundation

/// Random inputs and targets, drawn from a seeded generator.
public enum TestData {
    /// Uniform values in [lower, upper).
    public static func uniform(_ count: Int, seed: UInt64, in range: ClosedRange<Float> = -1...1) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        return (0..<count).map { _ in range.lowerBound + Float(generator.nextUnit()) * (range.upperBound - range.lowerBound) }
    }

    /// `count` samples whose targets are one-hot classes that depend on the inputs, so a
    /// network can learn them; inputs in [0, 1].
    public static func classification(count: Int, inputs: Int, classes: Int, seed: UInt64) throws -> Dataset {
        let x = uniform(count * inputs, seed: seed, in: 0...1)
        let labels = (0..<count).map { s -> Int in
            var sum: Float = 0, weight: Float = 0
            for i in 0..<inputs {
                sum += x[s * inputs + i] * Float(i % 3 + 1)
                weight += Float(i % 3 + 1)
            }
            // Bands of a weighted mean: for two classes, a linearly separable threshold.
            return min(Int(sum / weight * Float(classes)), classes - 1)
        }
        return try Dataset(inputs: x, labels: labels, inputSize: inputs, classes: classes)
    }

    /// `count` samples with real targets in (0, 1).
    public static func regression(count: Int, inputs: Int, outputs: Int, seed: UInt64) throws -> Dataset {
        try Dataset(
            inputs: uniform(count * inputs, seed: seed), targets: uniform(count * outputs, seed: seed + 1, in: 0.05...0.95),
            inputSize: inputs, outputSize: outputs)
    }

    /// A fresh temporary folder.
    public static func temporaryFolder() throws -> String {
        let path = NSTemporaryDirectory() + "bpnet-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Fashion-MNIST's first `count` training samples, or nil where the package is missing.
    public static func fashionMNIST(count: Int) throws -> Dataset? {
        guard FileManager.default.fileExists(atPath: DataSource.fashionMNISTFolder) else { return nil }
        return try DataSource.fashionMNIST.load(.train).prefix(count)
    }

    /// float64 C[m, n] = op(A)·op(B), row-major, straight from the definition.
    public static func referenceProduct(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, a: [Float], b: [Float]
    ) -> [Double] {
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k {
                    let x = transposeA ? a[p * m + i] : a[i * k + p]
                    let y = transposeB ? b[j * k + p] : b[p * n + j]
                    sum += Double(x) * Double(y)
                }
                c[i * n + j] = sum
            }
        }
        return c
    }
}
