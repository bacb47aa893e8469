// Inverted dropout with masks from Philox4x32-10, a counter-based generator: element i's draw is
// a pure function of (seed, step, layer, i), so the CPU backend (bpnet_dropout_mask in
// CPUKernels) and every device draw the same masks, and a run is reproducible.

inline uint4 philox4x32(uint4 c, uint2 k) {
    for (int round = 0; round < 10; ++round) {
        const uint lo0 = 0xD2511F53u * c.x, hi0 = mul_hi(0xD2511F53u, c.x);
        const uint lo1 = 0xCD9E8D57u * c.z, hi1 = mul_hi(0xCD9E8D57u, c.z);
        c = (uint4)(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
        k += (uint2)(0x9E3779B9u, 0xBB67AE85u);
    }
    return c;
}

// mask: [n] = scale where u = (word >> 8)·2⁻²⁴ ≥ rate, else 0; word = Philox((first + i, step,
// layer), seed).x, where `first` places a shard of a batch within the whole batch's draws.
// global: (n)
kernel void dropout_mask(global float* mask, const int n, const float rate, const float scale,
                         const uint seed_low, const uint seed_high, const uint step_low, const uint step_high,
                         const uint layer, const uint first) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const uint4 word = philox4x32((uint4)(first + (uint)i, step_low, step_high, layer), (uint2)(seed_low, seed_high));
    const float u = (float)(word.x >> 8) * 0x1.0p-24f;
    mask[i] = u >= rate ? scale : 0.0f;
}

// out: [n] = x ⊙ m (out may be x). global: (n)
kernel void multiply(global const float* x, global const float* m, global float* out, const int n) {
    const int i = get_global_id(0);
    if (i < n) out[i] = x[i] * m[i];
}
