import Foundation

/// A network's layers, each with its output shape and parameter count, and the totals, in the
/// manner of Keras's `model.summary()`. `bpnet summary MODEL` prints it.
public struct NetworkSummary: Sendable, Equatable, Encodable, CustomStringConvertible {
    public struct Row: Sendable, Equatable, Encodable {
        /// `input`, or the layer's kind and its index among the layers of its kind, such as
        /// `dense_0`, `conv2d_1`, `maxpool2d_0`, `avgpool2d_0`, `globalavgpool_0` or `flatten_0`.
        public var layer: String
        /// The shape of one sample's output, such as `[30]` or `[32, 14, 14]` (channels, height,
        /// width).
        public var output: [Int]
        /// The activation of a weight layer, or nil for the input, pooling and flatten.
        public var activation: String?
        public var parameters: Int
    }

    public var layers: [Row]
    public var parameters: Int

    public init(_ network: Network) {
        var rows = [Row(layer: "input", output: network.architecture.input.dimensions, activation: nil, parameters: 0)]
        var kinds: [String: Int] = [:]
        var weightLayer = 0
        for (layer, shape) in zip(network.architecture.layers, network.shapes) {
            let kind = layer.kind
            let index = kinds[kind, default: 0]
            kinds[kind] = index + 1
            var row = Row(layer: "\(kind)_\(index)", output: shape.dimensions, activation: nil, parameters: 0)
            if layer.isWeightLayer {
                let parameters = network.layers[weightLayer]
                (row.activation, row.parameters) = (parameters.activation.rawValue, parameters.weights.count + parameters.biases.count)
                weightLayer += 1
            } else if case .batchNorm = layer {
                // γ and β; the weight layer's activation applies after it.
                (row.activation, row.parameters) = (network.layers[weightLayer - 1].activation.rawValue, 2 * shape.dimensions[0])
                rows[rows.count - 1].activation = "identity"
            }
            rows.append(row)
        }
        layers = rows
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
