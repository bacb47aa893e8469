import Foundation

/// Runs the built `bpnet` binary, as a user would.
public struct CLI {
    public struct Result {
        public var status: Int32
        public var stdout: String
        public var stderr: String
        public var stdoutLines: [String] { stdout.split(separator: "\n").map(String.init) }
        /// `train`'s table: its lines from the epoch header on, after the model's summary.
        public var tableLines: [String] { Array(stdoutLines.drop { !$0.hasPrefix("epoch ") }) }
    }

    /// `bpnet` sits beside the test bundle in the build folder.
    public static let binary: String = {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var folder = executable.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = folder.appendingPathComponent("bpnet").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            folder = folder.deletingLastPathComponent()
        }
        return "bpnet-not-built"
    }()

    /// Runs `bpnet` with `arguments`, or with `executable` given, that program (such as a checker
    /// that runs `bpnet` itself), in `currentDirectory` when it is given.
    public static func run(
        _ arguments: [String], environment: [String: String] = [:], executable: String? = nil, currentDirectory: String? = nil
    ) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable ?? binary)
        process.arguments = arguments
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }
}

