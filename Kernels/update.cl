// Parameter updates of mini-batch SGD. The weight update is the GEMM epilogue EPILOGUE_SGD
// (gemm.cl): the gradient Δᵀ·A is an outer product per sample, summed by one GEMM per batch.

// delta: [rows, outputs], bias, velocity: [outputs]
// -> velocity = μ·velocity − (η/rows)·Σ_rows delta; bias += velocity. global: (outputs)
kernel void update_bias(global float* bias, global float* velocity, global const float* delta,
                        const int rows, const int outputs, const float scale, const float momentum) {
    const int j = get_global_id(0);
    if (j >= outputs) return;
    float sum = 0.0f;
    for (int r = 0; r < rows; ++r) sum += delta[r * outputs + j];
    const float v = momentum * velocity[j] - scale * sum;
    velocity[j] = v;
    bias[j] += v;
}
