@testable import BPNet
import COpenCL
import BPNetTestSupport
import Foundation
import Testing

/// Whether the OpenCL tests can run here. Under CI=true they always run, so that a missing
/// device fails them instead of skipping them.
let openCLTestsEnabled = ProcessInfo.processInfo.environment["CI"] == "true" || !((try? OpenCLDeviceInfo.all()) ?? []).isEmpty

/// Every OpenCL test lives in this one serialized suite and shares one context and queue:
/// PoCL crashed when tests ran in parallel with a context each. The checks themselves are
/// `Verification`'s, the same that `bpnet verify` runs on a user's device.
@Suite(.serialized, .enabled(if: openCLTestsEnabled, "no OpenCL device (install pocl-opencl-icd)"))
struct OpenCLParityTests {
    /// Stated tolerances: one operation, and whole training runs.
    static let opTolerance = Verification.operationTolerance
    static let runTolerance = Verification.runTolerance

    /// The platform the suite must run on, when `make test` runs it a second time on another
    /// OpenCL implementation (Intel's CPU runtime): its first device must be that platform's.
    static let platform = ProcessInfo.processInfo.environment["BPNET_TEST_OPENCL_PLATFORM"].flatMap { $0.isEmpty ? nil : $0 }

    /// The first OpenCL device, which the CLI's `--device opencl` and `opencl:0` also name; a
    /// test that gets here without one fails.
    static func device() throws -> OpenCLBackend {
        let devices = try OpenCLDeviceInfo.all()
        try #require(!devices.isEmpty, "no OpenCL device found, and CI=true requires one (install pocl-opencl-icd)")
        if let platform {
            try #require(devices[0].platform.contains(platform), "BPNET_TEST_OPENCL_PLATFORM=\(platform), but the first device is \(devices[0])")
        }
        return try OpenCLBackend.shared(devices[0])
    }

    /// Says which implementation the suite ran on, and checks that it is the one asked for.
    @Test func runsOnTheAskedPlatform() throws {
        let device = try Self.device()
        print("OpenCL parity suite on \(device.description), driver \(device.device.driverVersion)")
        #expect(Self.platform.map { device.device.platform.contains($0) } ?? true)
    }

    let cpu = CPUBackend()

    /// Records every failed check by its own line: name, error, tolerance and the worst output.
    func expectAllPass(_ checks: [VerificationCheck], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!checks.isEmpty, "no checks ran", sourceLocation: sourceLocation)
        for check in checks where !check.passed {
            Issue.record("\(check)", sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: GEMMFamily.allCases)
    func gemmMatchesFloat64ReferenceAndCPU(family: GEMMFamily) throws {
        let checks = Verification.gemmChecks(try Self.device().with(family), cpu: cpu, depth: .full)
        #expect(checks.count == Verification.gemmShapes(.full).count * 4, "every shape in all four transpose cases")
        expectAllPass(checks)
    }

    @Test(arguments: GEMMFamily.allCases)
    func layerOpsMatchCPU(family: GEMMFamily) throws {
        expectAllPass(Verification.layerChecks(try Self.device().with(family), cpu: cpu, depth: .full))
    }

    /// Every optimizer's pass, past t = 1, against the CPU.
    @Test(arguments: GEMMFamily.allCases)
    func optimizerStepsMatchCPU(family: GEMMFamily) throws {
        expectAllPass(Verification.optimizerChecks(try Self.device().with(family), cpu: cpu, depth: .full))
    }

    /// Dropout masks drawn on the device equal the CPU's bit for bit.
    @Test func dropoutMasksMatchCPU() throws {
        let checks = Verification.dropoutChecks(try Self.device(), cpu: cpu, depth: .full)
        expectAllPass(checks)
        #expect(checks.allSatisfy { $0.tolerance == 0 }, "masks compare exactly")
    }

    /// Clipping by global norm on the device and the CPU, against float64: scaled to the limit,
    /// or left bit for bit alone below it.
    @Test func clipToGlobalNormMatchesFloat64() throws {
        let checks = Verification.clipChecks(try Self.device(), cpu: cpu, depth: .full)
        #expect(checks.count == 8)
        expectAllPass(checks)
    }

    /// Crops and flips drawn on the device equal the CPU's bit for bit.
    @Test func augmentationMatchesCPU() throws {
        let checks = Verification.augmentChecks(try Self.device(), cpu: cpu, depth: .full)
        #expect(checks.count == 12 && checks.allSatisfy { $0.tolerance == 0 })
        expectAllPass(checks)
    }

    /// Batch norm's statistics, normalisation and backward pass on the device and the CPU, against float64.
    @Test func batchNormMatchesFloat64() throws {
        let checks = Verification.normalizationChecks(try Self.device(), cpu: cpu, depth: .full)
        #expect(checks.count == 5)
        expectAllPass(checks)
    }

    @Test func elementwiseKernelsMatchCPU() throws {
        expectAllPass(Verification.elementwiseChecks(try Self.device(), cpu: cpu, depth: .full))
    }

    /// Whole runs from the same init and generated data, CPU against each family.
    @Test(arguments: GEMMFamily.allCases)
    func trainingRunsMatchCPU(family: GEMMFamily) throws {
        expectAllPass(Verification.trainingChecks(try Self.device().with(family), cpu: cpu, depth: .full))
    }

    /// Exact resume on the device: from every checkpoint of each case, the same model bytes as
    /// the run that never stopped (momentum, Adam, dropout, schedules, the shuffle, early stopping;
    /// convolutional networks too).
    @Test(arguments: ResumeChecks.cases + ResumeChecks.cnnCases)
    func resumingFromEveryCheckpointGivesTheSameBytes(_ c: ResumeChecks.Case) throws {
        let problems = try ResumeChecks.mismatches(c, backend: try Self.device())
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// `bpnet train --device opencl` killed with SIGKILL at random moments: the checkpoint always
    /// loads, and the chain of resumes saves the uninterrupted run's bytes.
    @Test func killedAtRandomTheCheckpointAlwaysLoadsAndResumesExactly() throws {
        let report = try ResumeChecks.killLoop(device: "opencl", kills: 8, folder: try TestData.temporaryFolder(), seed: 2)
        #expect(report.problems.isEmpty, "\(report.problems.joined(separator: "\n"))")
        #expect(report.kills == 8)
        #expect(Set(report.positions.compactMap { $0 }).count >= 2, "checkpoint steps after each kill: \(report.positions)")
    }

    /// `mpirun -np 2 bpnet train --distributed --device opencl` (each rank its own PoCL context):
    /// the weights of one process with the same global batch, within 1e-5, and bit-identical
    /// replicas after every epoch.
    @Test(.enabled(if: MPIRun.enabled, "mpirun is not installed (apt-get install openmpi-bin)"), arguments: [["--optimizer", "adam", "--learning-rate", "0.01"], ["--learning-rate", "1", "--momentum", "0.7"]])
    func distributedRanksMatchOneProcess(optimizer: [String]) throws {
        let folder = try TestData.temporaryFolder()
        let data = folder + "/train.csv"
        try CSV.write(try TestData.classification(count: 403, inputs: 6, classes: 3, seed: 5), to: data)
        let common = ["--data", data, "--layers", "6,17,3", "--epochs", "3", "--batch-size", "25", "--device", "opencl", "--seed", "3"] + optimizer
        let one = try CLI.run(["train"] + common + ["--save", folder + "/one.safetensors"])
        #expect(one.status == 0, "\(one.stderr)")
        let two = try MPIRun.train(ranks: 2, common + ["--save", folder + "/two.safetensors", "--check-replicas"])
        #expect(two.status == 0, "\(two.stderr)")
        let error = MPIRun.relativeError(
            try ModelFile.load(folder + "/two.safetensors").network, try ModelFile.load(folder + "/one.safetensors").network)
        #expect(error <= 1e-5 && error > 0, "relative error \(error)")
        #expect(two.stderr.contains("device: opencl:0"))
        for epoch in 1...3 { #expect(two.stderr.contains("epoch \(epoch): weights identical on 2 ranks"), "\(two.stderr)") }
    }

    /// 1 000 training and 500 test samples of Fashion-MNIST, read once for every family.
    static let fashionMNIST: (train: Dataset, test: Dataset)? = {
        guard let train = try? TestData.fashionMNIST(count: 1_000),
            let test = try? DataSource.fashionMNIST.load(.test).prefix(500)
        else { return nil }
        return (train, test)
    }()

    /// The same runs on real Fashion-MNIST; skipped where it is not installed, except under CI=true.
    @Test(
        .enabled(
            if: ProcessInfo.processInfo.environment["CI"] == "true"
                || FileManager.default.fileExists(atPath: DataSource.fashionMNISTFolder),
            "dataset-fashion-mnist is not installed"),
        arguments: GEMMFamily.allCases)
    func fashionMNISTRunsMatchCPU(family: GEMMFamily) throws {
        let device = try Self.device().with(family)
        let (fashion, test) = try #require(Self.fashionMNIST, "CI must install dataset-fashion-mnist")
        expectAllPass(
            Verification.trainingRuns(.full, inputs: 784).map {
                Verification.trainingCheck($0, train: fashion, test: test, device: device, cpu: cpu, label: "fashion-mnist")
            })
    }

    /// The parity contract at the defaults (η 3, batch 10): from equal weights, each of 100 steps
    /// agrees within the per-operation tolerance.
    @Test(arguments: GEMMFamily.allCases)
    func perStepContractHoldsAtTheDefaults(family: GEMMFamily) throws {
        expectAllPass([Verification.stepCheck(try Self.device().with(family), cpu: cpu, depth: .full)])
    }

    /// `bpnet verify --quick`'s run: every check passes and every kernel of the program runs.
    @Test func quickVerificationRunsEveryKernel() throws {
        let report = Verification.run(on: try Self.device(), depth: .quick)
        expectAllPass(report.checks)
        #expect(report.kernelsNotRun.isEmpty, "never launched: \(report.kernelsNotRun)")
        #expect(report.kernelsRun == OpenCLContext.kernelNames)
    }

    /// BPNET_OPENCL_FAMILY picks the family that `.tuned` runs; a typo there or in
    /// BPNET_GEMM_TUNING is an error that lists what is known.
    @Test func environmentChoosesTheFamilyAndRejectsTypos() throws {
        let device = try Self.device().device
        for family in GEMMFamily.allCases {
            let tuning = try OpenCLTuning(for: device, environment: ["BPNET_OPENCL_FAMILY": family.rawValue])
            #expect(tuning.family == family)
        }
        #expect(try OpenCLTuning(for: device, environment: [:]).family == .vector, "PoCL is a CPU device")
        #expect(throws: BPNetError.invalidArgument(
            "BPNET_OPENCL_FAMILY: unknown GEMM family 'tiled' (expected register-blocked, vector, naive)")) {
            try OpenCLTuning(for: device, environment: ["BPNET_OPENCL_FAMILY": "tiled"])
        }
        #expect(throws: BPNetError.invalidArgument(
            "BPNET_GEMM_TUNING: unknown setting 'VWX=8' (expected KEY=VALUE with KEY one of TM, TN, TLX, TLY, VW, VM, VC, DM, DN, VLX, VLY)")) {
            try OpenCLTuning(for: device, environment: ["BPNET_GEMM_TUNING": "VM=4,VWX=8"])
        }
        #expect(throws: BPNetError.invalidArgument("BPNET_GEMM_TUNING: VW=3 is not 2, 4, 8 or 16")) {
            try OpenCLTuning(for: device, environment: ["BPNET_GEMM_TUNING": "VW=3"])
        }
        let tuned = try OpenCLTuning(for: device, environment: ["BPNET_GEMM_TUNING": "VW=8, VM=2,TM=3"])
        #expect((tuned.vectorLanes, tuned.rowVectorRows, tuned.blockedTM) == (8, 2, 3))
    }

    /// A CPU device's vector shape follows the float vector width it reports: AVX-512's 16 lanes,
    /// AVX2's 8, and 4 for anything narrower.
    @Test func cpuVectorShapeFollowsTheDevicesWidth() throws {
        let d = try Self.device().device
        func tuning(width: Int) throws -> OpenCLTuning {
            let device = OpenCLDeviceInfo(
                index: d.index, platform: d.platform, name: d.name, type: "CPU", computeUnits: d.computeUnits,
                globalMemoryBytes: d.globalMemoryBytes, localMemoryBytes: d.localMemoryBytes, maxWorkGroupSize: d.maxWorkGroupSize,
                maxWorkItemSizes: d.maxWorkItemSizes, openCLCVersion: d.openCLCVersion, nativeFloatVectorWidth: width,
                deviceBits: d.deviceBits)
            return try OpenCLTuning(for: device, environment: [:])
        }
        for (width, lanes, rows) in [(16, 16, 8), (32, 16, 8), (8, 8, 4), (4, 4, 4), (1, 4, 4), (0, 4, 4)] {
            let chosen = try tuning(width: width)
            #expect((chosen.vectorLanes, chosen.rowVectorRows, chosen.dotRows) == (lanes, rows, rows), "width \(width)")
            #expect(chosen.family == .vector)
        }
        #expect(d.nativeFloatVectorWidth > 0, "the device reports its width")
    }

    /// The CPU vector shapes that the first device does not take itself: the suite's other tests
    /// check the one it takes.
    static let otherCPUVectorShapes: [String] = {
        let own = ((try? OpenCLDeviceInfo.all()) ?? []).first.map { OpenCLTuning.cpuVectorShape(forWidth: $0.nativeFloatVectorWidth) }
        return OpenCLTuning.cpuVectorShapes.map(\.shape).filter { $0 != own }.map(\.setting)
    }()

    /// `bpnet verify` passes with every CPU vector shape that can be chosen, each forced through
    /// BPNET_GEMM_TUNING in a process of its own (a context per process, as PoCL needs).
    @Test(arguments: otherCPUVectorShapes)
    func verifyPassesWithEveryCPUVectorShape(setting: String) throws {
        let device = try Self.device().device
        let index = try OpenCLDeviceInfo.all().firstIndex(of: device) ?? 0
        let run = try CLI.run(
            ["verify", "--device", "opencl:\(index)", "--family", "vector", "--json"], environment: ["BPNET_GEMM_TUNING": setting])
        #expect(run.status == 0, "\(setting): \(run.stderr)")
        #expect(run.stdout.contains("\"passed\":true") && !run.stdout.contains("\"passed\":false"), "\(setting): \(run.stdout.suffix(500))")
    }

    @Test func tunedMatchesReferenceKernelsAndIsDeterministic() throws {
        let device = try Self.device()
        let data = try TestData.classification(count: 517, inputs: 100, classes: 3, seed: 5)
        let options = TrainingOptions(epochs: 3, batchSize: 16, learningRate: 1, l2: 0.5, momentum: 0.3, seed: 8)
        func run(_ backend: OpenCLBackend) throws -> Network {
            var network = try Network(sizes: [100, 17, 3], seed: 2)
            try Trainer(options).train(&network, on: data, backend: backend)
            return network
        }
        let tuned = try run(device), again = try run(device), reference = try run(device.with(.naive))
        #expect(tuned == again, "same seed and device must give bit-identical weights")
        #expect(relativeError(tuned.flatParameters, reference.flatParameters) < Self.runTolerance)
        for family in [GEMMFamily.registerBlocked, .vector] {
            #expect(relativeError(try run(device.with(family)).flatParameters, reference.flatParameters) < Self.runTolerance)
        }
    }

    @Test func errorsNameTheCallAndShowTheBuildLog() throws {
        let device = try Self.device()
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
        let device = try Self.device()
        let data = try TestData.classification(count: 45, inputs: 17, classes: 3, seed: 3)
        var network = try Network(sizes: [17, 5, 3], seed: 1)
        let profiled = device.profiled()
        let start = Date()
        try Trainer(TrainingOptions(epochs: 1, batchSize: 10)).train(&network, on: data, backend: profiled)
        let times = try profiled.kernelTimes().entries
        let wall = Date().timeIntervalSince(start)
        let calls = Dictionary(uniqueKeysWithValues: times.map { ($0.operation, $0.calls) })
        #expect(calls["gather_batch"] == 5 && calls["gather_rows"] == nil, "inputs and targets of 5 batches, one launch each")
        #expect(calls["metrics_and_output_delta"] == 5 && calls["batch_metrics"] == nil && calls["output_delta"] == nil)
        // Each layer's bias is updated inside its weight update's launch: 2 layers × 5 batches.
        #expect(calls["update_bias"] == nil && calls["bias_gradient"] == nil)
        // Per step: 2 forward products, 1 backward, 2 weight updates, in any GEMM family.
        #expect(calls.filter { $0.key.hasPrefix("gemm_") }.values.reduce(0, +) == 5 * 5, "\(calls)")
        #expect(times.map(\.calls).reduce(0, +) == 7 * 5, "7 launches per step for 2 layers: \(calls)")
        // Adam, with nothing between gradient and step: each layer's step runs in its gradient
        // product's epilogue, so the launches are SGD's.
        var adamNetwork = try Network(sizes: [17, 5, 3], seed: 1)
        try Trainer(TrainingOptions(epochs: 1, batchSize: 10, optimizer: .adam())).train(&adamNetwork, on: data, backend: profiled)
        let adamCalls = Dictionary(uniqueKeysWithValues: try profiled.kernelTimes().entries.map { ($0.operation, $0.calls) })
        #expect(adamCalls["optimizer_step_arena"] == nil && adamCalls["optimizer_step"] == nil, "\(adamCalls)")
        #expect(adamCalls.values.reduce(0, +) == 7 * 5, "7 launches per step for 2 layers: \(adamCalls)")
        // Nesterov, which no epilogue fuses: every layer's gradients, then one pass over the whole
        // arena per step.
        var nesterovNetwork = try Network(sizes: [17, 5, 3], seed: 1)
        try Trainer(TrainingOptions(epochs: 1, batchSize: 10, optimizer: .nesterov, momentum: 0.9))
            .train(&nesterovNetwork, on: data, backend: profiled)
        let nesterovCalls = Dictionary(uniqueKeysWithValues: try profiled.kernelTimes().entries.map { ($0.operation, $0.calls) })
        #expect(nesterovCalls["optimizer_step_arena"] == 5 && nesterovCalls["optimizer_step"] == nil, "\(nesterovCalls)")
        // Each kernel's device time lies within the run's wall time (an end before its start would
        // wrap to centuries), and the kernels took some time at all.
        #expect(times.allSatisfy { $0.seconds < wall } && times.contains { $0.seconds > 0 }, "\(times) in \(wall) s")
        #expect(try profiled.kernelTimes().entries.isEmpty, "reading the times clears them")
        #expect(try device.kernelTimes().entries.isEmpty, "an unprofiled backend records nothing")
    }

    /// The profiling wrapper forwards every operation, the fused ones included: wrapped or not, a
    /// run launches the same kernels, so a profile measures the path that training takes.
    @Test func profilingWrapperLaunchesTheKernelsTrainingDoes() throws {
        let device = try Self.device()
        let data = try TestData.classification(count: 45, inputs: 17, classes: 3, seed: 3)
        let runs = [
            TrainingOptions(epochs: 1, batchSize: 10), TrainingOptions(epochs: 1, batchSize: 10, momentum: 0.5, dropout: 0.2),
            TrainingOptions(epochs: 1, batchSize: 10, optimizer: .adam()), TrainingOptions(epochs: 1, batchSize: 10, optimizer: .nesterov, momentum: 0.9),
        ]
        for options in runs {
            for hook in [false, true] {
                func launches(wrapped: Bool) throws -> [String: Int] {
                    let events = device.profiled()
                    var network = try Network(sizes: [17, 5, 3], seed: 1)
                    var trainer = Trainer(options)
                    if hook { trainer.betweenGradientAndUpdate = { _, _ in } }
                    _ = try trainer.train(&network, on: data, backend: wrapped ? ProfilingBackend(events) : events)
                    return Dictionary(uniqueKeysWithValues: try events.kernelTimes().entries.map { ($0.operation, $0.calls) })
                }
                let plain = try launches(wrapped: false)
                #expect(!plain.isEmpty)
                #expect(try launches(wrapped: true) == plain, "\(options.optimizer.name), hook \(hook)")
            }
        }
    }

    /// The kernel binary cache: a second build of a source comes from the cache, a torn file is
    /// compiled anew and replaced, and a run on a cached program gives the bits of a compiled one.
    @Test func kernelBinaryCacheServesAndRecovers() throws {
        let device = try Self.device()
        let folder = try TestData.temporaryFolder()
        let source = "kernel void fill(global float* x) { x[get_global_id(0)] = 3.0f; }\n"
        func build() throws -> Bool {
            let built = try OpenCLContext.build(source, context: device.runtime.context, device: device.device, cacheFolder: folder)
            clReleaseProgram(built.program)
            return built.cached
        }
        #expect(try !build(), "the first build compiles")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder)
        #expect(files.count == 1 && files[0].hasSuffix(".bin"), "\(files)")
        #expect(try build(), "the second comes from the cache")
        let path = folder + "/" + files[0]
        let stored = try Data(contentsOf: URL(fileURLWithPath: path))
        try stored.prefix(stored.count / 2).write(to: URL(fileURLWithPath: path))
        #expect(try !build(), "a torn file is compiled anew")
        #expect(try build(), "and replaced")
        // Another driver version is another key.
        var other = device.device
        other.driverVersion += "+1"
        #expect(KernelBinaryCache.key(source: source, options: "", device: other) != KernelBinaryCache.key(source: source, options: "", device: device.device))
        #expect(KernelBinaryCache.folder(["BPNET_KERNEL_CACHE": "off", "HOME": "/root"]) == nil)
        #expect(KernelBinaryCache.folder(["XDG_CACHE_HOME": "/c", "HOME": "/root"]) == "/c/bpnet/kernels")

        // The whole program: a run that compiles and stores it, and a run on the stored binary.
        let data = folder + "/train.csv"
        try CSV.write(try TestData.classification(count: 57, inputs: 5, classes: 3, seed: 2), to: data)
        func train(_ name: String) throws -> Data {
            let run = try CLI.run(
                ["train", "--data", data, "--layers", "5,9,3", "--epochs", "2", "--batch-size", "8", "--device", "opencl:0",
                 "--save", folder + "/" + name], environment: ["BPNET_KERNEL_CACHE": folder + "/programs"])
            #expect(run.status == 0, "\(run.stderr)")
            return try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name))
        }
        let compiled = try train("compiled.safetensors")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder + "/programs").count == 1)
        #expect(try train("cached.safetensors") == compiled)
    }

    /// An optimizer code that no rule has runs nothing: it never falls through to Adam.
    @Test func unknownOptimizerCodeChangesNothing() throws {
        let device = try Self.device()
        let start = TestData.uniform(17, seed: 4)
        for (code, changes) in [(Optimizer.adam().code, true), (Int32(Optimizer.names.count), false), (99, false)] {
            let parameters = try device.makeBuffer(start)
            let gradient = try device.makeBuffer(TestData.uniform(17, seed: 5))
            let state = [try device.makeBuffer(count: 17), try device.makeBuffer(count: 17)]
            let step = OptimizerStep(optimizer: .adam(), learningRate: 0.1, momentum: 0, l2: 0, decoupledDecay: 0, step: 1)
            try device.optimizerStep(step, parameters: parameters, gradient: gradient, state: state, count: 17, ruleCode: code)
            #expect((try device.download(parameters) != start) == changes, "code \(code)")
            #expect((try device.download(state[0]) != [Float](repeating: 0, count: 17)) == changes, "code \(code)")
        }
    }

    /// GPUs get other tunables (the register-blocked family, float4 lanes, a gather span of 1);
    /// the program must build with them too, here on the CPU device.
    @Test func gpuTuningBuilds() throws {
        let device = try Self.device()
        let d = device.device
        let gpu = OpenCLDeviceInfo(
            index: d.index, platform: d.platform, name: d.name, type: "GPU", computeUnits: d.computeUnits,
            globalMemoryBytes: d.globalMemoryBytes, localMemoryBytes: d.localMemoryBytes,
            maxWorkGroupSize: 256, maxWorkItemSizes: [256, 256, 64], openCLCVersion: d.openCLCVersion, deviceBits: d.deviceBits)
        let tuning = try OpenCLTuning(for: gpu, environment: [:])
        #expect(tuning.family == .registerBlocked && tuning.gatherSpan == 1 && tuning.vectorLanes == 4)
        #expect(tuning.blockedLocal.0 * tuning.blockedLocal.1 <= 256)
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
