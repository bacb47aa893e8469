import Foundation

/// A network's layers, each with its output shape and parameter count, and the totals, in the
/// manner of Keras's `model.summary()`. `bpnet summary MODEL` prints it.
public struct NetworkSummary: Sendable, Equatable, Encodable, CustomStringConvertible {
    public struct Row: Sendable, Equatable, Encodable {
        /// `input`, or the layer's kind and index, such as `dense_0`.
        public var layer: String
        /// The shape of one sample's output, such as `[30]`.
        public var output: [Int]
        /// The activation, or nil for the input.
        public var activation: String?
        public var parameters: Int
    }

    public var layers: [Row]
    public var parameters: Int

    public init(_ network: Network) {
        layers = [Row(layer: "input", output: [network.inputSize], activation: nil, parameters: 0)]
            + network.layers.enumerated().map { l, layer in
                Row(layer: "dense_\(l)", output: [layer.outputs], activation: layer.activation.rawValue,
                    parameters: layer.weights.count + layer.biases.count)
            }
        parameters = network.parameterCount
    }

    /// One row per layer, then the totals.
    public var description: String {
        let header = ["layer", "output", "activation", "parameters"]
        let cells = layers.map {
            [$0.layer, $0.output.map(String.init).joined(separator: "×"), $0.activation ?? "", Self.grouped($0.parameters)]
        }
        let widths = header.indices.map { column in ([header] + cells).map { $0[column].count }.max() ?? 0 }
        func line(_ row: [String]) -> String {
            // Names left-aligned, numbers right-aligned.
            row.enumerated().map { column, text in
                let pad = String(repeating: " ", count: widths[column] - text.count)
                return column == 0 || column == 2 ? text + pad : pad + text
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        return ([header] + cells).map(line).joined(separator: "\n")
            + "\ntotal: \(Self.grouped(parameters)) parameters (\(MemoryPlan.format(Double(parameters) * 4)) as float32)"
    }

    /// 23550 as 23,550.
    static func grouped(_ value: Int) -> String {
        let digits = String(value)
        return digits.enumerated().map { i, digit in
            (i > 0 && (digits.count - i) % 3 == 0 ? "," : "") + String(digit)
        }.joined()
    }
}
