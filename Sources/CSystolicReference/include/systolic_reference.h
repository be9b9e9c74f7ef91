#ifndef SYSTOLIC_REFERENCE_H
#define SYSTOLIC_REFERENCE_H
// The check's host reference kernels: Ĉ in fp64 and the bound S of Σ|a·b| for GEMM, and the
// attention reference's two products. Written apart from the emulator's kernels on purpose: a
// mistake in one cannot appear identically in the output it judges. B comes in panels of
// `width` columns (⌈N/width⌉ panels, each K rows of `width` floats, row-major, columns past N
// zero), which the check lays out itself (`ReferencePanels`).
#include <stddef.h>
#include "systolic_platform.h"

/// The host reference for rows [row_begin, row_end): value[i][j] = Σ a[i][k]·b[k][j] in fp64 with
/// k in order (products of fp32 values are exact in fp64), and abs_sum[i][j] an upper bound on
/// Σ |a[i][k]·b[k][j]|: from S₃₂, the fp32 sum of |a|·|b| with k in order and one rounding per
/// step, (S₃₂ + K·2⁻¹⁴⁹)·(1 + 2⁻⁵⁰)/(1 − K·2⁻²⁴), within K·2⁻²³ of Σ|a·b| relative (plus the
/// subnormal term); where that is not finite, or K ≥ 2²², the fp64 sum. Every path (AVX-512,
/// AVX2, portable) gives these same bits. A is M×K, B is K×N (kn layout), both fp32 holding exactly
/// the decoded inputs. `packed8` is B in 8-column panels (above).
void sb_reference_f64(int m, int n, int k, const float *a, const float *b, const float *packed8, double *value, double *abs_sum, int row_begin, int row_end);
/// The host reference (as `sb_reference_f64` defines it) for `count` rows of A (indices `rows`,
/// each < m), output row t for A's row rows[t], through the AVX-512 kernel where it runs
/// (`sb_kernels_vectorised()` is 2; else element by element, the same numbers). B is read from
/// `packed` alone (32-column panels, above), so its unpacked copy need not exist.
void sb_reference_wide(int m, int n, int k, const float *a, const float *packed, const int *rows, int count,
                       double *value, double *abs_sum);
/// The attention reference's scores for `rows` query rows against the first n keys: value[r][j] =
/// Σ_c q[r][c]·kt[c][j] and abs_sum[r][j] = Σ_c |q[r][c]·kt[c][j]|, in fp64 with c in order
/// (products of fp32 values are exact in fp64). Q is rows×d row-major; Kᵀ is d rows of stride ldk.
void sb_scores_f64(int rows, int n, int d, const float *q, const float *kt, int ldk, double *value, double *abs_sum);
/// The attention reference's second product for `rows` rows of weights: value[r][c] =
/// Σⱼ w[r][j]·v[j][c] and abs_sum[r][c] = Σⱼ w[r][j]·|v[j][c]|, in fp64 with j in order. W is
/// rows×n (non-negative softmax weights), V is n×d, both row-major.
void sb_weighted_rows_f64(int rows, int n, int d, const double *w, const float *v, double *value, double *abs_sum);

#endif
