/// One layer of the architecture, as the backend runs it: what a `LayerDefinition` lowers to and
/// `ResidentNetwork` runs (as `ResidentNetwork.Stage`).
enum LayerStage {
    /// Where a layer stands among those with parameters: the weight layers and the batch norms before it.
    struct Index {
        var weightLayer = 0
        var normalization = 0
    }

    /// A weight layer: dense (geometry nil) or a convolution over `geometry`.
    case weights(layer: Int, geometry: WindowGeometry?)
    case maxPool(WindowGeometry)
    /// Means over the geometry's windows: im2col, then the patches times a column of 1/(K·K).
    case averagePool(WindowGeometry)
    /// Each channel's mean over the geometry's whole image (its kernel is unused): a transpose to
    /// NCHW, then times a column of 1/(H·W).
    case globalAveragePool(WindowGeometry)
    /// Batch norm of the previous weight stage's output, `[rows·positions, channels]`, per column,
    /// then that weight layer's activation (the weight stage itself applies none).
    case batchNorm(normalization: Int, channels: Int)
    /// An NHWC image of `pixels` pixels and `channels` channels, as a flat NCHW vector.
    case flatten(pixels: Int, channels: Int)
}
