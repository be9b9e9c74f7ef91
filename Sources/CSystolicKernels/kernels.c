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

// The reference's S, the same on every path: S₃₂, the fp32 sum of |a|·|b| with k in order and
// one rounding per step (fma, exact product), is at least S·(1 − u)^K − K·2⁻¹⁵⁰ for S = Σ|a·b|
// (u = 2⁻²⁴; 2⁻¹⁵⁰ covers a rounding among subnormals), so S ≤ (S₃₂ + K·2⁻¹⁴⁹)/(1 − K·u). The
// fp64 evaluation's own roundings (a few units of 2⁻⁵³) are covered by the factor (1 + 2⁻⁵⁰). An
// infinite or NaN S₃₂ proves nothing, and K ≥ 2²² would make the factor meaningless: there S is
// the fp64 sum, as is Ĉ everywhere.
#define SB_FP32_BOUND_MAX_K (1 << 22)

static void abs_sum_bound(int k, double *tiny, double *scale) {
    *tiny = (double)k * 0x1p-149;
    *scale = (1 + 0x1p-50) / (1 - (double)k * 0x1p-24);
}

// One element as every path computes it: Ĉ in fp64, and S₃₂ with fmaf made a bound, or the fp64
// sum of |a·b| where that is not finite (or K is too large for it). B's column is at `col`,
// `stride` floats between rows. The paths call it for tails and for the elements whose S₃₂ failed.
static void reference_element(int k, const float *ar, const float *col, size_t stride, double *v, double *s) {
    double x = 0, z = 0;
    float y = 0;
    for (int kk = 0; kk < k; kk++) {
        float bv = col[(size_t)kk * stride];
        double p = (double)ar[kk] * (double)bv;
        x += p;
        z += fabs(p);
        y = fmaf(fabsf(ar[kk]), fabsf(bv), y);
    }
    double tiny, scale;
    abs_sum_bound(k, &tiny, &scale);
    double bound = ((double)y + tiny) * scale;
    *v = x;
    *s = isfinite(bound) && k < SB_FP32_BOUND_MAX_K ? bound : z;
}

// Rows [r0, r1) of S₃₂ made bounds (s32 holds the fp32 sums as doubles), or summed again in fp64.
static void finish_abs_sums(int n, int k, const float *a, const float *b, double *v, double *s, int r0, int r1) {
    double tiny, scale;
    abs_sum_bound(k, &tiny, &scale);
    for (int i = r0; i < r1; i++) {
        for (int j = 0; j < n; j++) {
            double *si = s + (size_t)i * n + j;
            *si = (*si + tiny) * scale;
            if (!isfinite(*si) || k >= SB_FP32_BOUND_MAX_K) reference_element(k, a + (size_t)i * k, b + j, (size_t)n, v + (size_t)i * n + j, si);
        }
    }
}

// Portable: Ĉ in fp64 and S₃₂ with fmaf (correctly rounded, so the bits of every other path),
// row by row; the caller makes S₃₂ a bound.
static void reference_portable(int m, int n, int k, const float *a, const float *b, double *v, double *s, int r0, int r1) {
    (void)m;
    float *s32 = malloc(sizeof(float) * (n > 0 ? n : 1));
    for (int i = r0; i < r1; i++) {
        double *vr = v + (size_t)i * n, *sr = s + (size_t)i * n;
        memset(vr, 0, sizeof(double) * n);
        for (int j = 0; j < n; j++) s32[j] = 0.0f;
        for (int kk = 0; kk < k; kk++) {
            float av = a[(size_t)i * k + kk], aa = fabsf(av);
            const float *br = b + (size_t)kk * n;
            for (int j = 0; j < n; j++) {
                vr[j] += (double)av * (double)br[j];
                s32[j] = fmaf(aa, fabsf(br[j]), s32[j]);
            }
        }
        for (int j = 0; j < n; j++) sr[j] = s32[j];
    }
    free(s32);
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

// The reference, two rows by eight columns at a time: Ĉ in fp64, 4 doubles per vector, k in
// order (a product of two fp32 values is exact in fp64, so fma(a, b, x) rounds exactly as
// x + a·b does), and S₃₂ in fp32, 8 floats per vector (fma(|a|, |b|, y), the portable path's
// fmaf). The caller makes S₃₂ a bound.
SB_TARGET static void reference_avx2(int m, int n, int k, const float *a, const float *b, const float *packed, double *v, double *s, int r0, int r1) {
    (void)m;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int j0 = 0; j0 < n; j0 += 8) {
        int jend = j0 + 8 < n ? j0 + 8 : n;
        int i = r0;
        if (jend - j0 == 8) {
            for (; i < r1; i += 2) {
                int two = i + 1 < r1;
                const float *a0 = a + (size_t)i * k, *a1 = a + (size_t)(two ? i + 1 : i) * k;
                __m256d x00 = _mm256_setzero_pd(), x01 = _mm256_setzero_pd(), x10 = _mm256_setzero_pd(), x11 = _mm256_setzero_pd();
                __m256 y0 = _mm256_setzero_ps(), y1 = _mm256_setzero_ps();
                for (int kk = 0; kk < k; kk++) {
                    const float *br = packed + (size_t)(j0 / 8) * k * 8 + (size_t)kk * 8;
                    __m256 bf = _mm256_loadu_ps(br), c = _mm256_andnot_ps(sign, bf);
                    __m256d b0 = _mm256_cvtps_pd(_mm256_castps256_ps128(bf)), b1 = _mm256_cvtps_pd(_mm256_extractf128_ps(bf, 1));
                    __m256d p = _mm256_set1_pd((double)a0[kk]), q = _mm256_set1_pd((double)a1[kk]);
                    __m256 pa = _mm256_set1_ps(fabsf(a0[kk])), qa = _mm256_set1_ps(fabsf(a1[kk]));
                    x00 = _mm256_fmadd_pd(p, b0, x00); x01 = _mm256_fmadd_pd(p, b1, x01);
                    x10 = _mm256_fmadd_pd(q, b0, x10); x11 = _mm256_fmadd_pd(q, b1, x11);
                    y0 = _mm256_fmadd_ps(pa, c, y0); y1 = _mm256_fmadd_ps(qa, c, y1);
                }
                double *v0 = v + (size_t)i * n + j0, *s0 = s + (size_t)i * n + j0;
                _mm256_storeu_pd(v0, x00); _mm256_storeu_pd(v0 + 4, x01);
                _mm256_storeu_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(y0))); _mm256_storeu_pd(s0 + 4, _mm256_cvtps_pd(_mm256_extractf128_ps(y0, 1)));
                if (two) {
                    _mm256_storeu_pd(v0 + n, x10); _mm256_storeu_pd(v0 + n + 4, x11);
                    _mm256_storeu_pd(s0 + n, _mm256_cvtps_pd(_mm256_castps256_ps128(y1)));
                    _mm256_storeu_pd(s0 + n + 4, _mm256_cvtps_pd(_mm256_extractf128_ps(y1, 1)));
                }
            }
        } else {
            for (; i < r1; i++) {
                const float *ar = a + (size_t)i * k;
                for (int j = j0; j < jend; j++) {
                    double x = 0;
                    float y = 0;
                    for (int kk = 0; kk < k; kk++) {
                        float bv = b[(size_t)kk * n + j];
                        x += (double)ar[kk] * (double)bv;
                        y = fmaf(fabsf(ar[kk]), fabsf(bv), y);
                    }
                    v[(size_t)i * n + j] = x;
                    s[(size_t)i * n + j] = y;
                }
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
                       store_16(cr, p##r##a, f); store_16(cr + 16, p##r##b, f); store_16(cr + 32, p##r##c, f); store_16(cr + 48, p##r##d, f); }
#define SB_ZERO2(r) __m512 p##r##a = _mm512_setzero_ps(), p##r##b = p##r##a;
#define SB_FMA2(r) { __m512 x = _mm512_set1_ps(av[r]); p##r##a = _mm512_fmadd_ps(x, b0, p##r##a); p##r##b = _mm512_fmadd_ps(x, b1, p##r##b); }
#define SB_STORE2(r) { float *cr = r < rows ? c + (size_t)r * n : spare; int f = first || r >= rows; store_16(cr, p##r##a, f); store_16(cr + 16, p##r##b, f); }

SB_TARGET512 static void tile_6x64(int kc, const float *ap, const float *bp, size_t stride, float *c, int n, int rows, int first) {
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

SB_TARGET512 static void tile_6x32(int kc, const float *ap, const float *bp, size_t stride, float *c, int n, int rows, int first) {
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
SB_TARGET512 static void gemm_ws_avx512(int m, int n, int k, int tile, const float *a, const float *packed, float *c, int r0, int r1) {
    int wide = n / 64 * 64, covered = n / 32 * 32;
    if (covered == 0) { gemm_ws_avx2(m, n, k, tile, a, packed, c, r0, r1, 0); return; }
    int blocks = (r1 - r0 + SB_MR - 1) / SB_MR;
    size_t apFloats = (size_t)blocks * SB_MR * k;
    float *ap = sb_alloc_floats(apFloats);
    if (ap == NULL) {
        // Out of memory for the packed panels: the AVX2 path gives the same bits.
        gemm_ws_avx2(m, n, k, tile, a, packed, c, r0, r1, 0);
        return;
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
                        if (width == 64) tile_6x64(kc, apanel, panel, stride, cb, n, rows, k0 == 0);
                        else tile_6x32(kc, apanel, panel, stride, cb, n, rows, k0 == 0);
                    }
                }
            }
        }
    }
    sb_free_floats(ap, apFloats);
    // The columns past the last 32 go through the AVX2 path, which handles tails.
    if (covered < n) gemm_ws_avx2(m, n, k, tile, a, packed, c, r0, r1, covered);
}

// The reference on AVX-512: blocks of 4 rows by 32 columns, Ĉ in fp64 (16 zmm: each lane one
// element, k in order, fma(a, b, x) = x + a·b rounded once since a·b is exact in fp64) and S₃₂ in
// fp32 (8 zmm: half the work of an fp64 sum), made a bound as `abs_sum_bound` says: the bits of
// the AVX2 and portable paths. 24 accumulators, 2 loads of B and 8 broadcasts per k step.
#define SB_RR 4
#define SB_RROWS(X) X(0) X(1) X(2) X(3)
#define SB_RZERO(r) __m512d v##r##a = _mm512_setzero_pd(), v##r##b = v##r##a, v##r##c = v##r##a, v##r##d = v##r##a; \
                    __m512 s##r##a = _mm512_setzero_ps(), s##r##b = s##r##a;
#define SB_RFMA(r) { __m512d x = _mm512_set1_pd(ak[r]); \
                     v##r##a = _mm512_fmadd_pd(x, b0, v##r##a); v##r##b = _mm512_fmadd_pd(x, b1, v##r##b); \
                     v##r##c = _mm512_fmadd_pd(x, b2, v##r##c); v##r##d = _mm512_fmadd_pd(x, b3, v##r##d); \
                     __m512 y = _mm512_set1_ps(sk[r]); s##r##a = _mm512_fmadd_ps(y, c0, s##r##a); s##r##b = _mm512_fmadd_ps(y, c1, s##r##b); }
#define SB_RSTORE(r) if (r < rows) { \
        double *vr = value + (size_t)r * n, *sr = abs_sum + (size_t)r * n; \
        _mm512_mask_storeu_pd(vr, m0, v##r##a); _mm512_mask_storeu_pd(vr + 8, m1, v##r##b); \
        _mm512_mask_storeu_pd(vr + 16, m2, v##r##c); _mm512_mask_storeu_pd(vr + 24, m3, v##r##d); \
        store_bound_16(sr, s##r##a, m0, m1, tiny, scale); store_bound_16(sr + 16, s##r##b, m2, m3, tiny, scale); }

// 16 fp32 sums of |a·b| stored as fp64 upper bounds (see abs_sum_bound), lanes under the masks.
SB_TARGET512 static inline void store_bound_16(double *out, __m512 s, __mmask8 lo, __mmask8 hi, double tiny, double scale) {
    __m512d t = _mm512_set1_pd(tiny), c = _mm512_set1_pd(scale);
    __m512d x0 = _mm512_cvtps_pd(_mm512_castps512_ps256(s));
    __m512d x1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1)));
    _mm512_mask_storeu_pd(out, lo, _mm512_mul_pd(_mm512_add_pd(x0, t), c));
    _mm512_mask_storeu_pd(out + 8, hi, _mm512_mul_pd(_mm512_add_pd(x1, t), c));
}

// One 4×32 block over all of K: A's micro-panel is k steps of 4 doubles (a64) and of 4 floats
// (|a|, aabs), B's panel k rows of 32 floats, widened to doubles and stripped of their signs here
// (off the FMA pipes; a panel of doubles and magnitudes was 2-4 % faster but three times the
// memory). Rows past `rows` and columns past `cols` are computed (from zeros) but not stored.
SB_TARGET512 static void ref_tile_4x32(int k, const double *a64, const float *aabs, const float *bp,
                                       double *value, double *abs_sum, int n, int rows, int cols, double tiny, double scale) {
    const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF);
    SB_RROWS(SB_RZERO)
    for (int kk = 0; kk < k; kk++) {
        const float *bk = bp + (size_t)kk * 32;
        __m512 f0 = _mm512_loadu_ps(bk), f1 = _mm512_loadu_ps(bk + 16);
        __m512d b0 = _mm512_cvtps_pd(_mm512_castps512_ps256(f0));
        __m512d b1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f0), 1)));
        __m512d b2 = _mm512_cvtps_pd(_mm512_castps512_ps256(f1));
        __m512d b3 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f1), 1)));
        __m512 c0 = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(f0), magnitude));
        __m512 c1 = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(f1), magnitude));
        const double *ak = a64 + (size_t)kk * SB_RR;
        const float *sk = aabs + (size_t)kk * SB_RR;
        SB_RROWS(SB_RFMA)
    }
    __mmask8 m0 = (__mmask8)(cols >= 8 ? 0xFF : (1u << cols) - 1);
    __mmask8 m1 = (__mmask8)(cols >= 16 ? 0xFF : cols <= 8 ? 0 : (1u << (cols - 8)) - 1);
    __mmask8 m2 = (__mmask8)(cols >= 24 ? 0xFF : cols <= 16 ? 0 : (1u << (cols - 16)) - 1);
    __mmask8 m3 = (__mmask8)(cols >= 32 ? 0xFF : cols <= 24 ? 0 : (1u << (cols - 24)) - 1);
    SB_RROWS(SB_RSTORE)
}
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

void sb_gemm_ws_f32(int m, int n, int k, int tile, const float *a, const float *packed16, float *c, int r0, int r1) {
#if SB_X86
    if (wide()) { gemm_ws_avx512(m, n, k, tile, a, packed16, c, r0, r1); return; }
    if (vectorised()) { gemm_ws_avx2(m, n, k, tile, a, packed16, c, r0, r1, 0); return; }
#endif
    gemm_ws_portable(m, n, k, tile, a, packed16, c, r0, r1);
}

void sb_reference_f64(int m, int n, int k, const float *a, const float *b, const float *packed8, double *v, double *s, int r0, int r1) {
#if SB_X86
    if (vectorised()) {
        reference_avx2(m, n, k, a, b, packed8, v, s, r0, r1);
        finish_abs_sums(n, k, a, b, v, s, r0, r1);
        return;
    }
#endif
    (void)packed8;
    reference_portable(m, n, k, a, b, v, s, r0, r1);
    finish_abs_sums(n, k, a, b, v, s, r0, r1);
}

// B's column j in its 32-column panels (32 floats between rows).
static const float *panel_column(const float *packed, int k, int j) { return packed + (size_t)(j / 32) * k * 32 + j % 32; }

void sb_reference_wide(int m, int n, int k, const float *a, const float *packed, const int *rows, int count, double *value, double *abs_sum) {
    (void)m;
    int blocks = (count + SB_RR - 1) / SB_RR, panels = (n + 31) / 32;
    size_t apFloats = (size_t)blocks * k * SB_RR * 3;
    float *ap = k < SB_FP32_BOUND_MAX_K && wide() ? sb_alloc_floats(apFloats) : NULL;
    if (ap == NULL) {
        // Out of memory for the packed rows (or K too large for the fp32 bound): element by
        // element, the same numbers.
        for (int t = 0; t < count; t++) {
            for (int j = 0; j < n; j++) reference_element(k, a + (size_t)rows[t] * k, panel_column(packed, k, j), 32, &value[(size_t)t * n + j], &abs_sum[(size_t)t * n + j]);
        }
        return;
    }
    // Each block's rows: k steps of 4 doubles, then k steps of 4 floats |a|; rows past count zero.
    for (int blk = 0; blk < blocks; blk++) {
        double *a64 = (double *)(ap + (size_t)blk * k * SB_RR * 3);
        float *aabs = (float *)(a64 + (size_t)k * SB_RR);
        for (int r = 0; r < SB_RR; r++) {
            int t = blk * SB_RR + r;
            const float *ar = t < count ? a + (size_t)rows[t] * k : NULL;
            for (int kk = 0; kk < k; kk++) {
                float x = ar != NULL ? ar[kk] : 0.0f;
                a64[(size_t)kk * SB_RR + r] = x;
                aabs[(size_t)kk * SB_RR + r] = fabsf(x);
            }
        }
    }
    double tiny, scale;
    abs_sum_bound(k, &tiny, &scale);
#if SB_X86
    for (int p = 0; p < panels; p++) {
        const float *panel = packed + (size_t)p * k * 32;
        int cols = n - p * 32 < 32 ? n - p * 32 : 32;
        for (int blk = 0; blk < blocks; blk++) {
            const double *a64 = (const double *)(ap + (size_t)blk * k * SB_RR * 3);
            const float *aabs = (const float *)(a64 + (size_t)k * SB_RR);
            int rows = count - blk * SB_RR < SB_RR ? count - blk * SB_RR : SB_RR;
            size_t at = (size_t)blk * SB_RR * n + (size_t)p * 32;
            ref_tile_4x32(k, a64, aabs, panel, value + at, abs_sum + at, n, rows, cols, tiny, scale);
        }
    }
#endif
    sb_free_floats(ap, apFloats);
    // Where S₃₂ overflowed (or met an infinity or NaN) the bound says nothing: fp64.
    for (int t = 0; t < count; t++) {
        for (int j = 0; j < n; j++) {
            if (!isfinite(abs_sum[(size_t)t * n + j])) {
                reference_element(k, a + (size_t)rows[t] * k, panel_column(packed, k, j), 32, &value[(size_t)t * n + j], &abs_sum[(size_t)t * n + j]);
            }
        }
    }
}

/* Keys per block of the attention reference: a block of scores (rows × 256 doubles, twice) and of
 * V (256 × d floats) stay in cache while every row of the chunk uses them. */
#define SB_KEY_BLOCK 256

/* Compiled for AVX-512, AVX2 and the baseline, chosen at load time (ifunc). The products and
 * sums are separate operations (FP_CONTRACT OFF, above), so every version gives the same bits. */
#if SB_X86 && defined(__ELF__)
#define SB_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SB_CLONES
#endif

SB_CLONES void sb_weighted_rows_f64(int rows, int n, int d, const double *w, const float *v, double *value, double *abs_sum) {
    memset(value, 0, sizeof(double) * (size_t)rows * d);
    memset(abs_sum, 0, sizeof(double) * (size_t)rows * d);
    // Every element still sums j in order: blocks of j run in order, and inside a block each row's
    // inner loop over c has independent lanes, so it vectorises without reordering any sum.
    for (int j0 = 0; j0 < n; j0 += SB_KEY_BLOCK) {
        int j1 = j0 + SB_KEY_BLOCK < n ? j0 + SB_KEY_BLOCK : n;
        for (int r = 0; r < rows; r++) {
            double *vr = value + (size_t)r * d, *sr = abs_sum + (size_t)r * d;
            const double *wr = w + (size_t)r * n;
            for (int j = j0; j < j1; j++) {
                double wj = wr[j];
                if (wj == 0.0) continue;
                const float *row = v + (size_t)j * d;
                for (int c = 0; c < d; c++) {
                    double x = (double)row[c];
                    vr[c] += wj * x;
                    sr[c] += wj * fabs(x);
                }
            }
        }
    }
}

SB_CLONES void sb_scores_f64(int rows, int n, int d, const float *q, const float *kt, int ldk, double *value, double *abs_sum) {
    memset(value, 0, sizeof(double) * (size_t)rows * n);
    memset(abs_sum, 0, sizeof(double) * (size_t)rows * n);
    // Blocks of keys outside, then c, then rows, then the keys of the block: every score still sums
    // c in order, the inner loop has independent lanes, and a block's scores stay in cache.
    for (int j0 = 0; j0 < n; j0 += SB_KEY_BLOCK) {
        int j1 = j0 + SB_KEY_BLOCK < n ? j0 + SB_KEY_BLOCK : n;
        for (int c = 0; c < d; c++) {
            const float *kr = kt + (size_t)c * ldk;
            for (int r = 0; r < rows; r++) {
                double qc = (double)q[(size_t)r * d + c];
                double *vr = value + (size_t)r * n, *sr = abs_sum + (size_t)r * n;
                for (int j = j0; j < j1; j++) {
                    double p = qc * (double)kr[j];
                    vr[j] += p;
                    sr[j] += fabs(p);
                }
            }
        }
    }
}

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
