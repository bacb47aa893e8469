// libFuzzer target for the CSV reader (plain, or gzip when the file part starts with its magic).
// Input layout:
//   byte 0   mode % 3: 0 labels with inferred classes, 1 explicit sizes (inputs and outputs
//            from byte 1's low and high nibble: targets or a label), 2 prediction inputs (byte 1 % 16)
//   byte 1   sizes, as above
//   then     the file
// Every input is also parsed by the String-based reference parser (ReferenceCSV.swift), which must agree.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard input.count >= 2 else { return 0 }
    let mode = input[0] % 3, sizes = Int(input[1])
    // The byte-level parser must give the String-based one's table, bit for bit, or its exact error.
    let file = Array(input[2...])
    let reference = Result { try ReferenceCSV.parse(bytes: file, file: "fuzz.csv") }
    let parsed = Result { try CSV.parse(bytes: file, file: "fuzz.csv") }
    switch (reference, parsed) {
    case let (.success(expected), .success(table)):
        precondition(
            table.cells.map(\.bitPattern) == expected.cells.map(\.bitPattern) && table.columns == expected.columns
                && table.lines == expected.lines, "the byte-level parser's table differs from the String-based parser's")
    case let (.failure(expected), .failure(error)):
        precondition(error as? BPNetError == expected as? BPNetError, "the parsers' errors differ: \(expected) vs \(error)")
    default:
        preconditionFailure("one parser failed and the other did not: \(reference) vs \(parsed)")
    }
    do {
        let table = try CSV.parse(bytes: FileReading.decompressed(file, file: "fuzz.csv"), file: "fuzz.csv")
        precondition(table.cells.count == table.rows * table.columns, "cells do not fill the rows")
        precondition(table.oneHotSuffixWidth() == oneHotSuffixWidthByEveryWidth(table), "oneHotSuffixWidth disagrees")
        switch mode {
        case 0:
            // One-hot targets grow with the largest label by design (up to 2³¹ values); skip files
            // that would allocate past 64 MiB, so libFuzzer's memory limit flags reader bugs only.
            if table.columns >= 2 {
                let labels = stride(from: table.columns - 1, to: table.cells.count, by: table.columns).map { table.cells[$0] }
                if Double(labels.max() ?? 0) * Double(table.rows) > Double(1 << 24) { return 0 }
            }
            _ = try CSV.dataset(table, inputs: nil, outputs: nil)
        case 1:
            _ = try CSV.dataset(table, inputs: sizes & 0x0F, outputs: sizes >> 4)
        default:
            _ = try CSV.inputValues(table, inputs: sizes % 16)
        }
    } catch is BPNetError {
        return 0
    } catch {
        fatalError("the CSV reader threw a non-BPNetError: \(error)")
    }
    return 0
}

/// The definition of `oneHotSuffixWidth`, checked width by width (quadratic, fine for fuzz inputs).
private func oneHotSuffixWidthByEveryWidth(_ table: CSV.Table) -> Int? {
    guard table.columns >= 3, table.rows > 0 else { return nil }
    for width in stride(from: table.columns - 1, through: 2, by: -1) {
        let oneHot = (0..<table.rows).allSatisfy { r in
            let tail = table.cells[((r + 1) * table.columns - width)..<((r + 1) * table.columns)]
            return tail.allSatisfy { $0 == 0 || $0 == 1 } && tail.reduce(0, +) == 1
        }
        if oneHot { return width }
    }
    return nil
}
