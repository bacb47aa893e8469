extension Architecture {
    /// One layer of a model, as data. The registry of layer kinds: each case's definition
    /// (`LayerDefinition`, one file per kind) says everything the library does with it.
    public enum Layer: Equatable, Sendable, CustomStringConvertible {
        /// A fully connected layer: `outputs` units over a flat input.
        case dense(outputs: Int)
        /// A cross-correlation with `channels` square kernels of `kernel`×`kernel`, symmetric zero
        /// padding, as `torch.nn.Conv2d` (weight [channels, Cin, K, K], a bias per channel).
        case conv2d(channels: Int, kernel: Int, stride: Int = 1, padding: Int = 0)
        /// Max pooling over `size`×`size` windows every `stride` (floor mode, no padding).
        case maxPool2d(size: Int, stride: Int? = nil)
        /// Average pooling over `size`×`size` windows every `stride` (floor mode, no padding).
        case avgPool2d(size: Int, stride: Int? = nil)
        /// Each channel's mean over the image, C×1×1 (`torch.nn.AdaptiveAvgPool2d(1)`).
        case globalAvgPool
        /// An image as a flat vector in NCHW order (channel, row, column), as `torch.flatten`.
        case flatten
        /// Batch normalisation of the weight layer before it, whose activation then applies
        /// (`torch.nn.BatchNorm2d` after a convolution, `BatchNorm1d` after a dense layer).
        case batchNorm

        var definition: any LayerDefinition {
            switch self {
            case .dense(let outputs): return Dense(outputs: outputs)
            case .conv2d(let channels, let kernel, let stride, let padding):
                return Conv2D(channels: channels, kernel: kernel, stride: stride, padding: padding)
            case .maxPool2d(let size, let stride): return MaxPool2D(size: size, stride: stride ?? size)
            case .avgPool2d(let size, let stride): return AvgPool2D(size: size, stride: stride ?? size)
            case .globalAvgPool: return GlobalAvgPool()
            case .flatten: return Flatten()
            case .batchNorm: return BatchNorm()
            }
        }

        /// Every kind, for the `--layers` grammar and its messages.
        static let kinds: [any LayerDefinition.Type] = [
            Dense.self, Conv2D.self, BatchNorm.self, MaxPool2D.self, AvgPool2D.self, GlobalAvgPool.self, Flatten.self,
        ]

        /// The kind, as summaries name it: `dense`, `conv2d`, `batchnorm`, `maxpool2d`, `avgpool2d`, `globalavgpool` or `flatten`.
        public var kind: String { definition.name }

        /// Whether the layer has weights, and so an activation of its own.
        public var isWeightLayer: Bool { definition.hasParameters }

        /// Equal when they compute the same: a pooling stride left out is the window's size, so
        /// `maxpool:2` and `maxpool:2:2` (as `description` writes it, and a model file keeps it)
        /// are one layer (the same for `avgpool`).
        public static func == (a: Layer, b: Layer) -> Bool { a.description == b.description }

        /// The layer as `--layers` writes it.
        public var description: String { definition.token }

        /// The layer of one `--layers` entry; `fail` names the entry.
        static func parse(_ entry: String, _ fail: (String) -> BPNetError) throws -> Layer {
            let fields = entry.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            if let kind = kinds.first(where: { $0.tokenName == fields[0] }) {
                let numbers = fields.dropFirst().map { Int($0) }
                guard kind.numbers.contains(numbers.count), numbers.allSatisfy({ $0 != nil }) else { throw fail("is not \(kind.form)") }
                return kind.layer(numbers.map { $0! })
            }
            guard fields.count == 1, let size = Int(entry) else {
                let forms = kinds.map { $0.form }
                throw fail("is not " + forms.dropLast().joined(separator: ", ") + " or " + forms.last!)
            }
            return Dense.layer([size])
        }
    }
}
