/// What `Verification.run` found on one device: every check, which kernels ran, and the device
/// facts a bug report needs. Its JSON is the report to attach to an issue.
public struct VerificationReport: Sendable, Encodable {
    public var device: OpenCLDeviceInfo
    public var families: [String]
    public var depth: String
    public var checks: [VerificationCheck]
    /// Kernels of the program that ran at least once, and those that never did.
    public var kernelsRun: [String]
    public var kernelsNotRun: [String]
    public var seconds: Double

    public var failures: [VerificationCheck] { checks.filter { !$0.passed } }
    public var passed: Bool { failures.isEmpty }

    enum CodingKeys: String, CodingKey {
        case device, name, platform, type, families, depth, checks, passed, seconds
        case driverVersion = "driver_version", deviceVersion = "device_version", openCLCVersion = "opencl_c_version"
        case kernelsRun = "kernels_run", kernelsNotRun = "kernels_not_run"
        case checksPassed = "checks_passed", checksFailed = "checks_failed"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("opencl:\(device.index)", forKey: .device)
        try container.encode(device.name, forKey: .name)
        try container.encode(device.platform, forKey: .platform)
        try container.encode(device.type, forKey: .type)
        try container.encode(device.driverVersion, forKey: .driverVersion)
        try container.encode(device.deviceVersion, forKey: .deviceVersion)
        try container.encode(device.openCLCVersion, forKey: .openCLCVersion)
        try container.encode(families, forKey: .families)
        try container.encode(depth, forKey: .depth)
        try container.encode(passed, forKey: .passed)
        try container.encode(checks.count - failures.count, forKey: .checksPassed)
        try container.encode(failures.count, forKey: .checksFailed)
        try container.encode(kernelsRun, forKey: .kernelsRun)
        try container.encode(kernelsNotRun, forKey: .kernelsNotRun)
        try container.encode(seconds, forKey: .seconds)
        try container.encode(checks, forKey: .checks)
    }
}
