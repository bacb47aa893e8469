// CLBlast's SGEMM on the first OpenCL device, at the shapes given, for `make bench-compare`.
// Usage: clblast_sgemm M,N,K,TA,TB ...   (row-major; TA/TB are 0 or 1)
// Prints one JSON object per shape: {"m":…,"n":…,"k":…,"transpose_a":…,"transpose_b":…,"gflops":…}
// Bench-only: the library never links CLBlast.
#define CL_TARGET_OPENCL_VERSION 120
#include <clblast_c.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    cl_platform_id platform;
    cl_device_id device;
    cl_uint count = 0;
    if (clGetPlatformIDs(1, &platform, &count) != CL_SUCCESS || count == 0 ||
        clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &device, NULL) != CL_SUCCESS) {
        fprintf(stderr, "clblast_sgemm: no OpenCL device\n");
        return 1;
    }
    cl_int status;
    cl_context context = clCreateContext(NULL, 1, &device, NULL, NULL, &status);
    cl_command_queue queue = clCreateCommandQueue(context, device, 0, &status);
    for (int arg = 1; arg < argc; ++arg) {
        int m, n, k, ta, tb;
        if (sscanf(argv[arg], "%d,%d,%d,%d,%d", &m, &n, &k, &ta, &tb) != 5) {
            fprintf(stderr, "clblast_sgemm: bad shape '%s'\n", argv[arg]);
            return 2;
        }
        size_t sa = (size_t)m * k, sb = (size_t)k * n, sc = (size_t)m * n;
        float *host = malloc(sizeof(float) * (sa > sb ? sa : sb));
        for (size_t i = 0; i < (sa > sb ? sa : sb); ++i) host[i] = 0.5f;
        cl_mem a = clCreateBuffer(context, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, sa * 4, host, &status);
        cl_mem b = clCreateBuffer(context, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, sb * 4, host, &status);
        cl_mem c = clCreateBuffer(context, CL_MEM_READ_WRITE, sc * 4, NULL, &status);
        free(host);
        size_t lda = ta ? m : k, ldb = tb ? k : n;
        #define RUN() CLBlastSgemm(CLBlastLayoutRowMajor, ta ? CLBlastTransposeYes : CLBlastTransposeNo, \
            tb ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, 1.0f, a, 0, lda, b, 0, ldb, 0.0f, c, 0, n, &queue, NULL)
        CLBlastStatusCode code = RUN();  // warm-up: the first call compiles CLBlast's kernels
        if (code != CLBlastSuccess) {
            fprintf(stderr, "clblast_sgemm: CLBlastSgemm failed with status %d\n", (int)code);
            return 3;
        }
        clFinish(queue);
        int times = 1;
        double seconds = 0;
        for (;;) {
            double start = now();
            for (int i = 0; i < times; ++i) RUN();
            clFinish(queue);
            seconds = now() - start;
            if (seconds >= 0.2) break;
            times *= 4;
        }
        printf("{\"m\":%d,\"n\":%d,\"k\":%d,\"transpose_a\":%d,\"transpose_b\":%d,\"gflops\":%.2f}\n", m, n, k, ta, tb,
               2.0 * m * n * k * times / seconds / 1e9);
        fflush(stdout);
        clReleaseMemObject(a);
        clReleaseMemObject(b);
        clReleaseMemObject(c);
    }
    clReleaseCommandQueue(queue);
    clReleaseContext(context);
    return 0;
}
