import CZlib
import Foundation

/// Whole-file reads that undo gzip compression when the file starts with the gzip magic.
enum FileReading {
    static func read(_ path: String) throws -> [UInt8] {
        let bytes: [UInt8]
        do {
            bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            let exists = FileManager.default.fileExists(atPath: path)
            throw BPNetError.data(file: path, problem: exists ? "cannot be read" : "no such file")
        }
        return bytes.starts(with: [0x1F, 0x8B]) ? try gunzip(bytes, file: path) : bytes
    }

    /// Inflates every gzip member of `compressed`, rejecting corrupt or truncated streams.
    static func gunzip(_ compressed: [UInt8], file: String) throws -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(compressed.count * 4)
        var stream = z_stream()
        // 15 + 16: a gzip wrapper with the largest window.
        guard inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw BPNetError.data(file: file, problem: "zlib could not start inflating")
        }
        defer { inflateEnd(&stream) }
        var chunk = [UInt8](repeating: 0, count: 1 << 18)
        try compressed.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = UInt32(input.count)
            while true {
                let status = chunk.withUnsafeMutableBufferPointer { buffer -> Int32 in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = UInt32(buffer.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                output.append(contentsOf: chunk[0..<(chunk.count - Int(stream.avail_out))])
                switch status {
                case Z_STREAM_END:
                    // Concatenated members are valid gzip; anything else after the end is not.
                    if stream.avail_in == 0 { return }
                    if stream.next_in[0] != 0x1F { throw BPNetError.data(file: file, problem: "trailing bytes after the gzip stream") }
                    guard inflateReset(&stream) == Z_OK else {
                        throw BPNetError.data(file: file, problem: "zlib could not restart inflating")
                    }
                case Z_OK:
                    continue
                case Z_BUF_ERROR where stream.avail_in == 0:
                    throw BPNetError.data(file: file, problem: "truncated gzip stream")
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
