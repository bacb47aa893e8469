// VECTOR_CLONES: compile a loop for AVX-512, AVX2 and the baseline, and pick the widest the CPU
// runs when the library loads.
#ifndef BPNET_VECTOR_CLONES_H
#define BPNET_VECTOR_CLONES_H

// ThreadSanitizer builds go without the clones: their ifunc resolver runs at load time, before
// TSan's runtime has started, and crashed there (`make test-sanitize`).
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BPNET_THREAD_SANITIZER 1
#endif
#endif

#if defined(__x86_64__) && defined(__linux__) && !defined(BPNET_THREAD_SANITIZER)
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VECTOR_CLONES
#endif

#endif
