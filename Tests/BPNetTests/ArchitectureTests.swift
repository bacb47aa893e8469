import BPNet
import BPNetTestSupport
import Foundation
import Testing

/// The model as data: the `--layers` grammar, each layer's output shape with PyTorch's rules, the
/// parameter counts, and errors that name the layer and the sizes.
@Suite struct ArchitectureTests {
    /// The classic two-convolution net of the Fashion-MNIST benchmark table, as the issue writes
    /// it: PyTorch gives the same shapes and 3,274,634 parameters.
    @Test func issueExample() throws {
        let model = try Architecture(parsing: "1x28x28,conv:32:5:1:2,maxpool:2,conv:64:5:1:2,maxpool:2,flatten,1024,10")
        #expect(model.input == .image(channels: 1, height: 28, width: 28))
        #expect(model.layers == [
            .conv2d(channels: 32, kernel: 5, stride: 1, padding: 2), .maxPool2d(size: 2), .conv2d(channels: 64, kernel: 5, stride: 1, padding: 2),
            .maxPool2d(size: 2), .flatten, .dense(outputs: 1024), .dense(outputs: 10),
        ])
        #expect(try model.shapes().map(\.description) == ["32×28×28", "32×14×14", "64×14×14", "64×7×7", "3136", "1024", "10"])
        #expect(try model.parameterCounts() == [832, 0, 51_264, 0, 0, 3_212_288, 10_250])
        #expect(try model.parameterCounts().reduce(0, +) == 3_274_634)
        #expect(model.layers.filter(\.isWeightLayer).count == 4, "one activation each: --activations relu,relu,relu,softmax")
        #expect(model.denseSizes == nil)
    }

    /// `784,30,10` keeps its meaning: a flat input and dense layers, today's `Network(sizes:)`.
    @Test func denseNetworks() throws {
        let model = try Architecture(parsing: "784,30,10")
        #expect(model == Architecture(sizes: [784, 30, 10]) && model.denseSizes == [784, 30, 10])
        let network = try Network(sizes: [784, 30, 10])
        #expect(try model.parameterCounts().reduce(0, +) == network.parameterCount)
        #expect(try model.shapes() == [.flat(30), .flat(10)])
    }

    /// Odd shapes, even kernels, strides past the kernel and paddings: the same output shapes as
    /// the float64 reference computes on its own.
    @Test(arguments: [
        "3x7x5,conv:4:3:2:1,maxpool:2:1,conv:2:2:3:0", "1x17x9,conv:3:1,maxpool:3,conv:1:4:1:2", "2x5x5,conv:1:5,flatten,3",
        "3x9x7,avgpool:3:2,conv:4:2,avgpool:2:1,gap", "2x5x8,gap,flatten,3", "2x6x5,conv:3:3,batchnorm,maxpool:2",
    ])
    func shapesAgreeWithTheReference(text: String) throws {
        let model = try Architecture(parsing: text)
        var current = try #require(ImageReference.Shape(model.input))
        for (layer, shape) in zip(model.layers, try model.shapes()) {
            switch layer {
            case .conv2d(let c, let k, let s, let p):
                current = try #require(ImageReference.Convolution(input: current, outputChannels: c, kernel: k, stride: s, padding: p).output)
            case .maxPool2d(let k, let s):
                current = try #require(ImageReference.MaxPool(input: current, size: k, stride: s).output)
            case .avgPool2d(let k, let s):
                current = try #require(ImageReference.AveragePool(input: current, size: k, stride: s).output)
            case .globalAvgPool:
                current = try #require(ImageReference.AveragePool(global: current).output)
            case .batchNorm:
                break
            case .flatten, .dense:
                return
            }
            #expect(shape == .image(channels: current.channels, height: current.height, width: current.width), "\(layer)")
        }
    }

    /// Every impossible model is an error before any work, naming the layer and the sizes.
    @Test func impossibleShapes() {
        for (text, message) in [
            ("1x4x4,conv:2:5", "layer 1 (conv:2:5:1:0): a 5×5 kernel is larger than its 4×4 input with padding 0"),
            ("1x4x4,batchnorm,flatten,3", "layer 1 (batchnorm): normalizes a conv or dense layer's output and applies its activation: put it right after one"),
            ("1x6x6,conv:2:3,maxpool:2,batchnorm,flatten,3", "layer 3 (batchnorm): normalizes a conv or dense layer's output and applies its activation: put it right after one"),
            ("4,5,batchnorm,batchnorm,3", "layer 3 (batchnorm): normalizes a conv or dense layer's output and applies its activation: put it right after one"),
            ("1x28x28,30,10", "layer 1 (30): a dense layer takes a flat input, but its input is 1×28×28: put flatten before it"),
            ("784,conv:8:3", "layer 1 (conv:8:3:1:0): takes an image, but its input is flat (784): give the input as CxHxW, such as 1x28x28"),
            ("784,flatten,10", "layer 1 (flatten): its input is already flat (784)"),
            ("1x5x5,maxpool:2,maxpool:3", "layer 2 (maxpool:3:3): a 3×3 window is larger than its 2×2 input"),
            ("1x5x4,avgpool:5", "layer 1 (avgpool:5:5): a 5×5 window is larger than its 5×4 input"),
            ("1x5x5,avgpool:2:0", "layer 1 (avgpool:2:0): size and stride must be positive"),
            ("25,gap", "layer 1 (gap): takes an image, but its input is flat (25): give the input as CxHxW, such as 1x28x28"),
            ("1x5x5,gap,3", "layer 2 (3): a dense layer takes a flat input, but its input is 1×1×1: put flatten before it"),
            ("1x5x5,conv:0:3", "layer 1 (conv:0:3:1:0): channels, kernel and stride must be positive and padding at least 0"),
            ("1x5x5,conv:1:3:0", "layer 1 (conv:1:3:0:0): channels, kernel and stride must be positive and padding at least 0"),
            ("0x5x5,flatten,3", "the input has the shape 0×5×5: every size must be positive"),
            ("1x5x5,flatten,0", "layer 2 (0): needs a positive number of units"),
            ("1x3x3,conv:2147483647:3", "layer 1 (conv:2147483647:3:1:0): its weight holds more than 2147483647 values"),
            ("50000x50000x50000,flatten,1", "the input has the shape 50000×50000×50000: more than 2147483647 values"),
        ] {
            #expect(throws: BPNetError.invalidArgument(message), "\(text)") { try Architecture(parsing: text).shapes() }
        }
    }

    @Test func grammarErrors() {
        for (text, message) in [
            ("784", "give the input and at least one layer"),
            ("1x28x28,conv:32", "layer 1 'conv:32' is not conv:C:K[:S[:P]]"),
            ("1x28x28,conv:3:3:1:1:1", "layer 1 'conv:3:3:1:1:1' is not conv:C:K[:S[:P]]"),
            ("1x28x28,maxpool", "layer 1 'maxpool' is not maxpool:K[:S]"),
            ("1x28x28,pool:2", "layer 1 'pool:2' is not a size, conv:C:K[:S[:P]], batchnorm, maxpool:K[:S], avgpool:K[:S], gap or flatten"),
            ("1x28,flatten,10", "the input '1x28' is neither a number nor CxHxW"),
        ] {
            #expect {
                _ = try Architecture(parsing: text)
            } throws: { "\($0)".contains(message) }
        }
    }
}

extension ImageReference.Shape {
    init?(_ shape: Architecture.Shape) {
        guard case .image(let c, let h, let w) = shape else { return nil }
        self.init(channels: c, height: h, width: w)
    }
}
