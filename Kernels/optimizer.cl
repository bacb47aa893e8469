// Parameter updates, each one pass over one parameter buffer. The fused SGD weight update is the
// GEMM epilogue EPILOGUE_SGD (gemm.cl): there the gradient Δᵀ·A never goes through memory.

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

// delta: [rows, outputs] -> gradient: [outputs] = (1/rows)·Σ_rows delta, summed in row order.
// global: (outputs)
kernel void bias_gradient(global const float* delta, global float* gradient, const int rows, const int outputs) {
    const int j = get_global_id(0);
    if (j >= outputs) return;
    float sum = 0.0f;
    for (int r = 0; r < rows; ++r) sum += delta[r * outputs + j];
    gradient[j] = sum / (float)rows;
}

// One step of `rule` (OPTIMIZER_*) on p: [n] from its gradient g and state s0, s1, in the
// order the CPU backend uses (Optimizer.swift gives the rules):
//   sgd       v = μv − η(g + l2·p); p += v          (without state: p −= η(g + l2·p))
//   nesterov  v = μv − η(g + l2·p); p += μv − η(g + l2·p)
//   adam(w)   p −= decay·p; m, s moments; p −= η·(m/c1)/(√(s/c2) + ε)
inline void optimizer_update(global float* p, global const float* g, global float* s0, global float* s1, const int i,
                             const int rule, const int stateful, const float eta, const float l2, const float mu,
                             const float beta1, const float beta2, const float epsilon, const float decay,
                             const float c1, const float c2) {
    if (rule == OPTIMIZER_SGD && !stateful) {
        p[i] -= eta * (g[i] + l2 * p[i]);
    } else if (rule == OPTIMIZER_SGD) {
        const float v = mu * s0[i] - eta * (g[i] + l2 * p[i]);
        s0[i] = v;
        p[i] += v;
    } else if (rule == OPTIMIZER_NESTEROV) {
        const float change = eta * (g[i] + l2 * p[i]);
        const float v = mu * s0[i] - change;
        s0[i] = v;
        p[i] += mu * v - change;
    } else {
        float w = p[i];
        w -= decay * w;
        const float gi = g[i] + l2 * w;
        const float m = beta1 * s0[i] + (1.0f - beta1) * gi;
        const float s = beta2 * s1[i] + (1.0f - beta2) * gi * gi;
        s0[i] = m;
        s1[i] = s;
        p[i] = w - eta * (m / c1) / (sqrt(s / c2) + epsilon);
    }
}

// global: (n)
kernel void optimizer_step(global float* p, global const float* g, global float* s0, global float* s1,
                           const int n, const int rule, const int stateful, const float eta, const float l2,
                           const float mu, const float beta1, const float beta2, const float epsilon,
                           const float decay, const float c1, const float c2) {
    const int i = get_global_id(0);
    if (i < n) optimizer_update(p, g, s0, s1, i, rule, stateful, eta, l2, mu, beta1, beta2, epsilon, decay, c1, c2);
}

// A layer's weights (items [0, nw)) and biases (items [nw, nw + nb)) in one launch: the same
// step, except that biases take no L2 and no decoupled decay. global: (nw + nb)
kernel void optimizer_step_layer(global float* pw, global const float* gw, global float* sw0, global float* sw1,
                                 const int nw, global float* pb, global const float* gb, global float* sb0,
                                 global float* sb1, const int nb, const int rule, const int stateful, const float eta,
                                 const float l2, const float mu, const float beta1, const float beta2,
                                 const float epsilon, const float decay, const float c1, const float c2) {
    const int i = get_global_id(0);
    if (i < nw) {
        optimizer_update(pw, gw, sw0, sw1, i, rule, stateful, eta, l2, mu, beta1, beta2, epsilon, decay, c1, c2);
    } else if (i < nw + nb) {
        optimizer_update(pb, gb, sb0, sb1, i - nw, rule, stateful, eta, 0.0f, mu, beta1, beta2, epsilon, 0.0f, c1, c2);
    }
}
