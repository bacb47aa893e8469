import BPNet
import BPNetTestSupport
import Foundation
import Testing

/// A run whose loss stops being finite ends with the epoch and batch named and a lower η
/// suggested, from the per-batch sums the backend already reduced (read once per epoch).
@Suite struct DivergenceGuardTests {
    static let data = try! TestData.classification(count: 37, inputs: 5, classes: 3, seed: 1)

    func run(on backend: any Backend) throws {
        var network = try Network(sizes: [5, 4, 3], activations: [.relu, .identity], seed: 1)
        try Trainer(TrainingOptions(epochs: 3, batchSize: 10, learningRate: 1e20)).train(&network, on: Self.data, backend: backend)
    }

    @Test func cpuRunStopsWithTheBatchNamed() throws {
        #expect(throws: BPNetError.diverged(epoch: 1, batch: 2, batches: 4, learningRate: 1e20)) { try run(on: CPUBackend()) }
        #expect(BPNetError.diverged(epoch: 1, batch: 2, batches: 4, learningRate: 1e20).description
            == "training diverged: the loss is not finite in epoch 1, batch 2 of 4; try a lower learning rate than η 1e+20")
    }

    @Test(.enabled(
        if: ProcessInfo.processInfo.environment["CI"] == "true" || !((try? OpenCLDeviceInfo.all()) ?? []).isEmpty,
        "no OpenCL device (install pocl-opencl-icd)"))
    func cliRunExitsNonZeroOnBothBackends() throws {
        let file = try TestData.temporaryFolder() + "/data.csv"
        try CSV.write(Self.data, to: file)
        // Quadratic, and log-likelihood, whose clamped logarithm must keep a NaN on the device too.
        let runs: [(arguments: [String], eta: String)] = [
            (["--activations", "relu,identity", "--learning-rate", "1e20"], "1e+20"),
            (["--activations", "relu,softmax", "--loss", "log-likelihood", "--learning-rate", "1e30"], "1e+30"),
        ]
        for device in ["cpu", "opencl:0"] {
            for (arguments, eta) in runs {
                let result = try CLI.run(
                    ["train", "--data", file, "--targets", "3", "--layers", "5,4,3", "--epochs", "3", "--device", device, "--json"]
                        + arguments)
                #expect(result.status != 0)
                #expect(
                    result.stderr.hasSuffix(
                        "error: training diverged: the loss is not finite in epoch 1, batch 2 of 4; try a lower learning rate than η \(eta)\n"),
                    "\(device) \(arguments): \(result.stderr)")
            }
        }
    }
}
