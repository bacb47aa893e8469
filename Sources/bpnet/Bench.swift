import ArgumentParser
import BPNet
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure GEMM rates, seconds per epoch, per-step overhead and a per-operation breakdown, per backend.",
        discussion: """
            Configs: A = 784-100-10 at batch 10 (η 3), B = 784-100-10 at batch 128 (η 3), \
            C = 784-1024-1024-10 at batch 128 (η 0.1), all with sigmoid layers, the quadratic cost and \
            SGD; D = B's shapes with ReLU, softmax, log-likelihood, Adam (η 0.001) and dropout 0.2; \
            E = the README's convolutional recipe (two 3×3 convolutions of 32 and 64 channels with \
            padding 1, each followed by batch norm and 2×2 max pooling, then 256 units with batch \
            norm; ReLU, softmax, Adam η 0.002, random crops of padding 2 and flips) at batch 64. All \
            on Fashion-MNIST.

            Every figure is measured in the same run, so ratios between rows are meaningful.
            """)

    struct Config {
        var name: String
        var architecture: Architecture
        var batch: Int
        var learningRate: Float
        /// nil: sigmoid everywhere, as in Nielsen's rule.
        var activations: [Activation]? = nil
        var loss = Loss.quadratic
        var optimizer = Optimizer.sgd
        var dropout: Float = 0
        var augment = Augmentation.none

        init(
            name: String, architecture: Architecture, batch: Int, learningRate: Float, activations: [Activation]? = nil,
            loss: Loss = .quadratic, optimizer: Optimizer = .sgd, dropout: Float = 0, augment: Augmentation = .none
        ) {
            (self.name, self.architecture, self.batch, self.learningRate) = (name, architecture, batch, learningRate)
            (self.activations, self.loss, self.optimizer, self.dropout) = (activations, loss, optimizer, dropout)
            self.augment = augment
        }

        init(
            name: String, sizes: [Int], batch: Int, learningRate: Float, activations: [Activation]? = nil, loss: Loss = .quadratic,
            optimizer: Optimizer = .sgd, dropout: Float = 0
        ) {
            self.init(
                name: name, architecture: Architecture(sizes: sizes), batch: batch, learningRate: learningRate,
                activations: activations, loss: loss, optimizer: optimizer, dropout: dropout)
        }

        func network() throws -> Network { try Network(architecture: architecture, activations: activations, seed: 1) }

        /// Each weight layer's GEMM per batch: rows per sample (a convolution's output positions),
        /// inputs (its patch length) and outputs, and whether the backward pass computes its
        /// input's gradient (every layer's but the first's).
        var products: [(rowsPerSample: Int, inputs: Int, outputs: Int, backward: Bool)] {
            ((try? architecture.weights()) ?? []).enumerated().map { ($1.positions, $1.inputs, $1.outputs, $0 > 0) }
        }

        func options(epochs: Int) -> TrainingOptions {
            TrainingOptions(
                epochs: epochs, batchSize: batch, learningRate: learningRate, optimizer: optimizer, loss: loss, dropout: dropout,
                augment: augment)
        }
    }

    static let configs = [
        Config(name: "A", sizes: [784, 100, 10], batch: 10, learningRate: 3),
        Config(name: "B", sizes: [784, 100, 10], batch: 128, learningRate: 3),
        Config(name: "C", sizes: [784, 1024, 1024, 10], batch: 128, learningRate: 0.1),
        // The model's newer pieces on B's shapes: ReLU, softmax with log-likelihood, Adam, dropout.
        Config(
            name: "D", sizes: [784, 100, 10], batch: 128, learningRate: 0.001, activations: [.relu, .softmax],
            loss: .logLikelihood, optimizer: .adam(), dropout: 0.2),
        // The README's convolutional recipe; its He initialization and cosine schedule change what
        // is learned, not the work per epoch.
        Config(
            name: "E", architecture: Bench.recipeCNN, batch: 64, learningRate: 0.002,
            activations: [.relu, .relu, .relu, .softmax], loss: .logLikelihood, optimizer: .adam(),
            augment: Augmentation(cropPadding: 2, flip: true)),
    ]

    /// The README's recipe CNN; benchmarks/compare.py and torch_cnn.py run the same `--layers`
    /// (ReadmeTests compares them).
    static let recipeCNNLayers = "1x28x28,conv:32:3:1:1,batchnorm,maxpool:2,conv:64:3:1:1,batchnorm,maxpool:2,flatten,256,batchnorm,10"
    static let recipeCNN = try! Architecture(parsing: recipeCNNLayers)

    // The defaults are applied below, so that an option given with --csv-load, which would do
    // nothing there, can be told from one left out.
    @Option(name: .customLong("configs"), help: "Which configs to run (letters from ABCDE). Default: ABCDE.")
    var configsGiven: String?
    var configs: String { configsGiven ?? "ABCDE" }

    @Option(name: .customLong("epochs"), parsing: .unconditional, help: "Epochs timed per config, after one warm-up epoch. Default: 3.")
    var epochsGiven: Int?
    var epochs: Int { epochsGiven ?? 3 }

    @Flag(help: "Only the GEMM rates.")
    var gemmOnly = false

    @Option(parsing: .unconditional, help: "Use only the first N training samples.")
    var limit: Int?

    @Option(name: .customLong("output"), help: "Where to write every figure as JSON. Default: bench.json.")
    var outputGiven: String?
    var output: String { outputGiven ?? "bench.json" }

    @Option(help: "Only time loading this CSV file, as train reads one, and print one JSON line (seconds and peak RSS); bench-compare's CSV part runs it beside numpy.loadtxt on the same file.")
    var csvLoad: String?

    func validate() throws {
        if csvLoad != nil {
            let given = [("--configs", configsGiven != nil), ("--epochs", epochsGiven != nil), ("--gemm-only", gemmOnly),
                         ("--limit", limit != nil), ("--output", outputGiven != nil)]
            if let option = given.first(where: \.1)?.0 {
                throw ValidationError("\(option) does nothing with --csv-load, which only times loading the file")
            }
            return
        }
        guard epochs > 0 else { throw ValidationError("--epochs must be positive, got \(epochs)") }
        guard !configs.isEmpty, Set(configs).isSubset(of: "ABCDE") else {
            throw ValidationError("--configs takes letters from ABCDE, got '\(configs)'")
        }
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive, got \(limit)") }
        do {
            try OutputPath.checkWritable(output, option: "--output", example: "bench.json")
        } catch let error as BPNetError {
            throw ValidationError(error.description)
        }
    }

    /// The report, as `bench.json` holds it.
    struct Report: Encodable {
        struct GEMM: Encodable { var config, product, backend: String; var m, n, k: Int; var gflops, shareOfPeak: Double }
        struct Training: Encodable {
            var config, backend: String
            var secondsPerEpoch, samplesPerSecond, gflops, shareOfPeak: Double
            /// This backend's seconds per epoch over the CPU backend's, in the same run.
            var ratioToCPU: Double?
        }
        struct Peak: Encodable { var gflops: Double; var threads, lanes: Int }
        struct Launches: Encodable { var config, backend: String; var perStep: Double }
        struct Overhead: Encodable { var backend: String; var microsecondsPerStep: Double }
        struct Share: Encodable { var config, backend, operation: String; var seconds: Double; var calls: Int; var share: Double }
        var date = ISO8601DateFormatter().string(from: Date())
        var machine = ""
        var openBLAS = CPUBackend.blasConfiguration
        /// OpenBLAS's own choice of kernels, when BPNet replaced it with a better set for this CPU.
        var openBLASCoreReplaced = CPUBackend.blasCoreReplaced
        var environment: [String: String] = [:]
        var fmaPeak = Peak(gflops: 0, threads: 0, lanes: 0)
        var gemm: [GEMM] = []
        var training: [Training] = []
        var overhead: [Overhead] = []
        var breakdown: [Share] = []
        /// Kernel launches per training step on an OpenCL device, from the profiled epoch.
        var launches: [Launches] = []
    }

    func run() throws {
        if let csvLoad { return try measureCSVLoad(csvLoad) }
        var report = Report()
        report.machine = Self.processorName() + ", \(ProcessInfo.processInfo.activeProcessorCount) cores"
        for name in ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS"] {
            report.environment[name] = ProcessInfo.processInfo.environment[name] ?? "(unset)"
        }
        let kernels = try gemmBackends()
        note("machine: \(report.machine); OpenBLAS \(report.openBLAS)")
        if let replaced = report.openBLASCoreReplaced {
            note("OpenBLAS runs its \(CPUBackend.blasCore) kernels; by itself it chose \(replaced) (OPENBLAS_CORETYPE=\(replaced) keeps that)")
        }
        note("environment: " + report.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        for (name, backend) in kernels { note("\(name): \(backend.description)") }
        let chosen = Self.configs.filter { configs.contains($0.name) }
        let peak = FMAPeak.measure()
        report.fmaPeak = .init(gflops: peak.gflops, threads: peak.threads, lanes: peak.lanes)
        print(String(format: "FP32 FMA peak, measured now: %.1f GFLOP/s (%d threads, %d-lane FMAs); every rate below is also a share of it\n",
                     peak.gflops, peak.threads, peak.lanes))

        print("GEMM GFLOP/s at the training shapes (m×n×k, row-major; fwd = A·Wᵀ, bwd = Δ·W, grad = Δᵀ·A)")
        print("config  product  " + column("shape", 16) + kernels.map { column($0.0, 24) }.joined())
        // D's products have B's shapes.
        for config in chosen where config.name != "D" || !chosen.contains(where: { $0.name == "B" }) {
            for (product, m, n, k, transposeA, transposeB) in shapes(config) {
                var row = "\(config.name)       \(column(product, 7))  " + column("\(m)×\(n)×\(k)", 16)
                for (name, backend) in kernels {
                    let rate = try gemmRate(backend, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
                    row += column(String(format: "%.1f (%.0f%%)", rate, rate / peak.gflops * 100), 24)
                    report.gemm.append(.init(
                        config: config.name, product: product, backend: name, m: m, n: n, k: k, gflops: rate,
                        shareOfPeak: rate / peak.gflops))
                }
                print(row)
                fflush(nil)
            }
        }
        if !gemmOnly {
            let backends = try trainingBackends()
            var train = try DataSource.fashionMNIST.load(.train)
            if let limit { train = train.prefix(limit) }

            print("\nTraining on \(train.count) samples: median seconds per epoch of \(epochs), after one warm-up epoch")
            for config in chosen {
                var cpuSeconds: Double?
                for (name, backend) in backends {
                    var network = try config.network()
                    let options = config.options(epochs: epochs + 1)
                    let reports = try Trainer(options).train(&network, on: train, backend: backend)
                    let seconds = reports.dropFirst().map(\.seconds).sorted()[epochs / 2]
                    let gflops = Self.trainingFLOPs(config) * Double(train.count) / seconds / 1e9
                    if backend is CPUBackend { cpuSeconds = seconds }
                    let ratio = backend is CPUBackend ? nil : cpuSeconds.map { seconds / $0 }
                    print(
                        String(
                            format: "%@  %@  %8.3f s/epoch  %9.0f samples/s  %7.1f GFLOP/s  %5.1f%% of peak", config.name, column(name, 9),
                            seconds, Double(train.count) / seconds, gflops, gflops / peak.gflops * 100)
                            + (ratio.map { String(format: "  %.2f× the CPU's time", $0) } ?? ""))
                    report.training.append(.init(
                        config: config.name, backend: name, secondsPerEpoch: seconds, samplesPerSecond: Double(train.count) / seconds,
                        gflops: gflops, shareOfPeak: gflops / peak.gflops, ratioToCPU: ratio))
                    fflush(nil)
                }
            }

            print("\nPer-step overhead: network 4-4-2 at batch 1, microseconds per step")
            for (name, backend) in backends {
                let microseconds = try stepOverhead(backend)
                print(String(format: "%@  %8.2f µs/step", column(name, 9), microseconds))
                report.overhead.append(.init(backend: name, microsecondsPerStep: microseconds))
            }

            print("\nBreakdown of one epoch on \(min(train.count, 10_000)) samples, after a warm-up epoch")
            print("(CPU: each operation timed and waited for; OpenCL: device time of each kernel from its profiling events)")
            for config in chosen {
                for (name, backend) in backends {
                    let sample = train.prefix(10_000)
                    let entries = try breakdown(config, backend: backend, data: sample)
                    let total = entries.map(\.seconds).reduce(0, +)
                    if backend is OpenCLBackend {
                        let steps = Double((sample.count + config.batch - 1) / config.batch)
                        let perStep = Double(entries.map(\.calls).reduce(0, +)) / steps
                        print(String(format: "%@  %@  %.1f kernel launches per step", config.name, column(name, 9), perStep))
                        report.launches.append(.init(config: config.name, backend: name, perStep: perStep))
                    }
                    for entry in entries.sorted(by: { $0.seconds > $1.seconds }) {
                        let share = entry.seconds / total
                        print(String(
                            format: "%@  %@  %@ %8.4f s  %5.1f%%  %6d calls", config.name, column(name, 9),
                            column(entry.operation, 28), entry.seconds, share * 100, entry.calls))
                        report.breakdown.append(.init(
                            config: config.name, backend: name, operation: entry.operation, seconds: entry.seconds,
                            calls: entry.calls, share: share))
                    }
                    fflush(nil)
                }
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        try OutputPath.write(try encoder.encode(report), to: output)
        note("wrote \(output)")
    }

    /// One load of a CSV file, timed in-process so that start-up stays out of the figure, as it
    /// does for the peer's; the peak RSS before the load is the process's own floor.
    func measureCSVLoad(_ path: String) throws {
        let floor = Self.peakResidentMiB()
        let clock = ContinuousClock(), start = clock.now
        let data = try CSV.read(path)
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(String(
            format: #"{"seconds": %.6f, "rows": %d, "inputs": %d, "outputs": %d, "peak_rss_mib_before": %.1f, "peak_rss_mib": %.1f}"#,
            seconds, data.count, data.inputSize, data.outputSize, floor, Self.peakResidentMiB()))
    }

    /// This process's peak resident memory so far (getrusage reports KiB on Linux).
    static func peakResidentMiB() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }

    private func column(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text.padding(toLength: width, withPad: " ", startingAt: 0)
    }

    static func processorName() -> String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let line = info.split(separator: "\n").first { $0.hasPrefix("model name") }
        return line.map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
    }

    /// The CPU and every GEMM family of the first OpenCL device.
    func gemmBackends() throws -> [(String, any Backend)] {
        var list: [(String, any Backend)] = [("cpu", CPUBackend())]
        if let device = try OpenCLDeviceInfo.all().first {
            let shared = try OpenCLBackend.shared(device)
            list += [
                ("opencl:\(device.index) vector", shared.with(.vector)),
                ("opencl:\(device.index) blocked", shared.with(.registerBlocked)),
                ("opencl:\(device.index) naive", shared.with(.naive)),
            ]
        }
        return list
    }

    /// The CPU and the first OpenCL device with its tuned kernels.
    func trainingBackends() throws -> [(String, any Backend)] {
        var list: [(String, any Backend)] = [("cpu", CPUBackend())]
        if let device = try OpenCLDeviceInfo.all().first {
            list.append(("opencl:\(device.index)", try OpenCLBackend.shared(device)))
        }
        return list
    }

    /// FLOPs of one sample's training step in its GEMMs: the forward product of every layer, the
    /// backward product of every layer but the first, and every weight gradient, 2·n_in·n_out
    /// each per row (a convolution has a row per output position).
    static func trainingFLOPs(_ config: Config) -> Double {
        config.products.reduce(0) { total, p in
            total + Double(p.backward ? 3 : 2) * 2 * Double(p.rowsPerSample) * Double(p.inputs) * Double(p.outputs)
        }
    }

    /// The forward, backward and gradient products of each layer of `config`.
    func shapes(_ config: Config) -> [(String, Int, Int, Int, Bool, Bool)] {
        var list: [(String, Int, Int, Int, Bool, Bool)] = []
        for p in config.products {
            let m = config.batch * p.rowsPerSample
            list.append(("fwd", m, p.outputs, p.inputs, false, true))
            if p.backward { list.append(("bwd", m, p.inputs, p.outputs, false, false)) }
            list.append(("grad", p.outputs, p.inputs, m, true, false))
        }
        return list
    }

    /// GFLOP/s of C = op(A)·op(B) over enough repetitions to fill ~0.2 s, after a warm-up
    /// (PoCL compiles a kernel on its first launch at a new local size).
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

    /// Where one epoch's time goes: per kernel from profiling events on an OpenCL device, per
    /// operation from host timers (each operation waited for) elsewhere. The first of two
    /// epochs carries the set-up and PoCL's first-launch compiles, so only the second counts.
    func breakdown(_ config: Config, backend: any Backend, data: Dataset) throws -> [(operation: String, seconds: Double, calls: Int)] {
        var network = try config.network()
        let options = config.options(epochs: 2)
        if let device = backend as? OpenCLBackend {
            let profiled = device.profiled()
            try Trainer(options).train(&network, on: data, backend: profiled) { report in
                if report.epoch == 1 { try profiled.resetKernelTimes() }
            }
            return try profiled.kernelTimes().entries
        }
        let profiler = ProfilingBackend(backend)
        try Trainer(options).train(&network, on: data, backend: profiler) { report in
            if report.epoch == 1 { profiler.reset() }
        }
        return profiler.times.entries
    }

    /// The framework's own cost per step: a network so small that arithmetic is negligible.
    func stepOverhead(_ backend: any Backend) throws -> Double {
        let data = try Dataset(
            inputs: (0..<(20_000 * 4)).map { Float($0 % 7) / 7 }, labels: (0..<20_000).map { $0 % 2 },
            inputSize: 4, classes: 2)
        var network = try Network(sizes: [4, 4, 2], seed: 1)
        let reports = try Trainer(TrainingOptions(epochs: 3, batchSize: 1, learningRate: 0.1))
            .train(&network, on: data, backend: backend)
        return reports.dropFirst().map(\.seconds).min()! / Double(data.count) * 1e6
    }
}
