import Foundation

/// Where the arithmetic runs.
public enum Device: Equatable, Sendable, CustomStringConvertible {
    /// An OpenCL GPU or accelerator when there is one, else the CPU backend.
    case auto
    /// The OpenBLAS backend.
    case cpu
    /// Entry `index` of `Device.openCLDevices()`, or with nil the first GPU or accelerator,
    /// else the first OpenCL device.
    case opencl(index: Int?)

    /// `auto`, `cpu`, `opencl` or `opencl:N`.
    public init(parsing text: String) throws {
        switch text {
        case "auto": self = .auto
        case "cpu": self = .cpu
        case "opencl": self = .opencl(index: nil)
        default:
            if text.hasPrefix("opencl:"), let index = Int(text.dropFirst(7)), index >= 0 {
                self = .opencl(index: index)
            } else {
                throw BPNetError.invalidArgument("unknown device '\(text)' (expected auto, cpu, opencl or opencl:N)")
            }
        }
    }

    public var description: String {
        switch self {
        case .auto: return "auto"
        case .cpu: return "cpu"
        case .opencl(nil): return "opencl"
        case .opencl(let index?): return "opencl:\(index)"
        }
    }

    /// The device of the process with rank `localRank` among those on this machine: `opencl`,
    /// and `auto` where there is an OpenCL GPU or accelerator, take the machine's devices in turn
    /// (local rank mod their count, accelerators only when there are any); any other device is
    /// the same for every process.
    public func forLocalRank(_ localRank: Int) throws -> Device {
        switch self {
        case .cpu, .opencl(index: .some): return self
        case .auto, .opencl(index: nil):
            let devices = (try? OpenCLDeviceInfo.all()) ?? []
            let accelerators = devices.filter(\.isAccelerator)
            if case .auto = self, accelerators.isEmpty { return .cpu }
            let candidates = accelerators.isEmpty ? devices : accelerators
            guard !candidates.isEmpty else { throw OpenCLDeviceInfo.noDevicesError() }
            let chosen = candidates[localRank % candidates.count]
            return .opencl(index: devices.firstIndex { $0.id == chosen.id })
        }
    }

    /// `BPNET_DEVICE` when set, else `auto`.
    public static func fromEnvironment() throws -> Device {
        guard let text = ProcessInfo.processInfo.environment["BPNET_DEVICE"], !text.isEmpty else { return .auto }
        do {
            return try Device(parsing: text)
        } catch {
            throw BPNetError.invalidArgument("BPNET_DEVICE: unknown device '\(text)' (expected auto, cpu, opencl or opencl:N)")
        }
    }

    /// The backend for this device. OpenCL backends are shared per device within a process.
    public func makeBackend() throws -> any Backend {
        switch self {
        case .cpu:
            return CPUBackend()
        case .auto:
            if let accelerator = (try? OpenCLDeviceInfo.all())?.first(where: { $0.isAccelerator }) {
                return try OpenCLBackend.shared(accelerator)
            }
            return CPUBackend()
        case .opencl(let index):
            let devices = try OpenCLDeviceInfo.all()
            guard !devices.isEmpty else { throw OpenCLDeviceInfo.noDevicesError() }
            if let index {
                guard index < devices.count else {
                    throw BPNetError.device(
                        "opencl:\(index) is out of range: there \(devices.count == 1 ? "is" : "are") \(counted(devices.count, "OpenCL device")) "
                            + (devices.count == 1 ? "(opencl:0); " : "(opencl:0 … opencl:\(devices.count - 1)); ")
                            + "see 'bpnet devices'")
                }
                return try OpenCLBackend.shared(devices[index])
            }
            return try OpenCLBackend.shared(devices.first(where: { $0.isAccelerator }) ?? devices[0])
        }
    }
}
