import Foundation

/// A model described as data: its input's shape and its layers, each of which infers its output
/// shape from its input's, with PyTorch's rules. A `Network` holds one, with the parameters of
/// its weight layers.
///
/// The command-line form is `--layers`: `CxHxW` (or a bare number for flat inputs) first, then
/// `conv:C:K[:S[:P]]`, `batchnorm`, `maxpool:K[:S]`, `avgpool:K[:S]`, `gap`, `flatten`, or a bare number for a dense layer, such as
/// `1x28x28,conv:32:5:1:2,maxpool:2,conv:64:5:1:2,maxpool:2,flatten,1024,10`. `784,30,10` is
/// today's dense network.
public struct Architecture: Equatable, Sendable, CustomStringConvertible {
    /// One sample's shape: flat, or an NCHW image without its batch dimension.
    public enum Shape: Equatable, Sendable, CustomStringConvertible {
        case flat(Int)
        case image(channels: Int, height: Int, width: Int)

        public var count: Int {
            switch self {
            case .flat(let n): return n
            case .image(let c, let h, let w): return c * h * w
            }
        }

        /// `[30]` or `[32, 14, 14]`.
        public var dimensions: [Int] {
            switch self {
            case .flat(let n): return [n]
            case .image(let c, let h, let w): return [c, h, w]
            }
        }

        public var description: String { dimensions.map(String.init).joined(separator: "×") }
    }

    public var input: Shape
    public var layers: [Layer]

    public init(input: Shape, layers: [Layer]) {
        (self.input, self.layers) = (input, layers)
    }

    /// The `--layers` text that parses back to this: `784,30,10`, or
    /// `1x28x28,conv:32:5:1:2,maxpool:2:2,flatten,10`.
    public var description: String {
        let input: String
        switch self.input {
        case .flat(let n): input = "\(n)"
        case .image(let c, let h, let w): input = "\(c)x\(h)x\(w)"
        }
        return ([input] + layers.map(\.description)).joined(separator: ",")
    }

    /// Today's dense network: `[n0, n1, …, nL]`.
    public init(sizes: [Int]) {
        self.init(input: .flat(sizes[0]), layers: sizes.dropFirst().map { .dense(outputs: $0) })
    }

    /// Each layer's output shape, in order; an impossible shape is an error that names the layer
    /// (from 1, as `--layers` lists them after the input) and the sizes.
    public func shapes() throws -> [Shape] {
        try Self.check(input, what: "the input")
        guard !layers.isEmpty else { throw BPNetError.invalidArgument("layers: a model needs at least one layer after its input") }
        var shapes: [Shape] = []
        var current = input
        for (index, layer) in layers.enumerated() {
            func fail(_ problem: String) -> BPNetError { .invalidArgument("layer \(index + 1) (\(layer)): \(problem)") }
            // A batch norm takes the activation of the weight layer it follows.
            if layer.definition.normalizedChannels(input: current) != nil, index == 0 || !layers[index - 1].isWeightLayer {
                throw fail("normalizes a conv or dense layer's output and applies its activation: put it right after one")
            }
            current = try layer.definition.outputShape(current, fail)
            try Self.check(current, what: "layer \(index + 1) (\(layer))'s output")
            shapes.append(current)
        }
        return shapes
    }

    /// A weight layer's parameters: its weight as PyTorch holds it, and the matrix that weight is
    /// to the GEMM that runs the layer, `[outputs, inputs]`, with `positions` rows per sample.
    public struct Weights: Equatable, Sendable {
        /// The layer's index in `layers`.
        public var layer: Int
        /// `[out, in]`, or `[Cout, Cin, K, K]` for a convolution.
        public var dimensions: [Int]
        /// The matrix: outputs (Cout) by inputs, the fan-in (Cin·K·K for a convolution).
        public var outputs: Int
        public var inputs: Int
        /// Cout·K·K for a convolution, as PyTorch's initializers take it; outputs for a dense layer.
        public var fanOut: Int
        /// GEMM rows per sample: a convolution's output positions, 1 for a dense layer.
        public var positions: Int
        /// Weights and biases.
        public var count: Int { outputs * inputs + outputs }
    }

    /// Every weight layer's parameters, in order, as each layer's definition gives them:
    /// initialisation, model files, the summary and the benchmarks take them from here.
    public func weights() throws -> [Weights] {
        let outputs = try shapes()
        return zip([input] + outputs, zip(layers, outputs)).enumerated().compactMap { index, pair in
            let (inputShape, (layer, output)) = pair
            guard var weights = layer.definition.weights(input: inputShape, output: output) else { return nil }
            weights.layer = index
            return weights
        }
    }

    /// Parameters per layer: a weight layer's weights and biases, a batch norm's γ and β (its
    /// running statistics are buffers, not parameters, as in PyTorch), none for pooling and flatten.
    public func parameterCounts() throws -> [Int] {
        var counts = [Int](repeating: 0, count: layers.count)
        for weights in try weights() { counts[weights.layer] = weights.count }
        for (index, channels) in try normalizedChannels() { counts[index] = 2 * channels }
        return counts
    }

    /// Each batch norm's index in `layers` and its channels, in order.
    public func normalizedChannels() throws -> [(layer: Int, channels: Int)] {
        let shapes = try shapes()
        return zip([input] + shapes, layers).enumerated().compactMap { index, pair in
            pair.1.definition.normalizedChannels(input: pair.0).map { (index, $0) }
        }
    }

    /// The sizes of the dense network this describes, when it is one (a flat input and dense
    /// layers alone), else nil.
    public var denseSizes: [Int]? {
        guard case .flat(let n) = input else { return nil }
        var sizes = [n]
        for layer in layers {
            guard case .dense(let outputs) = layer else { return nil }
            sizes.append(outputs)
        }
        return sizes
    }

    /// For each layer, the weight layer (its index among the weight layers) whose activation it
    /// applies: a weight layer its own, unless a batch norm follows it, which then applies it;
    /// nil for pooling and flatten. The host forward pass and exporters read the order from here.
    public var activationOwners: [Int?] {
        var weightLayer = -1
        return layers.indices.map { index in
            if layers[index].isWeightLayer {
                weightLayer += 1
                return index + 1 < layers.count && layers[index + 1] == .batchNorm ? nil : weightLayer
            }
            return layers[index] == .batchNorm && weightLayer >= 0 ? weightLayer : nil
        }
    }

    /// Throws unless the last layer is dense: the output is one value per class or target.
    public func checkOutputLayer() throws {
        guard case .dense = layers.last else {
            throw BPNetError.invalidArgument(
                "the last layer must be dense, so that the output is one value per class or target: end with flatten and a size, such as ,flatten,10")
        }
    }

    /// `--layers` text: the input (`CxHxW` or a number), then one entry per layer.
    public init(parsing text: String) throws {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        func fail(_ problem: String) -> BPNetError { .invalidArgument("--layers '\(text)': \(problem)") }
        guard let first = parts.first, parts.count >= 2 else {
            throw fail("give the input and at least one layer, such as 784,30,10 or 1x28x28,conv:8:3,flatten,10")
        }
        let dimensions = first.split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
        switch dimensions.count {
        case 1 where dimensions[0] != nil: input = .flat(dimensions[0]!)
        case 3 where dimensions.allSatisfy({ $0 != nil }):
            input = .image(channels: dimensions[0]!, height: dimensions[1]!, width: dimensions[2]!)
        default: throw fail("the input '\(first)' is neither a number nor CxHxW, such as 1x28x28")
        }
        layers = try parts.dropFirst().enumerated().map { index, part in
            try Layer.parse(part) { fail("layer \(index + 1) '\(part)' \($0)") }
        }
    }

    /// nil when the window is larger than the padded input; a padding past Int's range gives a
    /// size past every limit, which the shape check then refuses.
    /// Kernels index the padded input with 32-bit integers, one stride past it included: sizes
    /// from a model file or `--layers` that pass that are an error, never a trap or a wrong window.
    static func checkWindow(
        _ h: Int, _ w: Int, kernel: Int, stride: Int, padding: Int, _ fail: (String) -> BPNetError
    ) throws {
        let limit = Network.maxElements
        guard kernel <= limit, stride <= limit, padding <= limit, max(h, w) + 2 * padding + stride <= limit else {
            throw fail("kernel \(kernel), stride \(stride) and padding \(padding) are too large: the padded input and one stride must span at most \(limit) positions")
        }
    }

    /// A pooling layer's output: `size`×`size` windows every `stride` over an image, floor mode,
    /// no padding (max and average pooling alike); a problem goes to `fail`, which names the layer.
    static func poolingShape(_ input: Shape, size: Int, stride: Int, _ fail: (String) -> BPNetError) throws -> Shape {
        guard case .image(let c, let h, let w) = input else {
            throw fail("takes an image, but its input is flat (\(input)): give the input as CxHxW, such as 1x28x28")
        }
        guard size > 0, stride > 0 else { throw fail("size and stride must be positive") }
        try Architecture.checkWindow(h, w, kernel: size, stride: stride, padding: 0, fail)
        guard let outH = Architecture.outputSize(h, size, stride, 0), let outW = Architecture.outputSize(w, size, stride, 0) else {
            throw fail("a \(size)×\(size) window is larger than its \(h)×\(w) input")
        }
        return .image(channels: c, height: outH, width: outW)
    }

    static func outputSize(_ n: Int, _ kernel: Int, _ stride: Int, _ padding: Int) -> Int? {
        let (twice, overflow1) = padding.multipliedReportingOverflow(by: 2)
        let (padded, overflow2) = n.addingReportingOverflow(twice)
        guard !overflow1, !overflow2 else { return Int.max }
        return padded >= kernel ? (padded - kernel) / stride + 1 : nil
    }

    static func check(_ shape: Shape, what: String) throws {
        guard shape.dimensions.allSatisfy({ $0 > 0 }) else {
            throw BPNetError.invalidArgument("\(what) has the shape \(shape): every size must be positive")
        }
        var count = 1
        for dimension in shape.dimensions {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= Network.maxElements else {
                throw BPNetError.invalidArgument("\(what) has the shape \(shape): more than \(Network.maxElements) values")
            }
            count = product
        }
    }
}
