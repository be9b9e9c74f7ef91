#ifndef SYSTOLIC_KERNELS_H
#define SYSTOLIC_KERNELS_H
// The emulator's kernels: its functional GEMM in the documented order, and the packing of B it
// reads. The check's reference has kernels and packing of its own (CSystolicReference).
#include <stddef.h>
#include "systolic_platform.h"
#include "block_fma.h"

/// Weight-stationary fp32 GEMM rows [row_begin, row_end) of C (M×N, row-major, ldc = N), in the
/// emulator's documented order: for each K-tile of `tile` rows, in order, a partial sum starting
/// at +0 takes p = fma(a[i][k], b[k][j], p) for k in order; the first tile's p is stored, later
/// ones added (acc = acc + p). A is M×K row-major, B (K×N) comes packed (below). Every element
/// is computed by exactly this sequence of roundings whichever code path runs, so results are
/// the same bits on every CPU and for every split of rows between threads.
/// B comes as `packed16`, its 16-column panels laid out by `sb_pack_b` (width 16): contiguous
/// slices keep a tile of B in cache whatever N is.
void sb_gemm_ws_f32(int m, int n, int k, int tile, const float *a, const float *packed16, float *c, int row_begin, int row_end);
/* A block-scaled GEMM whose quantisation groups are the K-tiles (k a multiple of tile): sa [m, k/tile]
 * and sb [k/tile, n] fp32 scales; each tile's partial sums p join C as c = p·(sa·sb) for the first
 * tile, else c + p·(sa·sb), each operation rounded to fp32. Returns 0, doing nothing, where this CPU
 * has no AVX-512 or n is not a multiple of 32 (the caller then takes the groups one by one). */
int sb_gemm_ws_f32_scaled(int m, int n, int k, int tile, const float *a, const float *packed16, float *c, int row_begin, int row_end,
                          const float *sa, const float *sb);
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

#endif
