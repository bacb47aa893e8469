import Foundation
import Testing

@Suite struct ReadmeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized

    /// The README's Swift example is the example target's source, so CI compiles and runs it.
    @Test func swiftExampleIsTheCompiledExample() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let example = try String(
            contentsOf: Self.root.appendingPathComponent("Sources/BPNetExample/main.swift"), encoding: .utf8)
        let marker = try #require(readme.range(of: "<!-- This block is Sources/BPNetExample/main.swift"))
        let afterMarker = readme[marker.upperBound...]
        let open = try #require(afterMarker.range(of: "```swift\n"))
        let close = try #require(afterMarker[open.upperBound...].range(of: "```\n"))
        #expect(String(afterMarker[open.upperBound..<close.lowerBound]) == example)
    }

    /// The quick start is the two commands, and CI runs the same `make test`.
    @Test func quickStartAndCIAgree() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(readme.contains("make demo") && readme.contains("make test"))
        let ci = try String(contentsOf: Self.root.appendingPathComponent(".ci/run"), encoding: .utf8)
        #expect(ci.contains("make test"))
    }
}
