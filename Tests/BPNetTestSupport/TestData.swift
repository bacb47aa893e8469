import BPNet
import Foundation

/// Random inputs and targets, drawn from a seeded generator.
public enum TestData {
    /// Uniform values in [lower, upper).
    public static func uniform(_ count: Int, seed: UInt64, in range: ClosedRange<Float> = -1...1) -> [Float] {
        Verification.uniform(count, seed: seed, in: range)
    }

    /// `count` samples whose targets are one-hot classes that depend on the inputs, so a
    /// network can learn them; inputs in [0, 1].
    public static func classification(count: Int, inputs: Int, classes: Int, seed: UInt64) throws -> Dataset {
        try Verification.generatedClassification(count: count, inputs: inputs, classes: classes, seed: seed)
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
        Verification.referenceProduct(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, b: b)
    }
}
