#ifndef SYSTOLIC_PLATFORM_H
#define SYSTOLIC_PLATFORM_H
// What the emulator's kernels (CSystolicKernels) and the check's reference kernels
// (CSystolicReference) share without sharing any arithmetic: the instruction set they may use
// and the scratch memory they pack into.
#include <stddef.h>

/// A buffer of `count` floats for scratch data (packed operands); large ones are mapped on their
/// own, on huge pages where the system offers them. NULL when out of memory. Free with
/// `sb_free_floats` and the same count.
float *sb_alloc_floats(size_t count);
void sb_free_floats(float *p, size_t count);
/// 2 when the AVX-512 paths are in use, 1 for AVX2 and FMA, 0 for portable C.
int sb_kernels_vectorised(void);
/// Caps the path the kernels take (2, 1 or 0 as above) whatever the CPU offers. Every path gives
/// the same bits, so this changes only speed: tests use it to show that.
void sb_kernels_limit(int level);

#endif
