import ArgumentParser
import BPNet
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure GEMM rates at the training shapes and seconds per epoch, per backend.",
        discussion: """
            Configs: A = 784-100-10 at batch 10 (η 3), B = 784-100-10 at batch 128 (η 3),
            C = 784-1024-1024-10 at batch 128 (η 0.1), all on Fashion-MNIST with the quadratic cost.
            Every figure is measured in the same run, so ratios between rows are meaningful.
            """)

    struct Config {
        var name: String
        var sizes: [Int]
        var batch: Int
        var learningRate: Float
    }

    static let configs = [
        Config(name: "A", sizes: [784, 100, 10], batch: 10, learningRate: 3),
        Config(name: "B", sizes: [784, 100, 10], batch: 128, learningRate: 3),
        Config(name: "C", sizes: [784, 1024, 1024, 10], batch: 128, learningRate: 0.1),
    ]

    @Option(help: "Which configs to train (letters).")
    var configs = "ABC"

    @Option(help: "Epochs timed per config, after one warm-up epoch.")
    var epochs = 3

    @Flag(help: "Only the GEMM rates.")
    var gemmOnly = false

    @Option(help: "Use only the first N training samples.")
    var limit: Int?

    func validate() throws {
        guard epochs > 0 else { throw ValidationError("--epochs must be positive, got \(epochs)") }
        guard Set(configs).isSubset(of: "ABC"), !configs.isEmpty else {
            throw ValidationError("--configs takes letters from ABC, got '\(configs)'")
        }
    }

    func backends() throws -> [(String, any Backend)] {
        var list: [(String, any Backend)] = [("cpu", CPUBackend())]
        if let device = try OpenCLDeviceInfo.all().first {
            let tuned = try OpenCLBackend.shared(device)
            list += [
                ("opencl:\(device.index) vector", tuned.with(.vector)),
                ("opencl:\(device.index) blocked", tuned.with(.registerBlocked)),
                ("opencl:\(device.index) naive", tuned.with(.reference)),
            ]
        }
        return list
    }

    func run() throws {
        let backends = try backends()
        note("OPENBLAS_CORETYPE=\(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "(unset)")")
        for (name, backend) in backends { note("\(name): \(backend.description)") }
        print("GEMM GFLOP/s at the training shapes (m×n×k, row-major; fwd = A·Wᵀ, bwd = Δ·W, grad = Δᵀ·A)")
        print("config  product  " + "shape".padding(toLength: 16, withPad: " ", startingAt: 0)
            + backends.map { $0.0.padding(toLength: 17, withPad: " ", startingAt: 0) }.joined())
        for config in Self.configs where configs.contains(config.name) {
            for (product, m, n, k, tA, tB) in shapes(config) {
                var row = "\(config.name)       \(product.padding(toLength: 7, withPad: " ", startingAt: 0))  "
                    + "\(m)×\(n)×\(k)".padding(toLength: 16, withPad: " ", startingAt: 0)
                for (_, backend) in backends {
                    let rate = try gemmRate(backend, m: m, n: n, k: k, transposeA: tA, transposeB: tB)
                    row += String(format: "%-17.1f", rate)
                }
                print(row)
                fflush(nil)
            }
        }
        if gemmOnly { return }
        print("\nTraining: median seconds per epoch after one warm-up epoch")
        var train = try DataSource.fashionMNIST.load(.train)
        if let limit { train = train.prefix(limit) }
        for config in Self.configs where configs.contains(config.name) {
            for (name, backend) in try trainingBackends(backends) {
                var network = try Network(sizes: config.sizes, seed: 1)
                let options = TrainingOptions(epochs: epochs + 1, batchSize: config.batch, learningRate: config.learningRate)
                let reports = try Trainer(options).train(&network, on: train, backend: backend)
                let seconds = reports.dropFirst().map(\.seconds).sorted()[epochs / 2]
                print(String(format: "%@  %@  %.3f s/epoch  %.0f samples/s", config.name, name, seconds, Double(train.count) / seconds))
                fflush(nil)
            }
        }
    }

    /// The CPU and each OpenCL device with its tuned kernels.
    func trainingBackends(_ all: [(String, any Backend)]) throws -> [(String, any Backend)] {
        var list = [all[0]]
        if let device = try OpenCLDeviceInfo.all().first {
            list.append(("opencl:\(device.index)", try OpenCLBackend.shared(device)))
        }
        return list
    }

    /// The forward, backward and gradient products of each layer of `config`.
    func shapes(_ config: Config) -> [(String, Int, Int, Int, Bool, Bool)] {
        var list: [(String, Int, Int, Int, Bool, Bool)] = []
        let s = config.sizes, m = config.batch
        for l in 1..<s.count {
            list.append(("fwd", m, s[l], s[l - 1], false, true))
            if l > 1 { list.append(("bwd", m, s[l - 1], s[l], false, false)) }
            list.append(("grad", s[l], s[l - 1], m, true, false))
        }
        return list
    }

    /// GFLOP/s of C = A·B over enough repetitions to fill ~0.2 s, after a warm-up.
    func gemmRate(_ backend: any Backend, m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool) throws -> Double {
        let a = try backend.makeBuffer([Float](repeating: 0.5, count: m * k))
        let b = try backend.makeBuffer([Float](repeating: 0.25, count: k * n))
        let c = try backend.makeBuffer(count: m * n)
        func run(_ times: Int) throws -> Double {
            let start = Date()
            for _ in 0..<times {
                try backend.gemm(
                    transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 1, a: a, b: b, beta: 0, c: c)
            }
            try backend.synchronize()
            return Date().timeIntervalSince(start)
        }
        _ = try run(2)
        var times = 1
        var seconds = try run(times)
        while seconds < 0.2 {
            times *= max(2, min(16, Int(0.2 / max(seconds, 1e-6))))
            seconds = try run(times)
        }
        return 2 * Double(m) * Double(n) * Double(k) * Double(times) / seconds / 1e9
    }
}
