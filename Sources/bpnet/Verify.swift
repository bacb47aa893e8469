import ArgumentParser
import BPNet
import Foundation

/// `bpnet verify`: the parity suite of the tests, run on the user's own OpenCL devices.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that an OpenCL device computes what the CPU backend computes.",
        discussion: """
            Runs every kernel at odd shapes and partial batches, in all transpose cases, with every \
            epilogue and loss, then short whole training runs, against the CPU backend (and float64 \
            where it applies), and checks that the same seed gives the same bits. One line per check: \
            its name, the relative-error norm, the tolerance, pass or FAIL. Exits non-zero when any \
            check fails; the --json output is the bug report to attach.
            """)

    @Option(help: "opencl:N, opencl (the first GPU, else the first device) or all (see 'bpnet devices').")
    var device = "all"

    @Option(help: "GEMM families to check: all, register-blocked, vector or naive.")
    var family = "all"

    @Flag(help: "Small shapes only: seconds on PoCL, and small enough for a simulator such as Oclgrind.")
    var quick = false

    @OptionGroup var output: OutputOptions

    var families: [GEMMFamily] {
        get throws {
            if family == "all" { return GEMMFamily.allCases }
            guard let chosen = GEMMFamily(rawValue: family) else {
                throw ValidationError(
                    "--family '\(family)' is not a GEMM family (expected all, "
                        + GEMMFamily.allCases.map(\.rawValue).joined(separator: ", ") + ")")
            }
            return [chosen]
        }
    }

    func validate() throws {
        _ = try families
        if device != "all" {
            guard case .opencl = try Device(parsing: device) else {
                throw ValidationError("--device '\(device)': verify checks an OpenCL device against the CPU (expected opencl:N, opencl or all)")
            }
        }
    }

    func run() throws {
        let backends: [OpenCLBackend]
        if device == "all" {
            let devices = try OpenCLDeviceInfo.all()
            guard !devices.isEmpty else { throw BPNetError.device("no OpenCL device found to verify; see 'bpnet devices'") }
            backends = try devices.map { try OpenCLBackend.shared($0) }
        } else {
            guard let backend = try Device(parsing: device).makeBackend() as? OpenCLBackend else {
                throw BPNetError.device("\(device) is not an OpenCL device")
            }
            backends = [backend]
        }
        var reports: [VerificationReport] = []
        for backend in backends {
            if !output.json { say("verifying \(backend.description), driver \(backend.device.driverVersion)") }
            let report = Verification.run(on: backend, families: try families, depth: quick ? .quick : .full) { check in
                if !output.json { say(check.description) }
            }
            reports.append(report)
            if !output.json { printSummary(report) }
        }
        if output.json {
            struct Output: Encodable { var passed: Bool; var devices: [VerificationReport] }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let data = try encoder.encode(Output(passed: reports.allSatisfy(\.passed), devices: reports))
            print(String(decoding: data, as: UTF8.self))
        }
        let failed = reports.filter { !$0.passed }
        if !failed.isEmpty {
            let names = failed.flatMap(\.failures).prefix(3).map(\.name).joined(separator: "; ")
            let count = failed.map(\.failures.count).reduce(0, +)
            throw BPNetError.device(
                "verification failed: \(counted(count, "check")) (\(names)\(count > 3 ? "; …" : "")); "
                    + "please report it with the output of 'bpnet verify --json' attached")
        }
    }

    private func printSummary(_ report: VerificationReport) {
        let d = report.device
        say(
            "summary: opencl:\(d.index) \(d.name) (\(d.platform), \(d.type)); driver \(d.driverVersion); \(d.deviceVersion); "
                + "\(d.openCLCVersion): \(report.checks.count - report.failures.count) of \(report.checks.count) checks "
                + "within tolerance in \(String(format: "%.1f", report.seconds)) s")
        if !report.kernelsNotRun.isEmpty {
            say("kernels not run with --family \(family): \(report.kernelsNotRun.joined(separator: ", "))")
        }
    }
}

/// One line to stdout at once, unbuffered: each check's line shows as it ends, even in a pipe or a CI log.
private func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
