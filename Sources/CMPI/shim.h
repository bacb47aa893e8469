// Open MPI's C API, found through pkg-config (ompi-c). Swift cannot use its handle macros
// (MPI_COMM_WORLD is a cast of a global's address), so CMPIShim wraps the calls BPNet needs.
#include <mpi.h>
