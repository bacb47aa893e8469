import Foundation

/// A model described as data: its input's shape and its layers, each of which infers its output
/// shape from its input's, with PyTorch's rules (issue 19). Training still takes dense networks
/// (`Network`); this is the description the layer model grows from, and it already checks
/// shapes and counts parameters.
///
/// The command-line form is `--layers`: `CxHxW` (or a bare number for flat inputs) first, then
/// `conv:C:K[:S[:P]]`, `maxpool:K[:S]`, `flatten`, or a bare number for a dense layer, such as
/// `1x28x28,conv:32:5:1:2,maxpool:2,conv:64:5:1:2,maxpool:2,flatten,1024,10`. `784,30,10` is
/// today's dense network.
public struct Architecture: Equatable, Sendable {
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

        /// Whether the layer has weights, and so an activation of its own.
        public var isWeightLayer: Bool {
            switch self {
            case .dense, .conv2d: return true
            case .maxPool2d, .flatten: return false
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
                guard let outH = Self.outputSize(h, kernel, stride, padding), let outW = Self.outputSize(w, kernel, stride, padding) else {
                    throw fail("a \(kernel)×\(kernel) kernel is larger than its \(h)×\(w) input with padding \(padding)")
                }
                let (weights, overflow) = channels.multipliedReportingOverflow(by: inputChannels * kernel * kernel)
                guard !overflow, weights <= Network.maxElements else { throw fail("its weight holds more than \(Network.maxElements) values") }
                current = .image(channels: channels, height: outH, width: outW)
            case (.maxPool2d(let size, let stride), .image(let c, let h, let w)):
                let step = stride ?? size
                guard size > 0, step > 0 else { throw fail("size and stride must be positive") }
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

    /// Parameters per layer: a dense layer's weights and biases, a convolution's [C, Cin, K, K]
    /// weights and C biases, none for pooling and flatten.
    public func parameterCounts() throws -> [Int] {
        let outputs = try shapes()
        return zip([input] + outputs, zip(layers, outputs)).map { inputShape, pair in
            switch pair.0 {
            case .dense(let n): return inputShape.count * n + n
            case .conv2d(let c, let k, _, _): return c * inputShape.dimensions[0] * k * k + c
            case .maxPool2d, .flatten: return 0
            }
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

    static func outputSize(_ n: Int, _ kernel: Int, _ stride: Int, _ padding: Int) -> Int? {
        n + 2 * padding >= kernel ? (n + 2 * padding - kernel) / stride + 1 : nil
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
