import BPNet
import BPNetTestSupport
import CBLAS
import CPUKernels
import Foundation
import Testing

/// Nielsen's rule at its defaults (784-30-10, sigmoid, quadratic, SGD, η 3, batch 10, seed 0)
/// must stay bit-identical on the CPU through every refactor, on every OpenBLAS kernel set that
/// the machines here run.
@Suite struct SeedDefaultTests {
    /// The checksums of the saved model's tensor data (every weight and bias, layer by layer, as
    /// little-endian float32) from `bpnet train --limit 2000 --epochs 2 --device cpu --save m.safetensors`,
    /// one per OpenBLAS kernel set: OpenBLAS's products differ in their last bits between sets,
    /// and sets that share their SGEMM kernels share a checksum.
    /// - Prescott's was recorded before the model grew past Nielsen's network (the whole file's
    ///   checksum, 0x91b9d9782ed0a672, held until model files gained version 2 metadata).
    /// - SkylakeX's was recorded when BPNet began to replace OpenBLAS's Prescott fallback with it
    ///   on AVX-512 CPUs (blas_core.c), the one deliberate change of these bits. Cooperlake, which
    ///   OpenBLAS 0.3.21 picks on AMD's AVX-512 EPYCs, runs the same SGEMM kernels.
    /// - Haswell's and Zen's were recorded with OPENBLAS_CORETYPE forced on an AMD EPYC, where
    ///   the other three gave the checksums above; both use the same AVX2 SGEMM kernels.
    static let recorded: [String: UInt64] = [
        "Prescott": 0xcc4e_2a0b_f59a_53ad, "Haswell": 0xb20e_24ea_28ea_d58f, "Zen": 0xb20e_24ea_28ea_d58f,
        "SkylakeX": 0x9c84_ea2a_9aeb_e128, "Cooperlake": 0x9c84_ea2a_9aeb_e128,
    ]

    static var inCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// FNV-1a, 64 bits: a checksum that needs no library.
    static func fnv1a(_ bytes: Data) -> UInt64 {
        bytes.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }

    static func checksum(_ network: Network) -> UInt64 {
        var tensors = Data()
        for layer in network.layers {
            for value in layer.weights + layer.biases { withUnsafeBytes(of: value.bitPattern.littleEndian) { tensors.append(contentsOf: $0) } }
        }
        return fnv1a(tensors)
    }

    static func hex(_ value: UInt64?) -> String { value.map { "0x" + String($0, radix: 16) } ?? "none recorded" }

    /// In this process, with the kernel set OpenBLAS runs here. Under CI=true a set without a
    /// recorded checksum fails, naming the set, so that no machine's CI passes unguarded.
    @Test(.enabled(
        if: inCI || (FileManager.default.fileExists(atPath: DataSource.fashionMNISTFolder) && recorded[CPUBackend.blasCore] != nil),
        "needs dataset-fashion-mnist and one of OpenBLAS's kernel sets \(recorded.keys.sorted()), which the checksums were recorded with"))
    func defaultRunKeepsItsChecksum() throws {
        let data = try #require(try TestData.fashionMNIST(count: 2_000), "CI must install dataset-fashion-mnist")
        let expected = try #require(
            Self.recorded[CPUBackend.blasCore],
            "OpenBLAS runs its \(CPUBackend.blasCore) kernels, which have no recorded checksum; record one (see `recorded`)")
        var network = try Network(sizes: [784, 30, 10], seed: 0)
        try Trainer(TrainingOptions(epochs: 2)).train(&network, on: data, backend: CPUBackend())
        #expect(Self.hex(Self.checksum(network)) == Self.hex(expected), "kernel set \(CPUBackend.blasCore)")
    }

    /// Every recorded set that this CPU can run, each forced with OPENBLAS_CORETYPE in a `bpnet
    /// train` of its own (OpenBLAS chooses its set once, when it loads), on the same 2,000 samples
    /// written as an IDX folder. A set that OpenBLAS will not run on this CPU (it says which set
    /// it runs instead) is left out; Prescott's SSE3 set runs on every x86-64 CPU, so at least two
    /// sets are always compared when this one differs.
    @Test(.enabled(
        if: (inCI || FileManager.default.fileExists(atPath: DataSource.fashionMNISTFolder))
            && CPUBackend.blasConfiguration.contains("DYNAMIC_ARCH"),
        "needs dataset-fashion-mnist and a DYNAMIC_ARCH OpenBLAS"))
    func everyRecordedKernelSetKeepsItsChecksum() throws {
        let data = try #require(try TestData.fashionMNIST(count: 2_000), "CI must install dataset-fashion-mnist")
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Self.writeIDX(data, to: folder)
        var compared: [String] = []
        for set in Self.recorded.keys.sorted() {
            let model = folder + "/\(set).safetensors"
            let run = try CLI.run(
                ["train", "--data", folder, "--epochs", "2", "--device", "cpu", "--save", model],
                environment: ["OPENBLAS_CORETYPE": set])
            try #require(run.status == 0, "\(run.stderr)")
            guard run.stderr.contains(" \(set) MAX_THREADS") else { continue }
            let (network, _) = try ModelFile.load(model)
            #expect(Self.hex(Self.checksum(network)) == Self.hex(Self.recorded[set]), "kernel set \(set)")
            compared.append(set)
        }
        #expect(compared.contains("Prescott"), "Prescott's SSE3 kernels run on every x86-64 CPU")
        #expect(compared.contains(CPUBackend.blasCore) || Self.recorded[CPUBackend.blasCore] == nil)
    }

    /// `data` as an uncompressed IDX pair, train-images-idx3-ubyte and train-labels-idx1-ubyte:
    /// each input is a byte over 255, so byte·255 rounds back to it exactly.
    static func writeIDX(_ data: Dataset, to folder: String) throws {
        func bigEndian(_ values: [Int]) -> [UInt8] { values.flatMap { v in (0..<4).reversed().map { UInt8((v >> (8 * $0)) & 0xff) } } }
        let side = Int(Double(data.inputSize).squareRoot())
        var images = bigEndian([0x0803, data.count, side, side])
        images += data.inputs.map { UInt8(($0 * 255).rounded()) }
        var labels = bigEndian([0x0801, data.count])
        for sample in 0..<data.count {
            let row = data.targets[(sample * data.outputSize)..<((sample + 1) * data.outputSize)]
            labels.append(UInt8(row.firstIndex(of: row.max()!)! - sample * data.outputSize))
        }
        try Data(images).write(to: URL(fileURLWithPath: folder + "/train-images-idx3-ubyte"))
        try Data(labels).write(to: URL(fileURLWithPath: folder + "/train-labels-idx1-ubyte"))
    }

    /// On any machine: the library's CPU training gives the very bits of the first version's own
    /// loop (Nielsen's rule), kept here as it was written (its cblas calls, its sigmoid loop, its update order).
    @Test(arguments: [(Float(0), Float(0)), (0.5, 1)])
    func matchesTheSeedsOwnLoop(momentum: Float, l2: Float) throws {
        let data = try TestData.classification(count: 101, inputs: 17, classes: 3, seed: 9)
        let options = TrainingOptions(epochs: 2, batchSize: 10, learningRate: 3, l2: l2, momentum: momentum, seed: 4)
        var network = try Network(sizes: [17, 9, 3], seed: 2)
        let start = network
        try Trainer(options).train(&network, on: data, backend: CPUBackend())
        var loop = SeedLoop(start, options: options)
        let seed = loop.train(data)
        #expect(network.layers.map(\.weights) == seed.weights && network.layers.map(\.biases) == seed.biases)
        #expect(network != start)
    }
}

/// The first BPNet program's CPU training loop (Nielsen's rule), frozen: row-major batches, one cblas_sgemm per product.
struct SeedLoop {
    var sizes: [Int]
    var weights: [[Float]], biases: [[Float]]
    var weightVelocity: [[Float]], biasVelocity: [[Float]]
    let options: TrainingOptions

    init(_ network: Network, options: TrainingOptions) {
        sizes = network.sizes
        weights = network.layers.map(\.weights)
        biases = network.layers.map(\.biases)
        weightVelocity = weights.map { [Float](repeating: 0, count: $0.count) }
        biasVelocity = biases.map { [Float](repeating: 0, count: $0.count) }
        self.options = options
    }

    mutating func train(_ data: Dataset) -> (weights: [[Float]], biases: [[Float]]) {
        let n = data.count, L = sizes.count - 1, eta = options.learningRate, mu = options.momentum
        let decay = options.l2 / Float(n)
        var permutation = (0..<Int32(n)).map { $0 }
        var generator = Trainer.shuffleGenerator(seed: options.seed)
        for _ in 0..<options.epochs {
            if options.shuffle { generator.shuffle(&permutation) }
            for offset in stride(from: 0, to: n, by: options.batchSize) {
                let rows = min(options.batchSize, n - offset)
                let order = permutation[offset..<(offset + rows)].map(Int.init)
                var a: [[Float]] = [order.flatMap { data.inputs[($0 * sizes[0])..<(($0 + 1) * sizes[0])] }]
                let y = order.flatMap { data.targets[($0 * sizes[L])..<(($0 + 1) * sizes[L])] }
                for l in 0..<L {
                    var z = [Float](repeating: 0, count: rows * sizes[l + 1])
                    cblas_sgemm(
                        CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(sizes[l + 1]), Int32(sizes[l]), 1,
                        a[l], Int32(sizes[l]), weights[l], Int32(sizes[l]), 0, &z, Int32(sizes[l + 1]))
                    bpnet_bias_sigmoid(&z, biases[l], rows, sizes[l + 1])
                    a.append(z)
                }
                var deltas = [[Float]](repeating: [], count: L)
                deltas[L - 1] = (0..<(rows * sizes[L])).map { (a[L][$0] - y[$0]) * a[L][$0] * (1 - a[L][$0]) }
                for l in stride(from: L - 1, through: 1, by: -1) {
                    var d = [Float](repeating: 0, count: rows * sizes[l])
                    cblas_sgemm(
                        CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(sizes[l]), Int32(sizes[l + 1]), 1,
                        deltas[l], Int32(sizes[l + 1]), weights[l], Int32(sizes[l]), 0, &d, Int32(sizes[l]))
                    for i in 0..<d.count { d[i] *= a[l][i] * (1 - a[l][i]) }
                    deltas[l - 1] = d
                }
                for l in 0..<L {
                    let (outputs, inputs) = (sizes[l + 1], sizes[l])
                    if mu == 0 {
                        cblas_sgemm(
                            CblasRowMajor, CblasTrans, CblasNoTrans, Int32(outputs), Int32(inputs), Int32(rows), -eta / Float(rows),
                            deltas[l], Int32(outputs), a[l], Int32(inputs), 1 - eta * decay, &weights[l], Int32(inputs))
                    } else {
                        for i in 0..<weights[l].count { weightVelocity[l][i] = mu * weightVelocity[l][i] - eta * decay * weights[l][i] }
                        cblas_sgemm(
                            CblasRowMajor, CblasTrans, CblasNoTrans, Int32(outputs), Int32(inputs), Int32(rows), -eta / Float(rows),
                            deltas[l], Int32(outputs), a[l], Int32(inputs), 1, &weightVelocity[l], Int32(inputs))
                        for i in 0..<weights[l].count { weights[l][i] += weightVelocity[l][i] }
                    }
                    var sum = Array(deltas[l][0..<outputs])
                    for r in 1..<max(rows, 1) { for j in 0..<outputs { sum[j] += deltas[l][r * outputs + j] } }
                    for j in 0..<outputs {
                        biasVelocity[l][j] = mu * biasVelocity[l][j] - eta / Float(rows) * sum[j]
                        biases[l][j] += biasVelocity[l][j]
                    }
                }
            }
        }
        return (weights, biases)
    }
}
