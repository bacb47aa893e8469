// OpenBLAS's cblas.h also declares its extensions (openblas_get_num_threads, openblas_get_config).
#include <cblas.h>
