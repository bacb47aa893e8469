// The optimizer rules of the CPU backend, one pass over one parameter buffer each, in the order
// Optimizer.swift gives and Kernels/optimizer.cl follows. The products are kept apart from the
// sums (no contraction into FMAs), as Swift computed them when these loops were Swift loops, so
// the CPU's results did not change by a bit when they moved here to be vectorized.
#include "cpu_kernels.h"
#include "vector_clones.h"

#pragma clang fp contract(off)

// p −= η(g + l2·p)
VECTOR_CLONES
void bpnet_sgd_step(float *restrict p, const float *restrict g, long count, float eta, float l2) {
    for (long i = 0; i < count; ++i) p[i] -= eta * (g[i] + l2 * p[i]);
}

// v = μv − η(g + l2·p); p += v
VECTOR_CLONES
void bpnet_momentum_step(float *restrict p, const float *restrict g, float *restrict v, long count, float eta, float l2,
                         float mu) {
    for (long i = 0; i < count; ++i) {
        const float velocity = mu * v[i] - eta * (g[i] + l2 * p[i]);
        v[i] = velocity;
        p[i] += velocity;
    }
}

// v = μv − η(g + l2·p); p += μv − η(g + l2·p)
VECTOR_CLONES
void bpnet_nesterov_step(float *restrict p, const float *restrict g, float *restrict v, long count, float eta, float l2,
                         float mu) {
    for (long i = 0; i < count; ++i) {
        const float change = eta * (g[i] + l2 * p[i]);
        const float velocity = mu * v[i] - change;
        v[i] = velocity;
        p[i] += mu * velocity - change;
    }
}

// p −= decay·p; g' = g + l2·p; m = β₁m + (1 − β₁)g'; s = β₂s + (1 − β₂)g'²;
// p −= η·(m/c₁)/(√(s/c₂) + ε), with c₁ = 1 − β₁ᵗ and c₂ = 1 − β₂ᵗ.
VECTOR_CLONES
void bpnet_adam_step(float *restrict p, const float *restrict g, float *restrict m, float *restrict s, long count,
                     float eta, float l2, float beta1, float beta2, float epsilon, float decay, float c1, float c2) {
    for (long i = 0; i < count; ++i) {
        float w = p[i];
        w -= decay * w;
        const float gradient = g[i] + l2 * w;
        const float first = beta1 * m[i] + (1.0f - beta1) * gradient;
        const float second = beta2 * s[i] + (1.0f - beta2) * gradient * gradient;
        m[i] = first;
        s[i] = second;
        // The square root is correctly rounded (vsqrtps), as Swift's squareRoot() is; the builtin
        // has no errno to set, so the loop vectorizes.
        p[i] = w - eta * (first / c1) / (__builtin_elementwise_sqrt(second / c2) + epsilon);
    }
}

// g' = g + l2·p; v = αv + (1 − α)g'²; u = g'/(√v + ε); p −= η·u, or b = μb + u and p −= η·b.
VECTOR_CLONES
void bpnet_rmsprop_step(float *restrict p, const float *restrict g, float *restrict v, float *restrict b, long count,
                        float eta, float l2, float alpha, float epsilon, float mu) {
    for (long i = 0; i < count; ++i) {
        const float gradient = g[i] + l2 * p[i];
        const float square = alpha * v[i] + (1.0f - alpha) * gradient * gradient;
        v[i] = square;
        const float change = gradient / (__builtin_elementwise_sqrt(square) + epsilon);
        if (b) {
            const float buffer = mu * b[i] + change;
            b[i] = buffer;
            p[i] -= eta * buffer;
        } else {
            p[i] -= eta * change;
        }
    }
}

// Clipping by global norm (torch.nn.utils.clip_grad_norm_ over every gradient at once). The 16
// lanes are independent sums, so the loop vectorizes without reassociating any of them.
VECTOR_CLONES
void bpnet_clip_to_global_norm(float *restrict x, long count, float max_norm) {
    float lanes[16] = {0};
    const long whole = count - count % 16;
    for (long i = 0; i < whole; i += 16)
        for (int k = 0; k < 16; ++k) lanes[k] += x[i + k] * x[i + k];
    for (long i = whole; i < count; ++i) lanes[i - whole] += x[i] * x[i];
    float sum = 0.0f;
    for (int k = 0; k < 16; ++k) sum += lanes[k];
    const float coefficient = max_norm / (__builtin_elementwise_sqrt(sum) + 1e-6f);
    if (coefficient >= 1.0f) return;  // PyTorch multiplies by min(1, c): by 1 it changes nothing
    for (long i = 0; i < count; ++i) x[i] *= coefficient;
}
