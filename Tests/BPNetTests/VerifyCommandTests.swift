import BPNet
import BPNetTestSupport
import Foundation
import Testing

/// `bpnet verify` as a user runs it. It launches its own process, so it may run beside the
/// serialized in-process OpenCL suite.
@Suite(.enabled(
    if: ProcessInfo.processInfo.environment["CI"] == "true" || !((try? OpenCLDeviceInfo.all()) ?? []).isEmpty,
    "no OpenCL device (install pocl-opencl-icd)"))
struct VerifyCommandTests {
    @Test func quickRunPassesOnTheFirstDevice() throws {
        let result = try CLI.run(["verify", "--quick", "--device", "opencl:0"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdoutLines
        #expect(lines.first?.hasPrefix("verifying opencl:0 ") == true)
        let checks = lines.filter { $0.hasSuffix("  pass") || $0.contains("  FAIL") }
        #expect(checks.count > 100 && checks.allSatisfy { $0.hasSuffix("  pass") })
        let summary = try #require(lines.first { $0.hasPrefix("summary: opencl:0 ") })
        #expect(summary.contains("\(checks.count) of \(checks.count) checks within tolerance"))
    }

    /// A kernel broken on purpose, through BPNET_KERNELS (the kernel-development override): the
    /// bias update adds twice its step. Verification names the checks that catch it and fails.
    @Test func brokenKernelFailsWithTheCheckNamed() throws {
        let kernels = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Kernels").standardized
        let folder = try TestData.temporaryFolder()
        for name in try FileManager.default.contentsOfDirectory(atPath: kernels.path) where name.hasSuffix(".cl") {
            var source = try String(contentsOf: kernels.appendingPathComponent(name), encoding: .utf8)
            if name == "optimizer.cl" {
                #expect(source.contains("bias[j] += v;"))
                source = source.replacingOccurrences(of: "bias[j] += v;", with: "bias[j] += 2.0f * v;")
            }
            try source.write(toFile: folder + "/" + name, atomically: true, encoding: .utf8)
        }
        let result = try CLI.run(
            ["verify", "--quick", "--device", "opencl:0", "--family", "vector", "--json"], environment: ["BPNET_KERNELS": folder])
        #expect(result.status != 0)
        let stderr = result.stderr.split(separator: "\n")
        #expect(stderr.count == 1 && stderr[0].hasPrefix("error: verification failed: "), "\(result.stderr)")
        #expect(stderr.first?.contains("layer vector sigmoid quadratic 1×1→1→1") == true, "the first failing check is named")
        let output = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(output["passed"] as? Bool == false)
        let checks = try #require((output["devices"] as? [[String: Any]])?.first?["checks"] as? [[String: Any]])
        let failed = checks.filter { $0["passed"] as? Bool == false }
        // Only checks that run the bias update can fail: one layer's ops, whole runs and steps.
        let names = failed.compactMap { $0["name"] as? String }
        #expect(!names.isEmpty && names.allSatisfy { ["layer ", "training ", "steps "].contains(where: $0.hasPrefix) }, "\(names)")
        #expect(checks.contains { ($0["name"] as? String ?? "").hasPrefix("gemm ") && $0["passed"] as? Bool == true })
        #expect(failed.contains { ($0["detail"] as? String ?? "").contains("bias") }, "the worst output is the bias")
    }

    @Test func badOptionsAreOneLineErrors() throws {
        for (arguments, message) in [
            (["verify", "--family", "tiled"], "--family 'tiled' is not a GEMM family (expected all, register-blocked, vector, naive)"),
            (["verify", "--device", "cpu"], "--device 'cpu': verify checks an OpenCL device against the CPU (expected opencl:N, opencl or all)"),
            (["verify", "--device", "opencl:99", "--quick"], "opencl:99 is out of range"),
        ] {
            let result = try CLI.run(arguments)
            #expect(result.status != 0)
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].contains(message), "\(arguments): \(result.stderr)")
        }
    }
}
