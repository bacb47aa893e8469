import Foundation

/// Comma-separated samples: each row holds the inputs, then either the target values or one
/// integer class label (stored one-hot). A header line is detected and skipped; blank lines
/// are ignored; NaN and infinite cells are rejected with their line and column.
public enum CSV {
    /// Reads a data file. With `inputs` and `outputs` given, each row must hold
    /// `inputs + outputs` values (targets) or `inputs + 1` (a class label in `0..<outputs`).
    /// With them nil, the last column is a class label and the class count is the largest label + 1.
    public static func read(_ path: String, inputs: Int? = nil, outputs: Int? = nil) throws -> Dataset {
        try dataset(parse(path), inputs: inputs, outputs: outputs)
    }

    /// `read` on a parsed file.
    static func dataset(_ table: Table, inputs: Int?, outputs: Int?) throws -> Dataset {
        let columns = table.columns
        if let inputs, let outputs {
            let targetColumns = inputs.addingReportingOverflow(outputs), labelColumns = inputs.addingReportingOverflow(1)
            guard !targetColumns.overflow, !labelColumns.overflow else {
                throw BPNetError.invalidArgument("a \(inputs)-input, \(outputs)-output network cannot match a CSV row")
            }
            if columns == targetColumns.partialValue {
                return try Dataset(
                    inputs: table.values(columns: 0..<inputs), targets: table.values(columns: inputs..<columns),
                    inputSize: inputs, outputSize: outputs)
            }
            guard columns == labelColumns.partialValue else {
                throw BPNetError.data(
                    file: table.file,
                    problem: "rows have \(columns) columns; a \(inputs)-input, \(outputs)-output network needs "
                        + "\(targetColumns.partialValue) (targets) or \(labelColumns.partialValue) (a class label)")
            }
            let labels = try table.labels(column: inputs, classes: outputs)
            try table.checkOneHotSize(classes: outputs)
            return try Dataset(inputs: table.values(columns: 0..<inputs), labels: labels, inputSize: inputs, classes: outputs)
        }
        guard columns >= 2 else {
            throw BPNetError.data(file: table.file, problem: "rows need at least one input column and a label column")
        }
        let labels = try table.labels(column: columns - 1, classes: nil)
        let classes = (labels.max() ?? 0) + 1
        try table.checkOneHotSize(classes: classes)
        return try Dataset(
            inputs: table.values(columns: 0..<(columns - 1)), labels: labels,
            inputSize: columns - 1, classes: classes)
    }

    /// Reads rows of exactly `inputs` values, for prediction: `[rows, inputs]`.
    public static func readInputs(_ path: String, inputs: Int) throws -> [Float] {
        try inputValues(parse(path), inputs: inputs)
    }

    /// `readInputs` on a parsed file.
    static func inputValues(_ table: Table, inputs: Int) throws -> [Float] {
        guard table.columns == inputs else {
            throw BPNetError.data(file: table.file, problem: "rows have \(table.columns) columns but the model takes \(inputs) inputs")
        }
        return table.cells
    }

    /// The most values a label file's one-hot targets may hold: the whole matrix goes to the
    /// device as one buffer, which kernels index with 32-bit integers.
    static let maxOneHotValues = Network.maxElements

    /// Numeric cells of a file, row-major, with the source line of each row for error messages.
    struct Table {
        let file: String
        let cells: [Float]
        let columns: Int
        let lines: [Int]

        var rows: Int { lines.count }

        func values(columns range: Range<Int>) -> [Float] {
            if range.count == columns { return cells }
            var out = [Float]()
            out.reserveCapacity(rows * range.count)
            for r in 0..<rows { out += cells[(r * columns + range.lowerBound)..<(r * columns + range.upperBound)] }
            return out
        }

        /// One-hot targets hold rows × classes values, and one label (up to 2²⁴ − 1) sets the class
        /// count; a few short rows must not demand gigabytes, nor a matrix past 32-bit indexing.
        func checkOneHotSize(classes: Int) throws {
            let size = rows.multipliedReportingOverflow(by: classes)
            guard !size.overflow, size.partialValue <= CSV.maxOneHotValues else {
                throw BPNetError.data(
                    file: file,
                    problem: "\(rows) rows of \(classes) classes need more one-hot target values than the \(CSV.maxOneHotValues) a matrix may hold")
            }
        }

        func labels(column: Int, classes: Int?) throws -> [Int] {
            try (0..<rows).map { r in
                let value = cells[r * columns + column]
                guard value >= 0, value == value.rounded(), value < 16_777_216 else {
                    throw BPNetError.data(
                        file: file, problem: "line \(lines[r]), column \(column + 1): class label \(value) is not a non-negative integer")
                }
                if let classes, Int(value) >= classes {
                    throw BPNetError.data(
                        file: file,
                        problem: "line \(lines[r]), column \(column + 1): class label \(Int(value)) does not fit an output layer of \(classes) units")
                }
                return Int(value)
            }
        }
    }

    static func parse(_ path: String) throws -> Table {
        try parse(bytes: FileReading.read(path), file: path)
    }

    /// The cells of a file's (decompressed) bytes; `path` names the file in errors.
    static func parse(bytes: [UInt8], file path: String) throws -> Table {
        var cells: [Float] = []
        var lines: [Int] = []
        var columns = 0
        var lineNumber = 0
        // Bytes, not Characters: "\r\n" is one Character in Swift, and byte scanning is far faster.
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            let fields = line.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).map { field in
                String(decoding: field, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            if fields.count == 1 && fields[0].isEmpty { continue }
            let parsed = fields.map { Float($0) }
            if lines.isEmpty && columns == 0 && parsed.contains(where: { $0 == nil }) {
                columns = -fields.count  // a header; its width is not binding
                continue
            }
            if columns <= 0 {
                columns = fields.count
            } else if fields.count != columns {
                throw BPNetError.data(file: path, problem: "line \(lineNumber) has \(fields.count) columns, expected \(columns)")
            }
            for (c, value) in parsed.enumerated() {
                guard let value else {
                    throw BPNetError.data(
                        file: path, problem: "line \(lineNumber), column \(c + 1): '\(fields[c])' is not a number")
                }
                guard value.isFinite else {
                    throw BPNetError.data(file: path, problem: "line \(lineNumber), column \(c + 1): \(fields[c]) is not finite")
                }
                cells.append(value)
            }
            lines.append(lineNumber)
        }
        guard !lines.isEmpty else { throw BPNetError.data(file: path, problem: "holds no data rows") }
        return Table(file: path, cells: cells, columns: columns, lines: lines)
    }

    /// Writes samples as CSV (inputs, then targets), atomically.
    public static func write(_ data: Dataset, to path: String) throws {
        var text = ""
        for r in 0..<data.count {
            let row = data.inputs[(r * data.inputSize)..<((r + 1) * data.inputSize)]
                + data.targets[(r * data.outputSize)..<((r + 1) * data.outputSize)]
            text += row.map { "\($0)" }.joined(separator: ",") + "\n"
        }
        try AtomicFile.write(Data(text.utf8), to: path)
    }
}
