import BPNet
import Foundation

/// `mpirun` for the distributed tests: Debian's Open MPI, as root, more ranks than cores.
public enum MPIRun {
    public static let path: String? = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// The MPI tests run where mpirun is installed, and always under CI=true, where a missing
    /// mpirun fails them.
    public static let enabled = ProcessInfo.processInfo.environment["CI"] == "true" || path != nil

    /// Runs `mpirun --allow-run-as-root --oversubscribe` with `arguments` under a time limit, so a
    /// hang fails the test instead of stalling the suite. The arguments name the program.
    public static func run(_ arguments: [String], seconds: Int = 180) throws -> CLI.Result {
        guard let path else { throw BPNetError.invalidArgument("mpirun is not installed, and CI=true requires it (make setup installs openmpi-bin)") }
        return try CLI.run(
            ["-k", "5", "\(seconds)", path, "--allow-run-as-root", "--oversubscribe"] + arguments, executable: "/usr/bin/timeout")
    }

    /// `bpnet train --distributed` on `ranks` processes.
    public static func train(ranks: Int, _ arguments: [String], seconds: Int = 180) throws -> CLI.Result {
        try run(["-np", "\(ranks)", CLI.binary, "train", "--distributed"] + arguments, seconds: seconds)
    }

    /// ‖a − b‖ / ‖b‖ over every parameter of two networks, in double precision.
    public static func relativeError(_ a: Network, _ b: Network) -> Double {
        var difference = 0.0, norm = 0.0
        for (x, y) in zip(a.layers, b.layers) {
            for (u, v) in zip(x.weights + x.biases, y.weights + y.biases) {
                difference += (Double(u) - Double(v)) * (Double(u) - Double(v))
                norm += Double(v) * Double(v)
            }
        }
        return (difference / max(norm, .leastNormalMagnitude)).squareRoot()
    }
}
