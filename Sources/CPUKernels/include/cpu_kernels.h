#ifndef BPNET_CPU_KERNELS_H
#define BPNET_CPU_KERNELS_H

/// x: [rows, columns], bias: [columns] -> x = σ(x + bias), in place.
void bpnet_bias_sigmoid(float *x, const float *bias, long rows, long columns);

#endif
