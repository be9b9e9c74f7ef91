/*
 * An example SystolicBench adapter on the C SDK, speaking protocol 2: a straightforward CPU GEMM
 * that declares its arithmetic honestly (fp32 accumulator, fp32/fp16/bf16/fp8/int8 inputs,
 * subnormals preserved), sums in the weight-stationary order of a 128-row array (two 8-bit
 * products per PE per cycle), and implements every GEMM feature of protocol 2 with a plain loop
 * (bias, activations, per-tensor and block scales, int8 requantisation in both schemes, leading
 * dimensions, grouped GEMMs, MX and NVFP4 operands, quantising an MX or NVFP4 A itself, int4 weights), so its GEMM outputs are the
 * reference emulator's bit for bit;
 * attention flash-style in fp32 as the reference device computes it (its exp, K-tiles and P
 * rounding), and collectives over ranks simulated in one process by the reference device's
 * algorithms: every output the emulator's, bit for bit, which shows that the protocol carries every
 * case whole. A vendor replaces the callbacks with calls into their driver. `--protocol 1` makes it
 * a version-1 adapter.
 *
 *   cc -O2 -o example-adapter main.c ../SystolicAdapterSDK/sbsdk.c -I../SystolicAdapterSDK/include \
 *      $(pkg-config --cflags --libs json-c) -lm
 */
#include "sbsdk.h"

/* Every multiply and add rounded on its own, as the reference device rounds them. */
#pragma STDC FP_CONTRACT OFF

#include <math.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define TILE 128

static const char *device_json =
    "{\"name\": \"example-c-cpu\", \"vendor\": \"SystolicBench example\", \"product\": \"C CPU adapter on the SDK\","
    " \"driver_version\": \"1.0.0\", \"kind\": \"hardware\","
    " \"arithmetic\": {\"accumulator\": \"fp32\", \"subnormals\": \"preserve\", \"overflow_modes\": [\"saturate\", \"ieee\"],"
    "  \"input_types\": [\"fp32\", \"fp16\", \"bf16\", \"fp8_e4m3\", \"fp8_e5m2\", \"int8\", \"int32\", \"fp6_e2m3\", \"fp6_e3m2\", \"fp4_e2m1\", \"int4\", \"uint4\"],"
    "  \"exp_ulps\": 1, \"scale_rounding\": {\"mx\": \"floor\", \"nvfp4\": \"nearest\"},"
    "  \"input_types_by_op\": {\"gemm\": [\"fp32\", \"fp16\", \"bf16\", \"fp8_e4m3\", \"fp8_e5m2\", \"int8\", \"fp6_e2m3\", \"fp6_e3m2\", \"fp4_e2m1\", \"int4\", \"uint4\"],"
    "   \"attention\": [\"fp32\", \"fp16\", \"bf16\", \"fp8_e4m3\", \"fp8_e5m2\"],"
    "   \"collective\": [\"fp32\", \"fp16\", \"bf16\", \"int8\", \"int32\"]}},"
    " \"ops\": [\"gemm\", \"attention\", \"collective\"], \"array\": {\"rows\": 128, \"cols\": 128, \"dataflow\": \"weight_stationary\", \"clock_hz\": 1e9},"
    " \"peak_ops_per_second\": {\"fp32\": 1e10, \"fp16\": 1e10, \"bf16\": 1e10, \"fp8_e4m3\": 1e10, \"fp8_e5m2\": 1e10, \"int8\": 1e10}}";

/* The floating-point types this example implements (fp6 and fp4 as GEMM inputs only). */
static int is_float(sb_type t) { return t == SB_FP32 || t == SB_BF16 || t == SB_FP16 || t == SB_FP8_E4M3 || t == SB_FP8_E5M2; }
static int is_narrow(sb_type t) { return t == SB_FP6_E2M3 || t == SB_FP6_E3M2 || t == SB_FP4_E2M1; }

/* The OCP 8-bit formats (OCP Microscaling Formats (MX) v1.0, 5.3): E4M3 (bias 7, no infinity,
 * S.1111.111 is NaN, largest 448) and E5M2 (bias 15, IEEE-like infinities and NaNs, largest 57344). */
typedef struct { int exponent_bits, mantissa_bits, has_infinity; } fp8_format;
static const fp8_format E4M3 = {4, 3, 0}, E5M2 = {5, 2, 1};

static float fp8_decode(uint8_t bits, fp8_format f) {
    int bias = (1 << (f.exponent_bits - 1)) - 1, emask = (1 << f.exponent_bits) - 1, mmask = (1 << f.mantissa_bits) - 1;
    int e = (bits >> f.mantissa_bits) & emask, m = bits & mmask;
    float magnitude;
    if (f.has_infinity && e == emask) magnitude = m ? NAN : INFINITY;
    else if (!f.has_infinity && e == emask && m == mmask) magnitude = NAN;
    else if (e == 0) magnitude = ldexpf((float)m, 1 - bias - f.mantissa_bits);
    else magnitude = ldexpf((float)(m | (1 << f.mantissa_bits)), e - bias - f.mantissa_bits);
    return bits & 0x80 ? -magnitude : magnitude;
}

/* The code, sign aside, of a positive finite magnitude rounded once to nearest-even in a binary
 * format of these widths (bias 2^(e−1) − 1, subnormals below), and the rounded value in *rounded;
 * the caller decides what a value beyond the format's largest becomes. */
static uint8_t magnitude_code(double a, int exponent_bits, int mantissa_bits, double *rounded) {
    int bias = (1 << (exponent_bits - 1)) - 1, min_exponent = 1 - bias, e;
    frexp(a, &e); /* a = m·2^e, m in [0.5, 1): the binade's exponent is e − 1 */
    e = e - 1 < min_exponent ? min_exponent : e - 1;
    *rounded = ldexp(nearbyint(ldexp(a, mantissa_bits - e)), e - mantissa_bits);
    if (*rounded == 0) return 0;
    int re;
    frexp(*rounded, &re);
    re -= 1;
    if (re < min_exponent) return (uint8_t)ldexp(*rounded, mantissa_bits - min_exponent);
    uint8_t significand = (uint8_t)ldexp(*rounded, mantissa_bits - re);
    return (uint8_t)((re + bias) << mantissa_bits) | (significand & ((1 << mantissa_bits) - 1));
}

/* Nearest, ties to even; an overflow saturates to the largest finite value or becomes infinity
 * (E5M2) or NaN (E4M3, which has no infinity). */
static uint8_t fp8_encode(double value, fp8_format f, int saturate) {
    int emask = (1 << f.exponent_bits) - 1, mmask = (1 << f.mantissa_bits) - 1;
    uint8_t nan_bits = (uint8_t)(f.has_infinity ? (emask << f.mantissa_bits) | (1 << (f.mantissa_bits - 1)) : (emask << f.mantissa_bits) | mmask);
    uint8_t max_bits = (uint8_t)(f.has_infinity ? ((emask - 1) << f.mantissa_bits) | mmask : (emask << f.mantissa_bits) | (mmask - 1));
    uint8_t overflow = saturate ? max_bits : f.has_infinity ? (uint8_t)(emask << f.mantissa_bits) : nan_bits;
    double max_finite = fp8_decode(max_bits, f);
    if (isnan(value)) return nan_bits;
    uint8_t sign = signbit(value) ? 0x80 : 0;
    double a = fabs(value);
    if (a == 0) return sign;
    if (isinf(a)) return sign | overflow;
    double rounded;
    uint8_t code = magnitude_code(a, f.exponent_bits, f.mantissa_bits, &rounded);
    return rounded > max_finite ? sign | overflow : sign | code;
}

/* The MX element formats below fp8 (OCP MX v1.0, 5.3.2 and 5.3.3): E2M3 (bias 1, largest 7.5),
 * E3M2 (bias 3, largest 28), E2M1 (bias 1, largest 6); every code a number (no infinity or NaN),
 * the sign above the exponent. */
typedef struct { int exponent_bits, mantissa_bits; } narrow_format;
static const narrow_format E2M3 = {2, 3}, E3M2 = {3, 2}, E2M1 = {2, 1};

static narrow_format narrow_of(sb_type t) { return t == SB_FP6_E2M3 ? E2M3 : t == SB_FP6_E3M2 ? E3M2 : E2M1; }

static float narrow_decode(uint8_t bits, narrow_format f) {
    int bias = (1 << (f.exponent_bits - 1)) - 1, width = f.exponent_bits + f.mantissa_bits;
    int e = (bits >> f.mantissa_bits) & ((1 << f.exponent_bits) - 1), m = bits & ((1 << f.mantissa_bits) - 1);
    float magnitude = e == 0 ? ldexpf((float)m, 1 - bias - f.mantissa_bits) : ldexpf((float)(m | (1 << f.mantissa_bits)), e - bias - f.mantissa_bits);
    return (bits >> width) & 1 ? -magnitude : magnitude;
}

/* Nearest, ties to even, saturating to the largest value (there is nothing else to go to); a NaN
 * gives +0 (in MX a NaN is carried by the block's scale). */
static uint8_t narrow_encode(double value, narrow_format f) {
    int width = f.exponent_bits + f.mantissa_bits;
    uint8_t max_bits = (uint8_t)((1 << width) - 1);
    if (isnan(value)) return 0;
    uint8_t sign = signbit(value) ? (uint8_t)(1 << width) : 0;
    double a = fabs(value), max_finite = narrow_decode(max_bits, f);
    if (a == 0) return sign;
    if (a >= max_finite) return sign | max_bits;
    double rounded;
    uint8_t code = magnitude_code(a, f.exponent_bits, f.mantissa_bits, &rounded);
    return rounded >= max_finite ? sign | max_bits : sign | code;
}

static float load_float(const void *base, size_t i, sb_type t) {
    uint32_t bits;
    switch (t) {
    case SB_FP32: memcpy(&bits, (const char *)base + 4 * i, 4); break;
    case SB_BF16: { uint16_t h; memcpy(&h, (const char *)base + 2 * i, 2); bits = (uint32_t)h << 16; break; }
    case SB_FP16: {
        uint16_t h;
        memcpy(&h, (const char *)base + 2 * i, 2);
        int e = (h >> 10) & 0x1F, m = h & 0x3FF;
        float magnitude = e == 0x1F ? (m ? NAN : INFINITY) : e == 0 ? ldexpf((float)m, -24) : ldexpf((float)(m | 0x400), e - 25);
        return h & 0x8000 ? -magnitude : magnitude;
    }
    case SB_FP8_E4M3: return fp8_decode(((const uint8_t *)base)[i], E4M3);
    case SB_FP8_E5M2: return fp8_decode(((const uint8_t *)base)[i], E5M2);
    case SB_FP6_E2M3: case SB_FP6_E3M2: case SB_FP4_E2M1: return narrow_decode(((const uint8_t *)base)[i], narrow_of(t));
    case SB_INT8: return (float)((const int8_t *)base)[i];  /* W4A8's activations, exact */
    default: return 0;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* fp32 → bf16, nearest-even; overflow to ±inf (ieee) or ±max (saturate); NaN stays NaN. */
static uint16_t to_bf16(float f, int saturate) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    if (isnan(f)) return (uint16_t)((bits >> 16) | 0x0040);
    uint32_t sign = bits & 0x80000000u;
    if (isinf(f)) return (uint16_t)((sign >> 16) | (saturate ? 0x7F7F : 0x7F80));
    uint32_t rounded = bits + 0x7FFFu + ((bits >> 16) & 1u);
    uint16_t h = (uint16_t)(rounded >> 16);
    if ((h & 0x7FFF) == 0x7F80 && saturate) h = (uint16_t)((sign >> 16) | 0x7F7F);
    return h;
}

/* fp32 (or binary64) → fp16, nearest-even in one rounding (nearbyint in the default rounding mode); overflow to ±inf (ieee) or
 * ±65504 (saturate); NaN stays NaN. */
static uint16_t to_fp16(double f, int saturate) {
    uint16_t sign = signbit(f) ? 0x8000 : 0;
    double a = fabs(f);
    if (isnan(f)) return 0x7E00;
    if (a >= 65520.0) return sign | (saturate ? 0x7BFF : 0x7C00);
    if (a < 0x1p-14) return sign | (uint16_t)nearbyint(a * 0x1p24); /* subnormal, or the smallest normal by rounding up */
    int e;
    frexp(a, &e); /* a = f·2^e, f in [0.5, 1) */
    long m = (long)nearbyint(ldexp(a, 11 - e)); /* 11 significant bits */
    if (m == 2048) { m = 1024; e += 1; }
    if (e + 14 >= 31) return sign | (saturate ? 0x7BFF : 0x7C00);
    return sign | (uint16_t)((e + 14) << 10) | (uint16_t)(m & 0x3FF);
}

/* GELU in binary64, as docs/numerics.md defines it: 0.5·x·erfc(−x/√2) (the erf form) or
 * 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))) written as 0.5·x·2/(1 + e^(−2z)) (the tanh form), with
 * exp, erf and erfc evaluated as the emulator's vector unit does (a degree-13 Taylor polynomial after
 * range reduction; erf's Maclaurin series below 2.5, its continued fraction above), so the bits
 * agree with the reference device's. */
static double exp64(double x) {
    if (isnan(x)) return x;
    if (x > 709) return INFINITY;
    if (x < -745) return 0;
    double k = nearbyint(x * 1.4426950408889634);
    double r = (x - k * 0x1.62e42fefa3800p-1) - k * 0x1.ef35793c76730p-45;
    static const double factorials[] = {479001600.0, 39916800.0, 3628800.0, 362880.0, 40320.0, 5040.0, 720.0, 120.0, 24.0, 6.0, 2.0, 1.0, 1.0};
    double p = 1.0 / 6227020800.0;
    for (int i = 0; i < 13; i++) p = p * r + 1.0 / factorials[i];
    int half = (int)k / 2;
    return ldexp(p, half) * ldexp(1.0, (int)k - half);
}

static double erf64(double x) {
    double a = fabs(x);
    if (isnan(a)) return x;
    const double two_over_root_pi = 1.1283791670955126;
    if (a < 2.5) {
        double term = a, sum = a, n = 0;
        for (;;) {
            n += 1;
            term *= -a * a / n;
            double next = sum + term / (2 * n + 1);
            if (next == sum) break;
            sum = next;
        }
        return x < 0 ? -two_over_root_pi * sum : two_over_root_pi * sum;
    }
    double f = a;
    for (double k = 60; k >= 1; k -= 1) f = a + (k / 2) / f;
    double erfc = exp64(-a * a) / (1.7724538509055160 * f);
    return x < 0 ? erfc - 1 : 1 - erfc;
}

static double erfc64(double z) {
    double a = fabs(z);
    if (a < 2.5) return 1 - erf64(z);
    double f = a;
    for (double k = 60; k >= 1; k -= 1) f = a + (k / 2) / f;
    double tail = exp64(-a * a) / (1.7724538509055160 * f);
    return z > 0 ? tail : 2 - tail;
}

static float activate(float x, sb_activation activation) {
    double y = x;
    switch (activation) {
    case SB_ACTIVATION_RELU: return x > 0 ? x : 0.0f;
    case SB_ACTIVATION_GELU_ERF: return (float)(0.5 * y * erfc64(-y * 0.7071067811865476));
    case SB_ACTIVATION_GELU_TANH: {
        double z = 0.7978845608028654 * (y + 0.044715 * y * y * y);
        return (float)(0.5 * y * (2 / (1 + exp64(-2 * z))));
    }
    default: return x;
    }
}

static float value_f32(const sb_tensor *t, long long i) { float f; memcpy(&f, (const char *)t->data + 4 * i, 4); return f; }
static int32_t value_i32(const sb_tensor *t, long long i) { int32_t v; memcpy(&v, (const char *)t->data + 4 * i, 4); return v; }

/* int32 → int8 by the two schemes of docs/numerics.md: fp32(acc)·scale rounded to nearest even;
 * or gemmlowp's SaturatingRoundingDoublingHighMul then RoundingDivideByPOT. Zero point, saturate. */
static int8_t requantize(int32_t acc, const sb_gemm *g, long long column) {
    long long c = g->requant_per_channel ? column : 0;
    double value;
    if (g->requant == SB_REQUANT_FP32_SCALE) {
        value = nearbyintf((float)acc * value_f32(g->scale, c));
    } else {
        int32_t multiplier = value_i32(g->multiplier, c), shift = value_i32(g->shift, c), high;
        if (acc == INT32_MIN && multiplier == INT32_MIN) {
            high = INT32_MAX;
        } else {
            int64_t ab = (int64_t)acc * multiplier;
            int64_t nudge = ab >= 0 ? (1LL << 30) : 1 - (1LL << 30);
            high = (int32_t)((ab + nudge) / (1LL << 31));
        }
        int64_t mask = ((int64_t)1 << shift) - 1, x = high;
        int64_t remainder = x & mask, threshold = (mask >> 1) + (x < 0 ? 1 : 0);
        value = (double)((x >> shift) + (remainder > threshold ? 1 : 0));
    }
    value += value_i32(g->zero_point, c);
    return (int8_t)(value > 127 ? 127 : value < -128 ? -128 : value);
}

/* Kernels compiled twice (target_clones): with FMA instructions where the CPU has them, for any
 * x86-64 otherwise; the loader picks one. fmaf rounds once either way, so the bits are the same. */
#if defined(__x86_64__) && defined(__ELF__)
#define SB_FMA_CLONES __attribute__((target_clones("fma", "default")))
#else
#define SB_FMA_CLONES
#endif

/* Σ a·b over k in [k0, k1) for row i of A (matrix `ma`) and column j of B (matrix `mb`), summed as
 * a weight-stationary array of TILE rows does: fused multiply-adds down each tile of at most
 * `tile` rows, the tiles' partial sums added in order. */
SB_FMA_CLONES
static float dot(const sb_gemm *g, const float *a, const float *b, long long ma, long long i, long long mb, long long j,
                 long long k0, long long k1, long long tile) {
    float total = 0;
    for (long long t0 = k0; t0 < k1; t0 += tile) {
        long long t1 = t0 + tile < k1 ? t0 + tile : k1;
        float p = 0;
        for (long long k = t0; k < t1; k++) {
            p = fmaf(a[(ma * g->m + i) * g->lda + k], b[(mb * g->n + j) * g->k + k], p);
        }
        total = t0 == k0 ? p : total + p;
    }
    return total;
}

/* A tensor's elements decoded to fp32 once (every element, padding included), so the inner loop
 * multiplies floats; NULL when out of memory. */
static float *decoded(const sb_tensor *t) {
    size_t count = t->bytes / sb_type_width(t->type);
    float *out = malloc(sizeof(float) * (count ? count : 1));
    if (out) for (size_t i = 0; i < count; i++) out[i] = load_float(t->data, i, t->type);
    return out;
}

/* B decoded to fp32 as [matrices, N, K] whatever its layout and ldb, so each dot product reads
 * both operands in order along K; NULL when out of memory. */
static float *decoded_b(const sb_gemm *g, const sb_tensor *b, long long matrices) {
    float *out = malloc(sizeof(float) * (size_t)(matrices * g->n * g->k ? matrices * g->n * g->k : 1));
    if (!out) return NULL;
    for (long long mb = 0; mb < matrices; mb++)
        for (long long j = 0; j < g->n; j++)
            for (long long k = 0; k < g->k; k++) {
                size_t bi = g->layout_nk ? (size_t)((mb * g->n + j) * g->ldb + k) : (size_t)((mb * g->k + k) * g->ldb + j);
                if (g->block_scheme == SB_BLOCKS_INT4) {
                    /* int4 weights: q − z (exact in fp32), the group scale applied to the group's sum. */
                    int z = g->zero_b ? sb_nibble(g->zero_b, (size_t)((mb * (g->k / g->int4_group) + k / g->int4_group) * g->n + j)) : 0;
                    out[(mb * g->n + j) * g->k + k] = (float)(sb_nibble(b, bi) - z);
                } else {
                    out[(mb * g->n + j) * g->k + k] = load_float(b->data, bi, g->b);
                }
            }
    return out;
}

static void store_output(const sb_gemm *g, sb_tensor *c, size_t out, float total) {
    if (g->output == SB_FP8_E4M3 || g->output == SB_FP8_E5M2) {
        ((uint8_t *)c->data)[out] = fp8_encode(total, g->output == SB_FP8_E4M3 ? E4M3 : E5M2, g->overflow_saturate);
    } else if (g->output == SB_FP32) {
        if (isinf(total) && g->overflow_saturate) total = copysignf(3.40282347e38f, total);
        memcpy((char *)c->data + 4 * out, &total, 4);
    } else {
        uint16_t h = g->output == SB_BF16 ? to_bf16(total, g->overflow_saturate) : to_fp16(total, g->overflow_saturate);
        memcpy((char *)c->data + 2 * out, &h, 2);
    }
}

/* Block-scaled quantisation of an A the device quantises itself (docs/formats.md), as this device
 * declares it: MX scales rounded by the specification's floor, NVFP4's E4M3 scales to nearest. */
enum { MX_FLOOR, MX_RCEIL, MX_EVEN };
static const int mx_rounding = MX_FLOOR, nvfp4_round_up = 0;

static int binade(double x) { int e; frexp(x, &e); return e - 1; }

/* An MX element type's largest value, emax (its exponent) and fraction bits. */
static double element_max(sb_type t) {
    switch (t) {
    case SB_FP8_E4M3: return 448; case SB_FP8_E5M2: return 57344; case SB_FP6_E2M3: return 7.5; case SB_FP6_E3M2: return 28; default: return 6;
    }
}
static int element_mantissa(sb_type t) { return t == SB_FP8_E4M3 || t == SB_FP6_E2M3 ? 3 : t == SB_FP4_E2M1 ? 1 : 2; }
static int element_min_exponent(sb_type t) {
    return t == SB_FP8_E4M3 ? -6 : t == SB_FP8_E5M2 ? -14 : t == SB_FP6_E3M2 ? -2 : 0;
}
static float element_value(double v, sb_type t) {
    if (t == SB_FP8_E4M3 || t == SB_FP8_E5M2) {
        uint8_t code = fp8_encode(v, t == SB_FP8_E4M3 ? E4M3 : E5M2, 1);
        return fp8_decode(code, t == SB_FP8_E4M3 ? E4M3 : E5M2);
    }
    return narrow_decode(narrow_encode(v, narrow_of(t)), narrow_of(t));
}

/* The E8M0 scale exponent of a block whose largest magnitude is amax (finite, positive). */
static int mx_scale_exponent(double amax, sb_type t) {
    int emax = binade(element_max(t)), e;
    if (mx_rounding == MX_FLOOR) {
        e = binade(amax) - emax;
    } else if (mx_rounding == MX_EVEN) {
        /* amax brought into the element's top binade and rounded to its precision there. */
        int floor_e = binade(amax) - emax;
        double x = ldexp(amax, -floor_e);
        int be = binade(x) > element_min_exponent(t) ? binade(x) : element_min_exponent(t);
        double quantum = ldexp(1, be - element_mantissa(t));
        e = floor_e + binade(nearbyint(x / quantum) * quantum) - emax;
    } else {
        e = binade(amax) - emax - 1;
        while (ldexp(amax, -e) > element_max(t)) e++;
    }
    return e < -127 ? -127 : e > 127 ? 127 : e;
}

/* A block's values with each NaN or infinity as 0 (into finite), its largest finite magnitude,
 * and whether it held a NaN or infinity (its scale is then NaN). */
static int finite_block(const double *v, int n, double *finite, double *amax) {
    int special = 0;
    *amax = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(v[i])) special = 1;
        finite[i] = isfinite(v[i]) ? v[i] : 0;
        if (fabs(finite[i]) > *amax) *amax = fabs(finite[i]);
    }
    return special;
}

/* One MX block of n values: its scale (NaN for a block holding a NaN or infinity, whose elements
 * are then what the finite values give) and its elements' values. */
static float mx_block(const double *v, int n, sb_type t, float *elements) {
    double amax, finite[32];
    if (finite_block(v, n, finite, &amax)) { mx_block(finite, n, t, elements); return NAN; }
    if (amax == 0) {
        for (int i = 0; i < n; i++) elements[i] = element_value(v[i], t);
        return ldexpf(1, -127);
    }
    int e = mx_scale_exponent(amax, t);
    for (int i = 0; i < n; i++) elements[i] = element_value(ldexp(v[i], -e), t);
    return ldexpf(1, e);
}

/* One NVFP4 block of 16 values under tensor scale ts: its E4M3 scale's value and its E2M1 elements'. */
static float nvfp4_block(const double *v, int n, float ts, float *elements) {
    double amax, finite[16];
    if (finite_block(v, n, finite, &amax)) { nvfp4_block(finite, n, ts, elements); return NAN; }
    double exact = amax / (6 * (double)ts);
    uint8_t code = fp8_encode(exact, E4M3, 1);
    if (nvfp4_round_up && fp8_decode(code, E4M3) < exact && code < 0x7E) code++;
    double scale = fp8_decode(code, E4M3), factor = (double)ts * scale;
    for (int i = 0; i < n; i++) elements[i] = factor > 0 ? narrow_decode(narrow_encode(v[i] / factor, E2M1), E2M1) : 0;
    return (float)scale;
}

/* A [batch, M, K] quantised along K: its elements' values into *af, its block scales (row after
 * row) into *scales and, for NVFP4, its tensor scale; 0 when out of memory. */
static int quantize_a(const sb_gemm *g, const sb_tensor *a, float **af, float **scales, float *tensor_scale) {
    long long size = g->block_scheme == SB_BLOCKS_MX ? 32 : 16, rows = g->batch * g->m, blocks = g->k / size;
    *af = malloc(sizeof(float) * (size_t)(rows * g->k));
    *scales = malloc(sizeof(float) * (size_t)(rows * blocks));
    if (!*af || !*scales) return 0;
    *tensor_scale = 1;
    if (g->block_scheme == SB_BLOCKS_NVFP4) {
        double amax = 0;
        for (long long i = 0; i < rows * g->k; i++) {
            double x = load_float(a->data, (size_t)i, g->a_from);
            if (isfinite(x) && fabs(x) > amax) amax = fabs(x);
        }
        float ts = (float)(amax / (448.0 * 6));
        *tensor_scale = ts > 0 && isfinite(ts) ? ts : 1;
    }
    double v[32];
    for (long long r = 0; r < rows; r++)
        for (long long t = 0; t < blocks; t++) {
            for (long long i = 0; i < size; i++) v[i] = load_float(a->data, (size_t)(r * g->k + t * size + i), g->a_from);
            float *elements = *af + r * g->k + t * size;
            (*scales)[r * blocks + t] = g->block_scheme == SB_BLOCKS_MX ? mx_block(v, (int)size, g->a, elements)
                                                                         : nvfp4_block(v, (int)size, *tensor_scale, elements);
        }
    return 1;
}

/* Every GEMM feature of protocol 2 with a plain loop per output element: the matrix each row of A
 * meets (its expert's, for a grouped GEMM), the rows at their leading dimensions, block-scaled
 * groups along K, then the epilogue on the fp32 sum (per-tensor scales, bias, activation) or, for
 * int8, the exact int32 sum, its bias and requantisation. */
static sb_status run_gemm(void *context, const sb_gemm *g, const sb_tensor *a, const sb_tensor *b, sb_tensor *c, double *seconds,
                          double *joules, char *reason, size_t reason_size) {
    (void)context; (void)seconds; (void)joules;
    /* int4 weights (W4A16, W4A8: the SDK has checked the types) take the block-scaled float path:
     * B's q − z and an int8 A are exact in fp32, and a group's integer sum is below 2^24. */
    int int4 = g->block_scheme == SB_BLOCKS_INT4;
    /* MXINT8 (MX with int8 elements, each k/64): the block-scaled float path with the codes as
     * integers and each scale times 2^-6 (exact), as the reference device widens it. */
    int mxint8 = g->block_scheme == SB_BLOCKS_MX && g->a == SB_INT8;
    int integer = g->a == SB_INT8 && !int4 && !mxint8;
    if (mxint8 && g->quantize_a) {
        snprintf(reason, reason_size, "the example adapter does not quantise MXINT8 activations");
        return SB_NOT_SUPPORTED;
    }
    if (int4 || mxint8 ? !is_float(g->output)
        : integer ? (g->b != SB_INT8 || (g->output != SB_INT32 && g->output != SB_INT8))
                  : (!(is_float(g->a) || is_narrow(g->a)) || !(is_float(g->b) || is_narrow(g->b)) || !is_float(g->output))) {
        snprintf(reason, reason_size, "types not implemented by the example adapter");
        return SB_NOT_SUPPORTED;
    }
    /* The K extent of a block-scaled group: the partial sums the scales multiply. */
    long long group = g->block_a[1] ? g->block_a[1] : g->block_b[0] ? g->block_b[0] : g->k;
    long long grid_a_rows = g->block_a[0] ? (g->m + g->block_a[0] - 1) / g->block_a[0] : 1;
    long long grid_a_cols = g->block_a[1] ? (g->k + g->block_a[1] - 1) / g->block_a[1] : 1;
    long long grid_b_rows = g->block_b[0] ? (g->k + g->block_b[0] - 1) / g->block_b[0] : 1;
    long long grid_b_cols = g->block_b[1] ? (g->n + g->block_b[1] - 1) / g->block_b[1] : 1;
    int blocked = g->scale_a_blocks || g->scale_b_blocks || g->quantize_a;
    /* A tile is as deep as the array takes products per pass: 128 rows, two 8-bit or 6-bit
     * products per PE, four 4-bit ones. */
    long long tile = g->a == SB_FP4_E2M1 ? 4 * TILE : g->a == SB_FP8_E4M3 || g->a == SB_FP8_E5M2 || is_narrow(g->a) ? 2 * TILE : TILE;
    /* A quantised here (quantizes_a): its elements' values, block scales and tensor scale. */
    float *own_scales = NULL, own_tensor_scale = 1, *af = NULL;
    int quantized = !g->quantize_a || quantize_a(g, a, &af, &own_scales, &own_tensor_scale);
    /* NVFP4's tensor scales join the output scale: one fp32 factor after the groups. */
    double tensor_a = g->quantize_a ? own_tensor_scale : g->tensor_scale_a ? value_f32(g->tensor_scale_a, 0) : 1;
    double tensor_b = g->tensor_scale_b ? value_f32(g->tensor_scale_b, 0) : 1;
    double factor = blocked ? tensor_a * tensor_b / g->scale_output : g->scale_a * g->scale_b / g->scale_output;
    if (!integer && !g->quantize_a) af = decoded(a);
    float *bf = integer ? NULL : decoded_b(g, b, g->groups ? g->groups : g->batch);
    float *cf = g->addend ? decoded(g->addend) : NULL;
    if (!quantized || (!integer && (!af || !bf || (g->addend && !cf)))) {
        free(af); free(bf); free(cf); free(own_scales);
        snprintf(reason, reason_size, "out of memory");
        return SB_ERROR;
    }
    for (long long batch = 0; batch < g->batch; batch++) {
        long long expert = 0, expert_end = g->groups ? value_i32(g->group_sizes, 0) : g->m;
        for (long long i = 0; i < g->m; i++) {
            while (g->groups && i >= expert_end) expert_end += value_i32(g->group_sizes, ++expert);
            long long mb = g->groups ? expert : batch;
            for (long long j = 0; j < g->n; j++) {
                size_t out = (size_t)((batch * g->m + i) * g->ldc + j);
                if (integer) {
                    int32_t total = 0;
                    for (long long k = 0; k < g->k; k++) {
                        size_t ai = (size_t)((batch * g->m + i) * g->lda + k);
                        size_t bi = g->layout_nk ? (size_t)((mb * g->n + j) * g->ldb + k) : (size_t)((mb * g->k + k) * g->ldb + j);
                        total += (int32_t)((const int8_t *)a->data)[ai] * (int32_t)((const int8_t *)b->data)[bi];
                    }
                    if (g->bias) total = (int32_t)((uint32_t)total + (uint32_t)value_i32(g->bias, j));
                    if (g->output == SB_INT32) {
                        memcpy((char *)c->data + 4 * out, &total, 4);
                    } else if (g->requant) {
                        ((int8_t *)c->data)[out] = requantize(total, g, j);
                    } else {
                        ((int8_t *)c->data)[out] = (int8_t)(total > 127 ? 127 : total < -128 ? -128 : total);
                    }
                    continue;
                }
                float total;
                if (blocked) {
                    /* Each group's partial sum times fp32(sa·sb), the groups added in order. */
                    total = 0;
                    for (long long k0 = 0, t = 0; k0 < g->k; k0 += group, t++) {
                        long long k1 = k0 + group < g->k ? k0 + group : g->k;
                        float p = dot(g, af, bf, batch, i, mb, j, k0, k1, group < tile ? group : tile);
                        float sa = own_scales ? own_scales[(batch * g->m + i) * grid_a_cols + t]
                                   : g->scale_a_blocks ? value_f32(g->scale_a_blocks, (batch * grid_a_rows + i / g->block_a[0]) * grid_a_cols + t)
                                                       : (float)g->scale_a;
                        float sb = g->scale_b_blocks ? value_f32(g->scale_b_blocks, (mb * grid_b_rows + t) * grid_b_cols + j / g->block_b[1])
                                                     : (float)g->scale_b;
                        if (mxint8) { sa *= 0x1p-6f; sb *= 0x1p-6f; }
                        float v = p * (sa * sb);
                        total = t == 0 ? v : total + v;
                    }
                } else {
                    total = dot(g, af, bf, batch, i, mb, j, 0, g->k, tile);
                }
                /* D = A·B + C: C joins the finished sum, one fp32 addition (the emulator's order). */
                if (cf) total = total + cf[(batch * g->m + i) * g->n + j];
                if (factor != 1) total *= (float)factor;
                if (g->bias) total = total + value_f32(g->bias, j);
                total = activate(total, g->activation);
                store_output(g, c, out, total);
            }
        }
    }
    free(af);
    free(bf);
    free(cf);
    free(own_scales);
    return SB_OK;
}

/* Element offset of K[b, g, j, 0] (and of V's) in the request's layout. */
static size_t kv_offset(const sb_attention *at, const int32_t *pages, long long b, long long g, long long j) {
    switch (at->layout) {
    case SB_KV_BHSD: return (size_t)(((b * at->kv_heads + g) * at->kv_len + j) * at->head_dim);
    case SB_KV_BSHD: return (size_t)(((b * at->kv_len + j) * at->kv_heads + g) * at->head_dim);
    default: {
        long long per_sequence = (at->kv_len + at->page_size - 1) / at->page_size;
        long long page = pages[b * per_sequence + j / at->page_size];
        return (size_t)(((page * at->page_size + j % at->page_size) * at->kv_heads + g) * at->head_dim);
    }
    }
}

/* e^x for fp32 as the reference device's vector unit computes it (docs/attention.md): exp64's
 * reduction and polynomial, 2^k applied exactly, rounded once to fp32. */
static float exp32(float x) {
    if (isnan(x)) return x;
    if (x > 89) return INFINITY;
    if (x < -104) return 0;
    double xd = x, k = nearbyint(xd * 1.4426950408889634);
    double r = (xd - k * 0x1.62e42fefa3800p-1) - k * 0x1.ef35793c76730p-45;
    static const double factorials[] = {479001600.0, 39916800.0, 3628800.0, 362880.0, 40320.0, 5040.0, 720.0, 120.0, 24.0, 6.0, 2.0, 1.0, 1.0};
    double p = 1.0 / 6227020800.0;
    for (int i = 0; i < 13; i++) p = p * r + 1.0 / factorials[i];
    return (float)ldexp(p, (int)k);
}

/* A probability rounded to P's type, nearest-even (fp32 keeps it). */
static float round_probability(float p, sb_type t) {
    switch (t) {
    case SB_FP32: return p;
    case SB_BF16: { uint16_t h = to_bf16(p, 0); uint32_t bits = (uint32_t)h << 16; float f; memcpy(&f, &bits, 4); return f; }
    case SB_FP16: { uint16_t h = to_fp16(p, 0); return load_float(&h, 0, SB_FP16); }
    default: { uint8_t b = fp8_encode(p, t == SB_FP8_E4M3 ? E4M3 : E5M2, 0); return load_float(&b, 0, t); }
    }
}

/* The two products of an attention block, in the array's order: every fused multiply-add rounded
 * once (fmaf), the chains of a K-tile in order, the tiles' partial sums added in order
 * (SB_FMA_CLONES, as `dot`). */
/* scores[j] = Σ_c q[c]·kt[c·stride + j] for the block's `width` keys (kt: keys transposed). */
SB_FMA_CLONES
static void block_scores(const float *q, const float *kt, long long stride, long long d, long long width, long long tile, float *scores,
                         float *chain) {
    for (long long c0 = 0; c0 < d; c0 += tile) {
        long long c1 = c0 + tile < d ? c0 + tile : d;
        for (long long j = 0; j < width; j++) chain[j] = 0;
        for (long long c = c0; c < c1; c++) {
            const float qc = q[c], *row = kt + c * stride;
            for (long long j = 0; j < width; j++) chain[j] = fmaf(qc, row[j], chain[j]);
        }
        for (long long j = 0; j < width; j++) scores[j] = c0 == 0 ? chain[j] : scores[j] + chain[j];
    }
}

/* out[c] = Σ_j p[j]·v[j·d + c] over the block's `width` keys. */
SB_FMA_CLONES
static void block_values(const float *p, const float *v, long long d, long long width, long long tile, float *out, float *partial) {
    for (long long j1 = 0; j1 < width; j1 += tile) {
        long long j2 = j1 + tile < width ? j1 + tile : width;
        for (long long c = 0; c < d; c++) partial[c] = 0;
        for (long long j = j1; j < j2; j++) {
            const float pj = p[j], *value = v + j * d;
            for (long long c = 0; c < d; c++) partial[c] = fmaf(pj, value[c], partial[c]);
        }
        for (long long c = 0; c < d; c++) out[c] = j1 == 0 ? partial[c] : out[c] + partial[c];
    }
}

/* Attention the way the reference device computes it (docs/attention.md): flash-style over blocks
 * of 128 keys (the array's width), S = Q·Kᵀ and P·V on the array (fused multiply-adds in order
 * within each K-tile, tiles added in order), the online softmax in fp32 with exp32, each P rounded
 * to P's type, the running sum rescaled by e^(old max − new max), O = acc / sum, times the V
 * scale, rounded once to the output type. Plain loops, one query row at a time (rows are
 * independent), with each sequence's keys and values of a kv head decoded to fp32 once. */
static sb_status run_attention(void *context, const sb_attention *at, const sb_tensor *q, const sb_tensor *k, const sb_tensor *v,
                               const sb_tensor *kv_lens, const sb_tensor *page_table, sb_tensor *o, double *seconds, double *joules,
                               char *reason, size_t reason_size) {
    (void)context; (void)seconds; (void)joules;
    if (!is_float(at->input) || !is_float(at->kv) || !is_float(at->output) || !is_float(at->p) || at->accumulate != SB_FP32) {
        snprintf(reason, reason_size, "types not implemented by the example adapter");
        return SB_NOT_SUPPORTED;
    }
    const int32_t *lengths = kv_lens->data;
    const int32_t *pages = page_table ? page_table->data : NULL;
    long long group = at->heads / at->kv_heads, d = at->head_dim, block = 128;
    int eight_bit = sb_type_width(at->input) == 1 && sb_type_width(at->kv) == 1;
    long long tile = eight_bit ? 256 : 128; /* the array's K-tile: 128 rows, two 8-bit MACs per PE */
    float f = (float)(at->scale * at->k_scale), v_scale = (float)at->v_scale;
    float *qrow = malloc(sizeof(float) * (size_t)d), *p = malloc(sizeof(float) * (size_t)block);
    float *keys = malloc(sizeof(float) * (size_t)(at->kv_len * d + 1)), *values = malloc(sizeof(float) * (size_t)(at->kv_len * d + 1));
    float *acc = malloc(sizeof(float) * (size_t)d), *partial = malloc(sizeof(float) * (size_t)d), *sum = malloc(sizeof(float) * (size_t)d);
    float *chain = malloc(sizeof(float) * (size_t)block);
    if (!qrow || !keys || !values || !p || !acc || !partial || !sum || !chain) {
        free(qrow); free(keys); free(values); free(p); free(acc); free(partial); free(sum); free(chain);
        snprintf(reason, reason_size, "out of memory");
        return SB_ERROR;
    }
    for (long long b = 0; b < at->batch; b++) {
        long long n = lengths[b];
        for (long long g = 0; g < at->kv_heads; g++) {
            /* Keys transposed ([d, n]), so that a block's scores advance together, key by key. */
            for (long long j = 0; j < n; j++) {
                size_t at_j = kv_offset(at, pages, b, g, j);
                for (long long c = 0; c < d; c++) {
                    keys[c * n + j] = load_float(k->data, at_j + c, at->kv);
                    values[j * d + c] = load_float(v->data, at_j + c, at->kv);
                }
            }
            for (long long h = g * group; h < (g + 1) * group; h++) {
                for (long long s = 0; s < at->q_len; s++) {
                    long long visible = n;
                    if (at->causal) {
                        visible = s + n - at->q_len + 1;
                        if (visible < 0) visible = 0;
                        if (visible > n) visible = n;
                    }
                    size_t q_row = (size_t)(((b * at->heads + h) * at->q_len + s) * d);
                    for (long long c = 0; c < d; c++) qrow[c] = load_float(q->data, q_row + c, at->input);
                    float row_max = -INFINITY, row_sum = 0;
                    for (long long c = 0; c < d; c++) acc[c] = 0;
                    for (long long j0 = 0; j0 < visible; j0 += block) {
                        long long width = visible - j0 < block ? visible - j0 : block;
                        /* S for the block: one dot product per key as the array sums it (a chain of
                         * fused multiply-adds per K-tile, tiles added in order), all keys advanced together. */
                        block_scores(qrow, keys + j0, n, d, width, tile, p, chain);
                        float top = row_max;
                        for (long long j = 0; j < width; j++) {
                            p[j] *= f;
                            if (p[j] > top) top = p[j];
                        }
                        float alpha = row_max == -INFINITY ? 0 : exp32(row_max - top);
                        float block_sum = 0;
                        for (long long j = 0; j < width; j++) {
                            p[j] = round_probability(exp32(p[j] - top), at->p);
                            block_sum += p[j];
                        }
                        float rescaled = alpha * row_sum;
                        row_sum = rescaled + block_sum;
                        row_max = top;
                        if (alpha != 1) for (long long c = 0; c < d; c++) acc[c] *= alpha;
                        /* P·V for the block: for each output element a chain over the keys in order,
                         * K-tiles of `tile` keys added in order; all d chains advanced together. */
                        block_values(p, values + j0 * d, d, width, tile, sum, partial);
                        for (long long c = 0; c < d; c++) acc[c] += sum[c];
                    }
                    for (long long c = 0; c < d; c++) {
                        float value = row_sum > 0 ? acc[c] / row_sum : 0.0f;
                        if (v_scale != 1) value *= v_scale;
                        if (at->output == SB_FP8_E4M3 || at->output == SB_FP8_E5M2) {
                            ((uint8_t *)o->data)[q_row + c] = fp8_encode(value, at->output == SB_FP8_E4M3 ? E4M3 : E5M2, at->overflow_saturate);
                        } else if (at->output == SB_FP32) {
                            memcpy((char *)o->data + 4 * (q_row + c), &value, 4);
                        } else {
                            uint16_t bits = at->output == SB_BF16 ? to_bf16(value, at->overflow_saturate) : to_fp16(value, at->overflow_saturate);
                            memcpy((char *)o->data + 2 * (q_row + c), &bits, 2);
                        }
                    }
                }
            }
        }
    }
    free(qrow); free(keys); free(values); free(p); free(acc); free(partial); free(sum); free(chain);
    return SB_OK;
}

/* bf16 from a double, nearest-even in one rounding (no detour through fp32); overflow to ±inf
 * (ieee) or ±max (saturate). */
static uint16_t bf16_from_double(double v, int saturate) {
    if (isnan(v)) return 0x7FC0;
    uint16_t sign = signbit(v) ? 0x8000 : 0;
    double a = fabs(v);
    if (a >= 0x1.ffp127) return sign | (saturate ? 0x7F7F : 0x7F80); /* rounds past (2 − 2⁻⁷)·2¹²⁷ */
    if (a < 0x1p-126) return sign | (uint16_t)nearbyint(a * 0x1p133);  /* subnormal, or the smallest normal by rounding up */
    int e;
    frexp(a, &e); /* a in [2^(e−1), 2^e) */
    long m = (long)nearbyint(ldexp(a, 8 - e)); /* 8 significant bits */
    if (m == 256) { m = 128; e += 1; }
    if (e + 126 >= 255) return sign | (saturate ? 0x7F7F : 0x7F80);
    return sign | (uint16_t)((e + 126) << 7) | (uint16_t)(m & 0x7F);
}

/* Element i of a buffer as a double (integers exactly). */
static double load_value(const void *base, size_t i, sb_type t) {
    switch (t) {
    case SB_INT8: return ((const int8_t *)base)[i];
    case SB_INT32: { int32_t v; memcpy(&v, (const char *)base + 4 * i, 4); return v; }
    default: return load_float(base, i, t);
    }
}

/* dst[i] = src[i] ⊕ dst[i] in the type, as the reference device's links reduce: fp32 in fp32;
 * bf16 and fp16 exactly in binary64, rounded once to the type (overflow to ±inf); integers wrap.
 * max and min pick as Swift's max(x, y) = y >= x ? y : x and min(x, y) = y < x ? y : x do. */
static void reduce_into(void *dst, const void *src, long long count, sb_type t, sb_reduction op) {
    for (long long i = 0; i < count; i++) {
        switch (t) {
        case SB_FP32: {
            float s = ((const float *)src)[i], d = ((float *)dst)[i];
            ((float *)dst)[i] = op == SB_SUM ? s + d : op == SB_MAX ? (d >= s ? d : s) : (d < s ? d : s);
            break;
        }
        case SB_INT32: case SB_INT8: {
            long long s = (long long)load_value(src, (size_t)i, t), d = (long long)load_value(dst, (size_t)i, t);
            long long v = op == SB_SUM ? s + d : op == SB_MAX ? (d >= s ? d : s) : (d < s ? d : s);
            if (t == SB_INT8) ((int8_t *)dst)[i] = (int8_t)(uint8_t)(uint64_t)v;
            else { int32_t x = (int32_t)(uint32_t)(uint64_t)v; memcpy((char *)dst + 4 * i, &x, 4); }
            break;
        }
        default: {
            double s = load_float(src, (size_t)i, t), d = load_float(dst, (size_t)i, t);
            double v = op == SB_SUM ? s + d : op == SB_MAX ? (d >= s ? d : s) : (d < s ? d : s);
            uint16_t h = t == SB_BF16 ? bf16_from_double(v, 0) : to_fp16(v, 0);
            memcpy((char *)dst + 2 * i, &h, 2);
        }
        }
    }
}

/* One message of a collective's step: `count` elements from rank `source`'s input or work buffer
 * to rank `destination`'s work buffer, stored or reduced in. */
typedef struct {
    long long source, destination, source_offset, destination_offset, count;
    int from_input, reduce;
} transfer;

/* Chunk k of n over `count` elements: [k·count/n, (k+1)·count/n). */
static long long chunk_start(long long k, long long n, long long count) { return k * count / n; }

/* The steps of the reference device's algorithm for the collective (docs/collectives.md): ring
 * all-reduce (reduce-scatter then all-gather), or recursive doubling for a power-of-two number of
 * ranks up to 64 KiB; ring reduce-scatter and all-gather; pairwise all-to-all; binomial-tree
 * broadcast up to 64 KiB, else a pipelined ring; send/recv to the next rank. Appends to `steps`
 * (each step `per_step` transfers wide, unused ones with count 0) and returns the number of steps. */
static long long plan(const sb_collective *co, long long work, transfer *steps, long long per_step) {
    long long n = co->ranks, count = 0;
#define STEP(s, r) steps[(s) * per_step + (r)]
    switch (co->op) {
    case SB_ALL_REDUCE:
        if ((n & (n - 1)) == 0 && co->bytes <= 65536) {
            for (long long bit = 1; bit < n; bit <<= 1, count++)
                for (long long r = 0; r < n; r++) STEP(count, r) = (transfer){r, r ^ bit, 0, 0, work, 0, 1};
            return count;
        }
        /* fall through: a ring reduce-scatter then a ring all-gather */
    case SB_REDUCE_SCATTER:
    case SB_ALL_GATHER:
        for (int phase = 0; phase < 2; phase++) {
            int reduce = co->op == SB_ALL_GATHER ? 0 : phase == 0;
            if (co->op != SB_ALL_REDUCE && phase == 1) break;
            long long shift = reduce ? 1 : 0;
            for (long long s = 0; s < n - 1; s++, count++)
                for (long long r = 0; r < n; r++) {
                    long long k = ((r - s - shift) % n + n) % n;
                    long long start = chunk_start(k, n, work), end = chunk_start(k + 1, n, work);
                    STEP(count, r) = (transfer){r, (r + 1) % n, start, start, end - start, 0, reduce};
                }
        }
        return count;
    case SB_ALL_TO_ALL: {
        long long block = co->input_count / n;
        for (long long s = 1; s < n; s++, count++)
            for (long long r = 0; r < n; r++) {
                long long to = (r + s) % n;
                STEP(count, r) = (transfer){r, to, to * block, r * block, block, 1, 0};
            }
        return count;
    }
    case SB_BROADCAST:
        if (co->bytes <= 65536) {
            for (long long span = 1; span < n; span <<= 1, count++)
                for (long long v = 0; v < per_step; v++)
                    STEP(count, v) = v < span && v + span < n
                        ? (transfer){(co->root + v) % n, (co->root + v + span) % n, 0, 0, work, 0, 0} : (transfer){0, 0, 0, 0, 0, 0, 0};
            return count;
        } else {
            long long chunks = (co->bytes + 65535) / 65536;
            if (chunks > 64) chunks = 64;
            if (chunks > work) chunks = work;
            for (long long t = 0; t < n - 2 + chunks; t++, count++)
                for (long long d = 0; d < per_step; d++) {
                    long long j = t - d;
                    if (d < n - 1 && j >= 0 && j < chunks) {
                        long long start = chunk_start(j, chunks, work), end = chunk_start(j + 1, chunks, work);
                        STEP(count, d) = (transfer){(co->root + d) % n, (co->root + d + 1) % n, start, start, end - start, 0, 0};
                    } else {
                        STEP(count, d) = (transfer){0, 0, 0, 0, 0, 0, 0};
                    }
                }
            return count;
        }
    default: /* send/recv */
        for (long long r = 0; r < n; r++) STEP(0, r) = (transfer){r, (r + 1) % n, 0, 0, co->input_count, 1, 0};
        return 1;
    }
#undef STEP
}

/* Ranks simulated in one process, with the reference device's algorithms (`plan`): every rank's
 * work buffer starts as the collective says; in each step every message is first copied out of its
 * sender (links carry what the buffers held before the step), then delivered. */
static sb_status run_collective(void *context, const sb_collective *co, const sb_tensor *in, sb_tensor *out, double *seconds,
                                double *joules, char *reason, size_t reason_size) {
    (void)context; (void)seconds; (void)joules;
    if (co->type != SB_FP32 && co->type != SB_FP16 && co->type != SB_BF16 && co->type != SB_INT8 && co->type != SB_INT32) {
        snprintf(reason, reason_size, "type not implemented by the example adapter");
        return SB_NOT_SUPPORTED;
    }
    size_t width = sb_type_width(co->type);
    long long n = co->ranks, ic = co->input_count, oc = co->output_count;
    long long work = co->op == SB_REDUCE_SCATTER ? ic : oc;
    const double cap = 512.0 * 1024 * 1024;
    double total = (double)(ic + work) * (double)n * (double)width;
    if (co->timing_only && total > cap) {
        /* Ranks simulated in one process cannot all hold 256 MiB: a timing-only request moves the
         * same bytes as slices that fit in 512 MiB, one after another, each by the algorithm the
         * whole size takes (`bytes` kept). Only the time is reported, and it is this CPU's. */
        long long slices = (long long)ceil(total / cap);
        sb_collective part = *co;
        part.output_count = (oc + slices - 1) / slices;
        if (co->op == SB_ALL_GATHER || co->op == SB_ALL_TO_ALL) part.output_count = (part.output_count + n - 1) / n * n;
        part.input_count = co->op == SB_ALL_GATHER ? part.output_count / n : co->op == SB_REDUCE_SCATTER ? part.output_count * n : part.output_count;
        for (long long slice = 0; slice < slices; slice++) {
            sb_status status = run_collective(context, &part, NULL, NULL, seconds, joules, reason, reason_size);
            if (status != SB_OK) return status;
        }
        return SB_OK;
    }
    /* Buffers of our own for a timing-only request, as a device would use. */
    char *own_in = co->timing_only ? calloc((size_t)(n * ic), width) : NULL;
    const char *x = co->timing_only ? own_in : in->data;
    char *w = calloc((size_t)(n * work), width);
    long long per_step = n, max_steps = 2 * n + 64;
    transfer *steps = malloc(sizeof(transfer) * (size_t)(max_steps * per_step));
    char *staging = malloc((size_t)(n * work + n * ic + 1) * width);
    if ((co->timing_only && !own_in) || !w || !steps || !staging) {
        free(own_in); free(w); free(steps); free(staging);
        snprintf(reason, reason_size, "out of memory");
        return SB_ERROR;
    }
    for (long long r = 0; r < n; r++) {
        char *dst = w + (size_t)(r * work) * width;
        const char *src = x + (size_t)(r * ic) * width;
        switch (co->op) {
        case SB_ALL_REDUCE: case SB_REDUCE_SCATTER: memcpy(dst, src, (size_t)ic * width); break;
        case SB_ALL_GATHER: memcpy(dst + (size_t)(r * ic) * width, src, (size_t)ic * width); break;
        case SB_ALL_TO_ALL: { long long block = ic / n; memcpy(dst + (size_t)(r * block) * width, src + (size_t)(r * block) * width, (size_t)block * width); break; }
        case SB_BROADCAST: if (r == co->root) memcpy(dst, src, (size_t)ic * width); break;
        default: break;
        }
    }
    long long count = plan(co, work, steps, per_step);
    for (long long s = 0; s < count; s++) {
        const transfer *step = steps + s * per_step;
        size_t at = 0;
        for (long long i = 0; i < per_step; i++) {
            const transfer *t = step + i;
            const char *base = t->from_input ? x + (size_t)(t->source * ic) * width : w + (size_t)(t->source * work) * width;
            memcpy(staging + at, base + (size_t)t->source_offset * width, (size_t)t->count * width);
            at += (size_t)t->count * width;
        }
        at = 0;
        for (long long i = 0; i < per_step; i++) {
            const transfer *t = step + i;
            char *dst = w + (size_t)(t->destination * work + t->destination_offset) * width;
            if (t->reduce) reduce_into(dst, staging + at, t->count, co->type, co->reduction);
            else memcpy(dst, staging + at, (size_t)t->count * width);
            at += (size_t)t->count * width;
        }
    }
    if (!co->timing_only) {
        /* Reduce-scatter keeps each rank's own chunk; the others their whole work buffer. */
        for (long long r = 0; r < n; r++) {
            long long from = co->op == SB_REDUCE_SCATTER ? r * work + r * oc : r * work;
            memcpy((char *)out->data + (size_t)(r * oc) * width, w + (size_t)from * width, (size_t)oc * width);
        }
    }
    free(own_in); free(w); free(steps); free(staging);
    return SB_OK;
}

int main(int argc, char **argv) {
    sb_adapter adapter = {device_json, "wall", "none", run_gemm, run_attention, run_collective, 2,
                          SB_GEMM_BIAS | SB_GEMM_ACTIVATION | SB_GEMM_SCALES | SB_GEMM_BLOCK_SCALES | SB_GEMM_REQUANTIZATION |
                              SB_GEMM_LEADING_DIMENSIONS | SB_GEMM_GROUPS | SB_GEMM_ACCUMULATE_C | SB_GEMM_BLOCK_FORMATS | SB_GEMM_QUANTIZES_A |
                              SB_GEMM_INT4_WEIGHTS,
                          SB_ATTENTION_KV_SCALES | SB_ATTENTION_LAYOUT_BSHD | SB_ATTENTION_LAYOUT_PAGED};
    /* --protocol 1: the same adapter as written for version 1 (no features). */
    if (argc == 3 && strcmp(argv[1], "--protocol") == 0 && strcmp(argv[2], "1") == 0) adapter.protocol = 1;
    return sb_serve(&adapter, NULL);
}
