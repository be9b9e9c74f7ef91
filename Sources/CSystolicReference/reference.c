// No contraction anywhere in this file: the documented summation orders round every product and
// sum separately except where an explicit fma says otherwise, so the compiler must never fuse a
// multiply and an add on its own (clang's default for C is to contract within an expression).
#pragma STDC FP_CONTRACT OFF

#include "systolic_reference.h"
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

#define SB_TARGET __attribute__((target("avx2,fma")))

// The reference, two rows by eight columns at a time: Ĉ in fp64, 4 doubles per vector, k in
// order (a product of two fp32 values is exact in fp64, so fma(a, b, x) rounds exactly as
// x + a·b does), and S₃₂ in fp32, 8 floats per vector (fma(|a|, |b|, y), the portable path's
// fmaf). The caller makes S₃₂ a bound.
// Columns [j0, j1) of rows [r0, r1), element by element: Ĉ in fp64 and S₃₂ with fmaf, k in
// order (the AVX2 paths' tails; the caller makes S₃₂ a bound).
SB_TARGET static void tail_columns(int n, int k, const float *a, const float *b, double *v, double *s, int r0, int r1, int j0, int j1) {
    for (int i = r0; i < r1; i++) {
        const float *ar = a + (size_t)i * k;
        for (int j = j0; j < j1; j++) {
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
            tail_columns(n, k, a, b, v, s, r0, r1, j0, jend);
        }
    }
}
// The same from packed rows: 3 rows by 8 columns, A's rows packed as k steps of 3 doubles and 3
// floats |a| (no conversion per step), 6 fp64 and 3 fp32 accumulators (with B's two halves, its
// magnitudes and a broadcast: 13 of the 16 ymm registers), one load of B per step. The bits of
// reference_avx2 (each lane k in order, one rounding per step).
#define SB_AR 3
SB_TARGET static void reference_avx2_3x8(int k, const double *a64, const float *aabs, const float *bp, double *v, double *s, int n, int rows) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256d x0a = _mm256_setzero_pd(), x0b = x0a, x1a = x0a, x1b = x0a, x2a = x0a, x2b = x0a;
    __m256 y0 = _mm256_setzero_ps(), y1 = y0, y2 = y0;
    for (int kk = 0; kk < k; kk++) {
        __m256 bf = _mm256_loadu_ps(bp + (size_t)kk * 8);
        __m256d b0 = _mm256_cvtps_pd(_mm256_castps256_ps128(bf)), b1 = _mm256_cvtps_pd(_mm256_extractf128_ps(bf, 1));
        __m256 c = _mm256_andnot_ps(sign, bf);
        const double *ak = a64 + (size_t)kk * SB_AR;
        const float *sk = aabs + (size_t)kk * SB_AR;
        __m256d p;
        p = _mm256_broadcast_sd(ak + 0); x0a = _mm256_fmadd_pd(p, b0, x0a); x0b = _mm256_fmadd_pd(p, b1, x0b);
        p = _mm256_broadcast_sd(ak + 1); x1a = _mm256_fmadd_pd(p, b0, x1a); x1b = _mm256_fmadd_pd(p, b1, x1b);
        p = _mm256_broadcast_sd(ak + 2); x2a = _mm256_fmadd_pd(p, b0, x2a); x2b = _mm256_fmadd_pd(p, b1, x2b);
        y0 = _mm256_fmadd_ps(_mm256_broadcast_ss(sk + 0), c, y0);
        y1 = _mm256_fmadd_ps(_mm256_broadcast_ss(sk + 1), c, y1);
        y2 = _mm256_fmadd_ps(_mm256_broadcast_ss(sk + 2), c, y2);
    }
    __m256d xa[SB_AR] = {x0a, x1a, x2a}, xb[SB_AR] = {x0b, x1b, x2b};
    __m256 y[SB_AR] = {y0, y1, y2};
    for (int r = 0; r < rows; r++) {
        double *vr = v + (size_t)r * n, *sr = s + (size_t)r * n;
        _mm256_storeu_pd(vr, xa[r]);
        _mm256_storeu_pd(vr + 4, xb[r]);
        _mm256_storeu_pd(sr, _mm256_cvtps_pd(_mm256_castps256_ps128(y[r])));
        _mm256_storeu_pd(sr + 4, _mm256_cvtps_pd(_mm256_extractf128_ps(y[r], 1)));
    }
}

// Rows [r0, r1) on AVX2 from packed rows (reference_avx2_3x8), columns past a multiple of 8 and
// any shortage of scratch memory by reference_avx2: the same bits.
SB_TARGET static void reference_avx2_packed(int m, int n, int k, const float *a, const float *b, const float *packed, double *v, double *s, int r0, int r1) {
    int covered = n / 8 * 8, count = r1 - r0, blocks = (count + SB_AR - 1) / SB_AR;
    size_t apFloats = (size_t)blocks * k * SB_AR * 3;
    float *ap = covered > 0 ? sb_alloc_floats(apFloats) : NULL;
    if (ap == NULL) { reference_avx2(m, n, k, a, b, packed, v, s, r0, r1); return; }
    for (int blk = 0; blk < blocks; blk++) {
        double *a64 = (double *)(ap + (size_t)blk * k * SB_AR * 3);
        float *aabs = (float *)(a64 + (size_t)k * SB_AR);
        for (int r = 0; r < SB_AR; r++) {
            int i = r0 + blk * SB_AR + r;
            const float *ar = i < r1 ? a + (size_t)i * k : NULL;
            for (int kk = 0; kk < k; kk++) {
                float x = ar != NULL ? ar[kk] : 0.0f;
                a64[(size_t)kk * SB_AR + r] = x;
                aabs[(size_t)kk * SB_AR + r] = fabsf(x);
            }
        }
    }
    for (int j0 = 0; j0 < covered; j0 += 8) {
        const float *panel = packed + (size_t)(j0 / 8) * k * 8;
        for (int blk = 0; blk < blocks; blk++) {
            const double *a64 = (const double *)(ap + (size_t)blk * k * SB_AR * 3);
            const float *aabs = (const float *)(a64 + (size_t)k * SB_AR);
            int rows = count - blk * SB_AR < SB_AR ? count - blk * SB_AR : SB_AR;
            size_t at = (size_t)(r0 + blk * SB_AR) * n + j0;
            reference_avx2_3x8(k, a64, aabs, panel, v + at, s + at, n, rows);
        }
    }
    sb_free_floats(ap, apFloats);
    if (covered < n) tail_columns(n, k, a, b, v, s, r0, r1, covered, n);
}

#define SB_TARGET512 __attribute__((target("avx512f,fma")))

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

void sb_reference_f64(int m, int n, int k, const float *a, const float *b, const float *packed8, double *v, double *s, int r0, int r1) {
#if SB_X86
    if (vectorised()) {
        reference_avx2_packed(m, n, k, a, b, packed8, v, s, r0, r1);
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

