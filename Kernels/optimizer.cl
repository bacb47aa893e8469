// Parameter updates: a pass over one parameter buffer, or over the whole parameter arena. The fused SGD weight update is the
// GEMM epilogue EPILOGUE_SGD (gemm.cl): there the gradient Δᵀ·A never goes through memory.

// delta: [rows, outputs], bias, velocity: [outputs]
// -> velocity = μ·velocity − scale·Σ_rows delta, scale = η/samples; bias += velocity. global: (outputs)
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

// delta: [rows, outputs] -> gradient: [outputs] = Σ_rows delta / samples, summed in row order;
// samples is rows for a dense layer, rows/(OH·OW) for a convolution. global: (outputs)
kernel void bias_gradient(global const float* delta, global float* gradient, const int rows, const int outputs,
                          const int samples) {
    const int j = get_global_id(0);
    if (j >= outputs) return;
    float sum = 0.0f;
    for (int r = 0; r < rows; ++r) sum += delta[r * outputs + j];
    gradient[j] = sum / (float)samples;
}

// One step of `rule` (OPTIMIZER_*) on p from its gradient g and state s0, s1, in the order the
// CPU backend uses (Optimizer.swift gives the rules):
//   sgd       v = μv − η(g + l2·p); p += v          (without state: p −= η(g + l2·p))
//   nesterov  v = μv − η(g + l2·p); p += μv − η(g + l2·p)
//   adam(w)   p −= decay·p; m, s moments; p −= η·(m/c1)/(√(s/c2) + ε)   (ADAM_STEP, adam.cl)
//   rmsprop   g' = g + l2·p; v = αv + (1 − α)g'² in s0; u = g'/(√v + ε); then p −= η·u, or with
//             momentum (a second slot) b = μb + u in s1 and p −= η·b. α comes as beta2.
// slots is the number of state buffers the rule keeps (Optimizer.stateBuffers).
// T is float or floatO, one element or OPTIMIZER_LANES of them: a work item updates
// OPTIMIZER_LANES consecutive elements in vector types, which map onto SIMD registers on a CPU
// device (PoCL ran the scalar rule one work item at a time, with sqrt and the divisions scalar),
// and the last, partial group one element at a time with the same arithmetic. OPTIMIZER_LANES
// comes from the host (KernelConstants).
#define OPTIMIZER_JOIN2(a, b) a##b
#define OPTIMIZER_JOIN(a, b) OPTIMIZER_JOIN2(a, b)
#define floatO OPTIMIZER_JOIN(float, OPTIMIZER_LANES)
#define vloadO OPTIMIZER_JOIN(vload, OPTIMIZER_LANES)
#define vstoreO OPTIMIZER_JOIN(vstore, OPTIMIZER_LANES)
#define load_float(i, x) ((x)[i])
#define store_float(v, i, x) ((x)[i] = (v))
#define load_floatO(i, x) vloadO(0, (x) + (i))
#define store_floatO(v, i, x) vstoreO((v), 0, (x) + (i))

#define DEFINE_OPTIMIZER_UPDATE(NAME, T)                                                          \
inline void NAME(global float* p, global const float* g, global float* s0, global float* s1, const int i, \
                 const int rule, const int slots, const float eta, const float l2, const float mu,    \
                 const float beta1, const float beta2, const float epsilon, const float decay,          \
                 const float c1, const float c2) {                                                     \
    const T pi = load_##T(i, p), gi = load_##T(i, g);                                                \
    if (rule == OPTIMIZER_SGD && slots == 0) {                                                        \
        store_##T(pi - eta * (gi + l2 * pi), i, p);                                                   \
    } else if (rule == OPTIMIZER_SGD) {                                                               \
        const T v = mu * load_##T(i, s0) - eta * (gi + l2 * pi);                                      \
        store_##T(v, i, s0);                                                                          \
        store_##T(pi + v, i, p);                                                                      \
    } else if (rule == OPTIMIZER_NESTEROV) {                                                          \
        const T change = eta * (gi + l2 * pi);                                                        \
        const T v = mu * load_##T(i, s0) - change;                                                   \
        store_##T(v, i, s0);                                                                          \
        store_##T(pi + (mu * v - change), i, p);                                                      \
    } else if (rule == OPTIMIZER_ADAM || rule == OPTIMIZER_ADAMW) {                                   \
        T p_new, m_new, s_new;                                                                        \
        ADAM_STEP(T, pi, gi, load_##T(i, s0), load_##T(i, s1), eta, l2, beta1, beta2, epsilon, decay, \
                  c1, c2, p_new, m_new, s_new)                                                        \
        store_##T(m_new, i, s0);                                                                      \
        store_##T(s_new, i, s1);                                                                      \
        store_##T(p_new, i, p);                                                                       \
    } else if (rule == OPTIMIZER_RMSPROP) {                                                           \
        const T gradient = gi + l2 * pi;                                                              \
        const T square = beta2 * load_##T(i, s0) + (1.0f - beta2) * gradient * gradient;             \
        store_##T(square, i, s0);                                                                     \
        const T change = gradient / (sqrt(square) + epsilon);                                         \
        if (slots > 1) {                                                                              \
            const T buffer = mu * load_##T(i, s1) + change;                                           \
            store_##T(buffer, i, s1);                                                                 \
            store_##T(pi - eta * buffer, i, p);                                                       \
        } else {                                                                                      \
            store_##T(pi - eta * change, i, p);                                                       \
        }                                                                                             \
    }                                                                                                 \
    /* Any other code is no rule: nothing is written, so that a missing case shows in verify. */    \
}

DEFINE_OPTIMIZER_UPDATE(optimizer_update, float)
DEFINE_OPTIMIZER_UPDATE(optimizer_update_vector, floatO)

// Elements first … first + OPTIMIZER_LANES − 1 of p: [n], whole vectors where they fit.
inline void optimizer_update_group(global float* p, global const float* g, global float* s0, global float* s1,
                                   const int first, const int n, const int rule, const int slots, const float eta,
                                   const float l2, const float mu, const float beta1, const float beta2,
                                   const float epsilon, const float decay, const float c1, const float c2) {
    if (first + OPTIMIZER_LANES <= n) {
        optimizer_update_vector(p, g, s0, s1, first, rule, slots, eta, l2, mu, beta1, beta2, epsilon, decay, c1, c2);
    } else {
        for (int i = first; i < n; ++i)
            optimizer_update(p, g, s0, s1, i, rule, slots, eta, l2, mu, beta1, beta2, epsilon, decay, c1, c2);
    }
}

// global: (⌈n / OPTIMIZER_LANES⌉)
kernel void optimizer_step(global float* p, global const float* g, global float* s0, global float* s1,
                           const int n, const int rule, const int slots, const float eta, const float l2,
                           const float mu, const float beta1, const float beta2, const float epsilon,
                           const float decay, const float c1, const float c2) {
    const int first = get_global_id(0) * OPTIMIZER_LANES;
    if (first < n)
        optimizer_update_group(p, g, s0, s1, first, n, rule, slots, eta, l2, mu, beta1, beta2, epsilon, decay, c1, c2);
}

// Every tensor of a parameter arena in one launch. segments holds (start, end, decays) per tensor,
// each start a multiple of OPTIMIZER_LANES: a work item updates OPTIMIZER_LANES elements of one
// tensor, and a tensor's last, partial group one element at a time, exactly as optimizer_step on
// that tensor alone would; elements between tensors are left alone. Tensors that do not decay
// (biases) take no L2 and no decoupled decay. global: (⌈total / OPTIMIZER_LANES⌉)
kernel void optimizer_step_arena(global float* p, global const float* g, global float* s0, global float* s1,
                                 global const int* segments, const int tensors, const int rule, const int slots,
                                 const float eta, const float l2, const float mu, const float beta1, const float beta2,
                                 const float epsilon, const float decay, const float c1, const float c2) {
    const int first = get_global_id(0) * OPTIMIZER_LANES;
    for (int t = 0; t < tensors; ++t) {
        const int start = segments[3 * t], end = segments[3 * t + 1];
        if (first >= start && first < end) {
            const int decays = segments[3 * t + 2];
            optimizer_update_group(p + start, g + start, s0 + start, s1 + start, first - start, end - start, rule, slots,
                                   eta, decays ? l2 : 0.0f, mu, beta1, beta2, epsilon, decays ? decay : 0.0f, c1, c2);
            return;
        }
    }
}

// Clipping by global norm (torch.nn.utils.clip_grad_norm_): x: [n] *= min(1, max_norm/(‖x‖ + 1e-6)).
// One work group of METRICS_WG items: item l sums the squares of elements l, l + METRICS_WG, …
// in order, the group adds the items' sums in a fixed tree order, and every item then scales its
// elements. One launch, the same bits every run, and no value goes through the host.
// global = local = (METRICS_WG)
kernel void clip_to_global_norm(global float* x, const int n, const float max_norm) {
    local float sums[METRICS_WG];
    const int lid = get_local_id(0);
    float sum = 0.0f;
    for (int i = lid; i < n; i += METRICS_WG) sum += x[i] * x[i];
    sums[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int stride = METRICS_WG / 2; stride > 0; stride /= 2) {
        if (lid < stride) sums[lid] += sums[lid + stride];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float coefficient = max_norm / (sqrt(sums[0]) + 1e-6f);
    if (coefficient >= 1.0f) return;  // PyTorch multiplies by min(1, c): by 1 it changes nothing
    for (int i = lid; i < n; i += METRICS_WG) x[i] *= coefficient;
}
