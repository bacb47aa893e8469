import ArgumentParser
import BPNet
import Foundation

/// `bpnet report DIR`: the page and charts of a run report, rebuilt from its CSV files.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rebuild a run report's index.html, curves.svg and confusion.svg from its CSV files.",
        discussion: """
            DIR holds metrics.csv (required), and settings.csv and confusion.csv when the run had them. \
            Edit or replace them, and this draws the report again; it writes only the page and its charts, \
            never a CSV file. It prints the path of index.html.
            """)

    @Argument(help: "The report folder.")
    var directory: String

    func run() throws {
        let report = try RunReport.load(from: directory)
        try report.writePage(to: directory)
        print((directory as NSString).appendingPathComponent("index.html"))
    }
}
