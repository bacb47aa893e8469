import BPNet
import BPNetTestSupport
import Foundation
import Testing

/// Debian's `oclgrind`, where it is installed.
let oclgrindPath: String? = ["/usr/bin/oclgrind", "/usr/local/bin/oclgrind"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}

/// Every kernel under Oclgrind, a simulator that presents itself as a GPU (so the tuned path runs
/// the register-blocked family with GPU work-group sizes) and checks each access: out of bounds,
/// data races, reads of uninitialized memory and misuse of the API. Any diagnostic fails.
/// Under CI=true a missing oclgrind fails instead of skipping.
@Suite(.enabled(
    if: ProcessInfo.processInfo.environment["CI"] == "true" || oclgrindPath != nil,
    "oclgrind is not installed (apt-get install oclgrind)"))
struct OclgrindTests {
    /// `bpnet arguments` under every Oclgrind check, and what Oclgrind reported.
    func underOclgrind(_ arguments: [String]) throws -> (result: CLI.Result, diagnostics: String) {
        let oclgrind = try #require(oclgrindPath, "oclgrind is not installed, and CI=true requires it (make setup installs it)")
        let log = try TestData.temporaryFolder() + "/oclgrind.log"
        let result = try CLI.run(
            ["--data-races", "--uninitialized", "--check-api", "--log", log, CLI.binary] + arguments, executable: oclgrind)
        let diagnostics = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return (result, diagnostics)
    }

    /// `bpnet verify --quick` on the simulator: GEMM in all transpose cases on odd shapes for every
    /// family, the fused epilogues, the gather, metrics and update kernels, and short training runs
    /// with both costs, λ and μ, each compared with the CPU backend at the PoCL suite's tolerances.
    @Test func everyKernelRunsCleanAndMatchesTheCPU() throws {
        let (result, diagnostics) = try underOclgrind(["verify", "--quick", "--device", "opencl:0", "--json"])
        #expect(diagnostics.isEmpty, "Oclgrind reported:\n\(diagnostics.prefix(4_000))")
        #expect(result.status == 0, "\(result.stderr)")
        let output = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let report = try #require((output["devices"] as? [[String: Any]])?.first)
        #expect(report["type"] as? String == "GPU" && (report["name"] as? String ?? "").contains("Oclgrind"))
        #expect(report["families"] as? [String] == GEMMFamily.allCases.map(\.rawValue))
        #expect(report["kernels_not_run"] as? [String] == [], "every kernel of the program must run")
        let checks = try #require(report["checks"] as? [[String: Any]])
        #expect(checks.count > 100)
        for check in checks where check["passed"] as? Bool != true {
            Issue.record("failed under Oclgrind: \(check)")
        }
    }

    /// A whole `bpnet train` run on the simulator, with a test set, partial batches and λ (and μ
    /// with SGD); the log-likelihood run takes softmax, Adam, dropout and a cosine schedule.
    @Test(arguments: Loss.allCases)
    func trainingRunsClean(loss: Loss) throws {
        let folder = try TestData.temporaryFolder()
        try CSV.write(try TestData.classification(count: 37, inputs: 5, classes: 3, seed: 1), to: folder + "/train.csv")
        try CSV.write(try TestData.classification(count: 11, inputs: 5, classes: 3, seed: 2), to: folder + "/test.csv")
        let (result, diagnostics) = try underOclgrind([
            "train", "--data", folder + "/train.csv", "--test", folder + "/test.csv", "--layers", "5,7,3",
            "--epochs", "2", "--batch-size", "8", "--loss", loss.rawValue, "--l2", "0.5",
            "--device", "opencl:0", "--json",
        ] + (loss == .logLikelihood
            // The model past Nielsen's: softmax, Adam's unfused gradient path, dropout, a schedule.
            ? ["--activations", "tanh,softmax", "--optimizer", "adam", "--dropout", "0.2", "--schedule", "cosine"]
            : ["--momentum", "0.5"]))
        #expect(diagnostics.isEmpty, "Oclgrind reported:\n\(diagnostics.prefix(4_000))")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdoutLines.count == 2, "one JSON line per epoch")
    }
}
