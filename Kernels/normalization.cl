// Batch normalisation over the columns of x: [rows, channels] (an NHWC batch's pixels, or a dense
// layer's samples, are its rows). A work item per channel adds its column in row order, as the
// CPU's loops do (normalization.c), so the sums are reproducible; neighbouring work items read
// neighbouring channels of a row.

// mean, variance: [channels] = each column's mean and biased variance (two passes); the running
// statistics move by `momentum` towards the mean and the unbiased variance. global: (channels)
kernel void batch_norm_statistics(global const float* x, const int rows, const int channels, global float* mean,
                                  global float* variance, global float* running_mean, global float* running_variance,
                                  const float momentum) {
    const int c = get_global_id(0);
    if (c >= channels) return;
    float sum = 0.0f;
    for (int r = 0; r < rows; ++r) sum += x[(long)r * channels + c];
    const float mu = sum / (float)rows;
    float squares = 0.0f;
    for (int r = 0; r < rows; ++r) {
        const float d = x[(long)r * channels + c] - mu;
        squares += d * d;
    }
    const float sigma2 = squares / (float)rows;
    // A single row, which training refuses, would divide by zero: it takes the biased variance.
    const float correction = rows > 1 ? (float)rows / (float)(rows - 1) : 1.0f;
    mean[c] = mu;
    variance[c] = sigma2;
    running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mu;
    running_variance[c] = (1.0f - momentum) * running_variance[c] + momentum * (sigma2 * correction);
}

// y = f(γ/√(σ² + ε)·(x − μ) + β), the activation f of the weight layer before the batch norm,
// with its parameter p. global: (channels, rows)
kernel void batch_norm(global const float* x, const int rows, const int channels, global const float* mean,
                       global const float* variance, global const float* scale, global const float* shift, const float epsilon,
                       global float* y, const int f, const float p) {
    const int c = get_global_id(0), r = get_global_id(1);
    if (c >= channels || r >= rows) return;
    const long at = (long)r * channels + c;
    const float factor = scale[c] / sqrt(variance[c] + epsilon);
    y[at] = activate(f, p, factor * (x[at] - mean[c]) + shift[c]);
}

// δ: [rows, channels] at the batch norm's output (before f) -> gγ = Σδ·x̂/samples and
// gβ = Σδ/samples, x̂ = (x − μ)/√(σ² + ε), each column added in row order. global: (channels)
kernel void batch_norm_backward(global const float* delta, global const float* x, const int rows, const int channels,
                                const int samples, global const float* mean, global const float* variance,
                                const float epsilon, global float* scale_gradient, global float* shift_gradient) {
    const int c = get_global_id(0);
    if (c >= channels) return;
    const float inverse_std = 1.0f / sqrt(variance[c] + epsilon);
    const float mu = mean[c];
    float sum_delta = 0.0f, sum_product = 0.0f;
    for (int r = 0; r < rows; ++r) {
        const long at = (long)r * channels + c;
        sum_delta += delta[at];
        sum_product += delta[at] * ((x[at] - mu) * inverse_std);
    }
    scale_gradient[c] = sum_product / (float)samples;
    shift_gradient[c] = sum_delta / (float)samples;
}

// δx = γ/√(σ² + ε)·(δ − gβ/positions − x̂·gγ/positions), positions = rows/samples (so gβ/positions
// is Σδ/rows), as the CPU forms it, from batch_norm_backward's gγ and gβ: an element a work item,
// where the sums needed a channel each. global: (channels, rows)
kernel void batch_norm_input_gradient(global const float* delta, global const float* x, const int rows, const int channels,
                                      const int samples, global const float* mean, global const float* variance,
                                      global const float* scale, const float epsilon, global const float* scale_gradient,
                                      global const float* shift_gradient, global float* input_gradient) {
    const int c = get_global_id(0), r = get_global_id(1);
    if (c >= channels || r >= rows) return;
    const float inverse_std = 1.0f / sqrt(variance[c] + epsilon);
    const float positions = (float)(rows / samples);
    const float mean_delta = shift_gradient[c] / positions, mean_product = scale_gradient[c] / positions;
    const long at = (long)r * channels + c;
    input_gradient[at] = (scale[c] * inverse_std) * (delta[at] - mean_delta - ((x[at] - mean[c]) * inverse_std) * mean_product);
}
