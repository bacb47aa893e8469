// Activations and their derivatives, output deltas, the per-batch loss/accuracy reduction and
// the mini-batch gather. The ACTIVATION_*, LOSS_*, EPILOGUE_* and OPTIMIZER_* codes and
// LOSS_EPSILON are #defines that the host generates from its Swift enums (KernelConstants.swift).
// This file comes first in the program (files are joined in name order), so gemm.cl uses these.

#ifndef METRICS_WG
#define METRICS_WG 64   // work-group size of batch_metrics; the host sets it from the device's limits
#endif

// The element-wise activations, one line each: the code (generated from Activation.Kind in
// Swift), f(z), and f′ from x, which is the output a = f(z) for every kind but GELU, whose f′
// needs the pre-activation z (the host keeps z for it and passes that as x). p is the
// activation's parameter: leaky ReLU's slope, 0 for the others. Each expression takes a float or a
// floatN (scalars broadcast; ?: selects per lane when its operands are vectors), so the scalar
// functions below and gemm.cl's vector epilogues come from this one list. Identity is the default
// of both; softmax is a row operation (softmax_rows). A new activation is one line here.
// ReLU's f′ is 1 where a > 0, else 0: written POSITIVE(a) = min(⌈max(a, 0)⌉, 1), because a
// vector ?: needs vector operands and the constants 1 and 0 are scalars. Leaky ReLU's f′ is
// POSITIVE(a) + p·(1 − POSITIVE(a)), exactly 1 or p. ReLU's output is never NaN or −0.
// GELU is the exact erf form, as PyTorch's default: f = ½z(1 + erf(z/√2)), f′ = Φ(z) + z·φ(z).
#define POSITIVE(a) fmin(ceil(fmax(a, 0.0f)), 1.0f)
#define SQRT_HALF 0.707106781186547524f
#define INVERSE_SQRT_TWO_PI 0.398942280401432678f
#define ELEMENTWISE_ACTIVATIONS(X)                                                                    \
    X(ACTIVATION_SIGMOID, 1.0f / (1.0f + exp(-z)), x * (1.0f - x))                                  \
    X(ACTIVATION_TANH, tanh(z), 1.0f - x * x)                                                       \
    X(ACTIVATION_RELU, z > 0.0f ? z : 0.0f, POSITIVE(x))                                            \
    X(ACTIVATION_LEAKY_RELU, z > 0.0f ? z : p * z, POSITIVE(x) + p * (1.0f - POSITIVE(x)))          \
    X(ACTIVATION_GELU, 0.5f * z * (1.0f + erf(z * SQRT_HALF)),                                      \
      0.5f * (1.0f + erf(x * SQRT_HALF)) + x * exp(-0.5f * x * x) * INVERSE_SQRT_TWO_PI)

#define ACTIVATE_CASE(code, f_of_z, df_of_x) case code: return f_of_z;
#define DERIVATIVE_CASE(code, f_of_z, df_of_x) case code: return df_of_x;

// f(z), element-wise, with the activation's parameter p.
inline float activate(int f, float p, float z) {
    switch (f) {
    ELEMENTWISE_ACTIVATIONS(ACTIVATE_CASE)
    default: return z;
    }
}

// f′ from x: the output a = f(z), or z for GELU.
inline float derivative_from(int f, float p, float x) {
    switch (f) {
    ELEMENTWISE_ACTIVATIONS(DERIVATIVE_CASE)
    default: return 1.0f;
    }
}

// X: [rows, cols], bias: [cols] -> X = f(X + bias) for an element-wise f. global: (cols, rows)
kernel void add_bias_activation(global float* X, global const float* bias, const int rows, const int cols,
                                const int f, const float p) {
    const int j = get_global_id(0), r = get_global_id(1);
    if (j >= cols || r >= rows) return;
    X[r * cols + j] = activate(f, p, X[r * cols + j] + bias[j]);
}

// z: [n] -> a: [n] = f(z), for an activation whose derivative needs z kept. global: (n)
kernel void activate_elements(global const float* z, global float* a, const int n, const int f, const float p) {
    const int i = get_global_id(0);
    if (i < n) a[i] = activate(f, p, z[i]);
}

// X: [rows, cols], bias: [cols] -> each row X = softmax(X + bias), stable: the row maximum is
// subtracted before exp. One work item per row, in column order, as the CPU does. global: (rows)
kernel void softmax_rows(global float* X, global const float* bias, const int rows, const int cols) {
    const int r = get_global_id(0);
    if (r >= rows) return;
    global float* row = X + r * cols;
    float top = -INFINITY;
    for (int j = 0; j < cols; ++j) {
        row[j] += bias[j];
        top = fmax(top, row[j]);
    }
    float sum = 0.0f;
    for (int j = 0; j < cols; ++j) {
        row[j] = exp(row[j] - top);
        sum += row[j];
    }
    for (int j = 0; j < cols; ++j) row[j] /= sum;
}

// d, x: [n] -> d = d ⊙ f′(x), x the output a (or z for GELU). global: (n)
kernel void activation_backward(global float* d, global const float* x, const int n, const int f, const float p) {
    const int i = get_global_id(0);
    if (i < n) d[i] *= derivative_from(f, p, x[i]);
}

// a, y: [n] -> d: [n] = δ_L: (a − y) ⊙ f′(a) for the quadratic loss, a − y for cross-entropy
// (sigmoid outputs) and log-likelihood (softmax outputs). global: (n)
// (An output layer's f′ reads a: GELU, which needs z, is refused there.)
inline float output_delta_value(int loss, int f, float p, float a, float y) {
    if (loss != LOSS_QUADRATIC) return a - y;
    if (f == ACTIVATION_SIGMOID) return (a - y) * a * (1.0f - a);
    return (a - y) * derivative_from(f, p, a);
}

kernel void output_delta(global const float* a, global const float* y, global float* d,
                         const int n, const int loss, const int f, const float p) {
    const int i = get_global_id(0);
    if (i >= n) return;
    d[i] = output_delta_value(loss, f, p, a[i], y[i]);
}

// a clamped to [lo, hi] as Swift's min(max(a, lo), hi) does it: a NaN stays NaN (OpenCL's clamp
// and fmax would turn it into lo), so a diverged run's loss is not finite on every backend.
inline float clamp_keeping_nan(float a, float lo, float hi) {
    const float c = lo >= a ? lo : a;
    return hi < c ? hi : c;
}

inline float loss_term(int loss, float a, float y) {
    if (loss == LOSS_QUADRATIC) {
        const float d = a - y;
        return 0.5f * d * d;
    }
    if (loss == LOSS_LOG_LIKELIHOOD) return y == 0.0f ? 0.0f : -y * log(clamp_keeping_nan(a, LOSS_EPSILON, 1.0f));
    const float c = clamp_keeping_nan(a, LOSS_EPSILON, 1.0f - LOSS_EPSILON);
    return -(y * log(c) + (1.0f - y) * log(1.0f - c));
}

// a, y: [rows, cols] -> metrics[2·slot] = Σ loss, metrics[2·slot+1] = #rows with argmax a = argmax y
// (with one column: #rows where a ≥ 0.5 exactly when y ≥ 0.5), and with `write_delta` also
// d = the output delta of `loss` for an output layer of activation f. One work group of
// METRICS_WG items, whose local sums the kernel declares (OpenCL C 1.2 allows local arrays in
// kernels only); a fixed tree order makes the sum reproducible.
inline void measure_rows(global const float* a, global const float* y, global float* d, const int write_delta,
                         const int rows, const int cols, const int loss, const int f, const float p, global float* metrics,
                         const int slot, local float* loss_sum, local float* correct_sum) {
    const int lid = get_local_id(0);
    float my_loss = 0.0f, my_correct = 0.0f;
    for (int r = lid; r < rows; r += METRICS_WG) {
        const int base = r * cols;
        int best_a = 0, best_y = 0;
        float row_loss = 0.0f;
        for (int j = 0; j < cols; ++j) {
            row_loss += loss_term(loss, a[base + j], y[base + j]);
            if (write_delta) d[base + j] = output_delta_value(loss, f, p, a[base + j], y[base + j]);
            if (a[base + j] > a[base + best_a]) best_a = j;
            if (y[base + j] > y[base + best_y]) best_y = j;
        }
        my_loss += row_loss;
        // One output unit is a binary classifier: its class is whether it reaches 0.5.
        const bool hit = cols == 1 ? (a[base] >= 0.5f) == (y[base] >= 0.5f) : best_a == best_y;
        my_correct += hit ? 1.0f : 0.0f;
    }
    loss_sum[lid] = my_loss;
    correct_sum[lid] = my_correct;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int stride = METRICS_WG / 2; stride > 0; stride /= 2) {
        if (lid < stride) {
            loss_sum[lid] += loss_sum[lid + stride];
            correct_sum[lid] += correct_sum[lid + stride];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) {
        metrics[2 * slot] = loss_sum[0];
        metrics[2 * slot + 1] = correct_sum[0];
    }
}

kernel void batch_metrics(global const float* a, global const float* y, const int rows, const int cols,
                          const int loss, global float* metrics, const int slot) {
    local float loss_sum[METRICS_WG];
    local float correct_sum[METRICS_WG];
    // d is never written without write_delta; a stands in for it.
    measure_rows(a, y, (global float*)a, 0, rows, cols, loss, 0, 0.0f, metrics, slot, loss_sum, correct_sum);
}

// batch_metrics and output_delta in one launch, for output batches small enough that one work
// group writes the deltas faster than a second launch would (the host decides). The same loss
// sums and the same deltas, bit for bit.
kernel void metrics_and_output_delta(global const float* a, global const float* y, global float* d, const int rows,
                                     const int cols, const int loss, const int f, const float p, global float* metrics,
                                     const int slot) {
    local float loss_sum[METRICS_WG];
    local float correct_sum[METRICS_WG];
    measure_rows(a, y, d, 1, rows, cols, loss, f, p, metrics, slot, loss_sum, correct_sum);
}

// source: [*, row_length], index: int32 -> destination: [rows, row_length],
// row i = source row index[offset + i]. Each work item copies GATHER_SPAN consecutive floats,
// since a work item per float costs more in scheduling than the copy itself.
// global: (ceil(row_length / GATHER_SPAN), rows)
#ifndef GATHER_SPAN
#define GATHER_SPAN 16
#endif
// A batch's input and target rows in one launch: columns [0, input_length) of the combined row
// come from the inputs, the rest from the targets. global: (⌈(input_length + target_length) /
// GATHER_SPAN⌉, rows)
kernel void gather_batch(global const float* inputs, const int input_length, global const float* targets,
                         const int target_length, global const int* index, const int offset, const int rows,
                         global float* input_rows, global float* target_rows) {
    const int c0 = get_global_id(0) * GATHER_SPAN, r = get_global_id(1);
    if (c0 >= input_length + target_length || r >= rows) return;
    const long sample = index[offset + r];
    const int end = min(c0 + GATHER_SPAN, input_length + target_length);
    for (int c = c0; c < end; ++c) {
        if (c < input_length) {
            input_rows[r * input_length + c] = inputs[sample * input_length + c];
        } else {
            target_rows[r * target_length + (c - input_length)] = targets[sample * target_length + (c - input_length)];
        }
    }
}

kernel void gather_rows(global const float* source, const int row_length, global const int* index,
                        const int offset, const int rows, global float* destination) {
    const int c0 = get_global_id(0) * GATHER_SPAN, r = get_global_id(1);
    if (c0 >= row_length || r >= rows) return;
    global const float* from = source + (long)index[offset + r] * row_length;
    global float* to = destination + r * row_length;
    const int end = min(c0 + GATHER_SPAN, row_length);
    for (int c = c0; c < end; ++c) to[c] = from[c];
}
