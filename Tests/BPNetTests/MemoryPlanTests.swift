import BPNet
import BPNetTestSupport
import Foundation
import Testing

/// Networks too large for their device are refused before anything is allocated, with the numbers.
@Suite struct MemoryPlanTests {
    @Test func planCountsWhatTrainingAllocates() throws {
        // 4-3-2: 12 + 3 + 6 + 2 = 23 parameters; SGD with μ keeps one velocity per parameter.
        let plan = try MemoryPlan(sizes: [4, 3, 2], options: TrainingOptions(batchSize: 5, momentum: 0.9), samples: 7, testSamples: 2)
        // On the backend, the arena pads each of the 4 tensors to 16 floats: 64 in all.
        #expect(plan.parameterBytes == 64 * 4 && plan.hostParameterBytes == 2 * 23 * 4)
        // Velocity 64, activations 5·(4+3+2), deltas 5·(3+2), targets 5·2.
        #expect(plan.workingBytes == Double(64 + 45 + 25 + 10) * 4)
        #expect(plan.dataBytes == Double(9 * (4 + 2)) * 4)
        // Adam keeps two moments and a gradient per parameter.
        let adam = try MemoryPlan(sizes: [4, 3, 2], options: TrainingOptions(batchSize: 5, optimizer: .adam()), samples: 7)
        #expect(adam.workingBytes - plan.workingBytes == Double(2 * 64) * 4)
    }

    /// Every update path: the plan and the trainer decide it in the one place (`UpdatePath`), and
    /// the plan comes within half a parameter-sized buffer of what a run allocates (it leaves out
    /// the index and per-batch sum buffers), so a parameter-sized buffer missed in either fails.
    static let paths: [(name: String, options: TrainingOptions, hook: Bool, distributed: Bool)] = [
        ("sgd", TrainingOptions(epochs: 1, batchSize: 7), false, false),
        ("sgd with μ and a hook", TrainingOptions(epochs: 1, batchSize: 7, momentum: 0.5), true, false),
        ("sgd with μ, distributed", TrainingOptions(epochs: 1, batchSize: 7, momentum: 0.5), false, true),
        ("sgd without μ, distributed", TrainingOptions(epochs: 1, batchSize: 7), false, true),
        ("nesterov", TrainingOptions(epochs: 1, batchSize: 7, optimizer: .nesterov, momentum: 0.9), false, false),
        ("adam with dropout", TrainingOptions(epochs: 1, batchSize: 7, optimizer: .adam(), dropout: 0.3), false, false),
        ("adamw, distributed", TrainingOptions(epochs: 1, batchSize: 7, optimizer: .adamw()), false, true),
    ]

    /// A dense network, and a convolutional one, whose plan also counts its patches, the patch
    /// gradient, pooling's argmax, the NHWC copy of a several-channel input and the convolution's
    /// dropout mask in NCHW order; and one with batch norms and GELU, whose z the plan counts where
    /// the batch norms keep it (and whose SGD takes the arena's pass).
    static let networks = [
        "33,17,3", "2x7x6,conv:8:3:1:1,maxpool:2,conv:4:2,flatten,10,3", "2x7x6,conv:8:3:1:1,batchnorm,maxpool:2,flatten,10,batchnorm,3",
    ]

    @Test(arguments: paths.indices, networks)
    func planMatchesWhatTheTrainerAllocates(path index: Int, layers: String) throws {
        let (name, options, hook, distributed) = Self.paths[index]
        let architecture = try Architecture(parsing: layers)
        let inputs = architecture.input.count
        let data = try TestData.classification(count: 40, inputs: inputs, classes: 3, seed: 1)
        let test = try TestData.classification(count: 9, inputs: inputs, classes: 3, seed: 2)
        let backend = ProfilingBackend(CPUBackend())
        var trainer = Trainer(options)
        if hook { trainer.betweenGradientAndUpdate = { _, _ in } }
        if distributed { trainer.communicator = ThreadCommunicator.group(size: 1)[0] }
        let weightLayers = architecture.layers.filter(\.isWeightLayer).count
        let hidden: Activation = layers.contains("batchnorm") ? .gelu : .relu
        let activations = [Activation](repeating: hidden, count: weightLayers - 1) + [.sigmoid]
        var network = try Network(architecture: architecture, activations: activations, seed: 1)
        try trainer.train(&network, on: data, test: test, backend: backend)
        let plan = try MemoryPlan(
            architecture: architecture, options: options, activations: activations, samples: 40, testSamples: 9, hook: hook,
            distributed: distributed)
        let allocated = Double(backend.bufferElements + backend.transferElements) * 4
        let parameterBytes = Double(try architecture.parameterCounts().reduce(0, +)) * 4
        // The arena pads each tensor to a 64-byte line.
        let tensors = Double(try architecture.parameterTensors().count)
        #expect(plan.parameterBytes >= parameterBytes && plan.parameterBytes < parameterBytes + tensors * 64)
        #expect(abs(allocated - plan.backendBytes) < parameterBytes / 2, "\(name), \(layers): allocated \(allocated) bytes, planned \(plan.backendBytes)")
        let path = UpdatePath(options, hook: hook, distributed: distributed)
        #expect(path.fused == (options.optimizer == .sgd && !hook && !distributed), "\(name)")
    }

    /// A model that is small on disk but whose convolution's patches need far more memory than the
    /// machine has (a 64×64 kernel over a 64×64 input padded by 2,000: 4,001² positions of 4,096
    /// values for one sample) is refused by prediction and evaluation, with the numbers, before
    /// anything is allocated.
    @Test func inferenceThatCannotFitIsRefused() throws {
        let network = try Network(
            architecture: try Architecture(parsing: "1x64x64,conv:1:64:1:2000,maxpool:4001,flatten,2"), activations: [.relu, .sigmoid], seed: 1)
        let inputs = [Float](repeating: 0.5, count: 64 * 64)
        let data = try Dataset(inputs: inputs, targets: [1, 0], inputSize: 64 * 64, outputSize: 2)
        for run in [{ _ = try network.predict(inputs, backend: CPUBackend()) }, { _ = try network.evaluate(on: data, backend: CPUBackend()) }] {
            do {
                try run()
                Issue.record("an inference needing about 260 GB was not refused")
            } catch let error as BPNetError {
                #expect(error.description.hasPrefix("this network needs") && error.description.contains("for 1 sample at once"), "\(error)")
            }
        }
    }

    /// On the CPU, and on OpenCL where a device is (CI has one).
    @Test func hugeNetworkIsRefusedOnTheCPU() throws { try expectRefusal(device: "cpu") }

    @Test(.enabled(
        if: ProcessInfo.processInfo.environment["CI"] == "true" || !((try? OpenCLDeviceInfo.all()) ?? []).isEmpty,
        "no OpenCL device (install pocl-opencl-icd)"))
    func hugeNetworkIsRefusedOnOpenCL() throws { try expectRefusal(device: "opencl:0") }

    /// `--layers 11,100000000,4` ends in one line with the numbers, not in the OOM killer: the plan
    /// is checked from the sizes, before the network is drawn or any buffer allocated.
    func expectRefusal(device: String) throws {
        let folder = try TestData.temporaryFolder()
        let data = folder + "/eleven.csv"
        try CSV.write(try TestData.classification(count: 20, inputs: 11, classes: 4, seed: 1), to: data)
        // Bounded, so that a plan that wrongly passes fails the test instead of training for minutes.
        let result = try CLI.run(
            ["-k", "5", "60", CLI.binary, "train", "--data", data, "--targets", "4", "--layers", "11,100000000,4", "--device", device],
            executable: "/usr/bin/timeout")
        #expect(result.status != 0 && result.status != 124, "exit \(result.status)")
        let line = result.stderr.trimmingCharacters(in: .newlines)
        #expect(line.hasPrefix("error: training needs ") && line.contains(" GiB on \(device)") && line.contains("which has ")
                && !line.contains("\n"), "\(line)")

    }
}
