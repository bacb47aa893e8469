// Adam's step on one parameter (T = float) or on a vector of them (T = floatN), from its gradient g:
//   w = p − decay·p; g' = g + l2·w; m = β₁m + (1 − β₁)g'; s = β₂s + (1 − β₂)g'²;
//   p = w − η·(m/c₁)/(√(s/c₂) + ε)
// optimizer.cl's passes read g from memory; the GEMM epilogue EPILOGUE_ADAM (gemm.cl) takes it from
// registers. Both expand this one macro, so both give the same bits. g must be a variable, not an
// expression, so that no product in it is contracted with l2·w.
#define ADAM_STEP(T, p, g, m, s, eta, l2, beta1, beta2, epsilon, decay, c1, c2, p_out, m_out, s_out) \
    {                                                                                                  \
        T adam_w = (p);                                                                                \
        adam_w -= (decay) * adam_w;                                                                    \
        const T adam_g = (g) + (l2) * adam_w;                                                          \
        const T adam_m = (beta1) * (m) + (1.0f - (beta1)) * adam_g;                                   \
        const T adam_s = (beta2) * (s) + (1.0f - (beta2)) * adam_g * adam_g;                          \
        m_out = adam_m;                                                                                \
        s_out = adam_s;                                                                                \
        p_out = adam_w - (eta) * (adam_m / (c1)) / (sqrt(adam_s / (c2)) + (epsilon));                 \
    }
