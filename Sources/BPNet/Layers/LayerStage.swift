/// One layer of the architecture, as the backend runs it: what a `LayerDefinition` lowers to and
/// `ResidentNetwork` runs (as `ResidentNetwork.Stage`).
enum LayerStage {
    /// A weight layer: dense (geometry nil) or a convolution over `geometry`.
    case weights(layer: Int, geometry: WindowGeometry?)
    case maxPool(WindowGeometry)
    /// An NHWC image of `pixels` pixels and `channels` channels, as a flat NCHW vector.
    case flatten(pixels: Int, channels: Int)
}
