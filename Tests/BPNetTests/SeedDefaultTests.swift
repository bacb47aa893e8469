import BPNet
import BPNetTestSupport
import Foundation
import Testing

/// The seed's rule at its defaults (784-30-10, sigmoid, quadratic, SGD, η 3, batch 10, seed 0)
/// must stay bit-identical on the CPU through every refactor. The checksum is of the saved
/// model's tensor data (every weight and bias, layer by layer, as little-endian float32), recorded
/// from `bpnet train --limit 2000 --epochs 2 --device cpu --save m.safetensors` before the model
/// grew past the seed. (The whole file's checksum, 0x91b9d9782ed0a672, held until model files
/// gained version 2 metadata.) A deliberate numerical change must say so in its commit and update
/// it here.
@Suite struct SeedDefaultTests {
    static let recordedChecksum: UInt64 = 0xcc4e_2a0b_f59a_53ad

    /// FNV-1a, 64 bits: a checksum that needs no library.
    static func fnv1a(_ bytes: Data) -> UInt64 {
        bytes.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }

    @Test(.enabled(
        if: ProcessInfo.processInfo.environment["CI"] == "true" || FileManager.default.fileExists(atPath: DataSource.fashionMNISTFolder),
        "dataset-fashion-mnist is not installed"))
    func defaultRunIsBitIdentical() throws {
        let data = try #require(try TestData.fashionMNIST(count: 2_000), "CI must install dataset-fashion-mnist")
        var network = try Network(sizes: [784, 30, 10], seed: 0)
        try Trainer(TrainingOptions(epochs: 2)).train(&network, on: data, backend: CPUBackend())
        var tensors = Data()
        for layer in network.layers {
            for value in layer.weights + layer.biases { withUnsafeBytes(of: value.bitPattern.littleEndian) { tensors.append(contentsOf: $0) } }
        }
        #expect(String(Self.fnv1a(tensors), radix: 16) == String(Self.recordedChecksum, radix: 16))
    }
}
