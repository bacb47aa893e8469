import Foundation
import Testing

@Suite struct ReadmeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized

    /// The README's Swift examples are the example targets' sources, so CI compiles them (and
    /// runs the first).
    @Test(arguments: ["BPNetExample", "BPNetDistributedExample"])
    func swiftExampleIsTheCompiledExample(target: String) throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let example = try String(
            contentsOf: Self.root.appendingPathComponent("Sources/\(target)/main.swift"), encoding: .utf8)
        let marker = try #require(readme.range(of: "<!-- This block is Sources/\(target)/main.swift"))
        let afterMarker = readme[marker.upperBound...]
        let open = try #require(afterMarker.range(of: "```swift\n"))
        let close = try #require(afterMarker[open.upperBound...].range(of: "```\n"))
        #expect(String(afterMarker[open.upperBound..<close.lowerBound]) == example)
    }

    /// The quick start is exactly the two commands, it names exactly the packages `make setup`
    /// installs, and CI's last step is exactly `make test`.
    @Test func quickStartAndCIAgree() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let quickStart = try #require(readme.components(separatedBy: "## Quick start\n").dropFirst().first)
        let block = try #require(quickStart.components(separatedBy: "```").dropFirst().first)
        let commands = block.split(separator: "\n").dropFirst().map { $0.split(separator: "#")[0].trimmingCharacters(in: .whitespaces) }
        #expect(commands == ["make demo", "make test"])

        let makefile = try String(contentsOf: Self.root.appendingPathComponent("Makefile"), encoding: .utf8)
        let packagesLine = try #require(makefile.split(separator: "\n").first { $0.hasPrefix("APT_PACKAGES := ") })
        let packages = packagesLine.dropFirst("APT_PACKAGES := ".count)
        let listed = try #require(quickStart.components(separatedBy: "they need (`").dropFirst().first?.components(separatedBy: "`)").first)
        #expect(listed.split(whereSeparator: \.isWhitespace) == packages.split(separator: " "))

        let ci = try String(contentsOf: Self.root.appendingPathComponent(".ci/run"), encoding: .utf8)
        let steps = ci.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        #expect(steps.contains("make test"))
    }
}
