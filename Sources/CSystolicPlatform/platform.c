// The platform both kinds of kernels share: the instruction set chosen at run time, and scratch
// memory for packed operands.
#include "systolic_platform.h"
#include <stdlib.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define SB_X86 1
#else
#define SB_X86 0
#endif

// The highest path the kernels may take (tests lower it to compare every path's bits).
static volatile int limit = 2;

void sb_kernels_limit(int level) { limit = level; }

static int wide(void) {
#if SB_X86
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached && limit >= 2;
#else
    return 0;
#endif
}

static int vectorised(void) {
#if SB_X86
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached && limit >= 1;
#else
    return 0;
#endif
}

int sb_kernels_vectorised(void) { return wide() ? 2 : vectorised(); }

#if defined(__linux__)
#include <sys/mman.h>
#endif

/* Buffers from this size on get a mapping of their own (see sb_alloc_floats). */
#define SB_MAPPED_BYTES ((size_t)4 << 20)

#if defined(__linux__) && defined(MADV_HUGEPAGE)
#include <pthread.h>

// Mappings are whole huge pages, and the last few freed are kept for the next request of the
// same size: a GEMM packs B into a fresh buffer on every call, and mapping it anew cost the kernel
// zeroing every page again (2 % of a 2048³ multiply). At most SB_KEPT_BYTES stay mapped unused,
// and a request of another size releases them all.
#define SB_HUGE_PAGE ((size_t)2 << 20)
#define SB_KEPT 4
#define SB_KEPT_BYTES ((size_t)128 << 20)
static struct { void *p; size_t bytes; } kept[SB_KEPT];
static pthread_mutex_t keptLock = PTHREAD_MUTEX_INITIALIZER;

static void sb_release_kept(void) {
    pthread_mutex_lock(&keptLock);
    for (int i = 0; i < SB_KEPT; i++) {
        if (kept[i].p != NULL) { munmap(kept[i].p, kept[i].bytes); kept[i].p = NULL; }
    }
    pthread_mutex_unlock(&keptLock);
}

static size_t mapped_bytes(size_t count) {
    size_t bytes = (count > 0 ? count : 1) * sizeof(float);
    return (bytes + SB_HUGE_PAGE - 1) / SB_HUGE_PAGE * SB_HUGE_PAGE;
}
#endif

float *sb_alloc_floats(size_t count) {
    size_t bytes = (count > 0 ? count : 1) * sizeof(float);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    // Large buffers mapped on their own, marked for transparent huge pages where the kernel
    // offers them (a fresh 16 MiB buffer then costs 8 page faults instead of 4096), and unmapped
    // when freed (bar the few kept), so a long run's peak memory is its largest case's, not a
    // fragmented heap's.
    if (bytes >= SB_MAPPED_BYTES) {
        size_t size = mapped_bytes(count);
        void *p = NULL;
        pthread_mutex_lock(&keptLock);
        for (int i = 0; i < SB_KEPT && p == NULL; i++) {
            if (kept[i].p != NULL && kept[i].bytes == size) { p = kept[i].p; kept[i].p = NULL; }
        }
        pthread_mutex_unlock(&keptLock);
        if (p != NULL) return (float *)p;
        // A size not kept: the work has moved on to other shapes, so the kept buffers go back to
        // the system rather than add to the peak.
        sb_release_kept();
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return NULL;
        madvise(p, size, MADV_HUGEPAGE);
        return (float *)p;
    }
#endif
    return (float *)malloc(bytes);
}

void sb_free_floats(float *p, size_t count) {
    if (p == NULL) return;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    size_t bytes = (count > 0 ? count : 1) * sizeof(float);
    if (bytes >= SB_MAPPED_BYTES) {
        size_t size = mapped_bytes(count), held = size;
        int slot = -1;
        pthread_mutex_lock(&keptLock);
        for (int i = 0; i < SB_KEPT; i++) {
            if (kept[i].p == NULL) { if (slot < 0) slot = i; } else { held += kept[i].bytes; }
        }
        if (slot >= 0 && held <= SB_KEPT_BYTES) { kept[slot].p = p; kept[slot].bytes = size; p = NULL; }
        pthread_mutex_unlock(&keptLock);
        if (p != NULL) munmap(p, size);
        return;
    }
#else
    (void)count;
#endif
    free(p);
}
