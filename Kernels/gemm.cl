// Matrix products of training, row-major: C[M,N] = op(A)[M,K] · op(B)[K,N], with the
// result passed through one of these epilogues (C's element is c, aux's is x, f the activation):
//   EPILOGUE_NONE             c = alpha·acc + beta·c                     (plain GEMM; beta = 0 ignores c)
//   EPILOGUE_BIAS_ACTIVATION  c = f(acc + aux[j])                        forward:  A_l = f(A_{l−1}·Wᵀ + b)
//   EPILOGUE_ACTIVATION_GRAD  c = acc · f′(x)                            backward: δ_l = (δ_{l+1}·W) ⊙ f′(a or z)
//   EPILOGUE_SGD              v = beta·c + alpha·acc − gamma·x; c = v; x += v   update: V = μV − η(ΔᵀA/m + λ/n·W); W += V
//   EPILOGUE_ADAM             g = alpha·acc; Adam's step (ADAM_STEP, adam.cl) on the weights in aux
//                             from g, with m in C, s in aux2 and adam = (η, l2, β₁, β₂, ε, decay, c₁, c₂)
// The SGD and Adam epilogues keep the gradient in registers: no gradient matrix goes through memory.
// A weight-gradient product Δᵀ·X also yields the layer's bias, the row sums of op(A) = Δᵀ, in the
// same launch: the host adds one column block past C's last, whose work items each sum their rows
// of op(A) over k, in k order, as bias_gradient and update_bias (optimizer.cl) do, so the bits
// are theirs. The bias epilogues (s is the row sum, b the bias, x its velocity):
//   BIAS_NONE      nothing: no extra block is launched
//   BIAS_GRADIENT  b = s / samples                                              gb = Σ_rows δ / samples
//   BIAS_SGD       v = momentum·x − scale·s; x = v; b += v                      update with scale = η/samples
//   BIAS_ADAM      Adam's step on b from s / samples, with m in x and s in bias_aux2, without l2 and decay
// samples (bias_samples) divides the sums: K = rows for a dense layer, rows/(OH·OW) for a
// convolution whose rows are output positions. A division, not a product with 1/samples, so
// that the bits are bias_gradient's.
// The EPILOGUE_* and ACTIVATION_* codes come from the host (fp is the activation's parameter);
// activate and derivative_from from activation.cl.

// Tunables; the host prepends per-device values (see OpenCLTuning.swift).
#ifndef GEMM_TM
#define GEMM_TM 4      // rows of C per work item
#endif
#ifndef GEMM_TN
#define GEMM_TN 4      // columns of C per work item
#endif

inline void store_epilogue(int epilogue, int f, float fp, int i, int j, int N, float acc,
                           float alpha, float beta, float gamma,
                           global float* C, global float* aux, global float* aux2, const float8 adam) {
    const int at = i * N + j;
    switch (epilogue) {
    case EPILOGUE_ADAM: {
        const float g = alpha * acc;
        ADAM_STEP(float, aux[at], g, C[at], aux2[at], adam.s0, adam.s1, adam.s2, adam.s3, adam.s4, adam.s5, adam.s6,
                  adam.s7, aux[at], C[at], aux2[at])
        break;
    }
    case EPILOGUE_BIAS_ACTIVATION:
        C[at] = activate(f, fp, acc + aux[j]);
        break;
    case EPILOGUE_ACTIVATION_GRAD:
        C[at] = acc * derivative_from(f, fp, aux[at]);
        break;
    case EPILOGUE_SGD: {
        const float v = beta * C[at] + alpha * acc - gamma * aux[at];
        C[at] = v;
        aux[at] += v;
        break;
    }
    default:
        C[at] = beta == 0.0f ? alpha * acc : alpha * acc + beta * C[at];
    }
}

inline void store_bias_epilogue(int bias_kind, int i, int samples, float sum, float scale, float momentum,
                                global float* bias, global float* bias_aux, global float* bias_aux2,
                                const float8 adam) {
    if (bias_kind == BIAS_ADAM) {
        const float g = sum / (float)samples;
        ADAM_STEP(float, bias[i], g, bias_aux[i], bias_aux2[i], adam.s0, 0.0f, adam.s2, adam.s3, adam.s4, 0.0f, adam.s6,
                  adam.s7, bias[i], bias_aux[i], bias_aux2[i])
    } else if (bias_kind == BIAS_GRADIENT) {
        bias[i] = sum / (float)samples;
    } else if (bias_kind == BIAS_SGD) {
        const float v = momentum * bias_aux[i] - scale * sum;
        bias_aux[i] = v;
        bias[i] += v;
    }
}

// In the extra column block (get_global_id(0) == the count of C's column blocks of WIDTH): the
// bias epilogue of rows i0 … i0 + ROWS − 1.
#define GEMM_BIAS_ROWS(LOAD_A, ROWS, WIDTH)                                                       \
    if (bias_kind != BIAS_NONE && get_global_id(0) == (N + (WIDTH) - 1) / (WIDTH))               \
        for (int r = 0; r < (ROWS) && i0 + r < M; ++r) {                                        \
            float sum = 0.0f;                                                                   \
            for (int k = 0; k < K; ++k) sum += LOAD_A(i0 + r, k);                               \
            store_bias_epilogue(bias_kind, i0 + r, bias_samples, sum, bias_scale, bias_momentum, bias, bias_aux, \
                                bias_aux2, adam);                                               \
        }

// The arguments every GEMM kernel takes after its epilogue's.
#define GEMM_BIAS_ARGUMENTS                                                                       \
    global float* bias, global float* bias_aux, const int bias_kind, const float bias_scale,     \
    const float bias_momentum, global float* aux2, global float* bias_aux2, const float8 adam,   \
    const int bias_samples

// The reference: one work item per element of C, every access bounds-checked, any shape.
// global: (N, M)
kernel void gemm_naive(const int M, const int N, const int K,
                       const int transA, const int transB,
                       const float alpha, const float beta, const float gamma,
                       global const float* A, global const float* B,
                       global float* C, global float* aux, const int epilogue, const int f, const float fp, GEMM_BIAS_ARGUMENTS) {
    const int j = get_global_id(0);
    const int i = get_global_id(1);
    if (i >= M) return;
    if (j >= N) {
        const int i0 = i;
#define NAIVE_A(i, k) (transA ? A[(k) * M + (i)] : A[(i) * K + (k)])
        GEMM_BIAS_ROWS(NAIVE_A, 1, 1)
#undef NAIVE_A
        return;
    }
    float acc = 0.0f;
    for (int k = 0; k < K; ++k) {
        const float a = transA ? A[k * M + i] : A[i * K + k];
        const float b = transB ? B[j * K + k] : B[k * N + j];
        acc += a * b;
    }
    store_epilogue(epilogue, f, fp, i, j, N, acc, alpha, beta, gamma, C, aux, aux2, adam);
}

// Register-blocked GEMM: each work item owns a GEMM_TM × GEMM_TN block of C and keeps it in
// registers while it streams K. One kernel per transpose case, so the index arithmetic is
// fixed at compile time. Interior blocks run without bounds checks; edge blocks take the
// checked path, which zero-fills what lies outside.
// global: (ceil(N / GEMM_TN), ceil(M / GEMM_TM)), rounded up to the work-group size.
#define DEFINE_GEMM_BLOCKED(NAME, LOAD_A, LOAD_B)                                                 \
kernel void NAME(const int M, const int N, const int K,                                         \
                 const float alpha, const float beta, const float gamma,                        \
                 global const float* restrict A, global const float* restrict B,                \
                 global float* C, global float* aux, const int epilogue, const int f, const float fp, \
                 GEMM_BIAS_ARGUMENTS) {                                                         \
    const int j0 = get_global_id(0) * GEMM_TN;                                                  \
    const int i0 = get_global_id(1) * GEMM_TM;                                                  \
    if (i0 >= M) return;                                                                        \
    if (j0 >= N) {                                                                              \
        GEMM_BIAS_ROWS(LOAD_A, GEMM_TM, GEMM_TN)                                                \
        return;                                                                                 \
    }                                                                                           \
    float acc[GEMM_TM][GEMM_TN];                                                                \
    _Pragma("unroll")                                                                           \
    for (int r = 0; r < GEMM_TM; ++r)                                                           \
        _Pragma("unroll")                                                                       \
        for (int c = 0; c < GEMM_TN; ++c) acc[r][c] = 0.0f;                                     \
    if (i0 + GEMM_TM <= M && j0 + GEMM_TN <= N) {                                               \
        for (int k = 0; k < K; ++k) {                                                           \
            float a[GEMM_TM], b[GEMM_TN];                                                       \
            _Pragma("unroll")                                                                   \
            for (int r = 0; r < GEMM_TM; ++r) a[r] = LOAD_A(i0 + r, k);                         \
            _Pragma("unroll")                                                                   \
            for (int c = 0; c < GEMM_TN; ++c) b[c] = LOAD_B(k, j0 + c);                         \
            _Pragma("unroll")                                                                   \
            for (int r = 0; r < GEMM_TM; ++r)                                                   \
                _Pragma("unroll")                                                               \
                for (int c = 0; c < GEMM_TN; ++c) acc[r][c] = fma(a[r], b[c], acc[r][c]);       \
        }                                                                                       \
    } else {                                                                                    \
        for (int k = 0; k < K; ++k) {                                                           \
            float a[GEMM_TM], b[GEMM_TN];                                                       \
            _Pragma("unroll")                                                                   \
            for (int r = 0; r < GEMM_TM; ++r) a[r] = i0 + r < M ? LOAD_A(i0 + r, k) : 0.0f;     \
            _Pragma("unroll")                                                                   \
            for (int c = 0; c < GEMM_TN; ++c) b[c] = j0 + c < N ? LOAD_B(k, j0 + c) : 0.0f;     \
            _Pragma("unroll")                                                                   \
            for (int r = 0; r < GEMM_TM; ++r)                                                   \
                _Pragma("unroll")                                                               \
                for (int c = 0; c < GEMM_TN; ++c) acc[r][c] = fma(a[r], b[c], acc[r][c]);       \
        }                                                                                       \
    }                                                                                           \
    _Pragma("unroll")                                                                           \
    for (int r = 0; r < GEMM_TM; ++r)                                                           \
        _Pragma("unroll")                                                                       \
        for (int c = 0; c < GEMM_TN; ++c)                                                       \
            if (i0 + r < M && j0 + c < N)                                                       \
                store_epilogue(epilogue, f, fp, i0 + r, j0 + c, N, acc[r][c], alpha, beta, gamma, C, aux, aux2, adam); \
}

#define A_ROWS(i, k) A[(i) * K + (k)]   // A is [M, K]
#define A_COLS(i, k) A[(k) * M + (i)]   // A is [K, M], used transposed
#define B_ROWS(k, j) B[(k) * N + (j)]   // B is [K, N]
#define B_COLS(k, j) B[(j) * K + (k)]   // B is [N, K], used transposed

DEFINE_GEMM_BLOCKED(gemm_blocked_nn, A_ROWS, B_ROWS)   // backward:  δ·W
DEFINE_GEMM_BLOCKED(gemm_blocked_nt, A_ROWS, B_COLS)   // forward:   A·Wᵀ
DEFINE_GEMM_BLOCKED(gemm_blocked_tn, A_COLS, B_ROWS)   // gradient:  Δᵀ·A
DEFINE_GEMM_BLOCKED(gemm_blocked_tt, A_COLS, B_COLS)

// ---- Vector kernels for CPU devices (PoCL): explicit float vectors of GEMM_VW lanes map onto
// SIMD registers, which PoCL's implicit vectorizer over work items does not reach on its own.

#ifndef GEMM_VW
#define GEMM_VW 16     // lanes per vector: along N in the row-vector kernels, along K in the dot kernel
#endif
#ifndef GEMM_VM
#define GEMM_VM 4      // rows of C per work item in the row-vector kernels
#endif
#ifndef GEMM_DM
#define GEMM_DM 4      // rows of C per work item in the dot kernel
#endif
#ifndef GEMM_DN
#define GEMM_DN 4      // columns of C per work item in the dot kernel
#endif

#define GEMM_CAT_(a, b) a##b
#define GEMM_CAT(a, b) GEMM_CAT_(a, b)
#define floatV GEMM_CAT(float, GEMM_VW)
#define vloadV GEMM_CAT(vload, GEMM_VW)
#define vstoreV GEMM_CAT(vstore, GEMM_VW)

// The epilogues on GEMM_VW consecutive columns j..j+GEMM_VW−1 of row i, all inside C: the same
// arithmetic as store_epilogue, lane by lane, without extracting lanes. It matters when K is short
// (the gradient's K is the batch), where a scalar epilogue costs as much as the products.
// activate and derivative_from on GEMM_VW lanes at once, from the same list (activation.cl).
inline floatV activate_vector(int f, float p, floatV z) {
    switch (f) {
    ELEMENTWISE_ACTIVATIONS(ACTIVATE_CASE)
    default: return z;
    }
}

inline floatV derivative_from_vector(int f, float p, floatV x) {
    switch (f) {
    ELEMENTWISE_ACTIVATIONS(DERIVATIVE_CASE)
    default: return (floatV)(1.0f);
    }
}

inline void store_epilogue_vector(int epilogue, int f, float fp, int i, int j, int N, floatV acc,
                                  float alpha, float beta, float gamma,
                                  global float* C, global float* aux, global float* aux2, const float8 adam) {
    const int at = i * N + j;
    switch (epilogue) {
    case EPILOGUE_ADAM: {
        const floatV g = alpha * acc;
        floatV p_new, m_new, s_new;
        ADAM_STEP(floatV, vloadV(0, aux + at), g, vloadV(0, C + at), vloadV(0, aux2 + at), adam.s0, adam.s1, adam.s2,
                  adam.s3, adam.s4, adam.s5, adam.s6, adam.s7, p_new, m_new, s_new)
        vstoreV(m_new, 0, C + at);
        vstoreV(s_new, 0, aux2 + at);
        vstoreV(p_new, 0, aux + at);
        break;
    }
    case EPILOGUE_BIAS_ACTIVATION:
        vstoreV(activate_vector(f, fp, acc + vloadV(0, aux + j)), 0, C + at);
        break;
    case EPILOGUE_ACTIVATION_GRAD:
        vstoreV(acc * derivative_from_vector(f, fp, vloadV(0, aux + at)), 0, C + at);
        break;
    case EPILOGUE_SGD: {
        const floatV v = beta * vloadV(0, C + at) + alpha * acc - gamma * vloadV(0, aux + at);
        vstoreV(v, 0, C + at);
        vstoreV(vloadV(0, aux + at) + v, 0, aux + at);
        break;
    }
    default:
        vstoreV(beta == 0.0f ? alpha * acc : alpha * acc + beta * vloadV(0, C + at), 0, C + at);
    }
}

// Row-vector kernels, for products whose B rows are contiguous (δ·W and Δᵀ·A): each work item
// owns GEMM_VM rows × GEMM_VC·GEMM_VW columns of C. Per k it loads GEMM_VC vectors of B's row and
// GEMM_VM scalars of A, for GEMM_VM·GEMM_VC vector FMAs. At the edges, rows are clamped and vector
// starts are pulled back to N − GEMM_VW, so every load stays in bounds and full width; a lane is
// stored only if it is a real column that no earlier vector of the block stored. Products
// narrower than one vector take a scalar path.
// global: (ceil(N / (GEMM_VC·GEMM_VW)), ceil(M / GEMM_VM)), rounded up to the work-group size.
#ifndef GEMM_VC
#define GEMM_VC 1      // vectors across the columns of C per work item in the row-vector kernels
#endif
#define DEFINE_GEMM_ROWVEC(NAME, LOAD_A)                                                        \
kernel void NAME(const int M, const int N, const int K,                                         \
                 const float alpha, const float beta, const float gamma,                        \
                 global const float* restrict A, global const float* restrict B,                \
                 global float* C, global float* aux, const int epilogue, const int f, const float fp, \
                 GEMM_BIAS_ARGUMENTS) {                                                         \
    const int j0 = get_global_id(0) * (GEMM_VC * GEMM_VW);                                      \
    const int i0 = get_global_id(1) * GEMM_VM;                                                  \
    if (i0 >= M) return;                                                                        \
    if (j0 >= N) {                                                                              \
        GEMM_BIAS_ROWS(LOAD_A, GEMM_VM, GEMM_VC * GEMM_VW)                                      \
        return;                                                                                 \
    }                                                                                           \
    if (N < GEMM_VW) {                                                                          \
        _Pragma("unroll")                                                                       \
        for (int r = 0; r < GEMM_VM && i0 + r < M; ++r)                                         \
            for (int j = j0; j < N; ++j) {                                                      \
                float sum = 0.0f;                                                               \
                for (int k = 0; k < K; ++k) sum = fma(LOAD_A(i0 + r, k), B[k * N + j], sum);    \
                store_epilogue(epilogue, f, fp, i0 + r, j, N, sum, alpha, beta, gamma, C, aux, aux2, adam);     \
            }                                                                                   \
        return;                                                                                 \
    }                                                                                           \
    int rows[GEMM_VM], starts[GEMM_VC];                                                         \
    _Pragma("unroll")                                                                           \
    for (int r = 0; r < GEMM_VM; ++r) rows[r] = min(i0 + r, M - 1);                             \
    _Pragma("unroll")                                                                           \
    for (int v = 0; v < GEMM_VC; ++v) starts[v] = min(j0 + v * GEMM_VW, N - GEMM_VW);           \
    floatV acc[GEMM_VM][GEMM_VC];                                                               \
    _Pragma("unroll")                                                                           \
    for (int r = 0; r < GEMM_VM; ++r)                                                           \
        _Pragma("unroll")                                                                       \
        for (int v = 0; v < GEMM_VC; ++v) acc[r][v] = (floatV)(0.0f);                           \
    for (int k = 0; k < K; ++k) {                                                               \
        floatV b[GEMM_VC];                                                                      \
        _Pragma("unroll")                                                                       \
        for (int v = 0; v < GEMM_VC; ++v) b[v] = vloadV(0, B + k * N + starts[v]);              \
        _Pragma("unroll")                                                                       \
        for (int r = 0; r < GEMM_VM; ++r) {                                                     \
            const floatV a = (floatV)(LOAD_A(rows[r], k));                                      \
            _Pragma("unroll")                                                                   \
            for (int v = 0; v < GEMM_VC; ++v) acc[r][v] = fma(a, b[v], acc[r][v]);              \
        }                                                                                       \
    }                                                                                           \
    _Pragma("unroll")                                                                           \
    for (int r = 0; r < GEMM_VM && i0 + r < M; ++r)                                             \
        _Pragma("unroll")                                                                       \
        for (int v = 0; v < GEMM_VC; ++v) {                                                     \
            const int first_new = j0 + v * GEMM_VW;                                             \
            if (starts[v] == first_new) {                                                       \
                store_epilogue_vector(epilogue, f, fp, i0 + r, first_new, N, acc[r][v],             \
                                      alpha, beta, gamma, C, aux, aux2, adam);                              \
                continue;                                                                       \
            }                                                                                   \
            float lanes[GEMM_VW];                                                               \
            vstoreV(acc[r][v], 0, lanes);                                                       \
            _Pragma("unroll")                                                                   \
            for (int c = 0; c < GEMM_VW; ++c) {                                                 \
                const int j = starts[v] + c;                                                    \
                if (j >= first_new && j < N)                                                    \
                    store_epilogue(epilogue, f, fp, i0 + r, j, N, lanes[c], alpha, beta, gamma, C, aux, aux2, adam); \
            }                                                                                   \
        }                                                                                       \
}

DEFINE_GEMM_ROWVEC(gemm_rowvec_nn, A_ROWS)   // backward:  δ·W
DEFINE_GEMM_ROWVEC(gemm_rowvec_tn, A_COLS)   // gradient:  Δᵀ·A

// Dot kernel, for A·Bᵀ where both operands run along K (the forward A·Wᵀ): each work item owns
// GEMM_DM × GEMM_DN outputs and accumulates them as GEMM_VW-lane partial dot products, summed
// across lanes at the end; the K % GEMM_VW tail is scalar. Clamped indices keep every load in
// bounds; only real outputs are stored.
// global: (ceil(N / GEMM_DN), ceil(M / GEMM_DM)), rounded up to the work-group size.
kernel void gemm_dot_nt(const int M, const int N, const int K,
                        const float alpha, const float beta, const float gamma,
                        global const float* restrict A, global const float* restrict B,
                        global float* C, global float* aux, const int epilogue, const int f, const float fp, GEMM_BIAS_ARGUMENTS) {
    const int j0 = get_global_id(0) * GEMM_DN;
    const int i0 = get_global_id(1) * GEMM_DM;
    if (i0 >= M) return;
    if (j0 >= N) {
        // A·Bᵀ: op(A) is A itself, rows along K.
        GEMM_BIAS_ROWS(A_ROWS, GEMM_DM, GEMM_DN)
        return;
    }
    global const float* a_row[GEMM_DM];
    global const float* b_row[GEMM_DN];
    #pragma unroll
    for (int r = 0; r < GEMM_DM; ++r) a_row[r] = A + min(i0 + r, M - 1) * K;
    #pragma unroll
    for (int c = 0; c < GEMM_DN; ++c) b_row[c] = B + min(j0 + c, N - 1) * K;
    floatV acc[GEMM_DM][GEMM_DN];
    #pragma unroll
    for (int r = 0; r < GEMM_DM; ++r)
        #pragma unroll
        for (int c = 0; c < GEMM_DN; ++c) acc[r][c] = (floatV)(0.0f);
    const int vector_end = K - K % GEMM_VW;
    for (int k = 0; k < vector_end; k += GEMM_VW) {
        floatV a[GEMM_DM], b[GEMM_DN];
        #pragma unroll
        for (int r = 0; r < GEMM_DM; ++r) a[r] = vloadV(0, a_row[r] + k);
        #pragma unroll
        for (int c = 0; c < GEMM_DN; ++c) b[c] = vloadV(0, b_row[c] + k);
        #pragma unroll
        for (int r = 0; r < GEMM_DM; ++r)
            #pragma unroll
            for (int c = 0; c < GEMM_DN; ++c) acc[r][c] = fma(a[r], b[c], acc[r][c]);
    }
    #pragma unroll
    for (int r = 0; r < GEMM_DM && i0 + r < M; ++r)
        #pragma unroll
        for (int c = 0; c < GEMM_DN && j0 + c < N; ++c) {
            float lanes[GEMM_VW];
            vstoreV(acc[r][c], 0, lanes);
            float sum = 0.0f;
            #pragma unroll
            for (int l = 0; l < GEMM_VW; ++l) sum += lanes[l];
            for (int k = vector_end; k < K; ++k) sum = fma(a_row[r][k], b_row[c][k], sum);
            store_epilogue(epilogue, f, fp, i0 + r, j0 + c, N, sum, alpha, beta, gamma, C, aux, aux2, adam);
        }
}
