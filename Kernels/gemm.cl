// Matrix products of training, row-major: C[M,N] = op(A)[M,K] · op(B)[K,N], with the
// result passed through one of these epilogues (C's element is c, aux's is x):
//   EPILOGUE_NONE          c = alpha·acc + beta·c                        (plain GEMM; beta = 0 ignores c)
//   EPILOGUE_BIAS_SIGMOID  c = σ(acc + aux[j])                           forward:  A_l = σ(A_{l−1}·Wᵀ + b)
//   EPILOGUE_SIGMOID_GRAD  c = acc · x(1−x)                              backward: δ_l = (δ_{l+1}·W) ⊙ a(1−a)
//   EPILOGUE_SGD           v = beta·c + alpha·acc − gamma·x; c = v; x += v   update: V = μV − η(ΔᵀA/m + λ/n·W); W += V
// The SGD epilogue keeps the gradient in registers: no gradient matrix goes through memory.

#define EPILOGUE_NONE 0
#define EPILOGUE_BIAS_SIGMOID 1
#define EPILOGUE_SIGMOID_GRAD 2
#define EPILOGUE_SGD 3

// Tunables; the host prepends per-device values (see OpenCLTuning.swift).
#ifndef GEMM_TM
#define GEMM_TM 4      // rows of C per work item
#endif
#ifndef GEMM_TN
#define GEMM_TN 4      // columns of C per work item
#endif

inline float sigmoid_of(float z) { return 1.0f / (1.0f + exp(-z)); }

inline void store_epilogue(int epilogue, int i, int j, int N, float acc,
                           float alpha, float beta, float gamma,
                           global float* C, global float* aux) {
    const int at = i * N + j;
    switch (epilogue) {
    case EPILOGUE_BIAS_SIGMOID:
        C[at] = sigmoid_of(acc + aux[j]);
        break;
    case EPILOGUE_SIGMOID_GRAD: {
        const float a = aux[at];
        C[at] = acc * (a * (1.0f - a));
        break;
    }
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

// The reference: one work item per element of C, every access bounds-checked, any shape.
// global: (N, M)
kernel void gemm_naive(const int M, const int N, const int K,
                       const int transA, const int transB,
                       const float alpha, const float beta, const float gamma,
                       global const float* A, global const float* B,
                       global float* C, global float* aux, const int epilogue) {
    const int j = get_global_id(0);
    const int i = get_global_id(1);
    if (i >= M || j >= N) return;
    float acc = 0.0f;
    for (int k = 0; k < K; ++k) {
        const float a = transA ? A[k * M + i] : A[i * K + k];
        const float b = transB ? B[j * K + k] : B[k * N + j];
        acc += a * b;
    }
    store_epilogue(epilogue, i, j, N, acc, alpha, beta, gamma, C, aux);
}

// Register-blocked GEMM: each work item owns a GEMM_TM × GEMM_TN block of C and keeps it in
// registers while it streams K. One kernel per transpose case, so the index arithmetic is
// fixed at compile time. Interior blocks run without bounds checks; edge blocks take the
// checked path, which zero-fills what lies outside.
// global: (ceil(N / GEMM_TN), ceil(M / GEMM_TM)), rounded up to the work-group size.
#define DEFINE_GEMM_TILED(NAME, LOAD_A, LOAD_B)                                                 \
kernel void NAME(const int M, const int N, const int K,                                         \
                 const float alpha, const float beta, const float gamma,                        \
                 global const float* restrict A, global const float* restrict B,                \
                 global float* C, global float* aux, const int epilogue) {                      \
    const int j0 = get_global_id(0) * GEMM_TN;                                                  \
    const int i0 = get_global_id(1) * GEMM_TM;                                                  \
    if (i0 >= M || j0 >= N) return;                                                             \
    float acc[GEMM_TM][GEMM_TN];                                                                \
    for (int r = 0; r < GEMM_TM; ++r)                                                           \
        for (int c = 0; c < GEMM_TN; ++c) acc[r][c] = 0.0f;                                     \
    if (i0 + GEMM_TM <= M && j0 + GEMM_TN <= N) {                                               \
        for (int k = 0; k < K; ++k) {                                                           \
            float a[GEMM_TM], b[GEMM_TN];                                                       \
            for (int r = 0; r < GEMM_TM; ++r) a[r] = LOAD_A(i0 + r, k);                         \
            for (int c = 0; c < GEMM_TN; ++c) b[c] = LOAD_B(k, j0 + c);                         \
            for (int r = 0; r < GEMM_TM; ++r)                                                   \
                for (int c = 0; c < GEMM_TN; ++c) acc[r][c] = fma(a[r], b[c], acc[r][c]);       \
        }                                                                                       \
    } else {                                                                                    \
        for (int k = 0; k < K; ++k) {                                                           \
            float a[GEMM_TM], b[GEMM_TN];                                                       \
            for (int r = 0; r < GEMM_TM; ++r) a[r] = i0 + r < M ? LOAD_A(i0 + r, k) : 0.0f;     \
            for (int c = 0; c < GEMM_TN; ++c) b[c] = j0 + c < N ? LOAD_B(k, j0 + c) : 0.0f;     \
            for (int r = 0; r < GEMM_TM; ++r)                                                   \
                for (int c = 0; c < GEMM_TN; ++c) acc[r][c] = fma(a[r], b[c], acc[r][c]);       \
        }                                                                                       \
    }                                                                                           \
    for (int r = 0; r < GEMM_TM; ++r)                                                           \
        for (int c = 0; c < GEMM_TN; ++c)                                                       \
            if (i0 + r < M && j0 + c < N)                                                       \
                store_epilogue(epilogue, i0 + r, j0 + c, N, acc[r][c], alpha, beta, gamma, C, aux); \
}

#define A_ROWS(i, k) A[(i) * K + (k)]   // A is [M, K]
#define A_COLS(i, k) A[(k) * M + (i)]   // A is [K, M], used transposed
#define B_ROWS(k, j) B[(k) * N + (j)]   // B is [K, N]
#define B_COLS(k, j) B[(j) * K + (k)]   // B is [N, K], used transposed

DEFINE_GEMM_TILED(gemm_tiled_nn, A_ROWS, B_ROWS)   // backward:  δ·W
DEFINE_GEMM_TILED(gemm_tiled_nt, A_ROWS, B_COLS)   // forward:   A·Wᵀ
DEFINE_GEMM_TILED(gemm_tiled_tn, A_COLS, B_ROWS)   // gradient:  Δᵀ·A
DEFINE_GEMM_TILED(gemm_tiled_tt, A_COLS, B_COLS)
