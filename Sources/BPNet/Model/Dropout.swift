import CPUKernels

/// Inverted dropout's masks: element i of layer l at step t is kept, scaled by 1/(1 − p), when
/// the first word w of Philox4x32-10(counter = (i, t, l), key = seed) gives (w >> 8)·2⁻²⁴ ≥ p.
/// A pure function of its inputs, so every backend and the float64 reference draw the same.
public enum DropoutMask {
    /// The mask values for `count` elements from element `first`: 1/(1 − rate) or 0.
    public static func values(count: Int, rate: Float, seed: UInt64, step: UInt64, layer: Int, first: Int = 0) -> [Float] {
        var mask = [Float](repeating: 0, count: count)
        mask.withUnsafeMutableBufferPointer {
            if let base = $0.baseAddress {
                bpnet_dropout_mask(base, count, rate, 1 / (1 - rate), seed, step, UInt32(layer), UInt32(first))
            }
        }
        return mask
    }

    /// Philox4x32-10's four words for `counter` under `key` (Salmon et al., SC 2011).
    public static func philox(counter: (UInt32, UInt32, UInt32, UInt32), key: (UInt32, UInt32)) -> [UInt32] {
        let c = [counter.0, counter.1, counter.2, counter.3], k = [key.0, key.1]
        var out = [UInt32](repeating: 0, count: 4)
        bpnet_philox4x32(c, k, &out)
        return out
    }
}
