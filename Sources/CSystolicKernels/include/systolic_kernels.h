#ifndef SYSTOLIC_KERNELS_H
#define SYSTOLIC_KERNELS_H

#include <stddef.h>

/// Weight-stationary fp32 GEMM rows [row_begin, row_end) of C (M×N, row-major, ldc = N), in the
/// emulator's documented order: for each K-tile of `tile` rows, in order, a partial sum starting
/// at +0 takes p = fma(a[i][k], b[k][j], p) for k in order; the first tile's p is stored, later
/// ones added (acc = acc + p). A is M×K row-major, B (K×N) comes packed (below). Every element
/// is computed by exactly this sequence of roundings whichever code path runs, so results are
/// the same bits on every CPU and for every split of rows between threads.
/// B comes as `packed16`, its 16-column panels laid out by `sb_pack_b` (width 16): contiguous
/// slices keep a tile of B in cache whatever N is.
void sb_gemm_ws_f32(int m, int n, int k, int tile, const float *a, const float *packed16, float *c, int row_begin, int row_end);

/// The host reference for rows [row_begin, row_end): value[i][j] = Σ a[i][k]·b[k][j] in fp64 with
/// k in order (products of fp32 values are exact in fp64), and abs_sum[i][j] an upper bound on
/// Σ |a[i][k]·b[k][j]|: from S₃₂, the fp32 sum of |a|·|b| with k in order and one rounding per
/// step, (S₃₂ + K·2⁻¹⁴⁹)·(1 + 2⁻⁵⁰)/(1 − K·2⁻²⁴), within K·2⁻²³ of Σ|a·b| relative (plus the
/// subnormal term); where that is not finite, or K ≥ 2²², the fp64 sum. Every path (AVX-512,
/// AVX2, portable) gives these same bits. A is M×K, B is K×N (kn layout), both fp32 holding exactly
/// the decoded inputs. `packed8` is B's 8-column panels laid out by `sb_pack_b` (width 8).
void sb_reference_f64(int m, int n, int k, const float *a, const float *b, const float *packed8, double *value, double *abs_sum, int row_begin, int row_end);

/// The host reference (as `sb_reference_f64` defines it) for `count` rows of A (indices `rows`,
/// each < m), output row t for A's row rows[t], through the AVX-512 kernel where it runs
/// (`sb_kernels_vectorised()` is 2; else element by element, the same numbers). B is read from
/// `packed` alone (32-column panels, `sb_pack_b`'s layout), so its unpacked copy need not exist.
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

/// Floats `sb_pack_b` writes for a K×N matrix and a panel width: ⌈N/width⌉ panels of K rows of
/// `width` floats, the last padded with zeros.
size_t sb_packed_floats(int k, int n, int width);

/// Lays out the `width`-column panels of B (K×N, row-major) one after another, each K×width
/// row-major, columns past N zero.
void sb_pack_b(int k, int n, int width, const float *b, float *packed);

/// `sb_pack_b` for panels [panel_begin, panel_end) only (threads pack slices of panels).
void sb_pack_b_range(int k, int n, int width, const float *b, float *packed, int panel_begin, int panel_end);

/// `sb_pack_b` for B's rows [row_begin, row_end) only, given as `rows` ((row_end − row_begin)×N,
/// row-major): every panel's rows of that range (B decoded a block of rows at a time).
void sb_pack_b_rows(int k, int n, int width, const float *rows, int row_begin, int row_end, float *packed);

/// `sb_pack_b`'s panel `panel` from B stored transposed ([N, K]): `columns` holds B's columns
/// panel·width ..< min(N, (panel + 1)·width), each as K contiguous floats.
void sb_pack_bt_panel(int k, int n, int width, const float *columns, int panel, float *packed);

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
