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
            var entries = [
                "{\"device\":\"cpu\",\"name\":\"OpenBLAS\",\"blas\":\"\(CPUBackend.blasConfiguration)\",\"threads\":\(CPUBackend.blasThreads)}"
            ]
            for d in openCL {
                entries.append(
                    "{\"device\":\"opencl:\(d.index)\",\"platform\":\(quoted(d.platform)),\"name\":\(quoted(d.name)),"
                        + "\"type\":\"\(d.type)\",\"compute_units\":\(d.computeUnits),"
                        + "\"global_memory_bytes\":\(d.globalMemoryBytes),\"local_memory_bytes\":\(d.localMemoryBytes),"
                        + "\"max_work_group_size\":\(d.maxWorkGroupSize),\"opencl_c_version\":\(quoted(d.openCLCVersion))}")
            }
            print("[" + entries.joined(separator: ",") + "]")
        } else {
            print("cpu       OpenBLAS \(CPUBackend.blasConfiguration), \(CPUBackend.blasThreads) threads")
            for d in openCL { print("opencl:\(d.index)  \(d)") }
            if openCL.isEmpty {
                print("(no OpenCL devices: install pocl-opencl-icd, or your GPU vendor's OpenCL ICD)")
            }
        }
        if let problem { note("warning: OpenCL discovery failed: \(problem)") }
    }

    private func quoted(_ text: String) -> String {
        let data = try? JSONSerialization.data(withJSONObject: [text], options: [])
        let array = data.flatMap { String(data: $0, encoding: .utf8) } ?? "[\"\"]"
        return String(array.dropFirst().dropLast())
    }
}
