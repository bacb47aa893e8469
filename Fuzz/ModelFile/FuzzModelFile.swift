// libFuzzer target for ModelFile.decode: any bytes must decode or throw a BPNetError, and
// whatever decodes must survive an encode/decode round trip unchanged.
//
// Byte mutations inside the JSON header move its end away from where the 8-byte length prefix
// says it is, and then the header never parses. So besides the input as it is, the target also
// decodes it with the prefix re-pointed at the few `}` nearest the old end (plus any space
// padding after it), which keeps mutated headers reaching the tensor checks.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    check(bytes)
    guard bytes.count > 8 else { return 0 }
    let stated = bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    let statedEnd = 8 + Int(min(stated, UInt64(bytes.count)))
    let closers = bytes.indices.dropFirst(8).filter { bytes[$0] == UInt8(ascii: "}") }
    for closer in closers.sorted(by: { abs($0 - statedEnd) < abs($1 - statedEnd) }).prefix(3) {
        var end = closer + 1
        while end < bytes.count && bytes[end] == 0x20 { end += 1 }
        var repointed = bytes
        repointed.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(end - 8).littleEndian, Array.init))
        check(repointed)
    }
    return 0
}

private func check(_ bytes: [UInt8]) {
    let decoded: (network: Network, metadata: ModelFile.Metadata)
    do {
        decoded = try ModelFile.decode(Data(bytes), file: "fuzz.safetensors")
    } catch is BPNetError {
        return
    } catch {
        fatalError("ModelFile.decode threw a non-BPNetError: \(error)")
    }
    do {
        let again = try ModelFile.decode(ModelFile.encode(decoded.network, metadata: decoded.metadata), file: "again")
        precondition(again.network == decoded.network && again.metadata == decoded.metadata, "round trip changed the model")
    } catch {
        fatalError("a decoded model did not survive encode/decode: \(error)")
    }
}
