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
    /// Channels each work item of the NHWC image kernels (Kernels/image.cl) loops over; a kernel
    /// argument, since the tests run several spans in one context.
    var channelSpan = 1
    /// Work-group size of the reduction (a power of two).
    var metricsGroup = 64

    /// The vector family's shape on a CPU device: float lanes per vector (VW), rows and vector
    /// columns of C per row-vector work item (VM, VC), and the dot kernel's block (DM × DN).
    struct CPUVectorShape: Equatable, Sendable {
        var lanes, rows, columns, dotRows, dotColumns: Int

        /// The same values as `BPNET_GEMM_TUNING` sets them.
        var setting: String { "VW=\(lanes),VM=\(rows),VC=\(columns),DM=\(dotRows),DN=\(dotColumns)" }
    }

    /// A CPU device's shape, by the float vector width it reports, widest first; the first whose
    /// width the device reaches is taken. The shapes hold a block of C in registers: with 32
    /// registers of 16 floats (AVX-512) 8 rows × 2 vectors; with 16 registers of 8 floats (AVX2)
    /// 4 rows × 2 vectors.
    /// - 16: measured with `bpnet bench` on PoCL 3.1 (Zen 4, Zen 5 and Emerald Rapids, AVX-512),
    ///   where it stays ahead of the 8-lane shape (C's products 119–147 against 71–129 GFLOP/s).
    /// - 8: measured by issue 18's report on an AMD EPYC with AVX2 alone (PoCL's haswell target):
    ///   65–92 % of OpenBLAS at configs B's and C's forward products, against 36–40 % with the
    ///   AVX-512 shape. (POCL_LLVM_CPU_NAME=haswell on an AVX-512 host left PoCL's device an
    ///   AVX-512 one, so that could not be measured again there.)
    /// - 4 (SSE, NEON): not measured; the AVX2 shape's block at half the width.
    static let cpuVectorShapes: [(minimumWidth: Int, shape: CPUVectorShape)] = [
        (16, CPUVectorShape(lanes: 16, rows: 8, columns: 2, dotRows: 8, dotColumns: 2)),
        (8, CPUVectorShape(lanes: 8, rows: 4, columns: 2, dotRows: 4, dotColumns: 2)),
        (0, CPUVectorShape(lanes: 4, rows: 4, columns: 2, dotRows: 4, dotColumns: 2)),
    ]

    static func cpuVectorShape(forWidth width: Int) -> CPUVectorShape {
        cpuVectorShapes.first { width >= $0.minimumWidth }!.shape
    }

    /// CPU devices (PoCL, Intel's CPU runtime) take the explicit-vector kernels, whose lanes map
    /// onto SIMD registers, in the shape of the device's vector width (`cpuVectorShapes`); GPUs
    /// take the register-blocked kernels with many items per group. See docs/performance.md.
    ///
    /// Two variables override the choice, for tests and tuning sessions:
    /// - `BPNET_OPENCL_FAMILY=register-blocked|vector|naive` forces the device's GEMM family;
    /// - `BPNET_GEMM_TUNING="VW=8,VM=8,VLX=4"` and so on sets single values (see `settingNames`).
    init(for device: OpenCLDeviceInfo, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let limits = Limits(device)
        self.limits = limits
        if device.type == "CPU" {
            family = .vector
            let shape = Self.cpuVectorShape(forWidth: device.nativeFloatVectorWidth)
            (vectorLanes, rowVectorRows, rowVectorColumns, dotRows, dotColumns) =
                (shape.lanes, shape.rows, shape.columns, shape.dotRows, shape.dotColumns)
            vectorLocal = (1, 1)
            gatherSpan = 64  // a CPU item copies a run; on a GPU neighbouring items copy neighbouring floats
            // A CPU item loops over a pixel's channels, which the driver vectorizes: on PoCL 3.1
            // (Zen 4) max pooling's backward pass ran 32× faster than with an item per element.
            channelSpan = 64
            (blockedTM, blockedTN, blockedLocal) = (4, 8, (8, 4))
        } else {
            family = .registerBlocked
            vectorLanes = 4
        }
        family = try Self.forcedFamily(environment) ?? family
        for setting in (environment["BPNET_GEMM_TUNING"] ?? "").split(separator: ",") {
            try apply(setting: String(setting))
        }
        blockedLocal = limits.fit(blockedLocal)
        vectorLocal = limits.fit(vectorLocal)
        elementLocal = max(1, min(elementLocal, limits.maxGroup, limits.items[0]))
        var group = 1
        while group * 2 <= min(256, limits.maxGroup, limits.items[0]) { group *= 2 }
        metricsGroup = group
    }

    /// The family `BPNET_OPENCL_FAMILY` forces, if it is set; any other value is an error.
    static func forcedFamily(_ environment: [String: String]) throws -> GEMMFamily? {
        guard let name = environment["BPNET_OPENCL_FAMILY"], !name.isEmpty else { return nil }
        guard let forced = GEMMFamily(rawValue: name) else {
            throw BPNetError.invalidArgument(
                "BPNET_OPENCL_FAMILY: unknown GEMM family '\(name)' (expected "
                    + GEMMFamily.allCases.map(\.rawValue).joined(separator: ", ") + ")")
        }
        return forced
    }

    /// Checks `BPNET_OPENCL_FAMILY` and `BPNET_GEMM_TUNING` without a device, so that a typo is
    /// an error for every command, a CPU run's included, not only once a device is opened.
    static func checkEnvironment(_ environment: [String: String]) throws {
        _ = try forcedFamily(environment)
        var scratch = OpenCLTuning(family: .vector)
        for setting in (environment["BPNET_GEMM_TUNING"] ?? "").split(separator: ",") {
            try scratch.apply(setting: String(setting))
        }
    }

    private init(family: GEMMFamily) {
        self.family = family
        limits = Limits(maxGroup: 1, items: [1, 1, 1])
    }

    /// The device's limits, for the local sizes chosen per launch (the image kernels' channel runs).
    let limits: Limits

    /// The keys `BPNET_GEMM_TUNING` accepts, in the order docs/backends-and-kernels.md lists them.
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
    struct Limits: Sendable {
        let maxGroup: Int
        let items: [Int]

        init(_ device: OpenCLDeviceInfo) {
            maxGroup = max(device.maxWorkGroupSize, 1)
            items = device.maxWorkItemSizes.map { max($0, 1) } + [1, 1]
        }

        init(maxGroup: Int, items: [Int]) { (self.maxGroup, self.items) = (maxGroup, items) }

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
