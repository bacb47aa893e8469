#include "bpnet_mpi.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>

static int world_size = 1;
static int world_rank = 0;

static int fail(int code, char *error, int error_length) {
    if (code == MPI_SUCCESS) return 0;
    int length = 0;
    char text[MPI_MAX_ERROR_STRING];
    if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) length = 0;
    text[length] = 0;
    if (error && error_length > 0) {
        strncpy(error, text, (size_t)error_length - 1);
        error[error_length - 1] = 0;
    }
    return code;
}

int bpnet_mpi_init(int *rank, int *size, int *local_rank, char *error, int error_length) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
        int provided = 0;
        // One thread calls MPI; the others (OpenBLAS, dispatch) never do.
        int code = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (code != MPI_SUCCESS) return fail(code, error, error_length);
    }
    // Errors come back as codes, so they become one-line messages instead of MPI's own abort.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int code = MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    if (code == MPI_SUCCESS) code = MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    if (code != MPI_SUCCESS) return fail(code, error, error_length);
    // The rank among the processes of this machine picks this process's device.
    MPI_Comm local;
    code = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank, MPI_INFO_NULL, &local);
    if (code != MPI_SUCCESS) return fail(code, error, error_length);
    code = MPI_Comm_rank(local, local_rank);
    MPI_Comm_free(&local);
    *rank = world_rank;
    *size = world_size;
    return fail(code, error, error_length);
}

int bpnet_mpi_initialized(void) {
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    return initialized && !finalized;
}

// A scratch buffer kept across calls, so that a training step allocates nothing.
static void *scratch = NULL;
static size_t scratch_bytes = 0;

static int reserve(size_t bytes) {
    if (bytes <= scratch_bytes) return 1;
    void *grown = realloc(scratch, bytes);
    if (!grown) return 0;
    scratch = grown;
    scratch_bytes = bytes;
    return 1;
}

// An allreduce whose result has the same bits on every process: each block of the padded
// vector is summed by exactly one process (reduce-scatter), then every block is copied to
// every process (allgather). MPI_Allreduce itself may sum in a different order on different
// processes, and floating-point sums depend on their order. This is the ring allreduce's own
// structure, so it moves no more data.
static int allreduce(void *values, size_t count, size_t element, MPI_Datatype type, char *error, int error_length) {
    if (count == 0) return 0;
    size_t ranks = (size_t)world_size;
    // Chunks keep every count within an int.
    const size_t chunk_limit = ((size_t)1 << 28) / ranks * ranks;
    for (size_t start = 0; start < count; start += chunk_limit) {
        size_t chunk = count - start < chunk_limit ? count - start : chunk_limit;
        size_t block = (chunk + ranks - 1) / ranks;
        size_t padded = block * ranks;
        if (!reserve((padded + block) * element)) {
            if (error && error_length > 0) strncpy(error, "out of memory for the allreduce buffer", (size_t)error_length - 1);
            return -1;
        }
        char *whole = scratch;
        char *mine = whole + padded * element;
        memcpy(whole, (char *)values + start * element, chunk * element);
        memset(whole + chunk * element, 0, (padded - chunk) * element);
        int code = MPI_Reduce_scatter_block(whole, mine, (int)block, type, MPI_SUM, MPI_COMM_WORLD);
        if (code == MPI_SUCCESS) code = MPI_Allgather(mine, (int)block, type, whole, (int)block, type, MPI_COMM_WORLD);
        if (code != MPI_SUCCESS) return fail(code, error, error_length);
        memcpy((char *)values + start * element, whole, chunk * element);
    }
    return 0;
}

int bpnet_mpi_allreduce_sum_float(float *values, size_t count, char *error, int error_length) {
    return allreduce(values, count, sizeof(float), MPI_FLOAT, error, error_length);
}

int bpnet_mpi_allreduce_sum_double(double *values, size_t count, char *error, int error_length) {
    return allreduce(values, count, sizeof(double), MPI_DOUBLE, error, error_length);
}

int bpnet_mpi_broadcast(void *bytes, size_t count, int root, char *error, int error_length) {
    const size_t chunk_limit = (size_t)1 << 30;
    for (size_t start = 0; start < count; start += chunk_limit) {
        size_t chunk = count - start < chunk_limit ? count - start : chunk_limit;
        int code = MPI_Bcast((char *)bytes + start, (int)chunk, MPI_BYTE, root, MPI_COMM_WORLD);
        if (code != MPI_SUCCESS) return fail(code, error, error_length);
    }
    return 0;
}

void bpnet_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

void bpnet_mpi_finalize(void) {
    if (bpnet_mpi_initialized()) MPI_Finalize();
}
