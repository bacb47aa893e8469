#ifndef BPNET_CPU_KERNELS_H
#define BPNET_CPU_KERNELS_H

/// x: [rows, columns], bias: [columns] -> x = σ(x + bias), in place.
void bpnet_bias_sigmoid(float *x, const float *bias, long rows, long columns);



#include <stdint.h>

/// destination: [rows, row_length], row i = bytes row index[i] as k / 255 (the IDX reader's floats).
void bpnet_gather_bytes_over_255(float *destination, const uint8_t *bytes, const int32_t *index,
                                 long rows, long row_length);
#endif
