import COpenCL
import Foundation

/// ICD loaders answer this (CL_PLATFORM_NOT_FOUND_KHR, from cl_ext.h) when no platform is installed.
let clPlatformNotFound: cl_int = -1001

/// One OpenCL device, as `bpnet devices` lists it. Entry `index` is what `opencl:N` names.
public struct OpenCLDeviceInfo: Sendable, Equatable, CustomStringConvertible {
    public let index: Int
    public let platform: String
    public let name: String
    /// "GPU", "CPU", "accelerator" or "other".
    public let type: String
    public let computeUnits: Int
    public let globalMemoryBytes: UInt64
    public let localMemoryBytes: UInt64
    public let maxWorkGroupSize: Int
    public let maxWorkItemSizes: [Int]
    /// e.g. "OpenCL C 1.2 pocl".
    public let openCLCVersion: String
    /// CL_DEVICE_MAX_MEM_ALLOC_SIZE: the largest single buffer; 0 when unknown.
    public var maxAllocationBytes: UInt64 = 0
    /// CL_DEVICE_VERSION, e.g. "OpenCL 3.0 PoCL 3.1", and CL_DRIVER_VERSION: what a bug report needs.
    public var deviceVersion = ""
    public var driverVersion = ""
    /// CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT: the floats one of the device's vector registers
    /// holds (16 with AVX-512, 8 with AVX2); 0 when unknown.
    public var nativeFloatVectorWidth = 0
    /// The `cl_device_id`, kept as bits so the value stays `Sendable`.
    let deviceBits: UInt

    public var isAccelerator: Bool { type == "GPU" || type == "accelerator" }
    var id: cl_device_id { cl_device_id(bitPattern: deviceBits)! }

    public var description: String {
        "\(name) [\(platform), \(type), \(computeUnits) compute units, "
            + "\(globalMemoryBytes >> 20) MiB global, \(localMemoryBytes >> 10) KiB local, \(openCLCVersion)]"
    }

    /// Every device of every platform, as one flat list. Empty when no platform is installed.
    public static func all() throws -> [OpenCLDeviceInfo] {
        var platformCount: cl_uint = 0
        let status = clGetPlatformIDs(0, nil, &platformCount)
        if status == clPlatformNotFound || platformCount == 0 { return [] }
        try clCheck(status, "clGetPlatformIDs")
        var platforms = [cl_platform_id?](repeating: nil, count: Int(platformCount))
        try clCheck(clGetPlatformIDs(platformCount, &platforms, nil), "clGetPlatformIDs")

        var devices: [OpenCLDeviceInfo] = []
        for platform in platforms.compactMap({ $0 }) {
            let platformName = try string { clGetPlatformInfo(platform, cl_platform_info(CL_PLATFORM_NAME), $0, $1, $2) }
            var count: cl_uint = 0
            let found = clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), 0, nil, &count)
            if found == CL_DEVICE_NOT_FOUND || count == 0 { continue }
            try clCheck(found, "clGetDeviceIDs")
            var ids = [cl_device_id?](repeating: nil, count: Int(count))
            try clCheck(clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), count, &ids, nil), "clGetDeviceIDs")
            for id in ids.compactMap({ $0 }) {
                func info<T>(_ parameter: Int32, _ initial: T) throws -> T {
                    var value = initial
                    let status = withUnsafeMutableBytes(of: &value) {
                        clGetDeviceInfo(id, cl_device_info(parameter), $0.count, $0.baseAddress, nil)
                    }
                    try clCheck(status, "clGetDeviceInfo")
                    return value
                }
                let typeBits: cl_device_type = try info(CL_DEVICE_TYPE, 0)
                let type =
                    typeBits & cl_device_type(CL_DEVICE_TYPE_GPU) != 0 ? "GPU"
                    : typeBits & cl_device_type(CL_DEVICE_TYPE_ACCELERATOR) != 0 ? "accelerator"
                    : typeBits & cl_device_type(CL_DEVICE_TYPE_CPU) != 0 ? "CPU" : "other"
                let dimensions: cl_uint = try info(CL_DEVICE_MAX_WORK_ITEM_DIMENSIONS, 0)
                var itemSizes = [Int](repeating: 0, count: Int(dimensions))
                try clCheck(
                    clGetDeviceInfo(
                        id, cl_device_info(CL_DEVICE_MAX_WORK_ITEM_SIZES), itemSizes.count * MemoryLayout<Int>.size,
                        &itemSizes, nil), "clGetDeviceInfo")
                devices.append(
                    OpenCLDeviceInfo(
                        index: devices.count, platform: platformName,
                        name: try string { clGetDeviceInfo(id, cl_device_info(CL_DEVICE_NAME), $0, $1, $2) },
                        type: type,
                        computeUnits: Int(try info(CL_DEVICE_MAX_COMPUTE_UNITS, cl_uint(0))),
                        globalMemoryBytes: try info(CL_DEVICE_GLOBAL_MEM_SIZE, cl_ulong(0)),
                        localMemoryBytes: try info(CL_DEVICE_LOCAL_MEM_SIZE, cl_ulong(0)),
                        maxWorkGroupSize: try info(CL_DEVICE_MAX_WORK_GROUP_SIZE, Int(0)),
                        maxWorkItemSizes: itemSizes,
                        openCLCVersion: try string {
                            clGetDeviceInfo(id, cl_device_info(CL_DEVICE_OPENCL_C_VERSION), $0, $1, $2)
                        },
                        maxAllocationBytes: try info(CL_DEVICE_MAX_MEM_ALLOC_SIZE, cl_ulong(0)),
                        deviceVersion: try string { clGetDeviceInfo(id, cl_device_info(CL_DEVICE_VERSION), $0, $1, $2) },
                        driverVersion: try string { clGetDeviceInfo(id, cl_device_info(CL_DRIVER_VERSION), $0, $1, $2) },
                        nativeFloatVectorWidth: Int(try info(CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, cl_uint(0))),
                        deviceBits: UInt(bitPattern: id)))
            }
        }
        return devices
    }

    /// The error for a machine without OpenCL devices, with what to install.
    static func noDevicesError() -> BPNetError {
        .device(
            "no OpenCL device found: no OpenCL platform (ICD) is installed or none has a device; "
                + "install pocl-opencl-icd for the CPU, or your GPU vendor's ICD "
                + "(nvidia-opencl-icd, mesa-opencl-icd, intel-opencl-icd), then check with 'clinfo -l'")
    }

    /// Reads a string property through the usual two-call size-then-value protocol.
    static func string(_ get: (Int, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int>?) -> cl_int) throws -> String {
        var size = 0
        try clCheck(get(0, nil, &size), "clGet*Info")
        var bytes = [CChar](repeating: 0, count: size + 1)
        try clCheck(get(size, &bytes, nil), "clGet*Info")
        let text = bytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: text, as: UTF8.self).trimmingCharacters(in: .whitespaces)
    }
}

