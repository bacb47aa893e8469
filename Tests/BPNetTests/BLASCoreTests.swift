import BPNet
import BPNetTestSupport
import Foundation
import Testing

/// OpenBLAS's kernel set: an OpenBLAS older than the CPU falls back to its SSE3 kernels, and
/// BPNet replaces that fallback at load time with the set the CPU's instructions allow.
@Suite struct BLASCoreTests {
    /// OpenBLAS's fallbacks for CPUs it does not know: SSE3 or AVX kernels only.
    static let fallbacks: Set<String> = ["prescott", "core2", "penryn", "dunnington", "nehalem", "sandybridge"]

    static var cpuFlags: Set<Substring> {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let line = info.split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
        return Set(line.split(separator: " "))
    }

    static var userChoosesTheCore: Bool { ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] != nil }

    @Test(.enabled(
        if: !userChoosesTheCore && CPUBackend.blasConfiguration.contains("DYNAMIC_ARCH")
            && ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"].allSatisfy(cpuFlags.contains),
        "needs an AVX-512 CPU, a DYNAMIC_ARCH OpenBLAS and OPENBLAS_CORETYPE unset"))
    func anAVX512CPURunsAVX512Kernels() {
        #expect(!Self.fallbacks.contains(CPUBackend.blasCore.lowercased()), "OpenBLAS runs \(CPUBackend.blasCore)")
        if let replaced = CPUBackend.blasCoreReplaced {
            #expect(CPUBackend.blasCore == "SkylakeX")
            #expect(Self.fallbacks.contains(replaced.lowercased()))
        }
    }

    /// The user's OPENBLAS_CORETYPE is obeyed, the old fallback included, and `devices` says which
    /// set runs and why.
    @Test(.enabled(if: CPUBackend.blasConfiguration.contains("DYNAMIC_ARCH"), "needs a DYNAMIC_ARCH OpenBLAS"))
    func openBLASCoretypeIsObeyed() throws {
        let forced = try CLI.run(["devices", "--json"], environment: ["OPENBLAS_CORETYPE": "Prescott"])
        #expect(forced.status == 0)
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(forced.stdout.utf8)) as? [[String: Any]])
        let cpu = try #require(entries.first)
        #expect((cpu["blas"] as? String)?.contains("Prescott") == true, "\(cpu)")
        #expect(cpu["blas_core_replaced"] == nil)

        let chosen = try CLI.run(["devices"])
        #expect(chosen.status == 0)
        if let replaced = CPUBackend.blasCoreReplaced, !Self.userChoosesTheCore {
            #expect(chosen.stdout.contains("\(CPUBackend.blasCore) kernels: OpenBLAS chose \(replaced)"), "\(chosen.stdout)")
        }
    }
}
