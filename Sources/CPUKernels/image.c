// Image operations of the CPU backend on NHWC batches (see WindowGeometry.swift): im2col, its
// transpose col2im, max pooling and its backward pass. Every backward sum is a gather that adds
// its terms in a fixed order, so results never depend on threads or scheduling, and
// Kernels/image.cl adds the same terms in the same order. Max pooling's two loops are compiled for
// AVX-512, AVX2 and the baseline (VECTOR_CLONES): their selects do not vectorize on the baseline's
// SSE2 (8× slower in config E), and vectorizing across channels changes no element's arithmetic.
// The loops with strided stores stay on the baseline: AVX-512's scatters made im2col and col2im
// slower (0.10 s against 0.18 s for im2col in an epoch of E on 3,000 samples, on Zen 4).
#include "cpu_kernels.h"
#include "vector_clones.h"
#include <math.h>
#include <string.h>

// input: [samples, H, W, C] -> columns: [samples·OH·OW, C·K·K]; row (n, y, x), column (c, ky, kx).
// The channel loop is innermost, reading each pixel's channels contiguously: measured faster here
// than writing each row in order (0.5 s against 1.4 s in an epoch of config E on 6,000 samples).
void bpnet_im2col(const float *restrict input, float *restrict columns, long samples, long channels, long height,
                  long width, long kernel, long stride, long padding) {
    const long out_h = (height + 2 * padding - kernel) / stride + 1;
    const long out_w = (width + 2 * padding - kernel) / stride + 1;
    const long window = kernel * kernel, patch = channels * window;
    for (long n = 0; n < samples; ++n) {
        const float *restrict image = input + n * height * width * channels;
        for (long y = 0; y < out_h; ++y) {
            for (long x = 0; x < out_w; ++x) {
                float *restrict row = columns + ((n * out_h + y) * out_w + x) * patch;
                for (long ky = 0; ky < kernel; ++ky) {
                    const long iy = y * stride - padding + ky;
                    for (long kx = 0; kx < kernel; ++kx) {
                        const long ix = x * stride - padding + kx;
                        float *restrict column = row + ky * kernel + kx;
                        if (iy < 0 || iy >= height || ix < 0 || ix >= width) {
                            for (long c = 0; c < channels; ++c) column[c * window] = 0.0f;
                        } else {
                            const float *restrict pixel = image + (iy * width + ix) * channels;
                            for (long c = 0; c < channels; ++c) column[c * window] = pixel[c];
                        }
                    }
                }
            }
        }
    }
}

// The first and last window start o with o·stride − padding + k = i for some k in [0, kernel),
// clamped to [0, outputs): the windows that contain input position i.
static inline void windows_containing(long i, long kernel, long stride, long padding, long outputs, long *first,
                                      long *last) {
    const long shifted = i + padding;  // position in the padded input
    long lo = shifted - kernel + 1;
    lo = lo <= 0 ? 0 : (lo + stride - 1) / stride;
    long hi = shifted / stride;
    if (hi > outputs - 1) hi = outputs - 1;
    *first = lo;
    *last = hi;
}

// columns: [samples·OH·OW, C·K·K] -> image: [samples, H, W, C] = Σ over the windows (oy, ox) that
// contain the pixel, oy then ox ascending, of the column entry that im2col copied it to.
void bpnet_col2im(const float *restrict columns, float *restrict image, long samples, long channels, long height,
                  long width, long kernel, long stride, long padding) {
    const long out_h = (height + 2 * padding - kernel) / stride + 1;
    const long out_w = (width + 2 * padding - kernel) / stride + 1;
    const long patch = channels * kernel * kernel;
    for (long n = 0; n < samples; ++n) {
        for (long y = 0; y < height; ++y) {
            long y0, y1;
            windows_containing(y, kernel, stride, padding, out_h, &y0, &y1);
            for (long x = 0; x < width; ++x) {
                long x0, x1;
                windows_containing(x, kernel, stride, padding, out_w, &x0, &x1);
                float *restrict pixel = image + ((n * height + y) * width + x) * channels;
                for (long c = 0; c < channels; ++c) pixel[c] = 0.0f;
                for (long oy = y0; oy <= y1; ++oy) {
                    const long ky = y + padding - oy * stride;
                    for (long ox = x0; ox <= x1; ++ox) {
                        const long kx = x + padding - ox * stride;
                        const float *restrict row = columns + ((n * out_h + oy) * out_w + ox) * patch + ky * kernel + kx;
                        for (long c = 0; c < channels; ++c) pixel[c] += row[c * kernel * kernel];
                    }
                }
            }
        }
    }
}

// input: [samples, H, W, C] -> output, argmax: [samples, OH, OW, C]. PyTorch's rule: the window's
// first position to start, then any later value that is greater, or NaN, takes its place. The
// channel loop is innermost, so that it runs over contiguous memory.
VECTOR_CLONES
void bpnet_max_pool(const float *restrict input, float *restrict output, int32_t *restrict argmax, long samples,
                    long channels, long height, long width, long kernel, long stride) {
    const long out_h = (height - kernel) / stride + 1;
    const long out_w = (width - kernel) / stride + 1;
    for (long n = 0; n < samples; ++n) {
        const float *restrict image = input + n * height * width * channels;
        for (long y = 0; y < out_h; ++y) {
            for (long x = 0; x < out_w; ++x) {
                const long out = ((n * out_h + y) * out_w + x) * channels;
                float *restrict best = output + out;
                int32_t *restrict best_at = argmax + out;
                const int32_t first = (int32_t)((y * stride) * width + x * stride);
                for (long c = 0; c < channels; ++c) {
                    best[c] = -INFINITY;
                    best_at[c] = first;
                }
                for (long ky = 0; ky < kernel; ++ky) {
                    for (long kx = 0; kx < kernel; ++kx) {
                        const long at = (y * stride + ky) * width + x * stride + kx;
                        const float *restrict pixel = image + at * channels;
                        for (long c = 0; c < channels; ++c) {
                            const float value = pixel[c];
                            const int take = value > best[c] || value != value;  // NaN != NaN
                            best[c] = take ? value : best[c];
                            best_at[c] = take ? (int32_t)at : best_at[c];
                        }
                    }
                }
            }
        }
    }
}

// output_gradient, argmax: [samples, OH, OW, C] -> input_gradient: [samples, H, W, C], the sum over
// the windows that contain the pixel (oy then ox ascending) of those whose maximum it was. Each
// element starts from 0 and adds its windows' terms in that order; the channel loop is innermost.
VECTOR_CLONES
void bpnet_max_pool_backward(const float *restrict output_gradient, const int32_t *restrict argmax,
                             float *restrict input_gradient, long samples, long channels, long height, long width,
                             long kernel, long stride) {
    const long out_h = (height - kernel) / stride + 1;
    const long out_w = (width - kernel) / stride + 1;
    for (long n = 0; n < samples; ++n) {
        for (long y = 0; y < height; ++y) {
            long y0, y1;
            windows_containing(y, kernel, stride, 0, out_h, &y0, &y1);
            for (long x = 0; x < width; ++x) {
                long x0, x1;
                windows_containing(x, kernel, stride, 0, out_w, &x0, &x1);
                const int32_t at = (int32_t)(y * width + x);
                float *restrict pixel = input_gradient + ((n * height + y) * width + x) * channels;
                for (long c = 0; c < channels; ++c) pixel[c] = 0.0f;
                for (long oy = y0; oy <= y1; ++oy) {
                    for (long ox = x0; ox <= x1; ++ox) {
                        const long out = ((n * out_h + oy) * out_w + ox) * channels;
                        const int32_t *restrict from = argmax + out;
                        const float *restrict g = output_gradient + out;
                        for (long c = 0; c < channels; ++c) pixel[c] += from[c] == at ? g[c] : 0.0f;
                    }
                }
            }
        }
    }
}

// x: [samples, rows, columns] -> y: [samples, columns, rows].
void bpnet_transpose_samples(const float *restrict x, float *restrict y, long samples, long rows, long columns) {
    for (long n = 0; n < samples; ++n) {
        const float *restrict from = x + n * rows * columns;
        float *restrict to = y + n * rows * columns;
        for (long r = 0; r < rows; ++r)
            for (long c = 0; c < columns; ++c) to[c * rows + r] = from[r * columns + c];
    }
}
