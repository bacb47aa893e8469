// OpenBLAS's kernel set, chosen for the CPU it runs on.
//
// A DYNAMIC_ARCH OpenBLAS picks its kernels when it loads, from the CPU's model number. A release
// older than the CPU does not know the model and falls back to a generic set: Debian's 0.3.21 runs
// its SSE3 "Prescott" kernels on an Emerald Rapids Xeon, whose AVX-512 units then sit idle, and
// every product runs at a quarter of the speed it could (measured: 34.5 against 122.9 GFLOP/s at
// 128×100×784). When OpenBLAS chose such a fallback and the CPU has the instructions of a better
// set, this file asks OpenBLAS for that set once, at load time, before any thread or BLAS call
// exists. A user's own OPENBLAS_CORETYPE is always obeyed: it is how to ask for any set, the old
// fallback included.
//
// It reaches OpenBLAS through dlsym, not the linker: an OpenBLAS built for one CPU has none of
// these entry points, and then nothing here happens.
#include "cpu_kernels.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char chosen_by_openblas[32];

const char *bpnet_blas_core_replaced(void) { return chosen_by_openblas[0] ? chosen_by_openblas : NULL; }

#if defined(__x86_64__) && defined(__linux__)
// The sets whose kernels use no more than SSE3 or AVX: what OpenBLAS falls back to for a CPU it
// does not know. A CPU that OpenBLAS knows gets its own set, which is left alone.
static int is_generic_fallback(const char *core) {
    static const char *const generic[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Sandybridge",
                                          "Katmai",   "Coppermine", "Northwood", "Banias", "Atom", "Nano"};
    for (size_t i = 0; i < sizeof generic / sizeof generic[0]; ++i)
        if (strcasecmp(core, generic[i]) == 0) return 1;
    return 0;
}

// The best set this CPU can run, by the instructions its kernels need, and whether the library
// holds it.
static const char *best_core_for_this_cpu(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512cd") && dlsym(RTLD_DEFAULT, "gotoblas_SKYLAKEX"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && dlsym(RTLD_DEFAULT, "gotoblas_HASWELL"))
        return "Haswell";
    return NULL;
}

__attribute__((constructor)) static void choose_blas_core(void) {
    if (getenv("OPENBLAS_CORETYPE")) return;
    char *(*corename)(void) = (char *(*)(void))dlsym(RTLD_DEFAULT, "openblas_get_corename");
    void (*dynamic_init)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init");
    void (*dynamic_quit)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit");
    if (!corename || !dynamic_init || !dynamic_quit) return;
    const char *current = corename();
    if (!current || !is_generic_fallback(current)) return;
    const char *better = best_core_for_this_cpu();
    if (!better) return;

    char previous[sizeof chosen_by_openblas];
    strncpy(previous, current, sizeof previous - 1);
    previous[sizeof previous - 1] = 0;
    // gotoblas_dynamic_init reads OPENBLAS_CORETYPE, as it does at load; the variable is removed
    // again so that child processes choose for themselves.
    if (setenv("OPENBLAS_CORETYPE", better, 1) != 0) return;
    dynamic_quit();
    dynamic_init();
    unsetenv("OPENBLAS_CORETYPE");
    const char *now = corename();
    if (now && strcasecmp(now, better) == 0) {
        memcpy(chosen_by_openblas, previous, sizeof previous);
    } else {
        // Not taken: back to OpenBLAS's own choice.
        dynamic_quit();
        dynamic_init();
    }
}
#endif
