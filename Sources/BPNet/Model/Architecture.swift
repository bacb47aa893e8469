import Foundation

/// A model described as data: its input's shape and its layers, each of which infers its output
/// shape from its input's, with PyTorch's rules. A `Network` holds one, with the parameters of
/// its weight layers.
///
/// The command-line form is `--layers`: `CxHxW` (or a bare number for flat inputs) first, then
/// `conv:C:K[:S[:P]]`, `maxpool:K[:S]`, `flatten`, or a bare number for a dense layer, such as
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

    public enum Layer: Equatable, Sendable, CustomStringConvertible {
        /// A fully connected layer: `outputs` units over a flat input.
        case dense(outputs: Int)
        /// A cross-correlation with `channels` square kernels of `kernel`×`kernel`, symmetric zero
        /// padding, as `torch.nn.Conv2d` (weight [channels, Cin, K, K], a bias per channel).
        case conv2d(channels: Int, kernel: Int, stride: Int = 1, padding: Int = 0)
        /// Max pooling over `size`×`size` windows every `stride` (floor mode, no padding).
        case maxPool2d(size: Int, stride: Int? = nil)
        /// An image as a flat vector in NCHW order (channel, row, column), as `torch.flatten`.
        case flatten

        /// The kind, as summaries name it: `dense`, `conv2d`, `maxpool2d` or `flatten`.
        public var kind: String {
            switch self {
            case .dense: return "dense"
            case .conv2d: return "conv2d"
            case .maxPool2d: return "maxpool2d"
            case .flatten: return "flatten"
            }
        }

        /// Whether the layer has weights, and so an activation of its own.
        public var isWeightLayer: Bool {
            switch self {
            case .dense, .conv2d: return true
            case .maxPool2d, .flatten: return false
            }
        }

        /// Equal when they compute the same: a pooling stride left out is the window's size, so
        /// `maxpool:2` and `maxpool:2:2` (as `description` writes it, and a model file keeps it)
        /// are one layer.
        public static func == (a: Layer, b: Layer) -> Bool {
            switch (a, b) {
            case (.dense(let x), .dense(let y)): return x == y
            case (.conv2d(let c1, let k1, let s1, let p1), .conv2d(let c2, let k2, let s2, let p2)):
                return (c1, k1, s1, p1) == (c2, k2, s2, p2)
            case (.maxPool2d(let k1, let s1), .maxPool2d(let k2, let s2)): return k1 == k2 && (s1 ?? k1) == (s2 ?? k2)
            case (.flatten, .flatten): return true
            default: return false
            }
        }

        /// The layer as `--layers` writes it.
        public var description: String {
            switch self {
            case .dense(let n): return "\(n)"
            case .conv2d(let c, let k, let s, let p): return "conv:\(c):\(k):\(s):\(p)"
            case .maxPool2d(let k, let s): return "maxpool:\(k):\(s ?? k)"
            case .flatten: return "flatten"
            }
        }
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
            switch (layer, current) {
            case (.dense(let outputs), .flat(let inputs)):
                guard outputs > 0 else { throw fail("needs a positive number of units") }
                let (weights, overflow) = inputs.multipliedReportingOverflow(by: outputs)
                guard !overflow, weights <= Network.maxElements else {
                    throw fail("a \(inputs)→\(outputs) weight matrix holds more than \(Network.maxElements) values")
                }
                current = .flat(outputs)
            case (.dense, .image):
                throw fail("a dense layer takes a flat input, but its input is \(current): put flatten before it")
            case (.conv2d(let channels, let kernel, let stride, let padding), .image(let inputChannels, let h, let w)):
                guard channels > 0, kernel > 0, stride > 0, padding >= 0 else {
                    throw fail("channels, kernel and stride must be positive and padding at least 0")
                }
                try Self.checkWindow(h, w, kernel: kernel, stride: stride, padding: padding, fail)
                guard let outH = Self.outputSize(h, kernel, stride, padding), let outW = Self.outputSize(w, kernel, stride, padding) else {
                    throw fail("a \(kernel)×\(kernel) kernel is larger than its \(h)×\(w) input with padding \(padding)")
                }
                // Sizes may come from a model file: every product is checked, never trapped on.
                let (square, overflow1) = kernel.multipliedReportingOverflow(by: kernel)
                let (perChannel, overflow2) = square.multipliedReportingOverflow(by: inputChannels)
                let (weights, overflow3) = channels.multipliedReportingOverflow(by: perChannel)
                guard !overflow1, !overflow2, !overflow3, weights <= Network.maxElements else { throw fail("its weight holds more than \(Network.maxElements) values") }
                current = .image(channels: channels, height: outH, width: outW)
            case (.maxPool2d(let size, let stride), .image(let c, let h, let w)):
                let step = stride ?? size
                guard size > 0, step > 0 else { throw fail("size and stride must be positive") }
                try Self.checkWindow(h, w, kernel: size, stride: step, padding: 0, fail)
                guard let outH = Self.outputSize(h, size, step, 0), let outW = Self.outputSize(w, size, step, 0) else {
                    throw fail("a \(size)×\(size) window is larger than its \(h)×\(w) input")
                }
                current = .image(channels: c, height: outH, width: outW)
            case (.conv2d, .flat), (.maxPool2d, .flat):
                throw fail("takes an image, but its input is flat (\(current)): give the input as CxHxW, such as 1x28x28")
            case (.flatten, .image):
                current = .flat(current.count)
            case (.flatten, .flat):
                throw fail("its input is already flat (\(current))")
            }
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

    /// Every weight layer's parameters, in order. The one place that says what parameters a
    /// layer kind has: initialisation, model files, the summary and the benchmarks take them
    /// from here.
    public func weights() throws -> [Weights] {
        let outputs = try shapes()
        return zip([input] + outputs, zip(layers, outputs)).enumerated().compactMap { index, pair in
            let (inputShape, (layer, output)) = pair
            switch layer {
            case .dense(let n):
                return Weights(layer: index, dimensions: [n, inputShape.count], outputs: n, inputs: inputShape.count, fanOut: n, positions: 1)
            case .conv2d(let c, let k, _, _):
                let channels = inputShape.dimensions[0]
                return Weights(
                    layer: index, dimensions: [c, channels, k, k], outputs: c, inputs: channels * k * k, fanOut: c * k * k,
                    positions: output.count / c)
            case .maxPool2d, .flatten:
                return nil
            }
        }
    }

    /// Parameters per layer: a weight layer's weights and biases, none for pooling and flatten.
    public func parameterCounts() throws -> [Int] {
        var counts = [Int](repeating: 0, count: layers.count)
        for weights in try weights() { counts[weights.layer] = weights.count }
        return counts
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
            let fields = part.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            let numbers = fields.dropFirst().map { Int($0) }
            func numbered(_ range: ClosedRange<Int>, _ form: String) throws -> [Int] {
                guard range.contains(numbers.count), numbers.allSatisfy({ $0 != nil }) else {
                    throw fail("layer \(index + 1) '\(part)' is not \(form)")
                }
                return numbers.map { $0! }
            }
            switch fields[0] {
            case "conv":
                let n = try numbered(2...4, "conv:C:K[:S[:P]]")
                return .conv2d(channels: n[0], kernel: n[1], stride: n.count > 2 ? n[2] : 1, padding: n.count > 3 ? n[3] : 0)
            case "maxpool":
                let n = try numbered(1...2, "maxpool:K[:S]")
                return .maxPool2d(size: n[0], stride: n.count > 1 ? n[1] : nil)
            case "flatten" where fields.count == 1:
                return .flatten
            default:
                guard fields.count == 1, let outputs = Int(part) else {
                    throw fail("layer \(index + 1) '\(part)' is not a size, conv:C:K[:S[:P]], maxpool:K[:S] or flatten")
                }
                return .dense(outputs: outputs)
            }
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
