#ifndef BPNET_CPU_KERNELS_H
#define BPNET_CPU_KERNELS_H

/// x: [rows, columns], bias: [columns] -> x = σ(x + bias), in place.
void bpnet_bias_sigmoid(float *x, const float *bias, long rows, long columns);
/// x: [rows, columns], bias: [columns] -> x = max(x + bias, 0) (0 where x + bias is NaN), in place.
void bpnet_bias_relu(float *x, const float *bias, long rows, long columns);
/// x: [rows, columns], bias: [columns] -> x = x + bias, in place.
void bpnet_bias_add(float *x, const float *bias, long rows, long columns);

/// Which f′(a) `bpnet_multiply_derivative` takes.
enum { BPNET_DERIVATIVE_SIGMOID = 0, BPNET_DERIVATIVE_TANH = 1, BPNET_DERIVATIVE_RELU = 2 };
/// delta, a: [count] -> delta = delta ⊙ f′(a), f′ from the output a: a(1 − a), 1 − a², or 1 where a > 0 else 0.
void bpnet_multiply_derivative(float *delta, const float *a, long count, int activation);
/// out: [count] = x ⊙ mask; out may be x.
void bpnet_multiply(const float *x, const float *mask, float *out, long count);

// Optimizer steps over p: [count] from its gradient g (optimizer_steps.c gives the formulas).
void bpnet_sgd_step(float *p, const float *g, long count, float eta, float l2);
void bpnet_momentum_step(float *p, const float *g, float *v, long count, float eta, float l2, float mu);
void bpnet_nesterov_step(float *p, const float *g, float *v, long count, float eta, float l2, float mu);
void bpnet_adam_step(float *p, const float *g, float *m, float *s, long count, float eta, float l2, float beta1,
                     float beta2, float epsilon, float decay, float c1, float c2);
// PyTorch's RMSprop: g' = g + l2·p; v = αv + (1 − α)g'²; u = g'/(√v + ε); p −= η·u, or with a
// momentum buffer b (not NULL), b = μb + u and p −= η·b.
void bpnet_rmsprop_step(float *p, const float *g, float *v, float *b, long count, float eta, float l2, float alpha,
                        float epsilon, float mu);
// Batch normalisation over the columns of x: [rows, channels] (normalization.c). Statistics: each
// column's mean and biased variance, and the running statistics moved by `momentum` towards the
// mean and the unbiased variance. Forward: y = γ/√(σ² + ε)·(x − μ) + β, then max(y, 0) with
// `relu`. Backward, with x̂ = (x − μ)/√(σ² + ε): the sums gγ = Σδ·x̂/samples and gβ = Σδ/samples
// over all rows; then, for any range of rows, δx = γ/√(σ² + ε)·(δ − gβ/positions −
// x̂·gγ/positions), positions being the batch's rows per sample.
void bpnet_batch_norm_statistics(const float *x, long rows, long channels, float *mean, float *variance, float *running_mean,
                                 float *running_variance, float momentum);
void bpnet_batch_norm(const float *x, long rows, long channels, const float *mean, const float *variance, const float *scale,
                      const float *shift, float epsilon, int relu, float *y);
void bpnet_batch_norm_backward_sums(const float *delta, const float *x, long rows, long channels, long samples, const float *mean,
                                    const float *variance, float epsilon, float *scale_gradient, float *shift_gradient);
void bpnet_batch_norm_backward_input(const float *delta, const float *x, long rows, long channels, long positions, const float *mean,
                                     const float *variance, const float *scale, float epsilon, const float *scale_gradient,
                                     const float *shift_gradient, float *input_gradient);
// x *= min(1, max_norm/(‖x‖ + 1e-6)), ‖x‖ = √(Σ x²): the squares summed in float in 16 lanes
// (element i in lane i mod 16, in order), the lanes then added in order, so the sum's order
// depends on count alone.
void bpnet_clip_to_global_norm(float *x, long count, float max_norm);



#include <stdint.h>

/// destination: [rows, row_length], row i = bytes row index[i] as k / 255 (the IDX reader's floats).
void bpnet_gather_bytes_over_255(float *destination, const uint8_t *bytes, const int32_t *index,
                                 long rows, long row_length);

/// Philox4x32-10: out = the generator's four words for `counter` under `key`.
void bpnet_philox4x32(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);
/// Crop and flip augmentation of `rows` NCHW images (see Augmentation.swift): sample r's draw
/// comes from Philox(counter = (indices[r], epoch, 0, 0), key).
void bpnet_augment_images(const float *images, float *out, const int32_t *indices, long rows, long channels, long height,
                          long width, long padding, int flip, uint64_t key, uint32_t epoch);

/// mask: [count] of `scale` (kept) or 0 (dropped), element i kept when its Philox draw for
/// (first + i, step, layer) under `seed` is at least `rate`. Kernels/dropout.cl draws the same.
void bpnet_dropout_mask(float *mask, long count, float rate, float scale, uint64_t seed, uint64_t step,
                        uint32_t layer, uint32_t first);
// Image operations on NHWC batches (image.c; WindowGeometry.swift gives the layouts).
/// input: [samples, H, W, C] -> columns: [samples·OH·OW, C·K·K], row (n, y, x), column (c, ky, kx).
void bpnet_im2col(const float *input, float *columns, long samples, long channels, long height, long width,
                  long kernel, long stride, long padding);
/// columns: [samples·OH·OW, C·K·K] -> image: [samples, H, W, C], im2col's transpose as a gather.
void bpnet_col2im(const float *columns, float *image, long samples, long channels, long height, long width,
                  long kernel, long stride, long padding);
/// input: [samples, H, W, C] -> output, argmax (y·W + x): [samples, OH, OW, C], no padding.
void bpnet_max_pool(const float *input, float *output, int32_t *argmax, long samples, long channels, long height,
                    long width, long kernel, long stride);
/// output_gradient, argmax: [samples, OH, OW, C] -> input_gradient: [samples, H, W, C], as a gather.
void bpnet_max_pool_backward(const float *output_gradient, const int32_t *argmax, float *input_gradient,
                             long samples, long channels, long height, long width, long kernel, long stride);
/// x: [samples, rows, columns] -> y: [samples, columns, rows].
void bpnet_transpose_samples(const float *x, float *y, long samples, long rows, long columns);

/// The FP32 FMA peak of one core, measured: `iterations` rounds of 12 independent FMA chains over
/// the widest vectors the CPU has (AVX-512, else AVX2 with FMA, else scalar). Returns the FLOPs
/// done; `sink` keeps the result alive, and `lanes` receives the vector width.
double bpnet_fma_probe(long iterations, float *sink, int *lanes);

/// The kernel set OpenBLAS had chosen when BPNet replaced it at load time with a better one for
/// this CPU (see blas_core.c), e.g. "Prescott"; NULL when OpenBLAS's own choice stands.
const char *bpnet_blas_core_replaced(void);
#endif
