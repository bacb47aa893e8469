import Foundation

/// Compiled OpenCL programs kept on disk, so that a process does not compile the kernels again.
/// Intel's CPU runtime takes about a minute for BPNet's program (measured: 62 s on a 2-core AMD
/// EPYC, every `bpnet train`), PoCL a few seconds.
///
/// The key hashes everything a binary depends on: the program's source (with its tuning
/// defines), the build options, and the device, platform, device version and driver version. A
/// file holds a magic, the binary's length and checksum, then the binary; one that fails those
/// checks, or that the driver refuses, is ignored and replaced by a fresh build, so a torn or
/// stale file costs one compile and never a wrong kernel.
///
/// The folder is `$BPNET_KERNEL_CACHE`, else `$XDG_CACHE_HOME/bpnet/kernels`, else
/// `~/.cache/bpnet/kernels`; `BPNET_KERNEL_CACHE=off` turns the cache off.
enum KernelBinaryCache {
    static let magic = Array("BPNETKB1".utf8)

    /// The folder, or nil when the cache is off or no home folder is known.
    static func folder(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let chosen = environment["BPNET_KERNEL_CACHE"], !chosen.isEmpty { return chosen == "off" ? nil : chosen }
        if let cache = environment["XDG_CACHE_HOME"], !cache.isEmpty { return cache + "/bpnet/kernels" }
        if let home = environment["HOME"], !home.isEmpty { return home + "/.cache/bpnet/kernels" }
        return nil
    }

    /// 128 bits, as two FNV-1a hashes with different offsets, in hex: a file name.
    static func key(source: String, options: String, device: OpenCLDeviceInfo) -> String {
        // The vector width too: a CPU device's name is the CPU's brand, which a virtual machine
        // with AVX-512 masked shares with one that has it.
        let parts = [
            source, options, device.name, device.platform, device.deviceVersion, device.driverVersion, device.openCLCVersion,
            "\(device.nativeFloatVectorWidth)",
        ]
        let bytes = Array(parts.joined(separator: "\u{0}").utf8)
        return String(format: "%016llx%016llx", fnv1a(bytes, offset: 0xcbf2_9ce4_8422_2325), fnv1a(bytes, offset: 0x8422_2325_cbf2_9ce4))
    }

    static func fnv1a(_ bytes: [UInt8], offset: UInt64) -> UInt64 {
        bytes.reduce(offset) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }

    static func path(_ key: String, in folder: String) -> String { (folder as NSString).appendingPathComponent(key + ".bin") }

    /// The binary stored under `key`, or nil when there is none or the file does not hold together.
    static func load(_ key: String, from folder: String) -> [UInt8]? {
        guard let data = FileManager.default.contents(atPath: path(key, in: folder)) else { return nil }
        let bytes = [UInt8](data)
        let header = magic.count + 16
        guard bytes.count > header, Array(bytes[0..<magic.count]) == magic else { return nil }
        func word(_ at: Int) -> UInt64 { bytes[at..<(at + 8)].reversed().reduce(0) { $0 << 8 | UInt64($1) } }
        let length = word(magic.count), checksum = word(magic.count + 8)
        guard length == UInt64(bytes.count - header) else { return nil }
        let binary = Array(bytes[header...])
        return fnv1a(binary, offset: 0xcbf2_9ce4_8422_2325) == checksum ? binary : nil
    }

    /// Stores `binary` atomically; a cache that cannot be written is no error, only slower.
    static func store(_ binary: [UInt8], key: String, in folder: String) {
        var file = magic
        for value in [UInt64(binary.count), fnv1a(binary, offset: 0xcbf2_9ce4_8422_2325)] {
            withUnsafeBytes(of: value.littleEndian) { file.append(contentsOf: $0) }
        }
        file += binary
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try? AtomicFile.write(Data(file), to: path(key, in: folder))
    }
}
