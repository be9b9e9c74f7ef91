#ifndef SYSTOLIC_KERNELS_H
#define SYSTOLIC_KERNELS_H

#include <stddef.h>

/// Weight-stationary fp32 GEMM rows [row_begin, row_end) of C (M×N, row-major, ldc = N), in the
/// emulator's documented order: for each K-tile of `tile` rows, in order, a partial sum starting
/// at +0 takes p = fma(a[i][k], b[k][j], p) for k in order; the first tile's p is stored, later
/// ones added (acc = acc + p). A is M×K row-major; B is K×N row-major (kn layout). Every element
/// is computed by exactly this sequence of roundings whichever code path runs, so results are
/// the same bits on every CPU and for every split of rows between threads.
void sb_gemm_ws_f32(int m, int n, int k, int tile, const float *a, const float *b, float *c, int row_begin, int row_end);

/// The host reference for rows [row_begin, row_end): value[i][j] = Σ a[i][k]·b[k][j] and
/// abs_sum[i][j] = Σ |a[i][k]·b[k][j]|, both in fp64 with k in order (products of fp32 values are
/// exact in fp64). A is M×K, B is K×N (kn layout), both fp32 holding exactly the decoded inputs.
void sb_reference_f64(int m, int n, int k, const float *a, const float *b, double *value, double *abs_sum, int row_begin, int row_end);

/// 1 when the fast x86-64 paths (AVX2 and FMA) are in use on this CPU, else 0.
int sb_kernels_vectorised(void);

#endif
