// Block-FMA dot products (block_fma.h; the arithmetic and its sources in docs/arithmetic.md).
// Integer arithmetic throughout: a product of two inputs of at most 24 significant bits is an
// exact 48-bit integer times a power of two, alignment is a shift, the block's sum an exact int64
// (|sum| < (block + 2)·2^(F + extra + 2) ≤ 2^57 for the limits the loader enforces), and the one
// rounding per block is done on that integer. No floating-point operation rounds anything except
// the fp32 addition of a promotion, which is the declared one.
#pragma STDC FP_CONTRACT OFF

#include "block_fma.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

void sb_bfma_decode(size_t count, const float *x, int flush, float min_normal, sb_bfma_input *out) {
    for (size_t i = 0; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], 4);
        sb_bfma_input d = {0, 0, 0, (uint8_t)(bits >> 31), 0};
        uint32_t field = (bits >> 23) & 0xFF, fraction = bits & 0x7FFFFF;
        if (field == 0xFF) {
            d.special = 1;
        } else if (field == 0 && fraction == 0) {
            // zero: sig 0
        } else if (flush && fabsf(x[i]) < min_normal) {
            // a subnormal of the input type read as zero
        } else if (field == 0) {
            d.sig = fraction;
            d.lsb = -149;
            d.e = (int16_t)(31 - __builtin_clz(fraction) - 149);
        } else {
            d.sig = fraction | 0x800000;
            d.lsb = (int16_t)((int)field - 150);
            d.e = (int16_t)((int)field - 127);
        }
        out[i] = d;
    }
}

// |v|·2^shift truncated toward zero, as an integer (shift may be negative).
static inline int64_t shifted(uint64_t v, int shift) {
    if (shift >= 0) return (int64_t)(v << shift);
    if (shift <= -64) return 0;
    return (int64_t)(v >> -shift);
}

// An accumulator value (finite, nonzero) as an integer significand and the exponent of its last bit.
static inline void split(double v, uint64_t *sig, int *lsb, int *e) {
    int ex;
    double f = frexp(fabs(v), &ex);   // f in [0.5, 1): exact
    *sig = (uint64_t)ldexp(f, 53);     // 53 bits, exact
    *lsb = ex - 53;
    *e = ex - 1;
}

// Rounds the exact value mag·2^q (mag > 0) to the engine's accumulator format.
static double round_block(const sb_block_fma *e, uint64_t mag, int q, int negative) {
    int top = 63 - __builtin_clzll(mag);
    int ev = top + q;
    int quantum = (ev > e->emin ? ev : e->emin) - e->frac_bits;
    double r;
    if (quantum <= q) {
        r = ldexp((double)mag, q);   // here mag < 2^(F + 1): exact
    } else {
        int sh = quantum - q;
        uint64_t t = sh >= 64 ? 0 : mag >> sh;
        if (e->nearest && sh <= 64) {
            uint64_t rem = sh == 64 ? mag : mag & ((1ull << sh) - 1);
            uint64_t half = 1ull << (sh - 1);
            if (rem > half || (rem == half && (t & 1))) t++;
        }
        r = ldexp((double)t, quantum);
    }
    if (r >= ldexp(1.0, e->emax + 1)) r = INFINITY;
    if (e->flush_outputs && r < ldexp(1.0, e->emin)) r = 0.0;
    return negative ? -r : r;
}

// One block: the terms t0 (and t1 when `two`), finite accumulator values, plus the products
// k0 ..< k1, aligned, truncated, summed and rounded once.
static double block_sum(const sb_block_fma *e, double t0, int two, double t1, const sb_bfma_input *a,
                        const sb_bfma_input *b, const float *af, const float *bf, int k0, int k1) {
    int special = isnan(t0) || isinf(t0) || (two && (isnan(t1) || isinf(t1)));
    for (int k = k0; k < k1 && !special; k++) special = a[k].special | b[k].special;
    if (special) {
        // NaN and infinities propagate as IEEE arithmetic says (inf − inf and 0·inf are NaN).
        double r = t0 + (two ? t1 : 0.0);
        for (int k = k0; k < k1; k++) r += (double)af[k] * (double)bf[k];
        return r;
    }
    int emax = -100000;
    int negativeZeros = signbit(t0) && (!two || signbit(t1));
    if (t0 != 0) { int x; frexp(t0, &x); if (x - 1 > emax) emax = x - 1; }
    if (two && t1 != 0) { int x; frexp(t1, &x); if (x - 1 > emax) emax = x - 1; }
    for (int k = k0; k < k1; k++) {
        if (a[k].sig && b[k].sig) {
            int ep = a[k].e + b[k].e;
            if (ep > emax) emax = ep;
        } else if (!(a[k].negative ^ b[k].negative)) {
            negativeZeros = 0;
        }
    }
    if (emax == -100000) return negativeZeros ? -0.0 : 0.0;
    int q = emax - e->frac_bits - e->extra_bits;
    int64_t total = 0;
    double terms[2] = {t0, t1};
    for (int i = 0; i < 1 + two; i++) {
        if (terms[i] == 0) continue;
        uint64_t sig; int lsb, ex;
        split(terms[i], &sig, &lsb, &ex);
        int64_t v = shifted(sig, lsb - q);
        total += signbit(terms[i]) ? -v : v;
    }
    for (int k = k0; k < k1; k++) {
        if (!a[k].sig || !b[k].sig) continue;
        uint64_t p = (uint64_t)a[k].sig * b[k].sig;
        int lsb = a[k].lsb + b[k].lsb;
        if (e->round_products) {
            // A product rounded to the accumulator's F + 1 significant bits, nearest-even.
            int top = 63 - __builtin_clzll(p);
            if (top > e->frac_bits) {
                int sh = top - e->frac_bits;
                uint64_t t = p >> sh, rem = p & ((1ull << sh) - 1), half = 1ull << (sh - 1);
                if (rem > half || (rem == half && (t & 1))) t++;
                p = t;
                lsb += sh;
            }
        }
        int64_t v = shifted(p, lsb - q);
        total += (a[k].negative ^ b[k].negative) ? -v : v;
    }
    if (total == 0) return 0.0;
    return round_block(e, total < 0 ? (uint64_t)(-total) : (uint64_t)total, q, total < 0);
}

float sb_bfma_dot(const sb_block_fma *e, int k, const sb_bfma_input *a, const sb_bfma_input *b,
                  const float *af, const float *bf, float c) {
    int n = e->block > 0 ? e->block : 1;
    // C is an input: a flushing engine reads a subnormal C as zero.
    if (e->flush_inputs && fabsf(c) < 0x1p-126f) c = signbit(c) ? -0.0f : 0.0f;
    if (e->promote_every > 0) {
        // Partial sums of `promote_every` products in the engine's accumulator, each added to an
        // fp32 accumulator that starts at C (or at +0 with C added last).
        float outer = e->c_last ? 0.0f : c;
        for (int p0 = 0; p0 < k; p0 += e->promote_every) {
            int p1 = p0 + e->promote_every < k ? p0 + e->promote_every : k;
            double partial = 0.0;
            for (int k0 = p0; k0 < p1; k0 += n) {
                int k1 = k0 + n < p1 ? k0 + n : p1;
                partial = block_sum(e, partial, 0, 0.0, a, b, af, bf, k0, k1);
            }
            outer = outer + (float)partial;
        }
        return e->c_last ? outer + c : outer;
    }
    double acc = e->c_last ? 0.0 : (double)c;
    for (int k0 = 0; k0 < k; k0 += n) {
        int k1 = k0 + n < k ? k0 + n : k;
        acc = block_sum(e, acc, 0, 0.0, a, b, af, bf, k0, k1);
    }
    if (e->c_last) acc = block_sum(e, acc, 1, (double)c, a, b, af, bf, 0, 0);
    return (float)acc;
}

void sb_bfma_gemm(const sb_block_fma *e, int m, int n, int k, const sb_bfma_input *a, const float *af,
                  const sb_bfma_input *bt, const float *btf, const float *c, float *out, int row_begin, int row_end) {
    (void)m;
    for (int i = row_begin; i < row_end; i++) {
        for (int j = 0; j < n; j++) {
            size_t ai = (size_t)i * k, bi = (size_t)j * k, ci = (size_t)i * n + j;
            out[ci] = sb_bfma_dot(e, k, a + ai, bt + bi, af + ai, btf + bi, c ? c[ci] : 0.0f);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The fast path: the same arithmetic, laid out for the vector units. Every nonzero input is
// normalised to a 24-bit significand (msb at bit 23, subnormals shifted up, their exponent kept),
// so every product's significand has its leading bit at 46 or 47 and its alignment exponent
// e_a + e_b names bit 46; the accumulator is kept the same way. A term's aligned value is then
// always a right shift, sig >> (46 − F − x + e_max − e), which the loops below do for a whole
// block at once (AVX-512 or AVX2 where the CPU has them: target_clones). Bits equal to the
// generic path's on every input (BlockFMATests compares them).

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define SB_BFMA_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SB_BFMA_CLONES
#endif

#define SB_ZERO_EXPONENT (-100000)

void sb_bfma_decode_fast(size_t count, const float *x, int flush, float min_normal, uint32_t *sig, int32_t *e, uint32_t *negative,
                         uint8_t *special) {
    for (size_t i = 0; i < count; i++) {
        sb_bfma_input d;
        sb_bfma_decode(1, &x[i], flush, min_normal, &d);
        negative[i] = d.negative;
        special[i] = d.special;
        if (d.special || d.sig == 0) {
            sig[i] = 0;
            e[i] = SB_ZERO_EXPONENT;
        } else {
            int msb = 31 - __builtin_clz(d.sig);
            sig[i] = d.sig << (23 - msb);
            e[i] = d.e;
        }
    }
}

// The accumulator: |value| = sig·2^(e − 46) with sig's leading bit at 46 (sig 0 for zero).
typedef struct { uint64_t sig; int e; int negative; } acc46;

// Rounds mag·2^q (mag > 0) into the accumulator format; returns 0 on overflow (the result is ±∞).
static inline int round_into(const sb_block_fma *p, uint64_t mag, int q, int negative, acc46 *out) {
    int top = 63 - __builtin_clzll(mag);
    int ev = top + q;
    int quantum = (ev > p->emin ? ev : p->emin) - p->frac_bits;
    uint64_t t;
    int qe;
    if (quantum <= q) {
        t = mag;
        qe = q;
    } else {
        int sh = quantum - q;
        t = sh >= 64 ? 0 : mag >> sh;
        if (p->nearest && sh <= 64) {
            uint64_t rem = sh == 64 ? mag : mag & ((1ull << sh) - 1);
            uint64_t half = 1ull << (sh - 1);
            if (rem > half || (rem == half && (t & 1))) t++;
        }
        qe = quantum;
    }
    out->negative = negative;
    if (t == 0) { out->sig = 0; out->e = SB_ZERO_EXPONENT; return 1; }
    int msb = 63 - __builtin_clzll(t);
    if (msb + qe > p->emax) return 0;
    if (p->flush_outputs && msb + qe < p->emin) { out->sig = 0; out->e = SB_ZERO_EXPONENT; return 1; }
    out->sig = t << (46 - msb);
    out->e = msb + qe;
    return 1;
}

// One dot product on the fast path (no NaN or infinity in the row or column, exact products,
// C first, F + x ≤ 46). Returns the result as a float.
SB_BFMA_CLONES
static float dot_fast(const sb_block_fma *p, int k, const uint32_t *sa, const int32_t *ea, const uint32_t *na,
                      const uint32_t *sb, const int32_t *eb, const uint32_t *nb, float c) {
    const int n = p->block > 0 ? p->block : 1;
    const int s0 = 46 - p->frac_bits - p->extra_bits;
    const int chunk = p->promote_every > 0 ? p->promote_every : k;
    // C is an input: a flushing engine reads a subnormal C as zero.
    if (p->flush_inputs && fabsf(c) < 0x1p-126f) c = signbit(c) ? -0.0f : 0.0f;
    float outer = c;
    acc46 acc = {0, SB_ZERO_EXPONENT, 0};
    if (p->promote_every <= 0) {
        // C is the accumulator's first value.
        float cf = c;
        uint32_t bits;
        memcpy(&bits, &cf, 4);
        acc.negative = bits >> 31;
        if (cf != 0.0f) {
            sb_bfma_input d;
            sb_bfma_decode(1, &cf, 0, 0.0f, &d);
            int msb = 31 - __builtin_clz(d.sig);
            acc.sig = (uint64_t)d.sig << (46 - msb);
            acc.e = d.e;
        }
    }
    int32_t ep[64];
    int overflowed = 0;
    for (int p0 = 0; p0 < k; p0 += chunk) {
        int p1 = p0 + chunk < k ? p0 + chunk : k;
        if (p->promote_every > 0) { acc.sig = 0; acc.e = SB_ZERO_EXPONENT; acc.negative = 0; }
        for (int k0 = p0; k0 < p1; k0 += n) {
            int m = k0 + n < p1 ? n : p1 - k0;
            int emax = acc.e;
            for (int i = 0; i < m; i++) {
                int32_t v = ea[k0 + i] + eb[k0 + i];
                // A zero factor makes a zero product whatever the other's exponent.
                v = (sa[k0 + i] == 0 || sb[k0 + i] == 0) ? SB_ZERO_EXPONENT : v;
                ep[i] = v;
                emax = v > emax ? v : emax;
            }
            if (emax <= SB_ZERO_EXPONENT / 2) {
                // Every term is zero: −0 only when the accumulator and every product are −0.
                int negative = acc.negative;
                for (int i = 0; i < m; i++) negative &= (int)(na[k0 + i] ^ nb[k0 + i]);
                acc.sig = 0; acc.e = SB_ZERO_EXPONENT; acc.negative = negative;
                continue;
            }
            int64_t total = 0;
            if (acc.sig) {
                int sh = s0 + emax - acc.e;
                int64_t v = sh >= 64 ? 0 : (int64_t)(acc.sig >> sh);
                total += acc.negative ? -v : v;
            }
            for (int i = 0; i < m; i++) {
                uint64_t prod = (uint64_t)sa[k0 + i] * sb[k0 + i];
                int sh = s0 + emax - ep[i];
                sh = sh > 63 ? 63 : sh;
                int64_t v = (int64_t)(prod >> sh);
                int64_t mask = -(int64_t)(na[k0 + i] ^ nb[k0 + i]);
                total += (v ^ mask) - mask;
            }
            int q = emax - p->frac_bits - p->extra_bits;
            if (total == 0) { acc.sig = 0; acc.e = SB_ZERO_EXPONENT; acc.negative = 0; continue; }
            if (!round_into(p, total < 0 ? (uint64_t)(-total) : (uint64_t)total, q, total < 0, &acc)) {
                float inf = total < 0 ? -INFINITY : INFINITY;
                if (p->promote_every <= 0) return inf;   // ∞ plus finite products stays ∞
                outer = outer + inf;                     // this chunk's partial is ±∞
                acc.sig = 0; acc.e = SB_ZERO_EXPONENT; acc.negative = 0;
                k0 = p1;                                 // the rest of the chunk adds nothing to ±∞
                overflowed = 1;
                break;
            }
        }
        if (overflowed) { overflowed = 0; continue; }
        if (p->promote_every > 0) {
            float partial = acc.sig ? (float)ldexp((double)acc.sig, acc.e - 46) : 0.0f;
            outer = outer + (acc.negative ? -partial : partial);
        }
    }
    if (p->promote_every > 0) return outer;
    float r = acc.sig ? (float)ldexp((double)acc.sig, acc.e - 46) : 0.0f;
    return acc.negative ? -r : r;
}


// ---------------------------------------------------------------------------------------------
// The AVX-512 path: eight outputs of one row at once, one 64-bit lane each. Each lane runs
// exactly dot_fast's steps (the block's largest exponent, the aligned and truncated terms summed
// as an exact integer, the one rounding into the accumulator), so the bits are dot_fast's; a lane
// whose row or column holds a NaN or an infinity, or whose accumulator overflows, is computed
// again by the scalar paths. B is repacked per panel of eight columns, k-major, so a block's terms
// for the eight lanes are one load each.

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#include "systolic_platform.h"
#define SB_BFMA_AVX512 __attribute__((target("avx512f,avx512cd,avx512dq")))

static int bfma_wide(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq");
    }
    return cached && sb_kernels_vectorised() >= 2;
}

// A panel of eight columns of B, k-major: significands and exponents of column j0 + l at [k·8 + l],
// and the columns' sign bits at k as one byte (bit l).
typedef struct { uint32_t *sig; int32_t *e; uint8_t *negative; } bfma_panel;

static void pack_panel(const sb_bfma_fast_operand *bt, int k, int j0, int width, bfma_panel *p) {
    for (int kk = 0; kk < k; kk++) {
        uint8_t bits = 0;
        for (int l = 0; l < 8; l++) {
            size_t src = (size_t)(j0 + (l < width ? l : 0)) * k + kk;
            p->sig[(size_t)kk * 8 + l] = l < width ? bt->sig[src] : 0;
            p->e[(size_t)kk * 8 + l] = l < width ? bt->e[src] : SB_ZERO_EXPONENT;
            bits |= (uint8_t)((l < width ? bt->negative[src] & 1 : 0) << l);
        }
        p->negative[kk] = bits;
    }
}

// The accumulator of eight lanes (dot_fast's acc46 per lane).
typedef struct { __m512i sig, e; __mmask8 negative; } acc46x8;

// dot_fast's round_into for eight lanes: `total` the block sums (nonzero where `live`), q their
// last place. Lanes that overflow are returned (the caller recomputes them).
SB_BFMA_AVX512 static __mmask8 round_into_x8(const sb_block_fma *p, __m512i total, __m512i q, __mmask8 live, acc46x8 *acc) {
    const __m512i one = _mm512_set1_epi64(1), zeroExp = _mm512_set1_epi64(SB_ZERO_EXPONENT);
    __mmask8 negative = _mm512_cmplt_epi64_mask(total, _mm512_setzero_si512());
    __m512i mag = _mm512_abs_epi64(total);
    __mmask8 zero = _mm512_cmpeq_epi64_mask(mag, _mm512_setzero_si512());
    __m512i top = _mm512_sub_epi64(_mm512_set1_epi64(63), _mm512_lzcnt_epi64(mag));
    __m512i ev = _mm512_add_epi64(top, q);
    __m512i quantum = _mm512_sub_epi64(_mm512_max_epi64(ev, _mm512_set1_epi64(p->emin)), _mm512_set1_epi64(p->frac_bits));
    __m512i sh = _mm512_sub_epi64(quantum, q);
    __mmask8 shifts = _mm512_cmpgt_epi64_mask(sh, _mm512_setzero_si512());
    // Counts of 64 or more shift everything out (vpsrlvq gives 0), as the scalar code's t = 0.
    __m512i t = _mm512_mask_srlv_epi64(mag, shifts, mag, sh);
    if (p->nearest) {
        __m512i below = _mm512_sub_epi64(_mm512_sllv_epi64(one, sh), one);   // 2^sh − 1 (all ones from 64 on)
        __m512i rem = _mm512_and_si512(mag, below);
        __m512i half = _mm512_sllv_epi64(one, _mm512_sub_epi64(sh, one));
        __mmask8 up = _mm512_cmpgt_epu64_mask(rem, half) |
                      (_mm512_cmpeq_epi64_mask(rem, half) & _mm512_test_epi64_mask(t, one));
        up &= shifts & _mm512_cmple_epi64_mask(sh, _mm512_set1_epi64(64));
        t = _mm512_mask_add_epi64(t, up, t, one);
    }
    __m512i qe = _mm512_mask_blend_epi64(shifts, q, quantum);
    __mmask8 tzero = _mm512_cmpeq_epi64_mask(t, _mm512_setzero_si512());
    __m512i msb = _mm512_sub_epi64(_mm512_set1_epi64(63), _mm512_lzcnt_epi64(t));
    __m512i ex = _mm512_add_epi64(msb, qe);
    __mmask8 overflow = live & ~zero & ~tzero & _mm512_cmpgt_epi64_mask(ex, _mm512_set1_epi64(p->emax));
    __mmask8 flushed = p->flush_outputs ? _mm512_cmplt_epi64_mask(ex, _mm512_set1_epi64(p->emin)) : 0;
    __m512i sig = _mm512_sllv_epi64(t, _mm512_sub_epi64(_mm512_set1_epi64(46), msb));
    __mmask8 toZero = tzero | flushed;
    sig = _mm512_mask_mov_epi64(sig, toZero, _mm512_setzero_si512());
    ex = _mm512_mask_mov_epi64(ex, toZero, zeroExp);
    // A zero block sum is +0; a sum that rounds or flushes to zero keeps its sign (as round_into).
    __mmask8 sign = negative & ~zero;
    __mmask8 write = live & ~overflow;
    acc->sig = _mm512_mask_mov_epi64(acc->sig, write, _mm512_mask_mov_epi64(sig, zero, _mm512_setzero_si512()));
    acc->e = _mm512_mask_mov_epi64(acc->e, write, _mm512_mask_mov_epi64(ex, zero, zeroExp));
    acc->negative = (acc->negative & ~write) | (sign & write);
    return overflow;
}

// Products rounded to F + 1 significant bits, nearest-even (block_sum's round_products): the
// significands are normalised, so a nonzero product's leading bit is at 46 or 47 and always
// more than F + 1 bits long; the rounded value keeps its place (low bits zero).
SB_BFMA_AVX512 static inline __m512i round_products_x8(__m512i prod, int frac_bits) {
    const __m512i one = _mm512_set1_epi64(1);
    __m512i sh = _mm512_sub_epi64(_mm512_sub_epi64(_mm512_set1_epi64(63), _mm512_lzcnt_epi64(prod)), _mm512_set1_epi64(frac_bits));
    __m512i t = _mm512_srlv_epi64(prod, sh);
    __m512i rem = _mm512_and_si512(prod, _mm512_sub_epi64(_mm512_sllv_epi64(one, sh), one));
    __m512i half = _mm512_sllv_epi64(one, _mm512_sub_epi64(sh, one));
    __mmask8 up = _mm512_cmpgt_epu64_mask(rem, half) | (_mm512_cmpeq_epi64_mask(rem, half) & _mm512_test_epi64_mask(t, one));
    t = _mm512_mask_add_epi64(t, up, t, one);
    // A zero product (shift count negative, so huge) stays zero.
    return _mm512_sllv_epi64(t, sh);
}

static float acc_value(uint64_t sig, int e, int negative) {
    float r = sig ? (float)ldexp((double)sig, e - 46) : 0.0f;
    return negative ? -r : r;
}

// Eight outputs (columns j0 … j0 + 7 of row i) on the fast path's terms; returns the lanes to
// recompute (overflowed). `c` holds the lanes' C values.
SB_BFMA_AVX512 static __mmask8 dot_fast_x8(const sb_block_fma *p, int k, const uint32_t *sa, const int32_t *ea, const uint32_t *na,
                                           const bfma_panel *b, const float c[8], float out[8]) {
    const int n = p->block > 0 ? p->block : 1;
    const int chunk = p->promote_every > 0 ? p->promote_every : k;
    const __m512i s0 = _mm512_set1_epi64(46 - p->frac_bits - p->extra_bits);
    const __m512i fx = _mm512_set1_epi64(p->frac_bits + p->extra_bits);
    const __m512i zeroExp = _mm512_set1_epi64(SB_ZERO_EXPONENT), half = _mm512_set1_epi64(SB_ZERO_EXPONENT / 2);
    float outer[8];
    acc46x8 acc = {_mm512_setzero_si512(), zeroExp, 0}, cTerm;
    __mmask8 overflowed = 0;
    {
        uint64_t sig[8];
        int64_t ex[8];
        __mmask8 negative = 0;
        for (int l = 0; l < 8; l++) {
            float cv = c[l];
            // C is an input: a flushing engine reads a subnormal C as zero.
            if (p->flush_inputs && fabsf(cv) < 0x1p-126f) cv = signbit(cv) ? -0.0f : 0.0f;
            // With C last, the accumulator starts at +0 (and so does the fp32 one of a promotion).
            outer[l] = p->c_last ? 0.0f : cv;
            sig[l] = 0;
            ex[l] = SB_ZERO_EXPONENT;
            if (signbit(cv)) negative |= (__mmask8)(1u << l);
            if (cv != 0.0f) {
                sb_bfma_input d;
                sb_bfma_decode(1, &cv, 0, 0.0f, &d);
                int msb = 31 - __builtin_clz(d.sig);
                sig[l] = (uint64_t)d.sig << (46 - msb);
                ex[l] = d.e;
            }
        }
        cTerm.sig = _mm512_loadu_si512(sig);
        cTerm.e = _mm512_loadu_si512(ex);
        cTerm.negative = negative;
        if (p->promote_every <= 0 && !p->c_last) acc = cTerm;
    }
    for (int p0 = 0; p0 < k; p0 += chunk) {
        int p1 = p0 + chunk < k ? p0 + chunk : k;
        if (p->promote_every > 0) { acc.sig = _mm512_setzero_si512(); acc.e = zeroExp; acc.negative = 0; }
        __mmask8 live = (__mmask8)~overflowed;
        for (int k0 = p0; k0 < p1; k0 += n) {
            int m = k0 + n < p1 ? n : p1 - k0;
            __m512i emax = acc.e, ep[64];
            for (int t = 0; t < m; t++) {
                __m512i eb = _mm512_cvtepi32_epi64(_mm256_loadu_si256((const __m256i *)(b->e + (size_t)(k0 + t) * 8)));
                ep[t] = _mm512_add_epi64(eb, _mm512_set1_epi64(ea[k0 + t]));
                emax = _mm512_max_epi64(emax, ep[t]);
            }
            __mmask8 allZero = _mm512_cmple_epi64_mask(emax, half);
            const __m512i top = _mm512_add_epi64(s0, emax);   // a term of exponent e shifts right by top − e
            __m512i total = _mm512_srlv_epi64(acc.sig, _mm512_sub_epi64(top, acc.e));
            total = _mm512_mask_sub_epi64(total, acc.negative, _mm512_setzero_si512(), total);
            __mmask8 productsNegative = 0xFF;
            for (int t = 0; t < m; t++) {
                size_t kk = (size_t)(k0 + t);
                __m512i sh = _mm512_sub_epi64(top, ep[t]);
                __m512i sb = _mm512_cvtepu32_epi64(_mm256_loadu_si256((const __m256i *)(b->sig + kk * 8)));
                __m512i prod = _mm512_mul_epu32(_mm512_set1_epi64(sa[kk]), sb);
                if (p->round_products) prod = round_products_x8(prod, p->frac_bits);
                __m512i v = _mm512_srlv_epi64(prod, sh);
                __mmask8 negative = (__mmask8)(b->negative[kk] ^ (na[kk] ? 0xFF : 0));
                productsNegative &= negative;
                total = _mm512_mask_sub_epi64(_mm512_add_epi64(total, v), negative, total, v);
            }
            // Every term zero: −0 only when the accumulator and every product are −0.
            __mmask8 zeroSign = acc.negative & productsNegative;
            __mmask8 blockLive = live & ~allZero;
            __m512i q = _mm512_sub_epi64(emax, fx);
            __mmask8 over = round_into_x8(p, total, q, blockLive, &acc);
            if (allZero & live) {
                __mmask8 z = allZero & live;
                acc.sig = _mm512_mask_mov_epi64(acc.sig, z, _mm512_setzero_si512());
                acc.e = _mm512_mask_mov_epi64(acc.e, z, zeroExp);
                acc.negative = (acc.negative & ~z) | (zeroSign & z);
            }
            overflowed |= over;
            live &= ~over;
        }
        if (p->promote_every > 0) {
            // The partial sums join the fp32 accumulators: sig·2^(e − 46) is exact in fp64 (47
            // bits) and in fp32 (at most F + 1 ≤ 24 significant bits, inside fp32's range), so
            // the one rounding is the fp32 addition, as acc_value and `outer + partial` do.
            __m512d v = _mm512_scalef_pd(_mm512_cvtepu64_pd(acc.sig), _mm512_cvtepi64_pd(_mm512_sub_epi64(acc.e, _mm512_set1_epi64(46))));
            __m512i bits = _mm512_mask_xor_epi64(_mm512_castpd_si512(v), acc.negative, _mm512_castpd_si512(v),
                                                 _mm512_set1_epi64((long long)0x8000000000000000ull));
            __m256 partial = _mm512_cvtpd_ps(_mm512_castsi512_pd(bits));
            _mm256_storeu_ps(outer, _mm256_add_ps(_mm256_loadu_ps(outer), partial));
        }
    }
    if (p->c_last && p->promote_every <= 0) {
        // C joins last, in a block of its own with the accumulator (block_sum with no products).
        __m512i emax = _mm512_max_epi64(acc.e, cTerm.e);
        __mmask8 allZero = _mm512_cmple_epi64_mask(emax, half), live = (__mmask8)~overflowed;
        const __m512i top = _mm512_add_epi64(s0, emax);
        __m512i va = _mm512_srlv_epi64(acc.sig, _mm512_sub_epi64(top, acc.e));
        __m512i vc = _mm512_srlv_epi64(cTerm.sig, _mm512_sub_epi64(top, cTerm.e));
        __m512i total = _mm512_mask_sub_epi64(va, acc.negative, _mm512_setzero_si512(), va);
        total = _mm512_mask_sub_epi64(_mm512_add_epi64(total, vc), cTerm.negative, total, vc);
        __mmask8 zeroSign = acc.negative & cTerm.negative;
        overflowed |= round_into_x8(p, total, _mm512_sub_epi64(emax, fx), live & ~allZero, &acc);
        __mmask8 z = allZero & live;
        acc.sig = _mm512_mask_mov_epi64(acc.sig, z, _mm512_setzero_si512());
        acc.e = _mm512_mask_mov_epi64(acc.e, z, zeroExp);
        acc.negative = (acc.negative & ~z) | (zeroSign & z);
    }
    if (p->promote_every <= 0) {
        uint64_t sig[8];
        int64_t ex[8];
        _mm512_storeu_si512(sig, acc.sig);
        _mm512_storeu_si512(ex, acc.e);
        for (int l = 0; l < 8; l++) out[l] = acc_value(sig[l], (int)ex[l], (acc.negative >> l) & 1);
    } else {
        // With C last, one fp32 addition after the promoted partial sums (sb_bfma_dot's).
        for (int l = 0; l < 8; l++) {
            float cv = c[l];
            if (p->flush_inputs && fabsf(cv) < 0x1p-126f) cv = signbit(cv) ? -0.0f : 0.0f;
            out[l] = p->c_last ? outer[l] + cv : outer[l];
        }
    }
    return overflowed;
}
#endif

// dot_fast's own limits (the vector path has only the window's and the block's).
static int scalar_fast_applies(const sb_block_fma *e) {
    return !e->round_products && !e->c_last && e->frac_bits + e->extra_bits <= 46 && e->block <= 64;
}

int sb_bfma_fast_applies(const sb_block_fma *e) {
#ifdef SB_BFMA_AVX512
    if (bfma_wide() && e->frac_bits + e->extra_bits <= 46 && e->block <= 64) return 1;
#endif
    return scalar_fast_applies(e);
}

static float dot_scalar(const sb_block_fma *e, int k, const sb_bfma_fast_operand *a, const sb_bfma_fast_operand *bt,
                        const sb_bfma_input *ag, const float *af, const sb_bfma_input *btg, const float *btf, float cv, int i, int j) {
    size_t ai = (size_t)i * k, bi = (size_t)j * k;
    if (a->row_special[i] || bt->row_special[j] || !scalar_fast_applies(e)) return sb_bfma_dot(e, k, ag + ai, btg + bi, af + ai, btf + bi, cv);
    return dot_fast(e, k, a->sig + ai, a->e + ai, a->negative + ai, bt->sig + bi, bt->e + bi, bt->negative + bi, cv);
}

void sb_bfma_gemm_fast(const sb_block_fma *e, int n, int k, const sb_bfma_fast_operand *a, const sb_bfma_fast_operand *bt,
                       const sb_bfma_input *ag, const float *af, const sb_bfma_input *btg, const float *btf,
                       const float *c, float *out, int row_begin, int row_end) {
#ifdef SB_BFMA_AVX512
    // Packing a panel costs about what one row's eight outputs do: worth it from a few rows on.
    if (bfma_wide() && row_end - row_begin >= 4 && k > 0) {
        uint32_t *psig = malloc((size_t)k * 8 * sizeof(uint32_t));
        int32_t *pe = malloc((size_t)k * 8 * sizeof(int32_t));
        uint8_t *pneg = malloc((size_t)k);
        if (psig && pe && pneg) {
            bfma_panel panel = {psig, pe, pneg};
            for (int j0 = 0; j0 < n; j0 += 8) {
                int width = n - j0 < 8 ? n - j0 : 8;
                pack_panel(bt, k, j0, width, &panel);
                for (int i = row_begin; i < row_end; i++) {
                    float cv[8] = {0}, o[8];
                    for (int l = 0; l < width; l++) cv[l] = c ? c[(size_t)i * n + j0 + l] : 0.0f;
                    __mmask8 redo = 0;
                    if (a->row_special[i]) {
                        redo = 0xFF;
                    } else {
                        size_t ai = (size_t)i * k;
                        redo = dot_fast_x8(e, k, a->sig + ai, a->e + ai, a->negative + ai, &panel, cv, o);
                    }
                    for (int l = 0; l < width; l++) {
                        int j = j0 + l;
                        out[(size_t)i * n + j] = ((redo >> l) & 1) || bt->row_special[j]
                            ? dot_scalar(e, k, a, bt, ag, af, btg, btf, cv[l], i, j) : o[l];
                    }
                }
            }
            free(psig); free(pe); free(pneg);
            return;
        }
        free(psig); free(pe); free(pneg);
    }
#endif
    for (int i = row_begin; i < row_end; i++) {
        for (int j = 0; j < n; j++) {
            out[(size_t)i * n + j] = dot_scalar(e, k, a, bt, ag, af, btg, btf, c ? c[(size_t)i * n + j] : 0.0f, i, j);
        }
    }
}
