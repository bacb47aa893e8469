import ArgumentParser
import BPNet
import Foundation

struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the backends: the CPU, then every OpenCL device of every platform as opencl:N.")

    @OptionGroup var output: OutputOptions

    func run() throws {
        var openCL: [OpenCLDeviceInfo] = []
        var problem: String?
        do {
            openCL = try OpenCLDeviceInfo.all()
        } catch {
            problem = "\(error)"
        }
        if output.json {
            var entries: [Entry] = [
                Entry(
                    device: "cpu", name: "OpenBLAS", blas: CPUBackend.blasConfiguration, blasCoreReplaced: CPUBackend.blasCoreReplaced,
                    threads: CPUBackend.blasThreads)
            ]
            for d in openCL {
                entries.append(Entry(
                    device: "opencl:\(d.index)", platform: d.platform, name: d.name, type: d.type, computeUnits: d.computeUnits,
                    globalMemoryBytes: d.globalMemoryBytes, localMemoryBytes: d.localMemoryBytes,
                    maxWorkGroupSize: d.maxWorkGroupSize, openclCVersion: d.openCLCVersion))
            }
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = .sortedKeys
            print(String(decoding: try encoder.encode(entries), as: UTF8.self))
        } else {
            print("cpu       OpenBLAS \(CPUBackend.blasConfiguration), \(counted(CPUBackend.blasThreads, "thread"))")
            if let replaced = CPUBackend.blasCoreReplaced {
                print("          (\(CPUBackend.blasCore) kernels: OpenBLAS chose \(replaced), which leaves this CPU's vector units idle; "
                      + "OPENBLAS_CORETYPE=\(replaced) keeps its choice)")
            }
            for d in openCL { print("opencl:\(d.index)  \(d)") }
            if openCL.isEmpty {
                print("(no OpenCL devices: install pocl-opencl-icd, or your GPU vendor's OpenCL ICD)")
            }
        }
        if let problem { note("warning: OpenCL discovery failed: \(problem)") }
    }

    /// One line of `--json`: the CPU's fields or an OpenCL device's; absent ones are left out.
    private struct Entry: Encodable {
        var device: String
        var platform: String?
        var name: String
        var blas: String?
        var blasCoreReplaced: String?
        var threads: Int?
        var type: String?
        var computeUnits: Int?
        var globalMemoryBytes, localMemoryBytes: UInt64?
        var maxWorkGroupSize: Int?
        var openclCVersion: String?
    }
}
