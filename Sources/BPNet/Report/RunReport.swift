import Foundation

/// A training run as a folder a browser opens: `index.html` with the loss and accuracy curves,
/// the confusion matrix, the settings and every epoch's numbers, all in one offline page, beside
/// the CSV files it is drawn from, so the page can be rebuilt (`bpnet report DIR`) or the numbers
/// taken elsewhere.
public struct RunReport: Sendable, Equatable {
    /// The page's heading, such as "bpnet train".
    public var title: String
    /// What the run was, in the order shown: device, network, optimizer, timings…
    public var settings: [Setting]
    public var epochs: [EpochReport]
    public var confusion: ConfusionMatrix?

    public struct Setting: Sendable, Equatable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(title: String, settings: [Setting] = [], epochs: [EpochReport], confusion: ConfusionMatrix? = nil) {
        self.title = title
        self.settings = settings
        self.epochs = epochs
        self.confusion = confusion
    }

    /// The files of a report folder.
    static let fileNames = (
        metrics: "metrics.csv", settings: "settings.csv", confusion: "confusion.csv",
        curves: "curves.svg", confusionChart: "confusion.svg", page: "index.html")

    /// Writes metrics.csv, settings.csv, confusion.csv, curves.svg, confusion.svg and index.html
    /// into `directory`, created if missing. Each file is replaced atomically, and the page comes
    /// last, so it never shows data that are not yet beside it. Without a confusion matrix, those
    /// of an earlier report are removed, or a rebuild would bring them back.
    public func write(to directory: String) throws {
        try confusion?.validate()
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw BPNetError.invalidArgument("cannot create the report folder \(directory) (\(Self.reason(error)))")
        }
        let names = Self.fileNames
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        func write(_ text: String, _ name: String) throws { try OutputPath.write(Data(text.utf8), to: path(name)) }

        try write(ReportFiles.metrics(epochs), names.metrics)
        try write(ReportFiles.settings(title: title, settings), names.settings)
        if let confusion {
            try write(ReportFiles.confusion(confusion), names.confusion)
        } else {
            for stale in [names.confusion, names.confusionChart] where FileManager.default.fileExists(atPath: path(stale)) {
                do {
                    try FileManager.default.removeItem(atPath: path(stale))
                } catch {
                    throw BPNetError.invalidArgument("cannot remove the stale \(path(stale)) (\(Self.reason(error)))")
                }
            }
        }
        try writePage(to: directory)
    }

    /// Writes what is drawn from the numbers, curves.svg, confusion.svg (with a confusion
    /// matrix) and index.html last, and nothing else: `bpnet report` rebuilds a page from the
    /// CSV files a folder has, and adds none.
    public func writePage(to directory: String) throws {
        try confusion?.validate()
        let names = Self.fileNames
        func write(_ text: String, _ name: String) throws {
            try OutputPath.write(Data(text.utf8), to: (directory as NSString).appendingPathComponent(name))
        }
        if let confusion { try write(ConfusionSVG.svg(confusion, standalone: true), names.confusionChart) }
        try write(CurvesSVG.svg(epochs, standalone: true), names.curves)
        try write(ReportHTML.page(self), names.page)
    }

    /// The report written to `directory`: metrics.csv is required, settings.csv and confusion.csv
    /// are read when present. A file that does not hold what `write` puts there is an error that
    /// names the file and line; every number read is checked, so no file can make this trap.
    public static func load(from directory: String) throws -> RunReport {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isFolder) else {
            throw BPNetError.data(file: directory, problem: "no such report folder")
        }
        guard isFolder.boolValue else {
            throw BPNetError.data(file: directory, problem: "is not a folder; give the folder a report was written to")
        }
        let names = fileNames
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        let epochs = try ReportFiles.epochs(fromMetrics: try FileReading.read(path(names.metrics)), file: path(names.metrics))
        var report = RunReport(title: ReportFiles.defaultTitle, epochs: epochs)
        if FileManager.default.fileExists(atPath: path(names.settings)) {
            let (title, settings) = try ReportFiles.settings(
                from: try FileReading.read(path(names.settings)), file: path(names.settings))
            report.title = title ?? ReportFiles.defaultTitle
            report.settings = settings
        }
        if FileManager.default.fileExists(atPath: path(names.confusion)) {
            report.confusion = try ReportFiles.confusion(
                from: try FileReading.read(path(names.confusion)), file: path(names.confusion))
        }
        return report
    }

    /// An error's reason in a few words, for a one-line message.
    static func reason(_ error: Error) -> String {
        let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
        if let underlying, underlying.domain == NSPOSIXErrorDomain, let code = POSIXErrorCode(rawValue: Int32(underlying.code)) {
            return String(cString: strerror(code.rawValue))
        }
        return error.localizedDescription
    }
}
