/// A fully connected layer: f(x·Wᵀ + b) over a flat input, W `[outputs, inputs]`, as `torch.nn.Linear`.
struct Dense: LayerDefinition {
    var outputs: Int

    static let tokenName: String? = nil
    static let form = "a size"
    static let numbers = 1...1
    static func layer(_ numbers: [Int]) -> Architecture.Layer { .dense(outputs: numbers[0]) }

    var name: String { "dense" }
    var token: String { "\(outputs)" }
    var hasParameters: Bool { true }

    func outputShape(_ input: Architecture.Shape, _ fail: (String) -> BPNetError) throws -> Architecture.Shape {
        guard case .flat(let inputs) = input else {
            throw fail("a dense layer takes a flat input, but its input is \(input): put flatten before it")
        }
        guard outputs > 0 else { throw fail("needs a positive number of units") }
        let (weights, overflow) = inputs.multipliedReportingOverflow(by: outputs)
        guard !overflow, weights <= Network.maxElements else {
            throw fail("a \(inputs)→\(outputs) weight matrix holds more than \(Network.maxElements) values")
        }
        return .flat(outputs)
    }

    func weights(input: Architecture.Shape, output: Architecture.Shape) -> Architecture.Weights? {
        Architecture.Weights(layer: 0, dimensions: [outputs, input.count], outputs: outputs, inputs: input.count, fanOut: outputs, positions: 1)
    }

    // A: [rows, inputs] -> f(A·Wᵀ + b): [rows, outputs], the `linear` step.
    func stage(input: Architecture.Shape, output: Architecture.Shape, index: LayerStage.Index, isFirst: Bool) -> LayerStage {
        .weights(layer: index.weightLayer, geometry: nil)
    }

    func forward(_ x: [Float], input: Architecture.Shape, output: Architecture.Shape, parameters: LayerParameters) -> [Float] {
        parameters.weights!(x)
    }
}
