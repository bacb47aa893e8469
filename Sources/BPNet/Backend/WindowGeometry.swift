/// The geometry of an operation that slides a square window over images: a convolution's
/// im2col and col2im, and pooling. The backend sees this, never the layer.
///
/// Images between layers are NHWC: a batch of `samples` images of C×H×W is the row-major matrix
/// `[samples·H·W, C]`, one row per pixel, so that a convolution's GEMM writes its output in the
/// same layout and its bias is a per-column bias. Files and `flatten` keep PyTorch's NCHW order;
/// `Backend.transposeSamples` moves between the two.
public struct WindowGeometry: Equatable, Sendable, CustomStringConvertible {
    /// The input image, per sample.
    public var channels: Int
    public var height: Int
    public var width: Int
    /// The window is kernel×kernel, placed every `stride` pixels over the input padded with
    /// `padding` zeros on each side.
    public var kernel: Int
    public var stride: Int
    public var padding: Int

    public init(channels: Int, height: Int, width: Int, kernel: Int, stride: Int = 1, padding: Int = 0) {
        (self.channels, self.height, self.width) = (channels, height, width)
        (self.kernel, self.stride, self.padding) = (kernel, stride, padding)
    }

    /// ⌊(H + 2P − K)/S⌋ + 1: PyTorch's rule (floor mode).
    public var outputHeight: Int { (height + 2 * padding - kernel) / stride + 1 }
    public var outputWidth: Int { (width + 2 * padding - kernel) / stride + 1 }
    /// Output positions per sample: the rows a sample contributes to im2col's matrix.
    public var outputPositions: Int { outputHeight * outputWidth }
    /// C·K·K: one im2col row, in (c, ky, kx) order, which is the order of a `[Cout, Cin, K, K]` weight.
    public var patchLength: Int { channels * kernel * kernel }

    /// Whether a window fits, with positive sizes throughout; the layers check this with messages
    /// that name them, before any work.
    /// Every size also fits the kernels' 32-bit indices, one stride past the padded input included.
    public var isValid: Bool {
        let limit = Int(Int32.max)
        guard [channels, height, width, kernel, stride, padding].allSatisfy({ $0 <= limit }),
            max(height, width) + 2 * padding + stride <= limit
        else { return false }
        return channels > 0 && height > 0 && width > 0 && kernel > 0 && stride > 0 && padding >= 0
            && height + 2 * padding >= kernel && width + 2 * padding >= kernel
    }

    public var description: String {
        "\(channels)×\(height)×\(width), kernel \(kernel), stride \(stride), padding \(padding)"
    }
}
