// Batch normalisation over the columns of x: [rows, channels] (an NHWC batch's pixels, or a dense
// layer's samples, are its rows). Sums run over the rows in order, one per channel, as the OpenCL
// kernels (Kernels/normalization.cl) add them; the channels are the vectorized inner loop.
#include <math.h>

#include "cpu_kernels.h"
#include "vector_clones.h"

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
                      float *restrict y) {
    for (long r = 0; r < rows; ++r)
        for (long c = 0; c < channels; ++c) {
            const float a = scale[c] / sqrtf(variance[c] + epsilon);
            y[r * channels + c] = a * (x[r * channels + c] - mean[c]) + shift[c];
        }
}

VECTOR_CLONES
void bpnet_batch_norm_backward(const float *restrict delta, const float *restrict x, long rows, long channels, long samples,
                               const float *restrict mean, const float *restrict variance, const float *restrict scale,
                               float epsilon, float *restrict scale_gradient, float *restrict shift_gradient,
                               float *restrict input_gradient) {
    // The gradients' buffers hold the sums Σδ·x̂ and Σδ until the end.
    for (long c = 0; c < channels; ++c) scale_gradient[c] = 0.0f, shift_gradient[c] = 0.0f;
    for (long r = 0; r < rows; ++r)
        for (long c = 0; c < channels; ++c) {
            const float inverse_std = 1.0f / sqrtf(variance[c] + epsilon);
            const float normalized = (x[r * channels + c] - mean[c]) * inverse_std;
            shift_gradient[c] += delta[r * channels + c];
            scale_gradient[c] += delta[r * channels + c] * normalized;
        }
    for (long r = 0; r < rows; ++r)
        for (long c = 0; c < channels; ++c) {
            const float inverse_std = 1.0f / sqrtf(variance[c] + epsilon);
            const float normalized = (x[r * channels + c] - mean[c]) * inverse_std;
            input_gradient[r * channels + c] = scale[c] * inverse_std
                * (delta[r * channels + c] - shift_gradient[c] / (float)rows - normalized * (scale_gradient[c] / (float)rows));
        }
    for (long c = 0; c < channels; ++c) {
        scale_gradient[c] /= (float)samples;
        shift_gradient[c] /= (float)samples;
    }
}
