import Foundation

/// Per-device values of the kernels' `#ifndef` tunables, chosen in this one place and
/// prepended to the program source as `#define`s.
struct OpenCLTuning: Sendable {
    /// Which GEMM kernels run on this device unless a backend asks for others.
    var family: GEMMFamily
    /// Register-blocked kernels (`gemm_blocked_*`): rows and columns of C per work item, work group.
    var blockedTM = 4
    var blockedTN = 4
    var blockedLocal = (16, 16)
    /// Vector kernels (`gemm_rowvec_*`, `gemm_dot_nt`): vector lanes, rows per item of the
    /// row-vector kernels, the dot kernel's block, and their work group.
    var vectorLanes = 16
    var rowVectorRows = 4
    var rowVectorColumns = 1
    var dotRows = 4
    var dotColumns = 4
    var vectorLocal = (4, 4)
    /// Work-group width of element-wise kernels.
    var elementLocal = 64
    /// Floats each work item of `gather_rows` copies.
    var gatherSpan = 1
    /// Work-group size of the reduction (a power of two).
    var metricsGroup = 64

    /// CPU devices (PoCL) take the explicit-vector kernels, whose lanes map onto SIMD registers;
    /// GPUs take the register-blocked kernels with many items per group. Measured with
    /// `bpnet bench` on PoCL 3.1 (Zen 5, AVX-512): see the README's Performance section.
    ///
    /// Two variables override the choice, for tests and tuning sessions:
    /// - `BPNET_OPENCL_FAMILY=register-blocked|vector|naive` forces the device's GEMM family;
    /// - `BPNET_GEMM_TUNING="VW=8,VM=8,VLX=4"` and so on sets single values (see `settingNames`).
    init(for device: OpenCLDeviceInfo, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        if device.type == "CPU" {
            family = .vector
            (rowVectorRows, rowVectorColumns, dotRows, dotColumns, vectorLocal) = (8, 2, 8, 2, (1, 1))
            gatherSpan = 64  // a CPU item copies a run; on a GPU neighbouring items copy neighbouring floats
            (blockedTM, blockedTN, blockedLocal) = (4, 8, (8, 4))
        } else {
            family = .registerBlocked
            vectorLanes = 4
        }
        if let name = environment["BPNET_OPENCL_FAMILY"], !name.isEmpty {
            guard let forced = GEMMFamily(rawValue: name) else {
                throw BPNetError.invalidArgument(
                    "BPNET_OPENCL_FAMILY: unknown GEMM family '\(name)' (expected "
                        + GEMMFamily.allCases.map(\.rawValue).joined(separator: ", ") + ")")
            }
            family = forced
        }
        for setting in (environment["BPNET_GEMM_TUNING"] ?? "").split(separator: ",") {
            try apply(setting: String(setting))
        }
        let limits = Limits(device)
        blockedLocal = limits.fit(blockedLocal)
        vectorLocal = limits.fit(vectorLocal)
        elementLocal = max(1, min(elementLocal, limits.maxGroup, limits.items[0]))
        var group = 1
        while group * 2 <= min(256, limits.maxGroup, limits.items[0]) { group *= 2 }
        metricsGroup = group
    }

    /// The keys `BPNET_GEMM_TUNING` accepts, in the order the README lists them.
    static let settingNames = ["TM", "TN", "TLX", "TLY", "VW", "VM", "VC", "DM", "DN", "VLX", "VLY"]

    /// One `KEY=VALUE` of `BPNET_GEMM_TUNING`; a typo is an error, never a silent default.
    private mutating func apply(setting: String) throws {
        let parts = setting.split(separator: "=", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard parts.count == 2, Self.settingNames.contains(parts[0]) else {
            throw BPNetError.invalidArgument(
                "BPNET_GEMM_TUNING: unknown setting '\(setting)' (expected KEY=VALUE with KEY one of "
                    + Self.settingNames.joined(separator: ", ") + ")")
        }
        guard let value = Int(parts[1]), value > 0, parts[0] != "VW" || [2, 4, 8, 16].contains(value) else {
            // OpenCL C has float2 … float16 but no float1.
            let expected = parts[0] == "VW" ? "2, 4, 8 or 16" : "a positive integer"
            throw BPNetError.invalidArgument("BPNET_GEMM_TUNING: \(parts[0])=\(parts[1]) is not \(expected)")
        }
        switch parts[0] {
        case "TM": blockedTM = value
        case "TN": blockedTN = value
        case "TLX": blockedLocal.0 = value
        case "TLY": blockedLocal.1 = value
        case "VW": vectorLanes = value
        case "VM": rowVectorRows = value
        case "VC": rowVectorColumns = value
        case "DM": dotRows = value
        case "DN": dotColumns = value
        case "VLX": vectorLocal.0 = value
        default: vectorLocal.1 = value  // VLY, the last of settingNames
        }
    }

    /// The device's work-group limits; every local size is shrunk to fit them.
    private struct Limits {
        let maxGroup: Int
        let items: [Int]

        init(_ device: OpenCLDeviceInfo) {
            maxGroup = max(device.maxWorkGroupSize, 1)
            items = device.maxWorkItemSizes.map { max($0, 1) } + [1, 1]
        }

        func fit(_ local: (Int, Int)) -> (Int, Int) {
            var (x, y) = (min(local.0, items[0]), min(local.1, items[1]))
            while x * y > maxGroup { if x >= y { x /= 2 } else { y /= 2 } }
            return (max(x, 1), max(y, 1))
        }
    }

    var defines: String {
        KernelConstants.defines + """
        #define GEMM_TM \(blockedTM)
        #define GEMM_TN \(blockedTN)
        #define GEMM_VW \(vectorLanes)
        #define GEMM_VM \(rowVectorRows)
        #define GEMM_VC \(rowVectorColumns)
        #define GEMM_DM \(dotRows)
        #define GEMM_DN \(dotColumns)
        #define METRICS_WG \(metricsGroup)
        #define GATHER_SPAN \(gatherSpan)

        """
    }
}
