#ifndef BPNET_MPI_H
#define BPNET_MPI_H

#include <stddef.h>

// The MPI calls data-parallel training needs, on MPI_COMM_WORLD, as plain C functions that
// Swift can call. Each returns 0, or an MPI error code with its text in `error`.

int bpnet_mpi_init(int *rank, int *size, int *local_rank, char *error, int error_length);
int bpnet_mpi_allreduce_sum_float(float *values, size_t count, char *error, int error_length);
int bpnet_mpi_allreduce_sum_double(double *values, size_t count, char *error, int error_length);
int bpnet_mpi_broadcast(void *bytes, size_t count, int root, char *error, int error_length);
int bpnet_mpi_initialized(void);
void bpnet_mpi_abort(int code);
void bpnet_mpi_finalize(void);

#endif
