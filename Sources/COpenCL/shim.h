// OpenCL 1.2 is the contract: every kernel and host call must work on 1.2 devices.
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
