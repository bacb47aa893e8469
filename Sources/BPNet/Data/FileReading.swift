import CZlib
import Foundation
import Glibc

/// Whole-file reads that undo gzip compression when the file starts with the gzip magic.
enum FileReading {
    static func read(_ path: String) throws -> [UInt8] {
        guard let bytes = contents(of: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw BPNetError.data(file: path, problem: exists ? "cannot be read" : "no such file")
        }
        return try decompressed(bytes, file: path)
    }

    /// A file's bytes, read straight into one array of its size: `[UInt8](Data(contentsOf:))`
    /// held the file twice at its peak. A file that `stat` gives no size for (a pipe) or that grows
    /// while it is read is read on to its end. Nil when it cannot be opened or read (a folder).
    static func contents(of path: String) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return nil }
        var failed = false
        /// Reads until `buffer` is full or the file ends; the count read.
        func fill(_ buffer: UnsafeMutableBufferPointer<UInt8>) -> Int {
            var filled = 0
            while filled < buffer.count, let start = buffer.baseAddress {
                let count = Glibc.read(descriptor, start + filled, buffer.count - filled)
                if count > 0 {
                    filled += count
                } else if count == 0 {
                    break
                } else if errno != EINTR {
                    failed = true
                    break
                }
            }
            return filled
        }
        var bytes = [UInt8](unsafeUninitializedCapacity: max(Int(info.st_size), 0)) { buffer, count in count = fill(buffer) }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while !failed {
            let count = chunk.withUnsafeMutableBufferPointer { fill($0) }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return failed ? nil : bytes
    }

    /// `bytes` inflated when they start with the gzip magic, else as they are.
    static func decompressed(_ bytes: [UInt8], file: String) throws -> [UInt8] {
        bytes.starts(with: [0x1F, 0x8B]) ? try gunzip(bytes, file: file) : bytes
    }

    /// The most bytes a gzip file may inflate to: far above any data set BPNet reads, and a bound
    /// on what a small hostile file (deflate reaches about 1000:1) can make us allocate.
    static let maxInflatedBytes = 1 << 32

    /// Inflates every gzip member of `compressed`, rejecting corrupt or truncated streams and
    /// output past `limit` bytes. zlib takes input in `slice`-byte pieces (tests make them small).
    static func gunzip(
        _ compressed: [UInt8], file: String, limit: Int = maxInflatedBytes, slice: Int = Int(UInt32.max)
    ) throws -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(min(compressed.count * 4, limit))
        var stream = z_stream()
        // 15 + 16: a gzip wrapper with the largest window.
        guard inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw BPNetError.data(file: file, problem: "zlib could not start inflating")
        }
        defer { inflateEnd(&stream) }
        var chunk = [UInt8](repeating: 0, count: 1 << 18)
        try compressed.withUnsafeBufferPointer { input in
            guard let start = input.baseAddress else {
                throw BPNetError.data(file: file, problem: "truncated gzip stream")
            }
            // zlib counts input in UInt32, so files past 4 GiB are fed in slices.
            let sliceLength = min(max(slice, 1), Int(UInt32.max))
            var fed = 0
            func feed() {
                let length = min(input.count - fed, sliceLength)
                stream.next_in = UnsafeMutablePointer(mutating: start + fed)
                stream.avail_in = UInt32(length)
                fed += length
            }
            while true {
                if stream.avail_in == 0 && fed < input.count { feed() }
                let status = chunk.withUnsafeMutableBufferPointer { buffer -> Int32 in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = UInt32(buffer.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                guard produced <= limit - output.count else {
                    throw BPNetError.data(file: file, problem: "inflates to more than \(limit) bytes, the most BPNet reads from a gzip file")
                }
                output.append(contentsOf: chunk[0..<produced])
                let unread = Int(stream.avail_in) + input.count - fed
                switch status {
                case Z_STREAM_END:
                    // Concatenated members are valid gzip; anything else after the end is not.
                    if unread == 0 { return }
                    if stream.avail_in == 0 { feed() }
                    if stream.next_in[0] != 0x1F { throw BPNetError.data(file: file, problem: "trailing bytes after the gzip stream") }
                    guard inflateReset(&stream) == Z_OK else {
                        throw BPNetError.data(file: file, problem: "zlib could not restart inflating")
                    }
                case Z_OK:
                    continue
                case Z_BUF_ERROR where unread == 0:
                    throw BPNetError.data(file: file, problem: "truncated gzip stream")
                case Z_BUF_ERROR where stream.avail_in == 0:
                    continue  // the current slice is used up; the next one is fed above
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                    throw BPNetError.data(file: file, problem: "corrupt gzip stream (\(message))")
                }
            }
        }
        return output
    }

    /// Gzip-compresses `bytes` (one member, default level); used to make test and sample data.
    static func gzip(_ bytes: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                      zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))) + 64)
        var input = bytes
        input.withUnsafeMutableBufferPointer { source in
            output.withUnsafeMutableBufferPointer { destination in
                stream.next_in = source.baseAddress
                stream.avail_in = UInt32(source.count)
                stream.next_out = destination.baseAddress
                stream.avail_out = UInt32(destination.count)
                _ = deflate(&stream, Z_FINISH)
            }
        }
        return Array(output.prefix(Int(stream.total_out)))
    }
}
