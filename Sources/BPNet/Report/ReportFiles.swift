import Foundation

/// The report's data files: what `RunReport.write` puts in them and `RunReport.load` reads back.
/// Numbers are written as Swift prints them, the shortest text that reads back to the same bits,
/// so a page rebuilt from the files is the page of the run.
enum ReportFiles {
    static let metricsHeader = [
        "epoch", "train_loss", "train_accuracy", "validation_loss", "validation_accuracy", "test_loss", "test_accuracy",
        "seconds", "samples_per_second",
    ]
    static let settingsHeader = ["name", "value"]
    /// settings.csv's first row, which holds the report's title rather than a setting.
    static let titleName = "title"
    /// The title of a report whose settings.csv is missing.
    static let defaultTitle = "bpnet run"

    // MARK: metrics.csv

    static func metrics(_ epochs: [EpochReport]) -> String {
        func text(_ value: Double?) -> String { value.map { "\($0)" } ?? "" }
        var csv = ReportCSV.line(metricsHeader)
        for e in epochs {
            csv += ReportCSV.line([
                "\(e.epoch)", text(e.trainLoss), text(e.trainAccuracy), text(e.validationLoss), text(e.validationAccuracy),
                text(e.testLoss), text(e.testAccuracy), text(e.seconds), text(e.samplesPerSecond),
            ])
        }
        return csv
    }

    static func epochs(fromMetrics bytes: [UInt8], file: String) throws -> [EpochReport] {
        let records = try ReportCSV.records(bytes, file: file)
        guard let header = records.first else { throw BPNetError.data(file: file, problem: "is empty; it needs a header line") }
        guard header.fields == metricsHeader else {
            throw BPNetError.data(
                file: file, problem: "line \(header.line): the header is not \(metricsHeader.joined(separator: ","))")
        }
        return try records.dropFirst().map { record in
            guard record.fields.count == metricsHeader.count else {
                throw BPNetError.data(
                    file: file,
                    problem: "line \(record.line) has \(record.fields.count) columns, expected \(metricsHeader.count)")
            }
            func cell(_ column: Int) -> (text: String, place: String) {
                (record.fields[column], "line \(record.line), column \(column + 1) (\(metricsHeader[column]))")
            }
            func optional(_ column: Int) throws -> Double? {
                let (text, place) = cell(column)
                if text.isEmpty { return nil }
                // nan and inf read back too: they are what a write of such a value gives.
                guard let value = Double(text) else {
                    throw BPNetError.data(file: file, problem: "\(place): '\(text)' is not a number")
                }
                return value
            }
            func required(_ column: Int) throws -> Double {
                guard let value = try optional(column) else {
                    throw BPNetError.data(file: file, problem: "\(cell(column).place) is empty")
                }
                return value
            }
            let (epochText, place) = cell(0)
            guard let epoch = Int(epochText) else {
                throw BPNetError.data(file: file, problem: "\(place): '\(epochText)' is not a whole number")
            }
            return EpochReport(
                epoch: epoch, trainLoss: try required(1), trainAccuracy: try required(2), testLoss: try optional(5),
                testAccuracy: try optional(6), validationLoss: try optional(3), validationAccuracy: try optional(4),
                seconds: try required(7), samplesPerSecond: try required(8))
        }
    }

    // MARK: settings.csv

    static func settings(title: String, _ settings: [RunReport.Setting]) -> String {
        var csv = ReportCSV.line(settingsHeader) + ReportCSV.line([titleName, title])
        for setting in settings { csv += ReportCSV.line([setting.name, setting.value]) }
        return csv
    }

    static func settings(from bytes: [UInt8], file: String) throws -> (title: String?, settings: [RunReport.Setting]) {
        let records = try ReportCSV.records(bytes, file: file)
        guard let header = records.first else { throw BPNetError.data(file: file, problem: "is empty; it needs a header line") }
        guard header.fields == settingsHeader else {
            throw BPNetError.data(file: file, problem: "line \(header.line): the header is not name,value")
        }
        var rows = try records.dropFirst().map { record in
            guard record.fields.count == 2 else {
                throw BPNetError.data(
                    file: file, problem: "line \(record.line) has \(record.fields.count) columns, expected 2 (name,value)")
            }
            return RunReport.Setting(name: record.fields[0], value: record.fields[1])
        }
        // Only the first row can be the title, so a setting that happens to be named "title" stays one.
        var title: String?
        if rows.first?.name == titleName { title = rows.removeFirst().value }
        return (title, rows)
    }

    // MARK: confusion.csv

    /// A square table: `class,name,0,1,…` then one row per true class, `i,name,counts…`; without
    /// class names the `name` column is left out, so a matrix without names reads back without them.
    static func confusion(_ matrix: ConfusionMatrix) -> String {
        let named = matrix.classNames != nil
        var csv = ReportCSV.line(["class"] + (named ? ["name"] : []) + (0..<matrix.classes).map { "\($0)" })
        for target in 0..<matrix.classes {
            let row = matrix.counts[(target * matrix.classes)..<((target + 1) * matrix.classes)]
            csv += ReportCSV.line(["\(target)"] + (named ? [matrix.name(target)] : []) + row.map { "\($0)" })
        }
        return csv
    }

    static func confusion(from bytes: [UInt8], file: String) throws -> ConfusionMatrix {
        func fail(_ problem: String) -> BPNetError { .data(file: file, problem: problem) }
        let records = try ReportCSV.records(bytes, file: file)
        guard let header = records.first else { throw fail("is empty; it needs a header line") }
        guard header.fields.first == "class" else {
            throw fail("line \(header.line): the header does not start with 'class'")
        }
        let named = header.fields.count > 1 && header.fields[1] == "name"
        let first = named ? 2 : 1  // the first count's column
        let classes = header.fields.count - first
        guard classes >= 1 else { throw fail("line \(header.line): the header names no predicted classes") }
        guard classes <= ConfusionMatrix.maxClasses else {
            throw fail("line \(header.line): \(classes) classes; a report holds at most \(ConfusionMatrix.maxClasses)")
        }
        for (column, text) in header.fields.enumerated().dropFirst(first) where text != "\(column - first)" {
            throw fail("line \(header.line), column \(column + 1): '\(text)' where predicted class \(column - first) belongs")
        }
        let rows = records.dropFirst()
        guard rows.count == classes else {
            throw fail("holds \(counted(rows.count, "row")) of counts for \(classes) classes; it needs one per class")
        }
        var counts: [Int] = []
        counts.reserveCapacity(classes * classes)
        var names: [String] = []
        var total = 0
        for (target, record) in rows.enumerated() {
            guard record.fields.count == header.fields.count else {
                throw fail("line \(record.line) has \(record.fields.count) columns, expected \(header.fields.count)")
            }
            guard record.fields[0] == "\(target)" else {
                throw fail("line \(record.line), column 1: '\(record.fields[0])' where true class \(target) belongs")
            }
            if named { names.append(record.fields[1]) }
            for column in first..<record.fields.count {
                let text = record.fields[column]
                guard let count = Int(text), count >= 0 else {
                    throw fail("line \(record.line), column \(column + 1): '\(text)' is not a count (a whole number ≥ 0)")
                }
                let sum = total.addingReportingOverflow(count)
                guard !sum.overflow else { throw fail("line \(record.line): the counts sum past \(Int.max)") }
                total = sum.partialValue
                counts.append(count)
            }
        }
        return ConfusionMatrix(classes: classes, counts: counts, classNames: named ? names : nil)
    }
}
