#if canImport(BPNet)
import BPNet
#endif
import Foundation

/// The String-based CSV parser that the byte-level `CSV.parse` replaced, kept as the reference for
/// its rules: every cell a trimmed `String` read by `Float(String)`. The tests and the CSV fuzz
/// target (Fuzz/CSV links this file) check that the two agree on every input, table or exact error.
public enum ReferenceCSV {
    public static func parse(bytes: [UInt8], file path: String) throws -> (cells: [Float], columns: Int, lines: [Int]) {
        var cells: [Float] = []
        var lines: [Int] = []
        var columns = 0
        var lineNumber = 0
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            let fields = line.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).map { field in
                String(decoding: field, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            if fields.count == 1 && fields[0].isEmpty { continue }
            let parsed = fields.map { Float($0) }
            if lines.isEmpty && columns == 0 && parsed.allSatisfy({ $0 == nil }) {
                columns = -fields.count
                continue
            }
            if columns <= 0 {
                columns = fields.count
            } else if fields.count != columns {
                throw BPNetError.data(file: path, problem: "line \(lineNumber) has \(fields.count) columns, expected \(columns)")
            }
            for (c, value) in parsed.enumerated() {
                guard let value else {
                    throw BPNetError.data(file: path, problem: "line \(lineNumber), column \(c + 1): '\(fields[c])' is not a number")
                }
                guard value.isFinite else {
                    throw BPNetError.data(file: path, problem: "line \(lineNumber), column \(c + 1): \(fields[c]) is not finite")
                }
                cells.append(value)
            }
            lines.append(lineNumber)
        }
        guard !lines.isEmpty else { throw BPNetError.data(file: path, problem: "holds no data rows") }
        return (cells, columns, lines)
    }
}
