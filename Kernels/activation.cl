// Element-wise sigmoid work, output deltas and the per-batch loss/accuracy reduction.
// Loss codes match the host's `Loss.code`.
#define LOSS_QUADRATIC 0
#define LOSS_CROSS_ENTROPY 1

#ifndef METRICS_WG
#define METRICS_WG 64   // work-group size of batch_metrics; the host sets it from the device's limits
#endif
#ifndef CROSS_ENTROPY_EPSILON
#define CROSS_ENTROPY_EPSILON 1e-7f
#endif

// X: [rows, cols], bias: [cols] -> X = σ(X + bias). global: (cols, rows)
kernel void add_bias_sigmoid(global float* X, global const float* bias, const int rows, const int cols) {
    const int j = get_global_id(0), r = get_global_id(1);
    if (j >= cols || r >= rows) return;
    X[r * cols + j] = 1.0f / (1.0f + exp(-(X[r * cols + j] + bias[j])));
}

// a: [n], d: [n] -> d = d ⊙ a(1−a), σ′ written through the activation. global: (n)
kernel void sigmoid_backward(global float* d, global const float* a, const int n) {
    const int i = get_global_id(0);
    if (i < n) d[i] *= a[i] * (1.0f - a[i]);
}

// a, y: [n] -> d: [n] = δ_L. global: (n)
kernel void output_delta(global const float* a, global const float* y, global float* d,
                         const int n, const int loss) {
    const int i = get_global_id(0);
    if (i >= n) return;
    d[i] = loss == LOSS_QUADRATIC ? (a[i] - y[i]) * a[i] * (1.0f - a[i]) : a[i] - y[i];
}

inline float loss_term(int loss, float a, float y) {
    if (loss == LOSS_QUADRATIC) {
        const float d = a - y;
        return 0.5f * d * d;
    }
    const float c = clamp(a, CROSS_ENTROPY_EPSILON, 1.0f - CROSS_ENTROPY_EPSILON);
    return -(y * log(c) + (1.0f - y) * log(1.0f - c));
}

// a, y: [rows, cols] -> metrics[2·slot] = Σ loss, metrics[2·slot+1] = #rows with argmax a = argmax y
// (with one column: #rows where a ≥ 0.5 exactly when y ≥ 0.5).
// One work group of METRICS_WG items; a fixed tree order makes the sum reproducible.
kernel void batch_metrics(global const float* a, global const float* y, const int rows, const int cols,
                          const int loss, global float* metrics, const int slot) {
    local float loss_sum[METRICS_WG];
    local float correct_sum[METRICS_WG];
    const int lid = get_local_id(0);
    float my_loss = 0.0f, my_correct = 0.0f;
    for (int r = lid; r < rows; r += METRICS_WG) {
        const int base = r * cols;
        int best_a = 0, best_y = 0;
        float row_loss = 0.0f;
        for (int j = 0; j < cols; ++j) {
            row_loss += loss_term(loss, a[base + j], y[base + j]);
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

// source: [*, row_length], index: int32 -> destination: [rows, row_length],
// row i = source row index[offset + i]. Each work item copies GATHER_SPAN consecutive floats,
// since a work item per float costs more in scheduling than the copy itself.
// global: (ceil(row_length / GATHER_SPAN), rows)
#ifndef GATHER_SPAN
#define GATHER_SPAN 16
#endif
kernel void gather_rows(global const float* source, const int row_length, global const int* index,
                        const int offset, const int rows, global float* destination) {
    const int c0 = get_global_id(0) * GATHER_SPAN, r = get_global_id(1);
    if (c0 >= row_length || r >= rows) return;
    global const float* from = source + (long)index[offset + r] * row_length;
    global float* to = destination + r * row_length;
    const int end = min(c0 + GATHER_SPAN, row_length);
    for (int c = c0; c < end; ++c) to[c] = from[c];
}
