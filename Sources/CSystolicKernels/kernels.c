// No contraction anywhere in this file: the documented summation orders round every product and
// sum separately except where an explicit fma says otherwise, so the compiler must never fuse a
// multiply and an add on its own (clang's default for C is to contract within an expression).
#pragma STDC FP_CONTRACT OFF

#include "systolic_kernels.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define SB_X86 1
#else
#define SB_X86 0
#endif

// The instruction set the platform lets these kernels use (sb_kernels_vectorised: 2 AVX-512,
// 1 AVX2 and FMA, 0 portable; tests cap it to compare every path's bits).
static inline int wide(void) { return sb_kernels_vectorised() >= 2; }
static inline int vectorised(void) { return sb_kernels_vectorised() >= 1; }

// ---------------------------------------------------------------------------------------------
// Portable paths: plain C, fmaf from libm (correctly rounded). Slow, but the same bits.

static void gemm_ws_portable(int m, int n, int k, int tile, const float *a, const float *packed, float *c, int r0, int r1) {
    (void)m;
    for (int i = r0; i < r1; i++) {
        for (int j = 0; j < n; j++) {
            const float *col = packed + (size_t)(j / 16) * k * 16 + j % 16;
            float total = 0.0f;
            for (int k0 = 0; k0 < k; k0 += tile) {
                int k1 = k0 + tile < k ? k0 + tile : k;
                float p = 0.0f;
                for (int kk = k0; kk < k1; kk++) p = fmaf(a[(size_t)i * k + kk], col[(size_t)kk * 16], p);
                total = k0 == 0 ? p : total + p;
            }
            c[(size_t)i * n + j] = total;
        }
    }
}

#if SB_X86
// ---------------------------------------------------------------------------------------------
// AVX2 + FMA paths, compiled for those features only inside these functions and chosen at run
// time, so the package builds for any x86-64 (and any other architecture) without special flags.

#define SB_TARGET __attribute__((target("avx2,fma")))

// A 6×16 block of partial sums over one K-tile: 12 ymm accumulators, each lane one element of C
// taking its products in k order with one rounding each (vfmadd), exactly as fmaf would.
SB_TARGET static void tile_6x16(int k0, int k1, int n, int k, const float *a, const float *panel, float *c, int i0, int j0, int first) {
    __m256 p[6][2];
    for (int r = 0; r < 6; r++) { p[r][0] = _mm256_setzero_ps(); p[r][1] = _mm256_setzero_ps(); }
    const float *ar = a + (size_t)i0 * k;
    for (int kk = k0; kk < k1; kk++) {
        const float *br = panel + (size_t)kk * 16;
        __m256 b0 = _mm256_loadu_ps(br), b1 = _mm256_loadu_ps(br + 8);
        for (int r = 0; r < 6; r++) {
            __m256 av = _mm256_broadcast_ss(ar + (size_t)r * k + kk);
            p[r][0] = _mm256_fmadd_ps(av, b0, p[r][0]);
            p[r][1] = _mm256_fmadd_ps(av, b1, p[r][1]);
        }
    }
    for (int r = 0; r < 6; r++) {
        float *cr = c + (size_t)(i0 + r) * n + j0;
        if (first) {
            _mm256_storeu_ps(cr, p[r][0]);
            _mm256_storeu_ps(cr + 8, p[r][1]);
        } else {
            _mm256_storeu_ps(cr, _mm256_add_ps(_mm256_loadu_ps(cr), p[r][0]));
            _mm256_storeu_ps(cr + 8, _mm256_add_ps(_mm256_loadu_ps(cr + 8), p[r][1]));
        }
    }
}

// Any leftover element, one at a time, in the same order (fmaf compiles to vfmadd here), B's
// column read from its (zero-padded) panel.
SB_TARGET static void tile_scalar(int k0, int k1, int n, int k, const float *a, const float *packed, float *c, int i, int j, int first) {
    const float *col = packed + (size_t)(j / 16) * k * 16 + j % 16;
    float p = 0.0f;
    for (int kk = k0; kk < k1; kk++) p = fmaf(a[(size_t)i * k + kk], col[(size_t)kk * 16], p);
    float *cij = c + (size_t)i * n + j;
    *cij = first ? p : *cij + p;
}

// The 6×16 block again, from a packed micro-panel of A (kc steps of 6 values, one per row; rows
// past the matrix are zeros) instead of six rows of A k floats apart: one contiguous stream for
// the broadcasts. Only the first `rows` rows are stored.
SB_TARGET static void tile_6x16p(int kc, const float *ap, const float *bp, float *c, int n, int rows, int first) {
    __m256 p0a = _mm256_setzero_ps(), p0b = p0a, p1a = p0a, p1b = p0a, p2a = p0a, p2b = p0a;
    __m256 p3a = p0a, p3b = p0a, p4a = p0a, p4b = p0a, p5a = p0a, p5b = p0a;
    // The block of C is read back at the end: start fetching it now.
    for (int r = 0; r < rows; r++) _mm_prefetch((const char *)(c + (size_t)r * n), _MM_HINT_T0);
#pragma clang loop unroll_count(2)
    for (int kk = 0; kk < kc; kk++) {
        const float *bk = bp + (size_t)kk * 16, *av = ap + (size_t)kk * 6;
        __m256 b0 = _mm256_loadu_ps(bk), b1 = _mm256_loadu_ps(bk + 8), x;
        x = _mm256_broadcast_ss(av + 0); p0a = _mm256_fmadd_ps(x, b0, p0a); p0b = _mm256_fmadd_ps(x, b1, p0b);
        x = _mm256_broadcast_ss(av + 1); p1a = _mm256_fmadd_ps(x, b0, p1a); p1b = _mm256_fmadd_ps(x, b1, p1b);
        x = _mm256_broadcast_ss(av + 2); p2a = _mm256_fmadd_ps(x, b0, p2a); p2b = _mm256_fmadd_ps(x, b1, p2b);
        x = _mm256_broadcast_ss(av + 3); p3a = _mm256_fmadd_ps(x, b0, p3a); p3b = _mm256_fmadd_ps(x, b1, p3b);
        x = _mm256_broadcast_ss(av + 4); p4a = _mm256_fmadd_ps(x, b0, p4a); p4b = _mm256_fmadd_ps(x, b1, p4b);
        x = _mm256_broadcast_ss(av + 5); p5a = _mm256_fmadd_ps(x, b0, p5a); p5b = _mm256_fmadd_ps(x, b1, p5b);
    }
    __m256 pa[6] = {p0a, p1a, p2a, p3a, p4a, p5a}, pb[6] = {p0b, p1b, p2b, p3b, p4b, p5b};
    for (int r = 0; r < rows; r++) {
        float *cr = c + (size_t)r * n;
        if (first) {
            _mm256_storeu_ps(cr, pa[r]);
            _mm256_storeu_ps(cr + 8, pb[r]);
        } else {
            _mm256_storeu_ps(cr, _mm256_add_ps(_mm256_loadu_ps(cr), pa[r]));
            _mm256_storeu_ps(cr + 8, _mm256_add_ps(_mm256_loadu_ps(cr + 8), pb[r]));
        }
    }
}

SB_TARGET static void gemm_ws_avx2(int m, int n, int k, int tile, const float *a, const float *packed, float *c, int r0, int r1, int j_begin) {
    (void)m;
    // Column panels of 16 from j_begin (a multiple of 16), so a tile's slice of B (tile × 16
    // floats) stays in L1 while every row of the chunk streams past it.
    for (int j0 = j_begin; j0 < n; j0 += 16) {
        int full = j0 + 16 <= n;
        for (int k0 = 0; k0 < k; k0 += tile) {
            int k1 = k0 + tile < k ? k0 + tile : k;
            int first = k0 == 0;
            int i = r0;
            if (full) {
                const float *panel = packed + (size_t)(j0 / 16) * k * 16;
                for (; i + 6 <= r1; i += 6) tile_6x16(k0, k1, n, k, a, panel, c, i, j0, first);
            }
            for (; i < r1; i++) {
                int jend = j0 + 16 < n ? j0 + 16 : n;
                for (int j = j0; j < jend; j++) tile_scalar(k0, k1, n, k, a, packed, c, i, j, first);
            }
        }
    }
}

#define SB_TARGET512 __attribute__((target("avx512f,fma")))

// Rows of A a block takes: 6 rows by 64 columns is 24 zmm accumulators, four of B and one
// broadcast, and per k step 4 loads of B and 6 broadcasts for 24 FMAs. (12 rows by 32 columns,
// the same 24 accumulators, needs 14 loads per k step: on a 2-core Zen 4 at 2048³, kernel alone,
// 6×64 runs at 211 GFLOP/s against 200.)
#define SB_MR 6

// Stores 16 partial sums of a row of C (the first K-tile) or adds them to it (later ones).
SB_TARGET512 static inline void store_16(float *cr, __m512 p, int first) {
    _mm512_storeu_ps(cr, first ? p : _mm512_add_ps(_mm512_loadu_ps(cr), p));
}

// A block-scaled GEMM's store (sb_gemm_ws_f32_scaled): the K-tile is a quantisation group and its
// partial sums p join C as p·(sa·sb), one rounding for the scales' product and one for p times
// it, then one for the add (the vector unit's step, with the bits of GemmKernel.blockScaledFloat).
SB_TARGET512 static inline void store_16s(float *cr, __m512 p, int first, const float *sa, int r, const float *sb) {
    if (sa == NULL) { store_16(cr, p, first); return; }
    __m512 v = _mm512_mul_ps(p, _mm512_mul_ps(_mm512_set1_ps(sa[r]), _mm512_loadu_ps(sb)));
    _mm512_storeu_ps(cr, first ? v : _mm512_add_ps(_mm512_loadu_ps(cr), v));
}

// A block of partial sums over one K-tile from a packed micro-panel of A (kc steps of 6 values,
// one per row; rows past the matrix are zeros) and 4 (or 2) 16-column panels of B, `stride`
// floats apart: every lane takes its products in k order with one rounding each, so the bits are
// every other path's. Only the first `rows` rows are stored; the others go to a scratch row, so
// that every accumulator is a named register (an array of them, indexed in a loop to `rows`, made
// the compiler keep a copy on the stack, zeroed by a memset on every call).
#define SB_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define SB_ZERO4(r) __m512 p##r##a = _mm512_setzero_ps(), p##r##b = p##r##a, p##r##c = p##r##a, p##r##d = p##r##a;
#define SB_FMA4(r) { __m512 x = _mm512_set1_ps(av[r]); p##r##a = _mm512_fmadd_ps(x, b0, p##r##a); p##r##b = _mm512_fmadd_ps(x, b1, p##r##b); \
                     p##r##c = _mm512_fmadd_ps(x, b2, p##r##c); p##r##d = _mm512_fmadd_ps(x, b3, p##r##d); }
#define SB_STORE4(r) { float *cr = r < rows ? c + (size_t)r * n : spare; int f = first || r >= rows; \
                       store_16s(cr, p##r##a, f, sa, r, sb); store_16s(cr + 16, p##r##b, f, sa, r, sb + 16); \
                       store_16s(cr + 32, p##r##c, f, sa, r, sb + 32); store_16s(cr + 48, p##r##d, f, sa, r, sb + 48); }
#define SB_ZERO2(r) __m512 p##r##a = _mm512_setzero_ps(), p##r##b = p##r##a;
#define SB_FMA2(r) { __m512 x = _mm512_set1_ps(av[r]); p##r##a = _mm512_fmadd_ps(x, b0, p##r##a); p##r##b = _mm512_fmadd_ps(x, b1, p##r##b); }
#define SB_STORE2(r) { float *cr = r < rows ? c + (size_t)r * n : spare; int f = first || r >= rows; \
                       store_16s(cr, p##r##a, f, sa, r, sb); store_16s(cr + 16, p##r##b, f, sa, r, sb + 16); }

// `sa` (6 row scales) and `sb` (the block's column scales) are NULL but in a block-scaled GEMM.
SB_TARGET512 static void tile_6x64(int kc, const float *ap, const float *bp, size_t stride, float *c, int n, int rows, int first,
                                   const float *sa, const float *sb) {
    // The block of C is read back at the end: start fetching it now.
    for (int r = 0; r < rows; r++) {
        for (int j = 0; j < 64; j += 16) _mm_prefetch((const char *)(c + (size_t)r * n + j), _MM_HINT_T0);
    }
    SB_ROWS(SB_ZERO4)
#pragma clang loop unroll_count(2)
    for (int kk = 0; kk < kc; kk++) {
        const float *bk = bp + (size_t)kk * 16;
        __m512 b0 = _mm512_loadu_ps(bk), b1 = _mm512_loadu_ps(bk + stride);
        __m512 b2 = _mm512_loadu_ps(bk + 2 * stride), b3 = _mm512_loadu_ps(bk + 3 * stride);
        const float *av = ap + (size_t)kk * SB_MR;
        SB_ROWS(SB_FMA4)
    }
    float spare[64];
    SB_ROWS(SB_STORE4)
}

SB_TARGET512 static void tile_6x32(int kc, const float *ap, const float *bp, size_t stride, float *c, int n, int rows, int first,
                                   const float *sa, const float *sb) {
    SB_ROWS(SB_ZERO2)
    for (int kk = 0; kk < kc; kk++) {
        const float *bk = bp + (size_t)kk * 16;
        __m512 b0 = _mm512_loadu_ps(bk), b1 = _mm512_loadu_ps(bk + stride);
        const float *av = ap + (size_t)kk * SB_MR;
        SB_ROWS(SB_FMA2)
    }
    float spare[32];
    SB_ROWS(SB_STORE2)
}

// Columns of C a block keeps in cache across its K-tiles.
#define SB_NC 512
// K-tiles a block of C takes back to back.
#define SB_KT 8

// The chunk's rows of A are packed once into 6-row micro-panels per K-tile (one contiguous
// stream instead of six rows 4-8 KiB apart, which alias in L1). Then, for each 512 columns of C
// and each group of 8 K-tiles, every 6×64 block of C takes the group's tiles back to back, in
// order (as every element needs), so it stays in L1 between them while B's slices come from L2.
// A last 32 columns take 6×32 blocks, and any columns past a multiple of 32 the AVX2 path.
// With `sa` [m, k/tile] and `sb` [k/tile, n] (a block-scaled GEMM whose groups are the K-tiles;
// n a multiple of 32), each tile's partial sums join C scaled (store_16s); NULL for a plain GEMM.
// Returns 0 only when scaled and out of memory for A's panels (nothing is written then).
SB_TARGET512 static int gemm_ws_avx512(int m, int n, int k, int tile, const float *a, const float *packed, float *c, int r0, int r1,
                                       const float *sa, const float *sb) {
    int wide = n / 64 * 64, covered = n / 32 * 32;
    int groups = (k + tile - 1) / tile;
    if (covered == 0 && sa == NULL) { gemm_ws_avx2(m, n, k, tile, a, packed, c, r0, r1, 0); return 1; }
    int blocks = (r1 - r0 + SB_MR - 1) / SB_MR;
    size_t apFloats = (size_t)blocks * SB_MR * k;
    float *ap = sb_alloc_floats(apFloats);
    if (ap == NULL) {
        // Out of memory for the packed panels: the AVX2 path gives the same bits (a scaled GEMM
        // goes back to its caller, which has a way without them).
        if (sa != NULL) return 0;
        gemm_ws_avx2(m, n, k, tile, a, packed, c, r0, r1, 0);
        return 1;
    }
    // The chunk's rows of A packed once: K-tile by K-tile, each tile's 6-row micro-panels
    // (kc steps of 6 values; rows past r1 are zeros) one after another.
    for (int k0 = 0; k0 < k; k0 += tile) {
        int kc = (k0 + tile < k ? k0 + tile : k) - k0;
        for (int blk = 0; blk < blocks; blk++) {
            float *dst = ap + (size_t)k0 * blocks * SB_MR + (size_t)blk * SB_MR * kc;
            int rows = r1 - (r0 + blk * SB_MR) < SB_MR ? r1 - (r0 + blk * SB_MR) : SB_MR;
            // k outer, rows inner: the micro-panel is written in order, from six read streams
            // (rows inner-most wrote it 24 bytes apart, row by row: twice the time).
            const float *src[SB_MR];
            for (int r = 0; r < SB_MR; r++) src[r] = a + (size_t)(r0 + blk * SB_MR + (r < rows ? r : 0)) * k + k0;
            for (int kk = 0; kk < kc; kk++) {
                for (int r = 0; r < SB_MR; r++) dst[(size_t)kk * SB_MR + r] = r < rows ? src[r][kk] : 0.0f;
            }
        }
    }
    size_t stride = (size_t)k * 16;  // floats from one 16-column panel of B to the next
    for (int j0 = 0; j0 < covered; j0 += SB_NC) {
        int j1 = j0 + SB_NC < covered ? j0 + SB_NC : covered;
        // K-tiles SB_KT at a time: a block of C takes those tiles back to back, so it stays in
        // L1 between them.
        for (int g0 = 0; g0 < k; g0 += SB_KT * tile) {
            int g1 = g0 + SB_KT * tile < k ? g0 + SB_KT * tile : k;
            for (int j = j0; j < j1; j += 64) {
                int width = j + 64 <= wide ? 64 : 32;
                for (int blk = 0; blk < blocks; blk++) {
                    int rows = r1 - (r0 + blk * SB_MR) < SB_MR ? r1 - (r0 + blk * SB_MR) : SB_MR;
                    float *cb = c + (size_t)(r0 + blk * SB_MR) * n + j;
                    for (int k0 = g0; k0 < g1; k0 += tile) {
                        int kc = (k0 + tile < k ? k0 + tile : k) - k0;
                        const float *panel = packed + (size_t)(j / 16) * stride + (size_t)k0 * 16;
                        const float *apanel = ap + (size_t)k0 * blocks * SB_MR + (size_t)blk * SB_MR * kc;
                        float rowScales[SB_MR];
                        const float *sa6 = NULL, *sbj = NULL;
                        if (sa != NULL) {
                            for (int r = 0; r < SB_MR; r++) rowScales[r] = r < rows ? sa[(size_t)(r0 + blk * SB_MR + r) * groups + k0 / tile] : 1.0f;
                            sa6 = rowScales;
                            sbj = sb + (size_t)(k0 / tile) * n + j;
                        }
                        if (width == 64) tile_6x64(kc, apanel, panel, stride, cb, n, rows, k0 == 0, sa6, sbj);
                        else tile_6x32(kc, apanel, panel, stride, cb, n, rows, k0 == 0, sa6, sbj);
                    }
                }
            }
        }
    }
    sb_free_floats(ap, apFloats);
    // The columns past the last 32 go through the AVX2 path, which handles tails.
    if (covered < n) gemm_ws_avx2(m, n, k, tile, a, packed, c, r0, r1, covered);
    return 1;
}

#endif

size_t sb_packed_floats(int k, int n, int width) { return (size_t)((n + width - 1) / width) * k * width; }

void sb_pack_b(int k, int n, int width, const float *b, float *packed) { sb_pack_b_range(k, n, width, b, packed, 0, (n + width - 1) / width); }

void sb_pack_b_range(int k, int n, int width, const float *b, float *packed, int p0, int p1) {
    for (int p = p0; p < p1; p++) {
        float *out = packed + (size_t)p * k * width;
        const float *in = b + (size_t)p * width;
        int cols = n - p * width < width ? n - p * width : width;
        if (cols == 16 && width == 16) {
            // A constant size lets the compiler copy each row in registers instead of calling memcpy.
            for (int kk = 0; kk < k; kk++) memcpy(out + (size_t)kk * 16, in + (size_t)kk * n, sizeof(float) * 16);
        } else {
            for (int kk = 0; kk < k; kk++) {
                memcpy(out + (size_t)kk * width, in + (size_t)kk * n, sizeof(float) * cols);
                for (int j = cols; j < width; j++) out[(size_t)kk * width + j] = 0.0f;
            }
        }
    }
}

void sb_pack_b_rows(int k, int n, int width, const float *rows, int kk0, int kk1, float *packed) {
    int panels = (n + width - 1) / width;
    for (int kk = kk0; kk < kk1; kk++) {
        const float *row = rows + (size_t)(kk - kk0) * n;
        for (int p = 0; p < panels; p++) {
            float *out = packed + (size_t)p * k * width + (size_t)kk * width;
            int cols = n - p * width < width ? n - p * width : width;
            memcpy(out, row + (size_t)p * width, sizeof(float) * cols);
            for (int j = cols; j < width; j++) out[j] = 0.0f;
        }
    }
}

void sb_pack_bt_panel(int k, int n, int width, const float *columns, int p, float *packed) {
    float *out = packed + (size_t)p * k * width;
    int cols = n - p * width < width ? n - p * width : width;
    for (int kk = 0; kk < k; kk++) {
        for (int j = 0; j < width; j++) out[(size_t)kk * width + j] = j < cols ? columns[(size_t)j * k + kk] : 0.0f;
    }
}

#if SB_X86
// The AVX2 path blocked as the AVX-512 one is (gemm_ws_avx512: A packed once into 6-row
// micro-panels per K-tile, 512 columns of C at a time, 8 K-tiles back to back per block of C),
// with 6×16 blocks: 12 ymm accumulators, two of B and one broadcast. Columns past a multiple of
// 16 go through the unblocked AVX2 path. The same sequence of roundings per element as every path.
SB_TARGET static void gemm_ws_avx2_blocked(int m, int n, int k, int tile, const float *a, const float *packed, float *c, int r0, int r1) {
    int covered = n / 16 * 16;
    int blocks = (r1 - r0 + 5) / 6;
    size_t apFloats = (size_t)blocks * 6 * k;
    float *ap = covered == 0 ? NULL : sb_alloc_floats(apFloats);
    if (ap == NULL) { gemm_ws_avx2(m, n, k, tile, a, packed, c, r0, r1, 0); return; }
    for (int k0 = 0; k0 < k; k0 += tile) {
        int kc = (k0 + tile < k ? k0 + tile : k) - k0;
        for (int blk = 0; blk < blocks; blk++) {
            float *dst = ap + (size_t)k0 * blocks * 6 + (size_t)blk * 6 * kc;
            int rows = r1 - (r0 + blk * 6) < 6 ? r1 - (r0 + blk * 6) : 6;
            const float *src[6];
            for (int r = 0; r < 6; r++) src[r] = a + (size_t)(r0 + blk * 6 + (r < rows ? r : 0)) * k + k0;
            for (int kk = 0; kk < kc; kk++) {
                for (int r = 0; r < 6; r++) dst[(size_t)kk * 6 + r] = r < rows ? src[r][kk] : 0.0f;
            }
        }
    }
    for (int j0 = 0; j0 < covered; j0 += SB_NC) {
        int j1 = j0 + SB_NC < covered ? j0 + SB_NC : covered;
        for (int g0 = 0; g0 < k; g0 += SB_KT * tile) {
            int g1 = g0 + SB_KT * tile < k ? g0 + SB_KT * tile : k;
            for (int j = j0; j < j1; j += 16) {
                for (int blk = 0; blk < blocks; blk++) {
                    int rows = r1 - (r0 + blk * 6) < 6 ? r1 - (r0 + blk * 6) : 6;
                    float *cb = c + (size_t)(r0 + blk * 6) * n + j;
                    for (int k0 = g0; k0 < g1; k0 += tile) {
                        int kc = (k0 + tile < k ? k0 + tile : k) - k0;
                        const float *panel = packed + (size_t)(j / 16) * k * 16 + (size_t)k0 * 16;
                        const float *apanel = ap + (size_t)k0 * blocks * 6 + (size_t)blk * 6 * kc;
                        tile_6x16p(kc, apanel, panel, cb, n, rows, k0 == 0);
                    }
                }
            }
        }
    }
    sb_free_floats(ap, apFloats);
    if (covered < n) gemm_ws_avx2(m, n, k, tile, a, packed, c, r0, r1, covered);
}
#endif

int sb_gemm_ws_f32_scaled(int m, int n, int k, int tile, const float *a, const float *packed16, float *c, int r0, int r1,
                          const float *sa, const float *sb) {
#if SB_X86
    if (wide() && n % 32 == 0 && n > 0 && k % tile == 0) return gemm_ws_avx512(m, n, k, tile, a, packed16, c, r0, r1, sa, sb);
#endif
    (void)m; (void)n; (void)k; (void)tile; (void)a; (void)packed16; (void)c; (void)r0; (void)r1; (void)sa; (void)sb;
    return 0;
}

void sb_gemm_ws_f32(int m, int n, int k, int tile, const float *a, const float *packed16, float *c, int r0, int r1) {
#if SB_X86
    if (wide()) { (void)gemm_ws_avx512(m, n, k, tile, a, packed16, c, r0, r1, NULL, NULL); return; }
    if (vectorised()) { gemm_ws_avx2_blocked(m, n, k, tile, a, packed16, c, r0, r1); return; }
#endif
    gemm_ws_portable(m, n, k, tile, a, packed16, c, r0, r1);
}

