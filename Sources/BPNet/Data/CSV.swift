import Foundation

/// Comma-separated samples: each row holds the inputs, then either the target values or one
/// integer class label (stored one-hot). A first line in which no cell is a number is a header
/// and is skipped; blank lines are ignored; a cell that is not a number, NaN or infinite is an
/// error with its line and column.
public enum CSV {
    /// Reads a data file. With `inputs` and `outputs` given, each row must hold
    /// `inputs + outputs` values (targets) or `inputs + 1` (a class label in `0..<outputs`).
    /// With `targets` given, the last `targets` columns are target values.
    /// With none given, the last column is a class label and the class count is the largest
    /// label + 1, unless the last columns look one-hot: then the split is ambiguous, and an error
    /// asks for `targets` or the layer sizes.
    public static func read(_ path: String, inputs: Int? = nil, outputs: Int? = nil, targets: Int? = nil) throws -> Dataset {
        var data = try dataset(parse(path), inputs: inputs, outputs: outputs, targets: targets)
        if data.layout == nil { data.layout = "\(data.inputSize) inputs, \(data.outputSize) outputs" }
        return data
    }

    /// `read` on a parsed file.
    static func dataset(_ table: Table, inputs: Int?, outputs: Int?, targets: Int? = nil) throws -> Dataset {
        let columns = table.columns
        if let targets {
            guard targets > 0, targets < columns else {
                throw BPNetError.data(
                    file: table.file, problem: "rows have \(columns) columns, so --targets \(targets) leaves no input columns")
            }
            if let inputs, inputs != columns - targets {
                throw BPNetError.data(
                    file: table.file,
                    problem: "rows have \(columns) columns: \(columns - targets) inputs and \(targets) targets, but the input layer has \(inputs) units")
            }
            if let outputs, outputs != targets {
                throw BPNetError.data(
                    file: table.file, problem: "--targets \(targets) does not match an output layer of \(outputs) units")
            }
            var data = try Dataset(
                inputs: table.values(columns: 0..<(columns - targets)), targets: table.values(columns: (columns - targets)..<columns),
                inputSize: columns - targets, outputSize: targets)
            data.layout = "\(columns - targets) inputs, \(counted(targets, "target value")) from the last \(counted(targets, "column"))"
            return data
        }
        if let inputs, let outputs {
            let targetColumns = inputs.addingReportingOverflow(outputs), labelColumns = inputs.addingReportingOverflow(1)
            guard !targetColumns.overflow, !labelColumns.overflow else {
                throw BPNetError.invalidArgument("a \(inputs)-input, \(outputs)-output network cannot match a CSV row")
            }
            if columns == targetColumns.partialValue {
                var data = try Dataset(
                    inputs: table.values(columns: 0..<inputs), targets: table.values(columns: inputs..<columns),
                    inputSize: inputs, outputSize: outputs)
                data.layout = "\(inputs) inputs, \(counted(outputs, "target value")) from the last \(counted(outputs, "column"))"
                return data
            }
            guard columns == labelColumns.partialValue else {
                throw BPNetError.data(
                    file: table.file,
                    problem: "rows have \(columns) columns; a \(inputs)-input, \(outputs)-output network needs "
                        + "\(targetColumns.partialValue) (targets) or \(labelColumns.partialValue) (a class label)")
            }
            let labels = try table.labels(column: inputs, classes: outputs)
            try table.checkOneHotSize(classes: outputs)
            var data = try Dataset(inputs: table.values(columns: 0..<inputs), labels: labels, inputSize: inputs, classes: outputs)
            data.layout = "\(inputs) inputs, class labels in column \(columns) (\(counted(outputs, "class", plural: "classes")), one-hot)"
            return data
        }
        guard columns >= 2 else {
            throw BPNetError.data(file: table.file, problem: "rows need at least one input column and a label column")
        }
        if let width = table.oneHotSuffixWidth() {
            throw BPNetError.data(
                file: table.file,
                problem: "the last \(width) columns look like one-hot targets, but without --layers the last column alone is "
                    + "taken as a class label; say how the \(columns) columns split with --targets \(width) or --layers "
                    + "\(columns - width),30,\(width)")
        }
        let labels = try table.labels(column: columns - 1, classes: nil)
        let classes = (labels.max() ?? 0) + 1
        try table.checkOneHotSize(classes: classes)
        var data = try Dataset(
            inputs: table.values(columns: 0..<(columns - 1)), labels: labels,
            inputSize: columns - 1, classes: classes)
        data.layout = "\(columns - 1) inputs, class labels in column \(columns) (\(counted(classes, "class", plural: "classes")), one-hot)"
        return data
    }

    /// Reads rows of exactly `inputs` values, for prediction: `[rows, inputs]`.
    public static func readInputs(_ path: String, inputs: Int) throws -> [Float] {
        try inputValues(parse(path), inputs: inputs)
    }

    /// `readInputs` on bytes already read, such as standard input; `name` names them in errors.
    public static func readInputs(bytes: [UInt8], name: String, inputs: Int) throws -> [Float] {
        try inputValues(parse(bytes: FileReading.decompressed(bytes, file: name), file: name), inputs: inputs)
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

        /// The width of the widest run of last columns (two or more, leaving an input) that is
        /// one-hot in every row: only 0s and 1s, exactly one 1. Nil when there is none.
        func oneHotSuffixWidth() -> Int? {
            guard columns >= 3, rows > 0 else { return nil }
            // In one row, the one-hot widths form a range: from its last 1 up to just before its
            // second-last 1 or its last cell that is not 0 or 1. Intersecting the rows' ranges reads
            // each cell at most once; trying every width was quadratic in the columns (seconds for
            // a few tens of thousands of binary features).
            var narrowest = 2, widest = columns - 1
            for r in 0..<rows {
                var lastOne: Int?
                var rowWidest = columns - 1
                for width in 1..<columns {
                    let value = cells[(r + 1) * columns - width]
                    guard value == 0 || value == 1 else { rowWidest = width - 1; break }
                    guard value == 1 else { continue }
                    if lastOne != nil { rowWidest = width - 1; break }
                    lastOne = width
                }
                guard let lastOne else { return nil }
                narrowest = max(narrowest, lastOne)
                widest = min(widest, rowWidest)
                if narrowest > widest { return nil }
            }
            return widest
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
            // A header is a first row in which no cell is a number. A row with some numbers and
            // some words is a typo in the data, and fails below with its line and column.
            if lines.isEmpty && columns == 0 && parsed.allSatisfy({ $0 == nil }) {
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
