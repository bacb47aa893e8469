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
    /// Zero rows (an empty file, or a header alone) give zero values, as any filter gives zero
    /// lines for zero lines in.
    public static func readInputs(_ path: String, inputs: Int) throws -> [Float] {
        try inputValues(parse(bytes: FileReading.read(path), file: path, allowingNoRows: true), inputs: inputs)
    }

    /// `readInputs` on bytes already read, such as standard input; `name` names them in errors.
    public static func readInputs(bytes: [UInt8], name: String, inputs: Int) throws -> [Float] {
        try inputValues(parse(bytes: FileReading.decompressed(bytes, file: name), file: name, allowingNoRows: true), inputs: inputs)
    }

    /// `readInputs` on a parsed file.
    static func inputValues(_ table: Table, inputs: Int) throws -> [Float] {
        guard table.rows > 0 else { return [] }
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

    /// The cells of a file's (decompressed) bytes; `path` names the file in errors. A file
    /// without data rows is an error unless `allowingNoRows`.
    static func parse(bytes: [UInt8], file path: String, allowingNoRows: Bool = false) throws -> Table {
        try bytes.withUnsafeBufferPointer { buffer in
            try powersOfTen.withUnsafeBufferPointer { powers in
                try parse(buffer, file: path, powersOfTen: powers, allowingNoRows: allowingNoRows)
            }
        }
    }

    /// One pass over the bytes, line by line (`\n` ends a line; a `\r` before it is trimmed with
    /// the spaces) and cell by cell (`,` ends a cell). `number(in:from:powersOfTen:)` reads a cell
    /// in place; only the cells it declines (words, empty cells, Unicode spaces, spellings such as
    /// `0x1p3` or `nan`, values it cannot round with certainty) become a `String`, trimmed and read
    /// by `Float(String)` as every cell once was, so those rules and messages stay exactly as they were.
    private static func parse(
        _ bytes: UnsafeBufferPointer<UInt8>, file path: String, powersOfTen: UnsafeBufferPointer<Double>, allowingNoRows: Bool
    ) throws -> Table {
        var cells: [Float] = []
        var lines: [Int] = []
        var columns = 0  // 0 before the first row; a header sets it to minus its width, which does not bind
        var lineNumber = 0
        var position = 0
        // A file of n newlines has n + 1 lines, the last one empty when the file ends with a newline.
        while position <= bytes.count {
            lineNumber += 1
            var fields = 0
            var numbers = 0  // cells that are numbers, finite or not: a header has none
            var onlyCellIsEmpty = false
            // The first cell that is no number or not finite; the line fails on it once its width is checked.
            var problem: (column: Int, text: String, notFinite: Bool)?
            while true {
                let cellEnd: Int
                if case let (value, end)? = number(in: bytes, from: position, powersOfTen: powersOfTen) {
                    cells.append(value)
                    numbers += 1
                    cellEnd = end
                } else {
                    var end = position
                    while end < bytes.count && bytes[end] != comma && bytes[end] != newline { end += 1 }
                    let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[position..<end]), as: UTF8.self)
                        .trimmingCharacters(in: .whitespacesAndNewlines)
                    if let value = Float(text) {
                        numbers += 1
                        if value.isFinite {
                            cells.append(value)
                        } else if problem == nil {
                            problem = (fields + 1, text, true)
                        }
                    } else {
                        if problem == nil { problem = (fields + 1, text, false) }
                        if fields == 0 { onlyCellIsEmpty = text.isEmpty }
                    }
                    cellEnd = end
                }
                fields += 1
                position = cellEnd + 1
                if cellEnd == bytes.count || bytes[cellEnd] == newline { break }
            }
            if fields == 1 && onlyCellIsEmpty { continue }  // a blank line
            // A header is a first row in which no cell is a number. A row with some numbers and
            // some words is a typo in the data, and fails below with its line and column.
            if lines.isEmpty && columns == 0 && numbers == 0 {
                columns = -fields
                continue
            }
            if columns <= 0 {
                columns = fields
            } else if fields != columns {
                throw BPNetError.data(file: path, problem: "line \(lineNumber) has \(fields) columns, expected \(columns)")
            }
            if let problem {
                throw BPNetError.data(
                    file: path,
                    problem: problem.notFinite
                        ? "line \(lineNumber), column \(problem.column): \(problem.text) is not finite"
                        : "line \(lineNumber), column \(problem.column): '\(problem.text)' is not a number")
            }
            lines.append(lineNumber)
        }
        guard !lines.isEmpty || allowingNoRows else { throw BPNetError.data(file: path, problem: "holds no data rows") }
        return Table(file: path, cells: cells, columns: columns, lines: lines)
    }

    private static let comma = UInt8(ascii: ","), newline = UInt8(ascii: "\n")

    /// 10⁰ through 10⁶⁴, each correctly rounded (exact through 10²²): with a significand below 10¹⁹,
    /// every normal Float lies within these powers.
    static let powersOfTen: [Double] = (0...64).map { Double("1e\($0)")! }

    /// The cell at `start`, read in place when it is a plain decimal: ASCII spaces, an optional
    /// sign, digits with an optional point, an optional exponent, ASCII spaces, then a comma, a
    /// newline or the end of the bytes. Returns the value and where the cell ends, or nil for any
    /// other cell, and for values this method cannot round exactly as `Float(String)` does.
    ///
    /// The first 19 significant digits (which fit a UInt64) times a power of ten, in Double, is
    /// within 4 Double ulps of the exact value: three roundings of half an ulp, and at most 10⁻¹⁸
    /// (relative) from digits past the 19th. Rounding that Double to Float gives the correctly
    /// rounded Float unless a Float rounding midpoint lies that close, which the 29 bits below
    /// Float's 24 show; within 16 ulps of one, and outside Float's normal range, a cell is declined.
    @inline(__always)
    static func number(in bytes: UnsafeBufferPointer<UInt8>, from start: Int, powersOfTen: UnsafeBufferPointer<Double>) -> (Float, Int)? {
        // The spaces that Foundation trims and that a line can hold: tab, vertical tab, form feed, CR, space.
        @inline(__always) func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (byte >= 0x09 && byte <= 0x0D && byte != 0x0A) }
        var i = start
        let end = bytes.count
        while i < end && isSpace(bytes[i]) { i += 1 }
        var negative = false
        if i < end && (bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+")) {
            negative = bytes[i] == UInt8(ascii: "-")
            i += 1
        }
        var significand: UInt64 = 0
        var significantDigits = 0
        var exponent = 0
        var sawDigit = false
        while i < end, case let digit = bytes[i] &- UInt8(ascii: "0"), digit < 10 {
            sawDigit = true
            if significantDigits < 19 {
                if significand != 0 || digit != 0 {
                    significand = significand * 10 + UInt64(digit)
                    significantDigits += 1
                }
            } else {
                exponent += 1  // an integer digit past the 19th
            }
            i += 1
        }
        if i < end && bytes[i] == UInt8(ascii: ".") {
            i += 1
            while i < end, case let digit = bytes[i] &- UInt8(ascii: "0"), digit < 10 {
                sawDigit = true
                if significantDigits < 19 {
                    if significand != 0 || digit != 0 {
                        significand = significand * 10 + UInt64(digit)
                        significantDigits += 1
                    }
                    exponent -= 1
                }
                i += 1
            }
        }
        guard sawDigit else { return nil }
        if i < end && bytes[i] | 0x20 == UInt8(ascii: "e") {
            i += 1
            var exponentNegative = false
            if i < end && (bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+")) {
                exponentNegative = bytes[i] == UInt8(ascii: "-")
                i += 1
            }
            var written = 0
            var sawExponentDigit = false
            while i < end, case let digit = bytes[i] &- UInt8(ascii: "0"), digit < 10 {
                sawExponentDigit = true
                if written < 1_000_000 { written = written * 10 + Int(digit) }  // far past any Float; declined below
                i += 1
            }
            guard sawExponentDigit else { return nil }
            exponent += exponentNegative ? -written : written
        }
        while i < end && isSpace(bytes[i]) { i += 1 }
        guard i == end || bytes[i] == comma || bytes[i] == newline else { return nil }
        if significand == 0 { return (negative ? -0.0 : 0.0, i) }
        guard exponent > -powersOfTen.count && exponent < powersOfTen.count else { return nil }
        let scaled = exponent >= 0 ? Double(significand) * powersOfTen[exponent] : Double(significand) / powersOfTen[-exponent]
        guard scaled >= Double(Float.leastNormalMagnitude) && scaled <= Double(Float.greatestFiniteMagnitude) else { return nil }
        // The 29 bits that rounding to Float drops: 1 followed by 28 zeros is exactly halfway.
        let belowFloat = Int(scaled.bitPattern & 0x1FFF_FFFF)
        guard abs(belowFloat - 0x1000_0000) > 16 else { return nil }
        let value = Float(scaled)
        return (negative ? -value : value, i)
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
