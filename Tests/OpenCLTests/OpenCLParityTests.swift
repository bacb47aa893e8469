@testable import BPNet
import COpenCL
import BPNetTestSupport
import Foundation
import Testing

/// Every OpenCL test lives in this one serialized suite and shares one context and queue:
/// PoCL crashed when tests ran in parallel with a context each.
@Suite(.serialized) struct OpenCLParityTests {
    /// Stated tolerances: one operation, and whole training runs.
    static let opTolerance = 1e-5
    static let runTolerance = 1e-4

    /// The first OpenCL device, or nil where there is none. Under CI=true a missing device
    /// is a failure, never a skip.
    static func device(sourceLocation: SourceLocation = #_sourceLocation) throws -> OpenCLBackend? {
        let devices = try OpenCLDeviceInfo.all()
        guard !devices.isEmpty else {
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                Issue.record("no OpenCL device found, and CI=true requires one (install pocl-opencl-icd)", sourceLocation: sourceLocation)
            }
            return nil
        }
        return try OpenCLBackend.shared(devices[0])
    }

    let cpu = CPUBackend()

    /// Shapes (m, n, k) of the three training products at odd sizes and batches 1, 10 and 1000.
    static let shapes: [(Int, Int, Int)] = [
        (1, 1, 1), (3, 17, 1), (17, 3, 100), (1, 100, 784), (10, 30, 784), (10, 784, 100), (100, 784, 10),
        (784, 100, 1000), (1000, 10, 100), (30, 784, 1000), (33, 65, 129),
    ]

    @Test func gemmMatchesFloat64ReferenceAndCPU() throws {
        guard let device = try Self.device() else { return }
        for kernels in [OpenCLBackend.Kernels.registerBlocked, .vector, .reference] {
            let backend = device.with(kernels)
            for (index, (m, n, k)) in Self.shapes.enumerated() {
                for (transposeA, transposeB) in [(false, false), (false, true), (true, false), (true, true)] {
                    let a = TestData.uniform(m * k, seed: UInt64(index))
                    let b = TestData.uniform(k * n, seed: UInt64(index + 100))
                    let c0 = TestData.uniform(m * n, seed: UInt64(index + 200))
                    let (alpha, beta): (Float, Float) = (0.75, index % 2 == 0 ? 0 : 0.5)
                    let expected = zip(
                        TestData.referenceProduct(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, b: b),
                        c0
                    ).map { Double(alpha) * $0 + Double(beta) * Double($1) }
                    var results: [[Float]] = []
                    for backend in [backend as any Backend, cpu] {
                        let c = try backend.makeBuffer(c0)
                        try backend.gemm(
                            transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                            a: try backend.makeBuffer(a), b: try backend.makeBuffer(b), beta: beta, c: c)
                        results.append(try backend.download(c))
                    }
                    let label = "\(kernels) \(m)×\(n)×\(k) tA=\(transposeA) tB=\(transposeB)"
                    #expect(relativeError(results[0], expected) < Self.opTolerance, "\(label) vs float64")
                    #expect(relativeError(results[0], results[1]) < Self.opTolerance, "\(label) vs cpu")
                }
            }
        }
    }

    /// Runs one layer's forward, backward and update ops on a backend; returns every result.
    func layerOps(
        _ backend: any Backend, loss: Loss, rows: Int, inputs: Int, outputs: Int, next: Int,
        decay: Float, momentum: Float
    ) throws -> [String: [Float]] {
        let x = try backend.makeBuffer(TestData.uniform(rows * inputs, seed: 1))
        let w = try backend.makeBuffer(TestData.uniform(outputs * inputs, seed: 2, in: -0.5...0.5))
        let b = try backend.makeBuffer(TestData.uniform(outputs, seed: 3))
        let a = try backend.makeBuffer(count: rows * outputs)
        try backend.linearSigmoid(input: x, weights: w, bias: b, output: a, rows: rows, inputs: inputs, outputs: outputs)
        let y = try backend.makeBuffer(TestData.uniform(rows * outputs, seed: 4, in: 0...1))
        let d = try backend.makeBuffer(count: rows * outputs)
        try backend.outputDelta(loss, activation: a, target: y, delta: d, count: rows * outputs)
        let outputDelta = try backend.download(d)
        let deltaNext = try backend.makeBuffer(TestData.uniform(rows * next, seed: 5))
        let wNext = try backend.makeBuffer(TestData.uniform(next * outputs, seed: 6))
        let hidden = try backend.makeBuffer(count: rows * outputs)
        try backend.hiddenDelta(
            deltaNext: deltaNext, weightsNext: wNext, activation: a, delta: hidden, rows: rows, units: outputs, nextUnits: next)
        let v = try backend.makeBuffer(TestData.uniform(outputs * inputs, seed: 7, in: -0.1...0.1))
        let vb = try backend.makeBuffer(TestData.uniform(outputs, seed: 8, in: -0.1...0.1))
        try backend.updateWeights(
            weights: w, velocity: v, delta: d, input: x, rows: rows, outputs: outputs, inputs: inputs,
            learningRate: 0.7, decay: decay, momentum: momentum)
        try backend.updateBias(bias: b, velocity: vb, delta: d, rows: rows, outputs: outputs, learningRate: 0.7, momentum: momentum)
        let metrics = try backend.makeBuffer([Float](repeating: -1, count: 6))
        try backend.batchMetrics(loss, activation: a, target: y, rows: rows, columns: outputs, into: metrics, slot: 1)
        return [
            "activation": try backend.download(a), "outputDelta": outputDelta, "hiddenDelta": try backend.download(hidden),
            "weights": try backend.download(w), "velocity": try backend.download(v), "bias": try backend.download(b),
            "biasVelocity": try backend.download(vb), "metrics": try backend.download(metrics),
        ]
    }

    @Test func layerOpsMatchCPU() throws {
        guard let device = try Self.device() else { return }
        for kernels in [OpenCLBackend.Kernels.registerBlocked, .vector, .reference] {
            for loss in Loss.allCases {
                for (rows, inputs, outputs, next) in [(1, 1, 1, 1), (10, 784, 30, 10), (1000, 100, 17, 3), (3, 17, 100, 784)] {
                    for (decay, momentum): (Float, Float) in [(0, 0), (0.01, 0), (0, 0.9), (0.003, 0.5)] {
                        let expected = try layerOps(
                            cpu, loss: loss, rows: rows, inputs: inputs, outputs: outputs, next: next, decay: decay, momentum: momentum)
                        let actual = try layerOps(
                            device.with(kernels), loss: loss, rows: rows, inputs: inputs, outputs: outputs, next: next,
                            decay: decay, momentum: momentum)
                        // Without momentum the velocity is not state (the CPU backend skips it), only W is.
                        for (name, values) in expected where name != "metrics" && (momentum != 0 || name != "velocity") {
                            let error = relativeError(actual[name]!, values)
                            #expect(error < Self.opTolerance, "\(kernels) \(loss) \(rows)×\(inputs)→\(outputs) λ=\(decay) μ=\(momentum) \(name): \(error)")
                        }
                        let (e, m) = (expected["metrics"]!, actual["metrics"]!)
                        #expect(m[0] == -1 && m[1] == -1 && m[4] == -1, "only slot 1 is written")
                        #expect(abs(Double(m[2] - e[2])) <= Self.opTolerance * Double(abs(e[2])), "loss sum \(m[2]) vs \(e[2])")
                        #expect(m[3] == e[3], "correct count \(m[3]) vs \(e[3])")
                    }
                }
            }
        }
    }

    @Test func elementwiseKernelsMatchCPU() throws {
        guard let device = try Self.device() else { return }
        for (rows, columns) in [(1, 1), (3, 17), (100, 784), (1000, 10)] {
            let values = TestData.uniform(rows * columns, seed: 9, in: -30...30)
            let bias = TestData.uniform(columns, seed: 10)
            var results: [[Float]] = []
            for backend in [device as any Backend, cpu] {
                let x = try backend.makeBuffer(values)
                try backend.addBiasSigmoid(x, bias: try backend.makeBuffer(bias), rows: rows, columns: columns)
                results.append(try backend.download(x))
            }
            let expected = (0..<(rows * columns)).map { 1 / (1 + exp(-(Double(values[$0]) + Double(bias[$0 % columns])))) }
            #expect(relativeError(results[0], expected) < Self.opTolerance)
            #expect(relativeError(results[0], results[1]) < Self.opTolerance)

            // A gather of odd rows in a shuffled order, from the middle of the index buffer.
            let order: [Int32] = (0..<Int32(rows)).reversed().map { $0 }
            var gathered: [[Float]] = []
            for backend in [device as any Backend, cpu] {
                let indices = try backend.makeIndexBuffer(count: rows + 2)
                try ([0, 0] + order).withUnsafeBufferPointer { try backend.uploadIndices($0, to: indices) }
                let destination = try backend.makeBuffer(count: rows * columns)
                try backend.gather(
                    source: try backend.makeBuffer(values), rowLength: columns, indices: indices, offset: 2, rows: rows,
                    into: destination)
                gathered.append(try backend.download(destination))
            }
            #expect(gathered[0] == gathered[1])
            #expect(Array(gathered[0].prefix(columns)) == Array(values.suffix(columns)))
        }
    }

    static let runs: [(sizes: [Int], options: TrainingOptions)] = [
        ([784, 30, 10], TrainingOptions(epochs: 3, batchSize: 10, learningRate: 0.5)),
        ([784, 17, 10], TrainingOptions(epochs: 3, batchSize: 33, learningRate: 0.3, loss: .crossEntropy, l2: 1, momentum: 0.5)),
        ([784, 100, 30, 10], TrainingOptions(epochs: 2, batchSize: 128, learningRate: 1, loss: .crossEntropy, seed: 4)),
    ]

    /// Whole runs from the same init and data: CPU against OpenCL, on real Fashion-MNIST and on random data.
    @Test func trainingRunsMatchCPU() throws {
        guard let device = try Self.device() else { return }
        var datasets: [(String, Dataset, Dataset)] = []
        if let fashion = try TestData.fashionMNIST(count: 1_500) {
            datasets.append(("fashion-mnist", fashion.prefix(1_000), try DataSource.fashionMNIST.load(.test).prefix(500)))
        } else {
            #expect(ProcessInfo.processInfo.environment["CI"] != "true", "CI must install dataset-fashion-mnist")
        }
        let random = try TestData.classification(count: 1_203, inputs: 784, classes: 10, seed: 12)
        datasets.append(("random", random.prefix(1_003), try TestData.classification(count: 200, inputs: 784, classes: 10, seed: 13)))
        for (name, train, test) in datasets {
            for (sizes, options) in Self.runs {
                let start = try Network(sizes: sizes, seed: 3)
                var onCPU = start, onDevice = start
                let cpuReports = try Trainer(options).train(&onCPU, on: train, test: test, backend: cpu)
                let deviceReports = try Trainer(options).train(&onDevice, on: train, test: test, backend: device)
                let error = relativeError(onDevice.flatParameters, onCPU.flatParameters)
                let label = "\(name) \(sizes) \(options.loss.rawValue) batch \(options.batchSize)"
                #expect(error < Self.runTolerance, "\(label): weights differ by \(error)")
                #expect(relativeError(onCPU.flatParameters, start.flatParameters) > 1e-3, "\(label): training moved nothing")
                let accuracy = (deviceReports.last!.testAccuracy!, cpuReports.last!.testAccuracy!)
                #expect(abs(accuracy.0 - accuracy.1) <= 0.005, "\(label): accuracy \(accuracy.0) vs \(accuracy.1)")
                #expect(abs(deviceReports.last!.trainLoss - cpuReports.last!.trainLoss) < 1e-4 * cpuReports.last!.trainLoss)
            }
        }
    }

    @Test func tunedMatchesReferenceKernelsAndIsDeterministic() throws {
        guard let device = try Self.device() else { return }
        let data = try TestData.classification(count: 517, inputs: 100, classes: 3, seed: 5)
        let options = TrainingOptions(epochs: 3, batchSize: 16, learningRate: 1, l2: 0.5, momentum: 0.3, seed: 8)
        func run(_ backend: OpenCLBackend) throws -> Network {
            var network = try Network(sizes: [100, 17, 3], seed: 2)
            try Trainer(options).train(&network, on: data, backend: backend)
            return network
        }
        let tuned = try run(device), again = try run(device), reference = try run(device.with(.reference))
        #expect(tuned == again, "same seed and device must give bit-identical weights")
        #expect(relativeError(tuned.flatParameters, reference.flatParameters) < Self.runTolerance)
        for family in [OpenCLBackend.Kernels.registerBlocked, .vector] {
            #expect(relativeError(try run(device.with(family)).flatParameters, reference.flatParameters) < Self.runTolerance)
        }
    }

    @Test func errorsNameTheCallAndShowTheBuildLog() throws {
        guard let device = try Self.device() else { return }
        #expect(clErrorName(-54) == "CL_INVALID_WORK_GROUP_SIZE")
        #expect(clErrorName(-5) == "CL_OUT_OF_RESOURCES")
        let broken = "kernel void broken(global float* x) { x[0] = undefined_name; }"
        #expect {
            _ = try OpenCLContext.build(broken, context: device.runtime.context, device: device.device)
        } throws: { error in
            guard case BPNetError.kernelBuild(_, let log) = error else { return false }
            return log.contains("undefined_name")
        }
        #expect(throws: BPNetError.self) { try Device.opencl(index: 99).makeBackend() }
        // The shared context is the one every backend on the device uses.
        #expect(try OpenCLBackend.shared(device.device).runtime === device.runtime)
    }

    @Test func profiledBackendTimesEveryLaunchFromEvents() throws {
        guard let device = try Self.device() else { return }
        let data = try TestData.classification(count: 45, inputs: 17, classes: 3, seed: 3)
        var network = try Network(sizes: [17, 5, 3], seed: 1)
        let profiled = device.profiled()
        try Trainer(TrainingOptions(epochs: 1, batchSize: 10)).train(&network, on: data, backend: profiled)
        let times = try profiled.kernelTimes().entries
        let calls = Dictionary(uniqueKeysWithValues: times.map { ($0.operation, $0.calls) })
        #expect(calls["gather_rows"] == 2 * 5, "inputs and targets of 5 batches")
        #expect(calls["batch_metrics"] == 5 && calls["output_delta"] == 5 && calls["update_bias"] == 2 * 5)
        #expect(times.allSatisfy { $0.seconds >= 0 } && times.contains { $0.seconds > 0 })
        #expect(try profiled.kernelTimes().entries.isEmpty, "reading the times clears them")
        #expect(try device.kernelTimes().entries.isEmpty, "an unprofiled backend records nothing")
    }

    /// GPUs get other tunables (the register-blocked family, float4 lanes, a gather span of 1);
    /// the program must build with them too, here on the CPU device.
    @Test func gpuTuningBuilds() throws {
        guard let device = try Self.device() else { return }
        let d = device.device
        let gpu = OpenCLDeviceInfo(
            index: d.index, platform: d.platform, name: d.name, type: "GPU", computeUnits: d.computeUnits,
            globalMemoryBytes: d.globalMemoryBytes, localMemoryBytes: d.localMemoryBytes,
            maxWorkGroupSize: 256, maxWorkItemSizes: [256, 256, 64], openCLCVersion: d.openCLCVersion, deviceBits: d.deviceBits)
        let tuning = OpenCLTuning(for: gpu)
        #expect(tuning.family == .registerBlocked && tuning.gatherSpan == 1 && tuning.vectorLanes == 4)
        #expect(tuning.tiledLocal.0 * tuning.tiledLocal.1 <= 256)
        let program = try OpenCLContext.build(try OpenCLContext.source(tuning), context: device.runtime.context, device: d)
        clReleaseProgram(program)
    }

    @Test func embeddedKernelsAreTheKernelsFolder() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Kernels").standardized
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".cl") }.sorted()
        #expect(EmbeddedKernels.sources.map(\.name) == names)
        for (name, source) in EmbeddedKernels.sources {
            let onDisk = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
            #expect(source == onDisk || source + "\n" == onDisk, "\(name) embedded differs from Kernels/\(name)")
            #expect(!source.contains("native_") && !source.contains("fast-relaxed-math"))
        }
    }
}
