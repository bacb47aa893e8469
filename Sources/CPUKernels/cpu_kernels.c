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

// ThreadSanitizer builds go without the clones: their ifunc resolver runs at load time, before
// TSan's runtime has started, and crashed there (`make test-sanitize`).
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BPNET_THREAD_SANITIZER 1
#endif
#endif

#if defined(__x86_64__) && defined(__linux__) && !defined(BPNET_THREAD_SANITIZER)
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VECTOR_CLONES
#endif

VECTOR_CLONES
void bpnet_bias_sigmoid(float *restrict x, const float *restrict bias, long rows, long columns) {
    for (long r = 0; r < rows; ++r) {
        float *restrict row = x + r * columns;
        for (long j = 0; j < columns; ++j) row[j] = sigmoid(row[j] + bias[j]);
    }
}

VECTOR_CLONES
void bpnet_gather_bytes_over_255(float *restrict destination, const uint8_t *restrict bytes,
                                 const int32_t *restrict index, long rows, long row_length) {
    for (long r = 0; r < rows; ++r) {
        const uint8_t *restrict row = bytes + (long)index[r] * row_length;
        float *restrict out = destination + r * row_length;
        for (long j = 0; j < row_length; ++j) out[j] = (float)row[j] / 255.0f;
    }
}
