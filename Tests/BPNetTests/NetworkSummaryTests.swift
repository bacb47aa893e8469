import BPNet
import BPNetTestSupport
import Foundation
import Testing

/// A model's summary: each layer's output shape and parameter count, and the totals.
@Suite struct NetworkSummaryTests {
    @Test func denseNetwork() throws {
        let network = try Network(sizes: [784, 30, 10], activations: [.relu, .softmax], seed: 1)
        let summary = NetworkSummary(network)
        #expect(summary.layers.map(\.layer) == ["input", "dense_0", "dense_1"])
        #expect(summary.layers.map(\.output) == [[784], [30], [10]])
        #expect(summary.layers.map(\.parameters) == [0, 784 * 30 + 30, 30 * 10 + 10])
        #expect(summary.parameters == 23_860 && summary.parameters == network.parameterCount)
        #expect(summary.description == """
            layer    output  activation  parameters
            input       784                       0
            dense_0      30  relu            23,550
            dense_1      10  softmax            310
            total: 23,860 parameters (93.2 KiB as float32)
            """)
        #expect(NetworkSummary(try Network(sizes: [1, 1])).description.hasSuffix("total: 2 parameters (8 bytes as float32)"))
    }

    @Test func summaryCommand() throws {
        let folder = try TestData.temporaryFolder()
        let model = folder + "/m.safetensors"
        let network = try Network(sizes: [5, 17, 3], activations: [.tanh, .sigmoid], seed: 2)
        try ModelFile.save(network, to: model)
        let table = try CLI.run(["summary", model])
        #expect(table.status == 0 && table.stdout == NetworkSummary(network).description + "\n", "\(table.stderr)")
        let json = try CLI.run(["summary", model, "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["parameters"] as? Int == 5 * 17 + 17 + 17 * 3 + 3)
        let layers = try #require(object["layers"] as? [[String: Any]])
        #expect(layers.map { $0["output"] as? [Int] ?? [] } == [[5], [17], [3]])
        // A file that records no activations needs --activations, as everywhere.
        let missing = try CLI.run(["summary", folder + "/nothing.safetensors"])
        #expect(missing.status != 0 && missing.stderr.hasPrefix("error: ") && missing.stderr.contains("no such file"))
    }
}
