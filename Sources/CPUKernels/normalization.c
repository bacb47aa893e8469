// Batch normalisation over the columns of x: [rows, channels] (an NHWC batch's pixels, or a dense
// layer's samples, are its rows). Sums run over the rows in order, one per channel, as the OpenCL
// kernels (Kernels/normalization.cl) add them; the channels are the vectorized inner loop. The
// element-wise passes take any range of rows, so the backend splits them across threads; the
// per-channel factors γ/√(σ² + ε) and 1/√(σ² + ε) are computed once per block of channels.
#include <math.h>

#include "cpu_kernels.h"
#include "vector_clones.h"

// Channels per block of per-channel factors, kept on the stack.
#define CHANNEL_BLOCK 256

VECTOR_CLONES
void bpnet_batch_norm_statistics(const float *restrict x, long rows, long channels, float *restrict mean,
                                 float *restrict variance, float *restrict running_mean, float *restrict running_variance,
                                 float momentum) {
    for (long c = 0; c < channels; ++c) mean[c] = 0.0f, variance[c] = 0.0f;
    for (long r = 0; r < rows; ++r)
        for (long c = 0; c < channels; ++c) mean[c] += x[r * channels + c];
    for (long c = 0; c < channels; ++c) mean[c] /= (float)rows;
    for (long r = 0; r < rows; ++r)
        for (long c = 0; c < channels; ++c) {
            const float d = x[r * channels + c] - mean[c];
            variance[c] += d * d;
        }
    // The running variance takes the unbiased estimate, as PyTorch's (a single row, which
    // training refuses, would divide by zero: it takes the biased one).
    const float correction = rows > 1 ? (float)rows / (float)(rows - 1) : 1.0f;
    for (long c = 0; c < channels; ++c) {
        variance[c] /= (float)rows;
        running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean[c];
        running_variance[c] = (1.0f - momentum) * running_variance[c] + momentum * (variance[c] * correction);
    }
}

VECTOR_CLONES
void bpnet_batch_norm(const float *restrict x, long rows, long channels, const float *restrict mean,
                      const float *restrict variance, const float *restrict scale, const float *restrict shift, float epsilon,
                      int relu, float *restrict y) {
    for (long c0 = 0; c0 < channels; c0 += CHANNEL_BLOCK) {
        const long width = channels - c0 < CHANNEL_BLOCK ? channels - c0 : CHANNEL_BLOCK;
        float factor[CHANNEL_BLOCK];
        for (long c = 0; c < width; ++c) factor[c] = scale[c0 + c] / sqrtf(variance[c0 + c] + epsilon);
        for (long r = 0; r < rows; ++r)
            for (long c = 0; c < width; ++c) {
                const long at = r * channels + c0 + c;
                const float z = factor[c] * (x[at] - mean[c0 + c]) + shift[c0 + c];
                y[at] = relu ? (z > 0.0f ? z : 0.0f) : z;
            }
    }
}

VECTOR_CLONES
void bpnet_batch_norm_backward_sums(const float *restrict delta, const float *restrict x, long rows, long channels, long samples,
                                    const float *restrict mean, const float *restrict variance, float epsilon,
                                    float *restrict scale_gradient, float *restrict shift_gradient) {
    for (long c0 = 0; c0 < channels; c0 += CHANNEL_BLOCK) {
        const long width = channels - c0 < CHANNEL_BLOCK ? channels - c0 : CHANNEL_BLOCK;
        float inverse_std[CHANNEL_BLOCK], sum_delta[CHANNEL_BLOCK], sum_product[CHANNEL_BLOCK];
        for (long c = 0; c < width; ++c) {
            inverse_std[c] = 1.0f / sqrtf(variance[c0 + c] + epsilon);
            sum_delta[c] = 0.0f, sum_product[c] = 0.0f;
        }
        for (long r = 0; r < rows; ++r)
            for (long c = 0; c < width; ++c) {
                const long at = r * channels + c0 + c;
                sum_delta[c] += delta[at];
                sum_product[c] += delta[at] * ((x[at] - mean[c0 + c]) * inverse_std[c]);
            }
        for (long c = 0; c < width; ++c) {
            scale_gradient[c0 + c] = sum_product[c] / (float)samples;
            shift_gradient[c0 + c] = sum_delta[c] / (float)samples;
        }
    }
}

VECTOR_CLONES
void bpnet_batch_norm_backward_input(const float *restrict delta, const float *restrict x, long rows, long channels,
                                     long positions, const float *restrict mean, const float *restrict variance,
                                     const float *restrict scale, float epsilon, const float *restrict scale_gradient,
                                     const float *restrict shift_gradient, float *restrict input_gradient) {
    for (long c0 = 0; c0 < channels; c0 += CHANNEL_BLOCK) {
        const long width = channels - c0 < CHANNEL_BLOCK ? channels - c0 : CHANNEL_BLOCK;
        float inverse_std[CHANNEL_BLOCK], factor[CHANNEL_BLOCK], mean_delta[CHANNEL_BLOCK], mean_product[CHANNEL_BLOCK];
        for (long c = 0; c < width; ++c) {
            inverse_std[c] = 1.0f / sqrtf(variance[c0 + c] + epsilon);
            factor[c] = scale[c0 + c] * inverse_std[c];
            // Σ/rows of the whole batch, from the gradients Σ/samples: rows = samples·positions.
            mean_delta[c] = shift_gradient[c0 + c] / (float)positions;
            mean_product[c] = scale_gradient[c0 + c] / (float)positions;
        }
        for (long r = 0; r < rows; ++r)
            for (long c = 0; c < width; ++c) {
                const long at = r * channels + c0 + c;
                input_gradient[at] = factor[c] * (delta[at] - mean_delta[c] - ((x[at] - mean[c0 + c]) * inverse_std[c]) * mean_product[c]);
            }
    }
}
