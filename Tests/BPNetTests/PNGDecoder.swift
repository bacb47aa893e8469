import CZlib
import Foundation

/// Just enough of PNG to read a browser's screenshot: 8-bit grey, RGB or RGBA, not interlaced.
/// The IDAT chunks are one zlib stream; each row then starts with a filter byte (0–4) that says
/// how its bytes were predicted from the pixel to the left and the row above.
struct PNGImage {
    var width: Int
    var height: Int
    /// Bytes per pixel: 1 (grey), 3 (RGB) or 4 (RGBA).
    var channels: Int
    var pixels: [UInt8]

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The pixel at (x, y) as RGB; grey repeats its value.
    func rgb(_ x: Int, _ y: Int) -> (red: Int, green: Int, blue: Int) {
        let i = (y * width + x) * channels
        if channels == 1 { return (Int(pixels[i]), Int(pixels[i]), Int(pixels[i])) }
        return (Int(pixels[i]), Int(pixels[i + 1]), Int(pixels[i + 2]))
    }

    init(_ bytes: [UInt8]) throws {
        guard bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else { throw Failure(description: "not a PNG") }
        func be32(_ at: Int) -> Int { bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        var offset = 8
        var header: ArraySlice<UInt8>?
        var compressed: [UInt8] = []
        while offset + 12 <= bytes.count {
            let length = be32(offset)
            let type = String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self)
            guard offset + 12 + length <= bytes.count else { throw Failure(description: "chunk \(type) is truncated") }
            let data = bytes[(offset + 8)..<(offset + 8 + length)]
            if type == "IHDR" { header = data }
            if type == "IDAT" { compressed += data }
            if type == "IEND" { break }
            offset += 12 + length
        }
        guard let header, header.count == 13 else { throw Failure(description: "no IHDR chunk") }
        let h = Array(header)
        width = h[0..<4].reduce(0) { $0 << 8 | Int($1) }
        height = h[4..<8].reduce(0) { $0 << 8 | Int($1) }
        let (depth, color, interlace) = (h[8], h[9], h[12])
        guard depth == 8, interlace == 0, let channels = [0: 1, 2: 3, 6: 4][color] else {
            throw Failure(description: "unsupported PNG: depth \(depth), color type \(color), interlace \(interlace)")
        }
        guard width > 0, height > 0, width <= 1 << 14, height <= 1 << 14 else { throw Failure(description: "\(width)×\(height)") }
        self.channels = channels
        let stride = width * channels
        var raw = [UInt8](repeating: 0, count: height * (stride + 1))
        var rawLength = UInt(raw.count)
        let status = raw.withUnsafeMutableBufferPointer { out in
            compressed.withUnsafeBufferPointer { input in
                uncompress(out.baseAddress, &rawLength, input.baseAddress, UInt(input.count))
            }
        }
        guard status == Z_OK, rawLength == UInt(raw.count) else {
            throw Failure(description: "IDAT does not inflate to \(raw.count) bytes (zlib status \(status), \(rawLength) bytes)")
        }
        pixels = [UInt8](repeating: 0, count: height * stride)
        for y in 0..<height {
            let filter = raw[y * (stride + 1)]
            let row = y * (stride + 1) + 1
            for i in 0..<stride {
                let x = Int(raw[row + i])
                let a = i >= channels ? Int(pixels[y * stride + i - channels]) : 0
                let b = y > 0 ? Int(pixels[(y - 1) * stride + i]) : 0
                let c = y > 0 && i >= channels ? Int(pixels[(y - 1) * stride + i - channels]) : 0
                let predicted: Int
                switch filter {
                case 0: predicted = 0
                case 1: predicted = a
                case 2: predicted = b
                case 3: predicted = (a + b) / 2
                case 4:
                    // Paeth: whichever of left, up and upper-left is closest to left + up - upper-left.
                    let p = a + b - c
                    let (pa, pb, pc) = (abs(p - a), abs(p - b), abs(p - c))
                    predicted = pa <= pb && pa <= pc ? a : pb <= pc ? b : c
                default: throw Failure(description: "row \(y) has filter \(filter)")
                }
                pixels[y * stride + i] = UInt8((x + predicted) & 0xFF)
            }
        }
    }
}
