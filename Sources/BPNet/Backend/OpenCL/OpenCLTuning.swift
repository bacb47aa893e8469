import Foundation

/// Per-device values of the kernels' `#ifndef` tunables, chosen in this one place and
/// prepended to the program source as `#define`s.
struct OpenCLTuning: Equatable, Sendable {
    /// Rows and columns of C per work item in the tiled GEMM.
    var gemmTM: Int
    var gemmTN: Int
    /// Work-group shape of the GEMM kernels.
    var gemmLocal: (Int, Int)
    /// Work-group width of element-wise kernels.
    var elementLocal: Int
    /// Work-group size of the reduction (a power of two).
    var metricsGroup: Int

    static func == (a: Self, b: Self) -> Bool {
        a.gemmTM == b.gemmTM && a.gemmTN == b.gemmTN && a.gemmLocal == b.gemmLocal
            && a.elementLocal == b.elementLocal && a.metricsGroup == b.metricsGroup
    }

    /// CPU devices (PoCL) gain from wide register blocks and reject nothing; GPUs want many
    /// small items per group. Every size is clamped to the device's limits.
    init(for device: OpenCLDeviceInfo) {
        let maxGroup = max(device.maxWorkGroupSize, 1)
        let itemLimit = device.maxWorkItemSizes + [1, 1]
        if device.type == "CPU" {
            (gemmTM, gemmTN, gemmLocal) = (4, 8, (8, 4))
        } else {
            (gemmTM, gemmTN, gemmLocal) = (4, 4, (16, 16))
        }
        var (x, y) = (min(gemmLocal.0, itemLimit[0]), min(gemmLocal.1, itemLimit[1]))
        while x * y > maxGroup { if x >= y { x /= 2 } else { y /= 2 } }
        gemmLocal = (max(x, 1), max(y, 1))
        // BPNET_GEMM_TUNING=TM,TN,LOCAL_X,LOCAL_Y overrides the choice, for tuning sessions.
        if let text = ProcessInfo.processInfo.environment["BPNET_GEMM_TUNING"] {
            let values = text.split(separator: ",").compactMap { Int($0) }
            if values.count == 4, values.allSatisfy({ $0 > 0 }), values[2] * values[3] <= maxGroup {
                (gemmTM, gemmTN, gemmLocal) = (values[0], values[1], (values[2], values[3]))
            }
        }
        elementLocal = max(1, min(64, maxGroup, itemLimit[0]))
        var group = 1
        while group * 2 <= min(256, maxGroup, itemLimit[0]) { group *= 2 }
        metricsGroup = group
    }

    var defines: String {
        """
        #define GEMM_TM \(gemmTM)
        #define GEMM_TN \(gemmTN)
        #define METRICS_WG \(metricsGroup)

        """
    }
}
