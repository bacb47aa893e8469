@testable import BPNet
import BPNetTestSupport
import Foundation
import Testing

/// Debian's `chromium`, where it is installed.
let chromiumPath: String? = ["/usr/bin/chromium", "/usr/local/bin/chromium"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}

/// The run report: its files round-trip, malformed files are one-line errors, `bpnet report`
/// rebuilds the page, and a headless Chromium draws the page as intended.
@Suite struct ReportTests {
    /// `count` epochs whose losses fall and accuracies rise, the test set a little behind the
    /// validation set and that behind training, so that the lines never cover each other.
    static func epochs(_ count: Int, validation: Bool = true, test: Bool = true) -> [EpochReport] {
        (1...count).map { epoch in
            let progress = Double(epoch - 1) / Double(max(count - 1, 1))
            return EpochReport(
                epoch: epoch, trainLoss: 1.0 - 0.7 * progress, trainAccuracy: 0.6 + 0.32 * progress,
                testLoss: test ? 1.3 - 0.6 * progress : nil, testAccuracy: test ? 0.45 + 0.3 * progress : nil,
                validationLoss: validation ? 1.15 - 0.65 * progress : nil,
                validationAccuracy: validation ? 0.52 + 0.31 * progress : nil,
                seconds: 1.5 + 0.01 * Double(epoch), samplesPerSecond: 40_000 + Double(epoch))
        }
    }

    /// A Fashion-MNIST-like matrix: most of each class on the diagonal.
    static func confusion(classes: Int = 10, named: Bool = true) -> ConfusionMatrix {
        let counts = (0..<(classes * classes)).map { i -> Int in
            let (target, predicted) = (i / classes, i % classes)
            return target == predicted ? 800 + 10 * target : (target * 7 + predicted * 3) % 40
        }
        return ConfusionMatrix(
            classes: classes, counts: counts, classNames: named ? ConfusionMatrix.fashionMNISTClassNames : nil)
    }

    static let settings: [RunReport.Setting] = [
        .init(name: "device", value: "CPU (OpenBLAS, 2 threads)"),
        .init(name: "network", value: "784-30-10 (sigmoid,sigmoid)"),
        .init(name: "note", value: "<b>bold</b> & \"quoted\", with a comma,\nand a second line"),
        .init(name: "title", value: "a setting named title, not in the first row"),
        .init(name: "", value: ""),
    ]

    static func report(epochs count: Int = 7) -> RunReport {
        RunReport(title: "bpnet train <Fashion-MNIST>", settings: settings, epochs: epochs(count), confusion: confusion())
    }

    static func write(_ text: String, _ name: String, in folder: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: folder + "/" + name))
    }

    static func read(_ name: String, in folder: String) throws -> String {
        try String(contentsOfFile: folder + "/" + name, encoding: .utf8)
    }

    // MARK: Files

    @Test(arguments: [
        RunReport(title: "one epoch", epochs: ReportTests.epochs(1, validation: false, test: false)),
        RunReport(
            title: "bpnet train", settings: ReportTests.settings, epochs: ReportTests.epochs(17, validation: false),
            confusion: ReportTests.confusion(named: false)),
        RunReport(
            title: "", settings: ReportTests.settings, epochs: ReportTests.epochs(3, test: false),
            confusion: ReportTests.confusion(classes: 3, named: false)),
        ReportTests.report(),
        RunReport(title: "no epochs", epochs: []),
    ])
    func writeThenLoadIsTheSameReport(report: RunReport) throws {
        let folder = try TestData.temporaryFolder() + "/nested/report"  // created by write
        try report.write(to: folder)
        #expect(try RunReport.load(from: folder) == report)
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        let expected = ["curves.svg", "index.html", "metrics.csv", "settings.csv"]
            + (report.confusion == nil ? [] : ["confusion.csv", "confusion.svg"])
        #expect(files == expected.sorted(), "no temporary files left behind")
        // Writing the loaded report again gives the same bytes: the page can be rebuilt exactly.
        let page = try Self.read("index.html", in: folder)
        try RunReport.load(from: folder).write(to: folder)
        #expect(try Self.read("index.html", in: folder) == page)
    }

    @Test func metricsAreTheDocumentedColumns() throws {
        let folder = try TestData.temporaryFolder()
        var epochs = Self.epochs(2, validation: false)
        epochs[1].trainLoss = 0.1 + 0.2  // 0.30000000000000004 must come back bit for bit
        try RunReport(title: "t", epochs: epochs).write(to: folder)
        let lines = try Self.read("metrics.csv", in: folder).split(separator: "\n")
        #expect(lines.first == "epoch,train_loss,train_accuracy,validation_loss,validation_accuracy,test_loss,test_accuracy,seconds,samples_per_second")
        let fields = lines[2].split(separator: ",", omittingEmptySubsequences: false)
        #expect(fields.count == 9 && fields[0] == "2" && fields[1] == "0.30000000000000004")
        #expect(fields[3] == "" && fields[4] == "", "no validation set: empty fields")
        #expect(try RunReport.load(from: folder).epochs[1].trainLoss == 0.1 + 0.2)
    }

    @Test func aReportWithoutAConfusionMatrixRemovesTheOldOne() throws {
        let folder = try TestData.temporaryFolder()
        try Self.report().write(to: folder)
        var report = Self.report()
        report.confusion = nil
        try report.write(to: folder)
        #expect(!FileManager.default.fileExists(atPath: folder + "/confusion.csv"))
        #expect(!FileManager.default.fileExists(atPath: folder + "/confusion.svg"))
        #expect(try RunReport.load(from: folder) == report)
        #expect(!(try Self.read("index.html", in: folder)).contains("class=\"confusion\""))
    }

    @Test func aMatrixThatDoesNotHoldTogetherIsAnErrorNotATrap() throws {
        let folder = try TestData.temporaryFolder()
        for matrix in [
            ConfusionMatrix(classes: 3, counts: [1, 2]),
            ConfusionMatrix(classes: 2, counts: [1, -2, 3, 4]),
            ConfusionMatrix(classes: 2, counts: [Int.max, 1, 0, 0]),
            ConfusionMatrix(classes: 2, counts: [1, 2, 3, 4], classNames: ["one"]),
            ConfusionMatrix(classes: 0, counts: []),
            ConfusionMatrix(classes: Int.max, counts: []),
        ] {
            #expect(throws: BPNetError.self) { try RunReport(title: "t", epochs: [], confusion: matrix).write(to: folder) }
        }
    }

    /// The load error for a report folder holding `files` (beside a good metrics.csv unless given).
    func loadError(_ files: [String: String]) throws -> String {
        let folder = try TestData.temporaryFolder()
        try Self.report().write(to: folder)
        for (name, text) in files { try Self.write(text, name, in: folder) }
        do {
            _ = try RunReport.load(from: folder)
            Issue.record("\(files.keys) loaded")
            return ""
        } catch let error as BPNetError {
            let message = error.description
            #expect(!message.contains("\n"), "one line: \(message)")
            return message
        }
    }

    static let header = "epoch,train_loss,train_accuracy,validation_loss,validation_accuracy,test_loss,test_accuracy,seconds,samples_per_second\n"

    @Test func malformedFilesAreOneLineErrorsNamingFileAndLine() throws {
        let cases: [(name: String, text: String, message: String)] = [
            ("metrics.csv", Self.header + "1,0.5,0.9,,,,,1,2\n2,0.4,zero,,,,,1,2\n", "metrics.csv: line 3, column 3 (train_accuracy): 'zero' is not a number"),
            ("metrics.csv", Self.header + "1,0.5,0.9,,,,,1\n", "metrics.csv: line 2 has 8 columns, expected 9"),
            ("metrics.csv", Self.header + "1.5,0.5,0.9,,,,,1,2\n", "line 2, column 1 (epoch): '1.5' is not a whole number"),
            ("metrics.csv", Self.header + "1,,0.9,,,,,1,2\n", "line 2, column 2 (train_loss) is empty"),
            ("metrics.csv", "epoch,loss\n1,2\n", "metrics.csv: line 1: the header is not epoch,train_loss"),
            ("metrics.csv", "", "metrics.csv: is empty"),
            ("metrics.csv", Self.header + "1,\"0.5,0.9,,,,,1,2\n", "metrics.csv: line 2: a quoted field is not closed"),
            ("metrics.csv", Self.header + "1,0\"5,0.9,,,,,1,2\n", "metrics.csv: line 2: a quote inside an unquoted field"),
            ("confusion.csv", "class,0,1\n0,5,-1\n1,0,3\n", "confusion.csv: line 2, column 3: '-1' is not a count"),
            ("confusion.csv", "class,0,1\n0,5,1\n1,0,99999999999999999999\n", "confusion.csv: line 3, column 3: '99999999999999999999' is not a count"),
            ("confusion.csv", "class,0,1\n0,5,1\n1,0,3,4\n", "confusion.csv: line 3 has 4 columns, expected 3"),
            ("confusion.csv", "class,0,1\n0,5,1\n", "confusion.csv: holds 1 row of counts for 2 classes"),
            ("confusion.csv", "class,0,2\n0,5,1\n1,0,3\n", "confusion.csv: line 1, column 3: '2' where predicted class 1 belongs"),
            ("confusion.csv", "class,name,0,1\n1,a,5,1\n0,b,0,3\n", "confusion.csv: line 2, column 1: '1' where true class 0 belongs"),
            ("confusion.csv", "class,0,1\n0,\(Int.max),1\n1,0,3\n", "confusion.csv: line 2: the counts sum past"),
            ("confusion.csv", "class\n", "confusion.csv: line 1: the header names no predicted classes"),
            ("confusion.csv", "class," + (0...5000).map(String.init).joined(separator: ",") + "\n",
             "confusion.csv: line 1: 5001 classes; a report holds at most 4096"),
            ("settings.csv", "name,value\ntitle,t\na,b,c\n", "settings.csv: line 3 has 3 columns, expected 2"),
            ("settings.csv", "name,value\n\"a\"b,c\n", "settings.csv: line 2: text after a quoted field's closing quote"),
        ]
        for (name, text, message) in cases {
            let error = try loadError([name: text])
            #expect(error.contains(message), "\(name) \(text.prefix(80).debugDescription): \(error)")
        }
    }

    @Test func aMissingFolderOrMetricsFileIsAnError() throws {
        let folder = try TestData.temporaryFolder()
        #expect(throws: BPNetError.data(file: folder + "/missing", problem: "no such report folder")) {
            try RunReport.load(from: folder + "/missing")
        }
        #expect(throws: BPNetError.data(file: folder + "/metrics.csv", problem: "no such file")) {
            try RunReport.load(from: folder)
        }
    }

    // MARK: Drawings

    /// The `d` attribute's points: "M x,y" or "L x,y" each.
    static func points(_ d: String) -> [(x: Double, y: Double)] {
        d.split(separator: " ").compactMap { token in
            guard let command = token.first, command == "M" || command == "L" else { return nil }
            let xy = token.dropFirst().split(separator: ",").compactMap { Double($0) }
            return xy.count == 2 ? (xy[0], xy[1]) : nil
        }
    }

    /// The `<path class="series …">` elements of `markup`: their key, `data-points` and `d`.
    static func seriesPaths(_ markup: String) throws -> [String: (dataPoints: Int, d: String)] {
        let path = try Regex(#"<path class="series ([a-z]+-[a-z]+)"[^>]*?data-points="(\d+)"[^>]*?\sd="([^"]*)""#)
        var found: [String: (Int, String)] = [:]
        for match in markup.matches(of: path) {
            let key = String(match.output[1].substring ?? ""), points = Int(match.output[2].substring ?? "") ?? -1
            found[key] = (points, String(match.output[3].substring ?? ""))
        }
        return found
    }

    @Test func curvesSkipValuesThatAreNotFiniteAndSurviveConstantsAndOneEpoch() throws {
        var epochs = Self.epochs(5)
        epochs[1].trainLoss = .nan
        epochs[3].trainLoss = .infinity
        epochs[2].validationLoss = -.infinity
        epochs[0].testAccuracy = nil
        for index in epochs.indices { epochs[index].testLoss = 0.25 }  // constant
        let svg = CurvesSVG.svg(epochs, standalone: true)
        #expect(!svg.lowercased().contains("nan") && !svg.lowercased().contains("inf"), "no NaN or infinity in the drawing")
        let paths = try Self.seriesPaths(svg)
        #expect(paths["train-loss"]?.dataPoints == 3)
        #expect(Self.points(paths["train-loss"]?.d ?? "").count == 3)
        // Gaps start new sub-paths: points 1, 3 and 5 are each alone.
        #expect(paths["train-loss"]?.d.filter { $0 == "M" }.count == 3)
        #expect(paths["validation-loss"]?.dataPoints == 4 && paths["test-loss"]?.dataPoints == 5)
        #expect(paths["test-accuracy"]?.dataPoints == 4)
        #expect(Set(paths.keys).count == 6)

        let one = CurvesSVG.svg(Self.epochs(1, validation: false, test: false), standalone: true)
        let onePaths = try Self.seriesPaths(one)
        #expect(Set(onePaths.keys) == ["train-loss", "train-accuracy"])
        #expect(onePaths.values.allSatisfy { $0.dataPoints == 1 && Self.points($0.d).count == 1 })
        #expect(one.components(separatedBy: "<circle").count - 1 == 2, "a single epoch is drawn as a dot")
        #expect(!one.lowercased().contains("nan"))
        #expect(CurvesSVG.svg([], standalone: true).contains("no epochs"))
    }

    @Test func axesHandleConstantsExtremesAndNothing() {
        for values in [[0.25, 0.25], [0], [], [.nan, .infinity], [-.greatestFiniteMagnitude, .greatestFiniteMagnitude],
                       [.leastNonzeroMagnitude], [1e20, 1e20 + 1e5], [0.1, 0.30000000000000004]] as [[Double]] {
            let axis = Axis(values)
            #expect(axis.lower.isFinite && axis.upper.isFinite && axis.lower < axis.upper, "\(values)")
            #expect(!axis.ticks.isEmpty && axis.ticks.count <= 51)
            for value in values where value.isFinite {
                #expect((0...1).contains(axis.fraction(value)), "\(values)")
            }
            #expect(axis.ticks.allSatisfy { !axis.label($0).lowercased().contains("nan") })
        }
        let epochs = Axis([1], integral: true)
        #expect(epochs.ticks == [0, 1, 2] && epochs.ticks.map(epochs.label) == ["0", "1", "2"])
        let accuracy = Axis([60, 92])
        #expect(accuracy.ticks.map(accuracy.label) == ["60", "70", "80", "90", "100"])
        let small = Axis([0.31, 0.34])
        #expect(small.ticks.map(small.label) == ["0.31", "0.32", "0.33", "0.34"])
    }

    @Test func confusionDrawingScalesWithTheClassCount() throws {
        let ten = ConfusionSVG.svg(Self.confusion(), standalone: true)
        #expect(ten.components(separatedBy: "<rect class=\"cell\"").count - 1 == 100)
        #expect(ten.contains(">Ankle boot</text>") && ten.contains(">820</text>"))
        let escaped = ConfusionSVG.svg(
            ConfusionMatrix(classes: 2, counts: [1, 2, 3, 4], classNames: ["<a&b>", "\"q\" \u{1}"]), standalone: true)
        #expect(escaped.contains("&lt;a&amp;b&gt;") && escaped.contains("&quot;q&quot; \u{FFFD}") && !escaped.contains("<a&b>"))
        // 40 classes: every cell, but no text in them.
        let forty = ConfusionSVG.svg(Self.confusion(classes: 40, named: false), standalone: true)
        #expect(forty.components(separatedBy: "<rect class=\"cell\"").count - 1 == 1600)
        #expect(!forty.contains("<title>"))
        // 300 classes: blocks of two, 150 × 150.
        let many = ConfusionSVG.svg(Self.confusion(classes: 300, named: false), standalone: true)
        #expect(many.components(separatedBy: "<rect class=\"cell\"").count - 1 == 150 * 150)
        #expect(many.contains("classes in blocks of 2"))
    }

    // MARK: bpnet report

    @Test func reportCommandRebuildsThePageFromTheCSVFiles() throws {
        let folder = try TestData.temporaryFolder()
        try Self.report().write(to: folder)
        let page = try Self.read("index.html", in: folder), curves = try Self.read("curves.svg", in: folder)
        try FileManager.default.removeItem(atPath: folder + "/index.html")
        try FileManager.default.removeItem(atPath: folder + "/curves.svg")
        let result = try CLI.run(["report", folder])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdoutLines == [folder + "/index.html"])
        #expect(try Self.read("index.html", in: folder) == page)
        #expect(try Self.read("curves.svg", in: folder) == curves)

        let missing = try CLI.run(["report", folder + "/missing"])
        #expect(missing.status != 0)
        #expect(missing.stderr == "error: \(folder)/missing: no such report folder\n")

        try Self.write("class,0\n0,-3\n", "confusion.csv", in: folder)
        let malformed = try CLI.run(["report", folder])
        #expect(malformed.status != 0)
        #expect(malformed.stderr.hasPrefix("error: \(folder)/confusion.csv: line 2, column 2: '-3' is not a count"))
        #expect(malformed.stderr.split(separator: "\n").count == 1)
    }

    /// `bpnet train --report`: one metrics row per epoch, and a confusion matrix of the test
    /// set whose diagonal gives the test accuracy the run reported.
    @Test func trainWritesTheReportEveryEpoch() throws {
        let folder = try TestData.temporaryFolder()
        try CSV.write(try TestData.classification(count: 100, inputs: 4, classes: 3, seed: 1), to: folder + "/train.csv")
        try CSV.write(try TestData.classification(count: 33, inputs: 4, classes: 3, seed: 2), to: folder + "/test.csv")
        let result = try CLI.run([
            "train", "--data", folder + "/train.csv", "--test", folder + "/test.csv", "--layers", "4,7,3", "--epochs", "3",
            "--batch-size", "17", "--device", "cpu", "--json", "--report", folder + "/report",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("report: \(folder)/report/index.html"))
        let report = try RunReport.load(from: folder + "/report")
        #expect(report.epochs.map(\.epoch) == [1, 2, 3])
        let last = try #require(try JSONSerialization.jsonObject(with: Data(result.stdoutLines[2].utf8)) as? [String: Any])
        let confusion = try #require(report.confusion)
        #expect(confusion.classes == 3 && confusion.total == 33)
        #expect(confusion.accuracy == last["test_accuracy"] as? Double)
        #expect(report.epochs.last?.testAccuracy == last["test_accuracy"] as? Double)
        #expect(report.settings.contains(.init(name: "network", value: "4-7-3")))
        #expect(FileManager.default.fileExists(atPath: folder + "/report/index.html"))

        // A folder that cannot be made fails before anything runs.
        let blocked = try CLI.run(["train", "--data", folder + "/train.csv", "--epochs", "1", "--report", folder + "/train.csv/report"])
        #expect(blocked.status != 0)
        #expect(blocked.stderr == "error: --report '\(folder)/train.csv/report': \(folder)/train.csv is not a folder\n")
        #expect(blocked.stdout.isEmpty)
    }

    // MARK: In a browser

    /// Runs headless Chromium with its own profile, killed after 60 s, output in files so that
    /// helper processes that keep a pipe open cannot hang the test.
    static func chromium(_ arguments: [String], in folder: String) throws -> (status: Int32, stdout: String, stderr: String) {
        let chromium = try #require(chromiumPath, "chromium is not installed, and CI=true requires it (make setup installs it)")
        let run = UUID().uuidString
        let (out, err) = ("\(folder)/chromium-\(run).out", "\(folder)/chromium-\(run).err")
        FileManager.default.createFile(atPath: out, contents: nil)
        FileManager.default.createFile(atPath: err, contents: nil)
        let process = Process()
        // timeout signals its whole process group, so Chromium's helpers go too.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = ["-k", "5", "60", chromium, "--headless", "--no-sandbox", "--disable-gpu",
                             "--user-data-dir=\(folder)/profile-\(run)", "--no-first-run", "--disable-dev-shm-usage",
                             "--hide-scrollbars", "--force-device-scale-factor=1", "--force-color-profile=srgb"] + arguments
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        try process.run()
        process.waitUntilExit()
        return (process.terminationStatus, try String(contentsOfFile: out, encoding: .utf8),
                try String(contentsOfFile: err, encoding: .utf8))
    }

    /// The page as Chromium builds it, and as it paints it: the DOM has every series with one
    /// point per epoch and every cell of the matrix; the screenshot has each series' color along
    /// the plots and the matrix's shades, which a blank or broken page cannot have.
    @Test(.enabled(
        if: ProcessInfo.processInfo.environment["CI"] == "true" || chromiumPath != nil,
        "chromium is not installed (apt-get install chromium)"))
    func chromiumDrawsThePage() throws {
        let folder = try TestData.temporaryFolder()
        let report = Self.report(epochs: 7)
        try report.write(to: folder)
        let page = try Self.read("index.html", in: folder)
        // Self-contained: nothing to fetch, nothing to run.
        for outside in ["<script", "src=", "<link", "url(", "http:", "https:", "@import"] {
            #expect(!page.contains(outside), "index.html holds \(outside)")
        }

        let dump = try Self.chromium(["--dump-dom", "file://\(folder)/index.html"], in: folder)
        #expect(dump.status == 0, "chromium --dump-dom failed: \(dump.stderr.suffix(2_000))")
        let dom = dump.stdout
        let paths = try Self.seriesPaths(dom)
        #expect(Set(paths.keys) == Set(["train", "validation", "test"].flatMap { ["\($0)-loss", "\($0)-accuracy"] }),
                "series in the DOM: \(paths.keys.sorted()); \(dom.prefix(1_000))")
        for (key, path) in paths {
            let points = Self.points(path.d)
            #expect(path.dataPoints == 7 && points.count == 7, "\(key): \(path.dataPoints) points, d = \(path.d)")
            #expect(path.d.filter { $0 == "M" }.count == 1, "\(key) is one unbroken line")
            #expect(zip(points, points.dropFirst()).allSatisfy { $0.x < $1.x }, "\(key) runs left to right")
        }
        // Falling loss is drawn going down the page (larger y), rising accuracy going up.
        if let loss = paths["train-loss"].map({ Self.points($0.d) }), let accuracy = paths["train-accuracy"].map({ Self.points($0.d) }) {
            #expect(loss.first!.y < loss.last!.y && accuracy.first!.y > accuracy.last!.y)
        }
        let cells = try Regex(#"<rect class="cell" data-target="(\d+)" data-predicted="(\d+)" data-count="(\d+)""#)
        let counts = dom.matches(of: cells).map { match in
            (Int(match.output[1].substring ?? "") ?? -1, Int(match.output[2].substring ?? "") ?? -1, Int(match.output[3].substring ?? "") ?? -1)
        }
        #expect(counts.count == 100)
        #expect(counts.allSatisfy { report.confusion?.count(target: $0.0, predicted: $0.1) == $0.2 })
        for name in ConfusionMatrix.fashionMNISTClassNames {
            #expect(dom.contains("class=\"row-label\"") && dom.contains(">\(name)</text>"), "class name \(name)")
        }
        // User text arrives as text, never as markup.
        #expect(dom.contains("&lt;b&gt;bold&lt;/b&gt; &amp; \"quoted\"") && !dom.contains("<b>bold</b>"))
        #expect(dom.contains("<h1>bpnet train &lt;Fashion-MNIST&gt;</h1>"))
        #expect(dom.contains("<td>7</td>") && dom.contains("epoch 7"))

        // The standalone drawings are well-formed XML: Chromium shows a parser error otherwise.
        for file in ["curves.svg", "confusion.svg"] {
            let svg = try Self.chromium(["--dump-dom", "file://\(folder)/\(file)"], in: folder)
            #expect(svg.status == 0 && svg.stdout.contains("<svg") && !svg.stdout.contains("parsererror"),
                    "\(file): \(svg.stdout.prefix(1_000)) \(svg.stderr.suffix(1_000))")
        }

        let png = folder + "/page.png"
        let shot = try Self.chromium(["--screenshot=\(png)", "--window-size=1200,1600", "file://\(folder)/index.html"], in: folder)
        #expect(shot.status == 0, "chromium --screenshot failed: \(shot.stderr.suffix(2_000))")
        let image = try PNGImage([UInt8](try Data(contentsOf: URL(fileURLWithPath: png))))
        #expect(image.width == 1200 && image.height == 1600)
        // Pixels of each series' color, and how far across the page they reach.
        let colors = [("train", (0x1f, 0x77, 0xb4)), ("validation", (0xff, 0x7f, 0x0e)), ("test", (0x2c, 0xa0, 0x2c))]
        var found = [String: (count: Int, minX: Int, maxX: Int)]()
        var shades = 0
        for y in 0..<image.height {
            for x in 0..<image.width {
                let p = image.rgb(x, y)
                for (name, c) in colors where abs(p.red - c.0) <= 12 && abs(p.green - c.1) <= 12 && abs(p.blue - c.2) <= 12 {
                    let seen = found[name] ?? (0, x, x)
                    found[name] = (seen.count + 1, min(seen.minX, x), max(seen.maxX, x))
                }
                // The matrix's purple ramp past half a row's share: the diagonal.
                let t = Double(255 - p.green) / 216
                let ramp = ConfusionSVG.shade(t)
                if t > 0.5, t <= 1, abs(p.red - ramp.red) <= 6, abs(p.blue - ramp.blue) <= 6 { shades += 1 }
            }
        }
        for (name, _) in colors {
            let seen = found[name] ?? (0, 0, 0)
            // Each line crosses both panels: about 2 × 420 px long and 2.5 px wide, with dots.
            #expect(seen.count > 1_000, "\(name): \(seen.count) pixels of its color in the screenshot")
            #expect(seen.maxX - seen.minX > 700, "\(name)'s pixels span x \(seen.minX)…\(seen.maxX), not both panels")
        }
        // Ten diagonal cells of 48 × 48 px, less their text.
        #expect(shades > 15_000, "\(shades) pixels in the matrix's dark shades")
    }
}
