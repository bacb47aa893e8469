import BPNet
import BPNetTestSupport
import Foundation
import Testing

/// The README is the user's path and `docs/` holds the internals: these tests keep the README's
/// structure, its links, its examples and its commands true, wherever the text lives.
@Suite struct ReadmeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized

    static func read(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    static func readme() throws -> String { try read("README.md") }

    /// The README's sections, in order, and the internals, one file each in `docs/`.
    static let headings = [
        "Contents", "Install", "Quick start", "Walk-through: your own CSV", "Use the library from your own package",
        "Recipes", "Command line", "Data", "Long runs", "Many devices and machines", "Model files",
        "The training rule", "Internals",
    ]
    static let docs = [
        "docs/backends-and-kernels.md", "docs/tests.md", "docs/performance.md", "docs/distributed.md",
        "docs/command-line.md", "docs/file-formats.md", "docs/onnx.md", "docs/swift-api.md",
    ]

    /// The text of `## name` up to the next `## ` heading.
    static func section(_ name: String, of text: String) throws -> String {
        let start = try #require(text.range(of: "\n## \(name)\n"), "no section \(name)")
        let rest = text[start.upperBound...]
        return String(rest[..<(rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex)])
    }

    /// The lines outside fenced code blocks, and the code blocks' bodies.
    static func split(_ text: String) -> (prose: [String], blocks: [String]) {
        var prose: [String] = [], blocks: [String] = [], block: [String]? = nil
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.trimmingCharacters(in: .whitespaces).hasPrefix("```") {
                if let open = block { blocks.append(open.joined(separator: "\n")); block = nil } else { block = [] }
            } else if block != nil {
                block!.append(line)
            } else {
                prose.append(line)
            }
        }
        return (prose, blocks)
    }

    /// The first code block after `marker`.
    static func block(after marker: String, in text: String) throws -> String {
        let start = try #require(text.range(of: marker), "no \(marker)")
        return try #require(split(String(text[start.upperBound...])).blocks.first)
    }

    /// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
    static func slug(_ heading: String) -> String {
        String(heading.lowercased().compactMap { c -> Character? in
            c == " " ? "-" : (c.isLetter || c.isNumber || c == "-" || c == "_") ? c : nil
        })
    }

    /// A relative path with its `.` and `..` resolved.
    static func normalized(_ path: String) -> String {
        var kept: [Substring] = []
        for part in path.split(separator: "/") where part != "." {
            if part == "..", !kept.isEmpty { kept.removeLast() } else { kept.append(part) }
        }
        return kept.joined(separator: "/")
    }

    /// The shell commands of a code block: `\` continuations joined, comments dropped.
    static func commands(_ block: String) -> [[String]] {
        block.replacingOccurrences(of: "\\\n", with: " ").split(separator: "\n").compactMap { line in
            let words = line.split(separator: " ").map(String.init)
            let kept = words.prefix { !$0.hasPrefix("#") }
            return kept.isEmpty ? nil : Array(kept)
        }
    }

    // MARK: The structure

    /// The README stays short, its sections come in this order, and its contents list links every
    /// one of them.
    @Test func structureAndContents() throws {
        let readme = try Self.readme()
        let lines = readme.split(separator: "\n", omittingEmptySubsequences: false).count - 1
        #expect(lines <= 350, "README.md has \(lines) lines")
        let prose = Self.split(readme).prose
        #expect(prose.filter { $0.hasPrefix("# ") } == ["# BPNet"])
        #expect(prose.filter { $0.hasPrefix("## ") }.map { String($0.dropFirst(3)) } == Self.headings)

        let contents = try Self.section("Contents", of: readme)
        let entries = contents.split(separator: "\n").filter { $0.hasPrefix("- ") }.map(String.init)
        #expect(entries == Self.headings.dropFirst().map { "- [\($0)](#\(Self.slug($0)))" })
    }

    /// Every link between the README and `docs/` reaches a file, and a heading of it where it
    /// names one; every file of the internals is linked from the README.
    @Test func linksResolve() throws {
        let files = ["README.md"] + Self.docs
        var anchors: [String: Set<String>] = [:]
        for file in files {
            let prose = Self.split(try Self.read(file)).prose
            anchors[file] = Set(prose.filter { $0.hasPrefix("#") }.map { Self.slug($0.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces)) })
        }
        let link = /\]\(([^)\s]+)\)/
        for file in files {
            let folder = (file as NSString).deletingLastPathComponent
            for line in Self.split(try Self.read(file)).prose {
                for match in line.matches(of: link) {
                    let target = String(match.1)
                    if target.hasPrefix("http://") || target.hasPrefix("https://") { continue }
                    let parts = target.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                    let path = parts[0].isEmpty ? file : Self.normalized(folder.isEmpty ? parts[0] : folder + "/" + parts[0])
                    #expect(FileManager.default.fileExists(atPath: Self.root.appendingPathComponent(path).path), "\(file): \(target)")
                    if parts.count == 2 {
                        #expect(anchors[path]?.contains(parts[1]) == true, "\(file): \(target) names no heading of \(path)")
                    }
                }
            }
        }
        let readme = try Self.readme()
        for doc in Self.docs { #expect(readme.contains("](\(doc))"), "the README does not link \(doc)") }
    }

    /// The internals left the README for `docs/`, with their sections and commands.
    @Test func internalsLiveInDocs() throws {
        let readme = try Self.readme()
        for heading in ["## Backends and kernels", "## Tests", "## Performance", "### Speed and scaling", "## The Swift API"] {
            #expect(!readme.contains("\n\(heading)\n"), "\(heading) is still in the README")
        }
        let moved: [String: [String]] = [
            "docs/backends-and-kernels.md": [
                "## The backends", "## Numerics and the parity contract", "## `bpnet verify`",
                "BPNET_GEMM_TUNING=$t bpnet bench --gemm-only --configs BC --output \"gemm-$t.json\"",
            ],
            "docs/tests.md": ["## `make test`", "`make test-sanitize`", "`make fuzz`"],
            "docs/performance.md": ["## `bpnet bench`", "**`make bench`**", "**`make bench-compare`**"],
            "docs/distributed.md": ["## The design", "## In Swift", "## Speed and scaling", "`make bench-distributed`"],
        ]
        for (file, texts) in moved {
            let text = try Self.read(file)
            for needle in texts { #expect(text.contains(needle), "\(file) lacks \(needle)") }
        }
    }

    // MARK: Examples

    /// The Swift examples are the example targets' sources, so CI compiles them (and runs the
    /// first): the library's in the README, the distributed one in docs/distributed.md, the ONNX
    /// one in docs/onnx.md.
    @Test(arguments: zip(["BPNetExample", "BPNetDistributedExample", "BPNetONNXExample"], ["README.md", "docs/distributed.md", "docs/onnx.md"]))
    func swiftExampleIsTheCompiledExample(target: String, file: String) throws {
        let text = try Self.read(file)
        let example = try Self.read("Sources/\(target)/main.swift")
        let marker = try #require(text.range(of: "<!-- This block is Sources/\(target)/main.swift"))
        let afterMarker = text[marker.upperBound...]
        let open = try #require(afterMarker.range(of: "```swift\n"))
        let close = try #require(afterMarker[open.upperBound...].range(of: "```\n"))
        #expect(String(afterMarker[open.upperBound..<close.lowerBound]) == example)
    }

    /// The `Package.swift` snippet names the library's product with this package's tools version,
    /// and the text around it names the Swift version and the OS.
    @Test func packageSnippet() throws {
        let section = try Self.section("Use the library from your own package", of: try Self.readme())
        let snippet = try Self.block(after: "<!-- The Package.swift snippet", in: section)
        let package = try Self.read("Package.swift")
        let toolsVersion = try #require(package.split(separator: "\n").first)
        #expect(toolsVersion == "// swift-tools-version:6.0")
        #expect(snippet.hasPrefix(toolsVersion + "\nimport PackageDescription\n"))
        #expect(package.contains(".library(name: \"BPNet\", targets: [\"BPNet\"])"))
        #expect(snippet.contains(".product(name: \"BPNet\", package: \"bpnet\")"))
        #expect(snippet.contains(".package(path: \"../bpnet\")"))
        #expect(section.contains("It needs Swift 6.0\n(tools version 6.0) and Linux"))
    }

    // MARK: Set-up

    /// The quick start is exactly the two commands; it names exactly the packages each installs,
    /// as the Makefile lists them; and CI's step is exactly `make test`.
    @Test func quickStartAndCIAgree() throws {
        let readme = try Self.readme()
        let quickStart = try Self.section("Quick start", of: readme)
        let block = try #require(Self.split(quickStart).blocks.first)
        #expect(Self.commands(block).map { $0.joined(separator: " ") } == ["make demo", "make test"])

        let makefile = try Self.read("Makefile").split(separator: "\n").map(String.init)
        func packages(_ variable: String) throws -> [Substring] {
            let line = try #require(makefile.first { $0.hasPrefix("\(variable) := ") })
            return line.dropFirst("\(variable) := ".count).split(separator: " ")
        }
        func listed(after marker: String) throws -> [Substring] {
            let text = try #require(quickStart.components(separatedBy: marker).dropFirst().first?.components(separatedBy: "`)").first)
            return text.split(whereSeparator: \.isWhitespace)
        }
        #expect(try listed(after: "installs the Debian packages it needs (`") == packages("DEMO_PACKAGES"))
        #expect(try listed(after: "also the test tools (`") == packages("TEST_PACKAGES"))
        #expect(try packages("APT_PACKAGES") == ["$(DEMO_PACKAGES)", "$(TEST_PACKAGES)"])

        let ci = try Self.read(".ci/run")
        let steps = ci.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        #expect(steps.contains("make test"))
    }

    /// `make` run dry in the repository: the packages a target checks, and where it installs.
    /// Nothing of a calling `make test` (its flags, a PREFIX or DESTDIR) reaches it.
    static func makeDryRun(_ arguments: [String]) throws -> String {
        let clean = ["MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "PREFIX", "DESTDIR"].flatMap { ["-u", $0] }
        let result = try CLI.run(
            clean + ["make", "-n", "--no-print-directory"] + arguments, executable: "/usr/bin/env", currentDirectory: root.path)
        #expect(result.status == 0, "make -n \(arguments): \(result.stderr)")
        return result.stdout
    }

    /// `make demo` installs only the demo's packages; `make test` the test tools too.
    @Test func demoInstallsOnlyWhatTheDemoNeeds() throws {
        func checked(_ target: String) throws -> [Substring] {
            let output = try Self.makeDryRun([target])
            let line = try #require(output.split(separator: "\n").first { $0.hasPrefix("for p in ") })
            return line.dropFirst("for p in ".count).split(separator: ";")[0].split(separator: " ")
        }
        let demo: [Substring] = [
            "libopenblas-dev", "zlib1g-dev", "ocl-icd-opencl-dev", "opencl-headers", "pocl-opencl-icd", "libopenmpi-dev",
            "dataset-fashion-mnist",
        ]
        let tools: [Substring] = ["clinfo", "oclgrind", "chromium", "openmpi-bin"]
        #expect(try checked("demo") == demo)
        #expect(try checked("test") == demo + tools)
    }

    /// `make install` copies the release binary to $(DESTDIR)$(PREFIX)/bin, /usr/local by
    /// default, as the Install section says.
    @Test func makeInstall() throws {
        #expect(try Self.makeDryRun(["install"]).contains("\ninstall -m 755 .build/release/bpnet /usr/local/bin/bpnet\n"))
        let staged = try Self.makeDryRun(["install", "PREFIX=/opt/bpnet", "DESTDIR=/tmp/stage"])
        #expect(staged.contains("\ninstall -m 755 .build/release/bpnet /tmp/stage/opt/bpnet/bin/bpnet\n"))
        let install = try Self.section("Install", of: try Self.readme())
        let commands = Self.commands(try #require(Self.split(install).blocks.first)).map { $0.joined(separator: " ") }
        #expect(commands == ["make build", "make install", "make install PREFIX=$HOME/.local"])
        #expect(install.contains("`make build` leaves the binary at `.build/release/bpnet`."))
    }

    // MARK: Commands

    /// Every `bpnet` command in a code block of the README or `docs/` uses only options that its
    /// subcommand's `--help` lists, and the README's synopsis lists every option of every
    /// subcommand.
    @Test func commandsUseRealOptions() throws {
        var help: [String: Set<String>] = [:]
        // Every subcommand that `bpnet --help` lists, so a new one must be in the synopsis too.
        let root = try CLI.run(["--help"]).stdout
        let subcommands = try #require(root.components(separatedBy: "SUBCOMMANDS:\n").dropFirst().first)
            .split(separator: "\n", omittingEmptySubsequences: false).prefix { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            .compactMap { $0.hasPrefix("  ") && !$0.hasPrefix("   ") ? $0.split(separator: " ").first.map(String.init) : nil }
            .filter { $0 != "help" }  // ArgumentParser's own
        #expect(subcommands.count >= 8 && subcommands.contains("summary"), "\(subcommands)")
        for subcommand in subcommands {
            let result = try CLI.run([subcommand, "--help"])
            help[subcommand] = Set((result.stdout + result.stderr).matches(of: /--[a-z][a-z0-9-]*/).map { String($0.0) })
                .subtracting(["--help", "--version"])
            #expect(help[subcommand]?.isEmpty == false || ["devices", "report"].contains(subcommand))
        }
        var found = 0
        for file in ["README.md"] + Self.docs {
            for block in Self.split(try Self.read(file)).blocks {
                // A command goes on over indented lines, as the synopsis does and `\` lines do.
                var commands: [String] = [], current: String? = nil
                for line in block.replacingOccurrences(of: "\\\n", with: " ").split(separator: "\n").map(String.init) {
                    if let range = line.range(of: #"(^|\s)bpnet [a-z]+"#, options: .regularExpression) {
                        if let current { commands.append(current) }
                        current = String(line[range]).trimmingCharacters(in: .whitespaces) + line[range.upperBound...]
                    } else if line.hasPrefix(" "), current != nil {
                        current! += " " + line
                    } else {
                        if let current { commands.append(current) }
                        current = nil
                    }
                }
                if let current { commands.append(current) }
                for command in commands {
                    let subcommand = String(command.dropFirst("bpnet ".count).prefix { $0.isLetter })
                    let known = try #require(help[subcommand], "\(file): \(command)")
                    let options = Set(command.split(separator: "#")[0].matches(of: /--[a-z][a-z0-9-]*/).map { String($0.0) })
                    #expect(options.isSubset(of: known), "\(file): \(command) uses \(options.subtracting(known).sorted())")
                    found += 1
                }
            }
        }
        #expect(found >= 15, "found only \(found) bpnet commands")

        let synopsis = try #require(Self.split(try Self.section("Command line", of: try Self.readme())).blocks.first)
        for (subcommand, options) in help {
            let entry = try #require(synopsis.components(separatedBy: "\nbpnet ").first { $0.hasPrefix(subcommand) || $0.hasPrefix("bpnet " + subcommand) })
            let listed = Set(entry.matches(of: /--[a-z][a-z0-9-]*/).map { String($0.0) })
            #expect(listed == options, "the synopsis of \(subcommand): missing \(options.subtracting(listed).sorted()), extra \(listed.subtracting(options).sorted())")
        }
    }

    /// Writes `count` rows of four measurements and a class in 0..<3: three clusters that a small
    /// network separates. With `labels` false, the rows hold the inputs only.
    static func flowers(_ count: Int, seed: UInt64, labels: Bool = true) -> String {
        let centres: [[Float]] = [[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]]
        let noise = TestData.uniform(count * 4, seed: seed, in: -0.25...0.25)
        var text = labels ? "sepal_length,sepal_width,petal_length,petal_width,species\n" : ""
        for row in 0..<count {
            let inputs = (0..<4).map { String(format: "%.2f", centres[row % 3][$0] + noise[row * 4 + $0]) }
            text += (inputs + (labels ? ["\(row % 3)"] : [])).joined(separator: ",") + "\n"
        }
        return text
    }

    /// The walk-through's commands, exactly as the README gives them, train on a CSV file, save,
    /// evaluate and predict.
    @Test func walkThroughRuns() throws {
        let section = try Self.section("Walk-through: your own CSV", of: try Self.readme())
        let commands = Self.commands(try Self.block(after: "<!-- The walk-through:", in: section))
        #expect(commands.map { Array($0.prefix(2)) } == [["bpnet", "train"], ["bpnet", "evaluate"], ["bpnet", "predict"]])
        #expect(section.contains("\nsepal_length,sepal_width,petal_length,petal_width,species\n"))

        let folder = try TestData.temporaryFolder()
        try Self.flowers(120, seed: 1).write(toFile: folder + "/train.csv", atomically: true, encoding: .utf8)
        try Self.flowers(30, seed: 2).write(toFile: folder + "/test.csv", atomically: true, encoding: .utf8)
        try Self.flowers(6, seed: 3, labels: false).write(toFile: folder + "/new.csv", atomically: true, encoding: .utf8)
        var outputs: [String] = []
        for command in commands {
            let result = try CLI.run(Array(command.dropFirst()), environment: ["BPNET_DEVICE": "cpu"], currentDirectory: folder)
            #expect(result.status == 0, "\(command.joined(separator: " ")): \(result.stderr)")
            outputs.append(result.stdout)
        }
        #expect(FileManager.default.fileExists(atPath: folder + "/model.safetensors"))
        #expect(outputs[0].contains("final test accuracy: "))
        let evaluation = outputs[1].split(separator: "\n")
        #expect(evaluation.first == "samples: 30" && evaluation.last == "accuracy: 1.0000", "\(outputs[1])")
        // Well-separated clusters: every prediction is the class of its row's cluster.
        #expect(outputs[2].split(separator: "\n") == ["0", "1", "2", "0", "1", "2"], "\(outputs[2])")
    }

    /// The memory examples fit Fashion-MNIST's 784 inputs and 10 classes. The 32-bit limit is
    /// refused with exactly the quoted message on every machine, and the other's quoted figure
    /// is the plan's.
    @Test func memoryExamplesSayWhatTheyQuote() throws {
        let text = try Self.section("Command line", of: try Self.readme()).replacingOccurrences(of: "\n  ", with: " ")
        let memory = try #require(text.components(separatedBy: "- **Memory.**").dropFirst().first)
        let quoted = memory.matches(of: /`bpnet train --layers ([0-9,]+)`[^`]* says `([^`]+)`/).map { (String($0.1), String($0.2)) }
        #expect(quoted.count == 2, "\(quoted)")
        for (layers, message) in quoted {
            let sizes = layers.split(separator: ",").compactMap { Int($0) }
            #expect(sizes.first == 784 && sizes.last == 10, "\(layers)")
            if message.hasPrefix("training needs ") {
                let plan = try MemoryPlan(sizes: sizes, options: TrainingOptions(batchSize: 1))
                let needed = plan.hostParameterBytes + plan.backendBytes - plan.dataBytes
                #expect(message.hasPrefix(String(format: "training needs %.1f GiB on cpu, which has ", needed / 1_073_741_824)), "\(message)")
            } else {
                let result = try CLI.run(["train", "--layers", layers, "--device", "cpu"])
                #expect(result.status != 0 && result.stderr == message + "\n", "\(result.stderr)")
            }
        }
    }

    /// The distributed example's options train: one process, on 2 000 samples for one epoch, is
    /// already far above chance (the example once trained wide sigmoid layers at η 3, to 10 %).
    @Test(.enabled(
        if: ProcessInfo.processInfo.environment["CI"] == "true" || FileManager.default.fileExists(atPath: DataSource.fashionMNISTFolder),
        "needs dataset-fashion-mnist"))
    func distributedExampleTrains() throws {
        let section = try Self.section("Many devices and machines", of: try Self.readme())
        let block = try #require(Self.split(section).blocks.first)
        let command = try #require(Self.commands(block).first)
        #expect(command.prefix(3) == ["mpirun", "-np", "4"] && command[3...5] == ["bpnet", "train", "--distributed"])
        // One process computes what the ranks do; a short run on the CPU, nothing written.
        var arguments: [String] = [], words = command.dropFirst(6).makeIterator()
        while let word = words.next() {
            if ["--device", "--epochs", "--checkpoint", "--save"].contains(word) { _ = words.next() } else { arguments.append(word) }
        }
        let result = try CLI.run(["train"] + arguments + ["--device", "cpu", "--epochs", "1", "--limit", "2000", "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        let line = try #require(result.stdout.split(separator: "\n").last { $0.hasPrefix("final test accuracy: ") })
        let accuracy = try #require(Double(line.dropFirst("final test accuracy: ".count).dropLast()))
        #expect(accuracy > 50, "\(arguments): \(line)")
    }

    // MARK: Terms

    /// "Nielsen's rule" is defined once, with the book and its link; "the seed's" rule or default
    /// is gone from the README and the docs.
    @Test func nielsensRuleIsDefined() throws {
        let readme = try Self.readme()
        let definition = "`make demo` trains with **Nielsen's rule**: the network and training rule of chapters 1–3 of\n"
            + "Michael Nielsen's [*Neural Networks and Deep Learning*](http://neuralnetworksanddeeplearning.com/),"
        #expect(readme.components(separatedBy: definition).count == 2)
        #expect(readme.components(separatedBy: "http://neuralnetworksanddeeplearning.com/").count == 2)
        for file in ["README.md"] + Self.docs {
            #expect(!(try Self.read(file)).contains("seed's"), "\(file) still says \"the seed's\"")
        }
    }

    /// The recipe's figures come from both backends measured in one session, on a named machine.
    /// The README's CNN recipe is the network that `bench` config E and the PyTorch side of
    /// `bench-compare` run, so the speed figures are the recipe's.
    @Test func recipeCNNIsTheBenchmarkedNetwork() throws {
        let recipes = try Self.section("Recipes", of: try Self.readme())
        let command = try #require(recipes.components(separatedBy: "--layers 1x28x28,").dropFirst().first)
        let layers = "1x28x28," + command.prefix { !$0.isWhitespace }
        for file in ["Sources/bpnet/Bench.swift", "benchmarks/compare.py", "benchmarks/torch_cnn.py"] {
            #expect(try Self.read(file).contains("\"\(layers)\""), "\(file) runs another network than the recipe's \(layers)")
        }
    }

    @Test func recipeTableNamesItsMachine() throws {
        let recipes = try Self.section("Recipes", of: try Self.readme())
        // Each recipe's table: a header, then a row per backend with three seeds, their mean
        // (which must be the seeds' mean) and the median epoch.
        let tables = recipes.components(separatedBy: "| backend |").dropFirst()
        #expect(tables.count == 2, "an MLP and a CNN")
        for table in tables {
            let rows = table.split(separator: "\n").filter { $0.hasPrefix("| ") }.map {
                $0.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            }
            #expect(rows.map { $0.first ?? "" } == ["CPU (OpenBLAS)", "OpenCL (PoCL)"], "\(rows)")
            for row in rows {
                let percents = row.dropFirst().prefix(4).map { Double($0.replacingOccurrences(of: "*", with: "").replacingOccurrences(of: " %", with: "")) }
                let seeds = percents.prefix(3).compactMap { $0 }
                #expect(seeds.count == 3 && percents.count == 4, "\(row)")
                if let mean = percents.last ?? nil, seeds.count == 3 {
                    #expect(abs(mean - seeds.reduce(0, +) / 3) < 0.006, "\(row): the mean of the seeds")
                }
            }
        }
        #expect(recipes.contains("AMD EPYC") && recipes.contains("one after the other in one session"))
    }
}
