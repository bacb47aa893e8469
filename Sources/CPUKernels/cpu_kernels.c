// Element-wise loops of the CPU backend that the compiler must vectorize: written in C because
// Swift's SIMD types fall back to lane-by-lane code for rounding and clamping.
#include "cpu_kernels.h"

// σ(z) = 1 / (1 + e^−z) without a libm call, so the loop vectorizes. e^t uses Cody–Waite range
// reduction, t = k·ln2 + r with |r| ≤ ln2/2, and Cephes' degree-6 polynomial for e^r, then
// scales by 2^k through the exponent bits: within 2 ulp of expf, far inside the CPU/device
// tolerance of 1e-5. t is clamped to [−87, 88] so 2^k stays normal; σ then saturates to 1 and
// about 3e-39 instead of exactly 1 and 0.
static inline float sigmoid(float z) {
    float t = -z;
    t = t < -87.0f ? -87.0f : t;
    t = t > 88.0f ? 88.0f : t;
    // Adding and removing 1.5·2^23 rounds to the nearest integer, and leaves k in the low bits.
    const float shifted = t * 1.44269504f + 12582912.0f;
    const float k = shifted - 12582912.0f;
    const float r = t - k * 0.693359375f - k * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float exp_r = p * r * r + r + 1.0f;
    union { float f; int i; } bits = { shifted };
    union { int i; float f; } scale = { .i = (bits.i - 0x4B400000 + 127) << 23 };
    return 1.0f / (1.0f + exp_r * scale.f);
}

#include "vector_clones.h"

VECTOR_CLONES
void bpnet_bias_sigmoid(float *restrict x, const float *restrict bias, long rows, long columns) {
    for (long r = 0; r < rows; ++r) {
        float *restrict row = x + r * columns;
        for (long j = 0; j < columns; ++j) row[j] = sigmoid(row[j] + bias[j]);
    }
}

VECTOR_CLONES
void bpnet_bias_relu(float *restrict x, const float *restrict bias, long rows, long columns) {
    for (long r = 0; r < rows; ++r) {
        float *restrict row = x + r * columns;
        for (long j = 0; j < columns; ++j) {
            const float z = row[j] + bias[j];
            row[j] = z > 0.0f ? z : 0.0f;
        }
    }
}

VECTOR_CLONES
void bpnet_bias_add(float *restrict x, const float *restrict bias, long rows, long columns) {
    for (long r = 0; r < rows; ++r) {
        float *restrict row = x + r * columns;
        for (long j = 0; j < columns; ++j) row[j] += bias[j];
    }
}

// The products are kept apart from the sums (no contraction into FMAs), as Swift computes them:
// these loops replaced Swift loops bit for bit.
#pragma clang fp contract(off)

VECTOR_CLONES
void bpnet_multiply_derivative(float *restrict delta, const float *restrict a, long count, int activation) {
    switch (activation) {
    case BPNET_DERIVATIVE_SIGMOID:
        for (long i = 0; i < count; ++i) delta[i] *= a[i] * (1.0f - a[i]);
        break;
    case BPNET_DERIVATIVE_TANH:
        for (long i = 0; i < count; ++i) delta[i] *= 1.0f - a[i] * a[i];
        break;
    case BPNET_DERIVATIVE_RELU:
        for (long i = 0; i < count; ++i) delta[i] *= a[i] > 0.0f ? 1.0f : 0.0f;
        break;
    }
}

VECTOR_CLONES
void bpnet_multiply(const float *x, const float *mask, float *out, long count) {
    // out may be x: element i is read before it is written, lane by lane.
    for (long i = 0; i < count; ++i) out[i] = x[i] * mask[i];
}

#pragma clang fp contract(on)

VECTOR_CLONES
void bpnet_gather_bytes_over_255(float *restrict destination, const uint8_t *restrict bytes,
                                 const int32_t *restrict index, long rows, long row_length) {
    for (long r = 0; r < rows; ++r) {
        const uint8_t *restrict row = bytes + (long)index[r] * row_length;
        float *restrict out = destination + r * row_length;
        for (long j = 0; j < row_length; ++j) out[j] = (float)row[j] / 255.0f;
    }
}

// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a
// counter-based generator, so any draw is a pure function of (key, counter). Kernels/dropout.cl
// holds the same rounds; the CPU and the device therefore draw identical dropout masks.
static inline void philox_rounds(uint32_t c[4], uint32_t k0, uint32_t k1) {
    uint32_t c0 = c[0], c1 = c[1], c2 = c[2], c3 = c[3];
    for (int round = 0; round < 10; ++round) {
        const uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    c[0] = c0; c[1] = c1; c[2] = c2; c[3] = c3;
}

void bpnet_philox4x32(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]) {
    for (int i = 0; i < 4; ++i) out[i] = counter[i];
    philox_rounds(out, key[0], key[1]);
}

// mask: [count] = scale where the draw u ≥ rate, else 0; the draw for element i is the first
// word of Philox(counter = (first + i, step low, step high, layer), key = (seed low, seed high)),
// as u = (word >> 8)·2⁻²⁴. `first` places a shard of a batch within the whole batch's draws.
// The rounds are inlined so that the loop runs one draw per vector lane: 32×32→64-bit products
// map onto vpmuludq.
VECTOR_CLONES
void bpnet_dropout_mask(float *restrict mask, long count, float rate, float scale, uint64_t seed, uint64_t step,
                        uint32_t layer, uint32_t first) {
    const uint32_t key0 = (uint32_t)seed, key1 = (uint32_t)(seed >> 32);
    const uint32_t step0 = (uint32_t)step, step1 = (uint32_t)(step >> 32);
    for (long i = 0; i < count; ++i) {
        uint32_t c[4] = {first + (uint32_t)i, step0, step1, layer};
        philox_rounds(c, key0, key1);
        const float u = (float)(c[0] >> 8) * 0x1.0p-24f;
        mask[i] = u >= rate ? scale : 0.0f;
    }
}

// images: [rows, C·H·W] NCHW -> out: the same, sample r shifted by (dy, dx) and maybe mirrored,
// its draw the words of Philox(counter = (indices[r], epoch, 0, 0), key = (key low, key high)):
// dy = ⌊w₀·(2p + 1)/2³²⌋ − p, dx from w₁, a flip when w₂'s top bit is set and `flip` asks for it
// (Augmentation.swift; Kernels/augment.cl draws and copies the same).
void bpnet_augment_images(const float *restrict images, float *restrict out, const int32_t *restrict indices, long rows,
                          long channels, long height, long width, long padding, int flip, uint64_t key, uint32_t epoch) {
    const uint64_t span = (uint64_t)(2 * padding + 1);
    for (long r = 0; r < rows; ++r) {
        uint32_t c[4] = {(uint32_t)indices[r], epoch, 0, 0};
        philox_rounds(c, (uint32_t)key, (uint32_t)(key >> 32));
        const long dy = (long)(((uint64_t)c[0] * span) >> 32) - padding;
        const long dx = (long)(((uint64_t)c[1] * span) >> 32) - padding;
        const int mirrored = flip && (c[2] >> 31);
        const float *restrict image = images + r * channels * height * width;
        float *restrict target = out + r * channels * height * width;
        for (long ch = 0; ch < channels; ++ch) {
            for (long y = 0; y < height; ++y) {
                const long sy = y + dy;
                float *restrict line = target + (ch * height + y) * width;
                for (long x = 0; x < width; ++x) {
                    const long sx = (mirrored ? width - 1 - x : x) + dx;
                    line[x] = (sy >= 0 && sy < height && sx >= 0 && sx < width) ? image[(ch * height + sy) * width + sx] : 0.0f;
                }
            }
        }
    }
}

// The FP32 FMA peak of one core, measured rather than looked up: `iterations` rounds of 12
// independent chains of fused multiply-adds over the widest vectors the CPU has. Twelve chains
// cover the FMA latency (4 cycles) on two FMA ports. Returns the floating-point operations done
// (2 per lane per FMA); `lanes` receives the vector width used.
#if defined(__x86_64__)

// The loop is assembly so that it runs at full rate in debug builds too, where the compiler
// would keep every intrinsic's result on the stack.
#define FMA12(OP, R) OP " %%" R "13, %%" R "12, %%" R "0\n\t" OP " %%" R "13, %%" R "12, %%" R "1\n\t"           \
    OP " %%" R "13, %%" R "12, %%" R "2\n\t" OP " %%" R "13, %%" R "12, %%" R "3\n\t"                              \
    OP " %%" R "13, %%" R "12, %%" R "4\n\t" OP " %%" R "13, %%" R "12, %%" R "5\n\t"                              \
    OP " %%" R "13, %%" R "12, %%" R "6\n\t" OP " %%" R "13, %%" R "12, %%" R "7\n\t"                              \
    OP " %%" R "13, %%" R "12, %%" R "8\n\t" OP " %%" R "13, %%" R "12, %%" R "9\n\t"                              \
    OP " %%" R "13, %%" R "12, %%" R "10\n\t" OP " %%" R "13, %%" R "12, %%" R "11\n\t"

// One probe per vector width: R names the registers (zmm, ymm), LANES the floats in one.
#define FMA_PROBE(NAME, TARGET, R, LANES)                                                                      \
    __attribute__((target(TARGET))) static double NAME(long iterations, float *sink, int *lanes) {           \
        const float b = 0.999999f, c = 1e-7f;                                                                  \
        float out = 0;                                                                                         \
        long n = iterations;                                                                                   \
        __asm__ volatile(                                                                                      \
            "vbroadcastss %[b], %%" R "12\n\t"                                                                 \
            "vbroadcastss %[c], %%" R "13\n\t"                                                                 \
            "vmovaps %%" R "13, %%" R "0\n\t vmovaps %%" R "13, %%" R "1\n\t vmovaps %%" R "13, %%" R "2\n\t"      \
            "vmovaps %%" R "13, %%" R "3\n\t vmovaps %%" R "13, %%" R "4\n\t vmovaps %%" R "13, %%" R "5\n\t"      \
            "vmovaps %%" R "13, %%" R "6\n\t vmovaps %%" R "13, %%" R "7\n\t vmovaps %%" R "13, %%" R "8\n\t"      \
            "vmovaps %%" R "13, %%" R "9\n\t vmovaps %%" R "13, %%" R "10\n\t vmovaps %%" R "13, %%" R "11\n\t"    \
            "1:\n\t" FMA12("vfmadd213ps", R)                                                                   \
            "dec %[n]\n\t jnz 1b\n\t"                                                                          \
            "vaddps %%" R "1, %%" R "0, %%" R "0\n\t vaddps %%" R "11, %%" R "0, %%" R "0\n\t"                  \
            "vmovss %%xmm0, %[out]\n\t vzeroupper\n\t"                                                         \
            : [n] "+r"(n), [out] "=m"(out)                                                                     \
            : [b] "m"(b), [c] "m"(c)                                                                           \
            : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",  \
              "xmm12", "xmm13", "cc", "memory");                                                               \
        *sink = out;                                                                                           \
        *lanes = LANES;                                                                                        \
        return (double)iterations * 12.0 * LANES * 2.0;                                                        \
    }

FMA_PROBE(fma_probe_avx512, "avx512f", "zmm", 16)
FMA_PROBE(fma_probe_avx2, "avx2,fma", "ymm", 8)
#endif

static double fma_probe_scalar(long iterations, float *sink, int *lanes) {
    float a[12], b = 0.999999f, c = 1e-7f;
    for (int k = 0; k < 12; ++k) a[k] = 1.0f + 0.1f * (float)k;
    for (long i = 0; i < iterations; ++i)
        for (int k = 0; k < 12; ++k) a[k] = __builtin_fmaf(a[k], b, c);
    float sum = 0;
    for (int k = 0; k < 12; ++k) sum += a[k];
    *sink = sum;
    *lanes = 1;
    return (double)iterations * 12.0 * 2.0;
}

double bpnet_fma_probe(long iterations, float *sink, int *lanes) {
    if (iterations < 1) iterations = 1;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return fma_probe_avx512(iterations, sink, lanes);
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return fma_probe_avx2(iterations, sink, lanes);
#endif
    return fma_probe_scalar(iterations, sink, lanes);
}
