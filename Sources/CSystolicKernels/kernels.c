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

static void gemm_ws_portable(int m, int n, int k, int tile, const float *a, const float *b, float *c, int r0, int r1) {
    for (int i = r0; i < r1; i++) {
        for (int j = 0; j < n; j++) {
            float total = 0.0f;
            for (int k0 = 0; k0 < k; k0 += tile) {
                int k1 = k0 + tile < k ? k0 + tile : k;
                float p = 0.0f;
                for (int kk = k0; kk < k1; kk++) p = fmaf(a[(size_t)i * k + kk], b[(size_t)kk * n + j], p);
                total = k0 == 0 ? p : total + p;
            }
            c[(size_t)i * n + j] = total;
        }
    }
}

static void reference_portable(int m, int n, int k, const float *a, const float *b, double *v, double *s, int r0, int r1) {
    for (int i = r0; i < r1; i++) {
        double *vr = v + (size_t)i * n, *sr = s + (size_t)i * n;
        memset(vr, 0, sizeof(double) * n);
        memset(sr, 0, sizeof(double) * n);
        for (int kk = 0; kk < k; kk++) {
            double av = a[(size_t)i * k + kk];
            const float *br = b + (size_t)kk * n;
            for (int j = 0; j < n; j++) {
                double p = av * (double)br[j];
                vr[j] += p;
                sr[j] += fabs(p);
            }
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

// Any leftover element, one at a time, in the same order (fmaf compiles to vfmadd here).
SB_TARGET static void tile_scalar(int k0, int k1, int n, int k, const float *a, const float *b, float *c, int i, int j, int first) {
    float p = 0.0f;
    for (int kk = k0; kk < k1; kk++) p = fmaf(a[(size_t)i * k + kk], b[(size_t)kk * n + j], p);
    float *cij = c + (size_t)i * n + j;
    *cij = first ? p : *cij + p;
}

SB_TARGET static void gemm_ws_avx2(int m, int n, int k, int tile, const float *a, const float *b, const float *packed, float *c, int r0, int r1,
                                    int j_begin) {
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
                for (int j = j0; j < jend; j++) tile_scalar(k0, k1, n, k, a, b, c, i, j, first);
            }
        }
    }
}

// The reference, 4 doubles per vector, two rows by eight columns at a time: value and |p|
// together, k in order for every element. A product of two fp32 values is exact in fp64, so
// fma(a, b, x) rounds exactly as x + a·b does, and fma(|a|, |b|, y) as y + |a·b|.
SB_TARGET static void reference_avx2(int m, int n, int k, const float *a, const float *b, const float *packed, double *v, double *s, int r0, int r1) {
    (void)m;
    const __m256d sign = _mm256_set1_pd(-0.0);
    for (int j0 = 0; j0 < n; j0 += 8) {
        int jend = j0 + 8 < n ? j0 + 8 : n;
        int i = r0;
        if (jend - j0 == 8) {
            for (; i < r1; i += 2) {
                int two = i + 1 < r1;
                const float *a0 = a + (size_t)i * k, *a1 = a + (size_t)(two ? i + 1 : i) * k;
                __m256d x00 = _mm256_setzero_pd(), x01 = _mm256_setzero_pd(), x10 = _mm256_setzero_pd(), x11 = _mm256_setzero_pd();
                __m256d y00 = _mm256_setzero_pd(), y01 = _mm256_setzero_pd(), y10 = _mm256_setzero_pd(), y11 = _mm256_setzero_pd();
                for (int kk = 0; kk < k; kk++) {
                    const float *br = packed + (size_t)(j0 / 8) * k * 8 + (size_t)kk * 8;
                    __m256d b0 = _mm256_cvtps_pd(_mm_loadu_ps(br)), b1 = _mm256_cvtps_pd(_mm_loadu_ps(br + 4));
                    __m256d c0 = _mm256_andnot_pd(sign, b0), c1 = _mm256_andnot_pd(sign, b1);
                    __m256d p = _mm256_set1_pd((double)a0[kk]), q = _mm256_set1_pd((double)a1[kk]);
                    __m256d pa = _mm256_andnot_pd(sign, p), qa = _mm256_andnot_pd(sign, q);
                    x00 = _mm256_fmadd_pd(p, b0, x00); x01 = _mm256_fmadd_pd(p, b1, x01);
                    y00 = _mm256_fmadd_pd(pa, c0, y00); y01 = _mm256_fmadd_pd(pa, c1, y01);
                    x10 = _mm256_fmadd_pd(q, b0, x10); x11 = _mm256_fmadd_pd(q, b1, x11);
                    y10 = _mm256_fmadd_pd(qa, c0, y10); y11 = _mm256_fmadd_pd(qa, c1, y11);
                }
                double *v0 = v + (size_t)i * n + j0, *s0 = s + (size_t)i * n + j0;
                _mm256_storeu_pd(v0, x00); _mm256_storeu_pd(v0 + 4, x01);
                _mm256_storeu_pd(s0, y00); _mm256_storeu_pd(s0 + 4, y01);
                if (two) {
                    _mm256_storeu_pd(v0 + n, x10); _mm256_storeu_pd(v0 + n + 4, x11);
                    _mm256_storeu_pd(s0 + n, y10); _mm256_storeu_pd(s0 + n + 4, y11);
                }
            }
        } else {
            for (; i < r1; i++) {
                const float *ar = a + (size_t)i * k;
                for (int j = j0; j < jend; j++) {
                    double x = 0, y = 0;
                    for (int kk = 0; kk < k; kk++) {
                        double p = (double)ar[kk] * (double)b[(size_t)kk * n + j];
                        x += p;
                        y += fabs(p);
                    }
                    v[(size_t)i * n + j] = x;
                    s[(size_t)i * n + j] = y;
                }
            }
        }
    }
}
#define SB_TARGET512 __attribute__((target("avx512f,fma")))

// Rows of A a 12×32 block takes: 24 zmm accumulators, two of B, broadcasts from memory.
#define SB_MR 12

// A 12×32 block of partial sums over one K-tile from a packed micro-panel of A (kc steps of 12
// values, one per row; rows past the matrix are zeros) and two 16-column panels of B: every lane
// takes its products in k order with one rounding each, so the bits are every other path's.
// Only the first `rows` rows are stored.
SB_TARGET512 static void tile_12x32_packed(int kc, const float *ap, const float *b0p, const float *b1p, float *c, int n, int rows, int first) {
    // The block of C is read back at the end: start fetching it now.
    for (int r = 0; r < rows; r++) { _mm_prefetch((const char *)(c + (size_t)r * n), _MM_HINT_T0); _mm_prefetch((const char *)(c + (size_t)r * n + 16), _MM_HINT_T0); }
    __m512 p[SB_MR][2];
    for (int r = 0; r < SB_MR; r++) { p[r][0] = _mm512_setzero_ps(); p[r][1] = _mm512_setzero_ps(); }
#pragma clang loop unroll_count(2)
    for (int kk = 0; kk < kc; kk++) {
        __m512 b0 = _mm512_loadu_ps(b0p + (size_t)kk * 16), b1 = _mm512_loadu_ps(b1p + (size_t)kk * 16);
        const float *av = ap + (size_t)kk * SB_MR;
        for (int r = 0; r < SB_MR; r++) {
            __m512 x = _mm512_set1_ps(av[r]);
            p[r][0] = _mm512_fmadd_ps(x, b0, p[r][0]);
            p[r][1] = _mm512_fmadd_ps(x, b1, p[r][1]);
        }
    }
    for (int r = 0; r < rows; r++) {
        float *cr = c + (size_t)r * n;
        if (first) {
            _mm512_storeu_ps(cr, p[r][0]);
            _mm512_storeu_ps(cr + 16, p[r][1]);
        } else {
            _mm512_storeu_ps(cr, _mm512_add_ps(_mm512_loadu_ps(cr), p[r][0]));
            _mm512_storeu_ps(cr + 16, _mm512_add_ps(_mm512_loadu_ps(cr + 16), p[r][1]));
        }
    }
}

// Columns of C a block keeps in cache across its K-tiles.
#define SB_NC 512
// K-tiles a block of C takes back to back.
#define SB_KT 8

// The chunk's rows of A are packed once into 12-row micro-panels per K-tile (one contiguous
// stream instead of twelve rows 4-8 KiB apart, which alias in L1). Then, for each 512 columns of
// C and each group of 8 K-tiles, every 12×32 block of C takes the group's tiles back to back, in
// order (as every element needs), so it stays in L1 between them while B's slices come from L2.
// Measured on a 2-core Zen 4 at 2048³ (kernel alone, 2 threads): 191 GFLOP/s, against 160 for
// the unpacked 6×32 loop it replaces, with the same bits.
SB_TARGET512 static void gemm_ws_avx512(int m, int n, int k, int tile, const float *a, const float *b, const float *packed, float *c, int r0, int r1) {
    int pairs = n / 32;
    if (pairs == 0) { gemm_ws_avx2(m, n, k, tile, a, b, packed, c, r0, r1, 0); return; }
    int blocks = (r1 - r0 + SB_MR - 1) / SB_MR;
    size_t apFloats = (size_t)blocks * SB_MR * k;
    float *ap = sb_alloc_floats(apFloats);
    if (ap == NULL) {
        // Out of memory for the packed panels: the AVX2 path gives the same bits.
        gemm_ws_avx2(m, n, k, tile, a, b, packed, c, r0, r1, 0);
        return;
    }
    // The chunk's rows of A packed once: K-tile by K-tile, each tile's 12-row micro-panels
    // (kc steps of 12 values; rows past r1 are zeros) one after another.
    for (int k0 = 0; k0 < k; k0 += tile) {
        int kc = (k0 + tile < k ? k0 + tile : k) - k0;
        for (int blk = 0; blk < blocks; blk++) {
            float *dst = ap + (size_t)k0 * blocks * SB_MR + (size_t)blk * SB_MR * kc;
            int rows = r1 - (r0 + blk * SB_MR) < SB_MR ? r1 - (r0 + blk * SB_MR) : SB_MR;
            for (int r = 0; r < SB_MR; r++) {
                const float *src = a + (size_t)(r0 + blk * SB_MR + r) * k + k0;
                for (int kk = 0; kk < kc; kk++) dst[(size_t)kk * SB_MR + r] = r < rows ? src[kk] : 0.0f;
            }
        }
    }
    for (int q0 = 0; q0 < pairs; q0 += SB_NC / 32) {
        int q1 = q0 + SB_NC / 32 < pairs ? q0 + SB_NC / 32 : pairs;
        // K-tiles SB_KT at a time: a block of C takes those tiles back to back, so it stays in
        // L1 between them.
        for (int g0 = 0; g0 < k; g0 += SB_KT * tile) {
            int g1 = g0 + SB_KT * tile < k ? g0 + SB_KT * tile : k;
            for (int q = q0; q < q1; q++) {
                for (int blk = 0; blk < blocks; blk++) {
                    int rows = r1 - (r0 + blk * SB_MR) < SB_MR ? r1 - (r0 + blk * SB_MR) : SB_MR;
                    float *cb = c + (size_t)(r0 + blk * SB_MR) * n + q * 32;
                    for (int k0 = g0; k0 < g1; k0 += tile) {
                        int kc = (k0 + tile < k ? k0 + tile : k) - k0;
                        const float *panel0 = packed + (size_t)(2 * q) * k * 16 + (size_t)k0 * 16, *panel1 = panel0 + (size_t)k * 16;
                        tile_12x32_packed(kc, ap + (size_t)k0 * blocks * SB_MR + (size_t)blk * SB_MR * kc, panel0, panel1, cb, n, rows, k0 == 0);
                    }
                }
            }
        }
    }
    sb_free_floats(ap, apFloats);
    // The columns past the last pair of panels go through the AVX2 path, which handles tails.
    if (pairs * 32 < n) gemm_ws_avx2(m, n, k, tile, a, b, packed, c, r0, r1, pairs * 32);
}
#endif

static int wide(void) {
#if SB_X86
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached;
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
    return cached;
#else
    return 0;
#endif
}

int sb_kernels_vectorised(void) { return wide() ? 2 : vectorised(); }

size_t sb_packed_floats(int k, int n, int width) { return (size_t)(n / width) * k * width; }

void sb_pack_b(int k, int n, int width, const float *b, float *packed) {
    for (int p = 0; p < n / width; p++) {
        float *out = packed + (size_t)p * k * width;
        for (int kk = 0; kk < k; kk++) memcpy(out + (size_t)kk * width, b + (size_t)kk * n + (size_t)p * width, sizeof(float) * width);
    }
}

void sb_gemm_ws_f32(int m, int n, int k, int tile, const float *a, const float *b, const float *packed16, float *c, int r0, int r1) {
#if SB_X86
    if (wide()) { gemm_ws_avx512(m, n, k, tile, a, b, packed16, c, r0, r1); return; }
    if (vectorised()) { gemm_ws_avx2(m, n, k, tile, a, b, packed16, c, r0, r1, 0); return; }
#endif
    (void)packed16;
    gemm_ws_portable(m, n, k, tile, a, b, c, r0, r1);
}

void sb_reference_f64(int m, int n, int k, const float *a, const float *b, const float *packed8, double *v, double *s, int r0, int r1) {
#if SB_X86
    if (vectorised()) { reference_avx2(m, n, k, a, b, packed8, v, s, r0, r1); return; }
#endif
    (void)packed8;
    reference_portable(m, n, k, a, b, v, s, r0, r1);
}

/* Keys per block of the attention reference: a block of scores (rows × 256 doubles, twice) and of
 * V (256 × d floats) stay in cache while every row of the chunk uses them. */
#define SB_KEY_BLOCK 256

/* Compiled for AVX-512, AVX2 and the baseline, chosen at load time (ifunc). The products and
 * sums are separate operations (-ffp-contract=off), so every version gives the same bits. */
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

float *sb_alloc_floats(size_t count) {
    size_t bytes = (count > 0 ? count : 1) * sizeof(float);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    // Large buffers mapped on their own, marked for transparent huge pages where the kernel
    // offers them (a fresh 16 MiB buffer then costs 8 page faults instead of 4096), and unmapped
    // when freed, so a long run's peak memory is its largest case's, not a fragmented heap's.
    if (bytes >= SB_MAPPED_BYTES) {
        void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return NULL;
        madvise(p, bytes, MADV_HUGEPAGE);
        return (float *)p;
    }
#endif
    return (float *)malloc(bytes);
}

void sb_free_floats(float *p, size_t count) {
    if (p == NULL) return;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    size_t bytes = (count > 0 ? count : 1) * sizeof(float);
    if (bytes >= SB_MAPPED_BYTES) { munmap(p, bytes); return; }
#else
    (void)count;
#endif
    free(p);
}
