// Inverted dropout with masks from Philox4x32-10, a counter-based generator: element i's draw is
// a pure function of (seed, step, layer, i), so the CPU backend (bpnet_dropout_mask in
// CPUKernels) and every device draw the same masks, and a run is reproducible.

// Each work item draws DROPOUT_LANES consecutive elements in vector types (uint8, ulong8, …),
// which map onto SIMD registers on a CPU device: PoCL ran the scalar rounds one work item at a
// time, and its mul_hi as a call (742 µs for 12 800 draws, against 25 µs on the CPU backend).
// The 32×32→64-bit products are written as ulong products, which vectorize (vpmuludq).
// DROPOUT_LANES comes from the host (KernelConstants).
#define DROPOUT_JOIN2(a, b) a##b
#define DROPOUT_JOIN(a, b) DROPOUT_JOIN2(a, b)
#define uintD DROPOUT_JOIN(uint, DROPOUT_LANES)
#define ulongD DROPOUT_JOIN(ulong, DROPOUT_LANES)
#define floatD DROPOUT_JOIN(float, DROPOUT_LANES)
#define convert_uintD DROPOUT_JOIN(convert_uint, DROPOUT_LANES)
#define convert_ulongD DROPOUT_JOIN(convert_ulong, DROPOUT_LANES)
#define convert_floatD DROPOUT_JOIN(convert_float, DROPOUT_LANES)
#define vloadD DROPOUT_JOIN(vload, DROPOUT_LANES)
#define vstoreD DROPOUT_JOIN(vstore, DROPOUT_LANES)

constant uint dropout_lane_offsets[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

// mask: [n] = scale where u = (word >> 8)·2⁻²⁴ ≥ rate, else 0; word = Philox4x32-10((first + i,
// step, layer), seed).x, where `first` places a shard of a batch within the whole batch's draws.
// global: (⌈n / DROPOUT_LANES⌉)
kernel void dropout_mask(global float* mask, const int n, const float rate, const float scale,
                         const uint seed_low, const uint seed_high, const uint step_low, const uint step_high,
                         const uint layer, const uint first) {
    const int base = get_global_id(0) * DROPOUT_LANES;
    if (base >= n) return;
    uintD c0 = (uintD)(first + (uint)base) + vloadD(0, dropout_lane_offsets);
    uintD c1 = (uintD)(step_low), c2 = (uintD)(step_high), c3 = (uintD)(layer);
    uint k0 = seed_low, k1 = seed_high;
#pragma unroll
    for (int round = 0; round < 10; ++round) {
        const ulongD p0 = convert_ulongD(c0) * (ulongD)(0xD2511F53ul);
        const ulongD p1 = convert_ulongD(c2) * (ulongD)(0xCD9E8D57ul);
        c0 = convert_uintD(p1 >> 32) ^ c1 ^ (uintD)(k0);
        c1 = convert_uintD(p1);
        c2 = convert_uintD(p0 >> 32) ^ c3 ^ (uintD)(k1);
        c3 = convert_uintD(p0);
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    const floatD u = convert_floatD(c0 >> 8) * 0x1.0p-24f;
    const floatD drawn = select((floatD)(0.0f), (floatD)(scale), u >= (floatD)(rate));
    if (base + DROPOUT_LANES <= n) {
        vstoreD(drawn, 0, mask + base);
    } else {
        float lanes[DROPOUT_LANES];
        vstoreD(drawn, 0, lanes);
        for (int j = 0; base + j < n; ++j) mask[base + j] = lanes[j];
    }
}

// Philox4x32-10 on one counter, for draws per sample rather than per element.
inline uint4 philox4x32_10(uint4 c, uint k0, uint k1) {
    for (int round = 0; round < 10; ++round) {
        const ulong p0 = (ulong)c.x * 0xD2511F53ul, p1 = (ulong)c.z * 0xCD9E8D57ul;
        c = (uint4)((uint)(p1 >> 32) ^ c.y ^ k0, (uint)p1, (uint)(p0 >> 32) ^ c.w ^ k1, (uint)p0);
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return c;
}

// Crop and flip augmentation (Augmentation.swift; bpnet_augment_images in CPUKernels is the
// specification): images: [rows, C·H·W] NCHW -> out, sample r shifted by (dy, dx) with zeros
// outside and mirrored when its draw says so. The draw of row r is Philox(counter = (indices[r],
// epoch, 0, 0), key), indices read from `offset`: dy = ⌊w₀·(2p + 1)/2³²⌋ − p, dx from w₁, a flip from w₂'s top bit. Each work
// item draws its row's words again: ten rounds, cheaper than a pass through memory.
// global: (C·H·W, rows)
kernel void augment_images(global const float* images, global float* out, global const int* indices, const int offset,
                           const int rows,
                           const int channels, const int height, const int width, const int padding, const int flip,
                           const uint key_low, const uint key_high, const uint epoch) {
    const int i = get_global_id(0), r = get_global_id(1);
    const int size = channels * height * width;
    if (i >= size || r >= rows) return;
    const uint4 w = philox4x32_10((uint4)((uint)indices[offset + r], epoch, 0u, 0u), key_low, key_high);
    const ulong span = (ulong)(2 * padding + 1);
    const int dy = (int)(((ulong)w.x * span) >> 32) - padding;
    const int dx = (int)(((ulong)w.y * span) >> 32) - padding;
    const int mirrored = flip && (w.z >> 31);
    // q = a / b and r = a − q·b written out, as image.cl's SPLIT does (Oclgrind cannot run the
    // freeze that LLVM makes of a `%` beside a `/`).
    const int ch = i / (height * width), pixel = i - ch * (height * width);
    const int y = pixel / width, x = pixel - y * width;
    const int sy = y + dy, sx = (mirrored ? width - 1 - x : x) + dx;
    out[r * size + i] = (sy >= 0 && sy < height && sx >= 0 && sx < width) ? images[r * size + (ch * height + sy) * width + sx] : 0.0f;
}

// out: [n] = x ⊙ m (out may be x). global: (n)
kernel void multiply(global const float* x, global const float* m, global float* out, const int n) {
    const int i = get_global_id(0);
    if (i < n) out[i] = x[i] * m[i];
}
