/*
 * An example SystolicBench adapter on the C SDK: a straightforward CPU GEMM that declares its
 * arithmetic honestly (fp32 accumulator, fp32/fp16/bf16/int8 inputs, subnormals preserved) and sums in
 * the weight-stationary order of a 128-row array, and a straightforward attention (full softmax,
 * scores, weights and sums in fp64, more accurate than the fp32 and 1-ulp exp it declares), and
 * collectives over ranks simulated in one process. A vendor replaces the callbacks with calls into
 * their driver.
 *
 *   cc -O2 -o example-adapter main.c ../SystolicAdapterSDK/sbsdk.c -I../SystolicAdapterSDK/include \
 *      $(pkg-config --cflags --libs json-c) -lm
 */
#include "sbsdk.h"

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
    "  \"input_types\": [\"fp32\", \"fp16\", \"bf16\", \"int8\"], \"exp_ulps\": 1},"
    " \"ops\": [\"gemm\", \"attention\", \"collective\"], \"array\": {\"rows\": 128, \"cols\": 128, \"dataflow\": \"weight_stationary\", \"clock_hz\": 1e9},"
    " \"peak_ops_per_second\": {\"fp32\": 1e10, \"fp16\": 1e10, \"bf16\": 1e10, \"int8\": 1e10}}";

/* The floating-point types this example implements. */
static int is_float(sb_type t) { return t == SB_FP32 || t == SB_BF16 || t == SB_FP16; }

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

/* fp32 → fp16, nearest-even (nearbyint in the default rounding mode); overflow to ±inf (ieee) or
 * ±65504 (saturate); NaN stays NaN. */
static uint16_t to_fp16(float f, int saturate) {
    uint16_t sign = signbit(f) ? 0x8000 : 0;
    double a = fabs((double)f);
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

static sb_status run_gemm(void *context, const sb_gemm *g, const sb_tensor *a, const sb_tensor *b, sb_tensor *c, double *seconds,
                          double *joules, char *reason, size_t reason_size) {
    (void)context; (void)seconds; (void)joules;
    int integer = g->a == SB_INT8;
    if (integer ? (g->b != SB_INT8 || (g->output != SB_INT32 && g->output != SB_INT8))
                : (!is_float(g->a) || !is_float(g->b) || !is_float(g->output))) {
        snprintf(reason, reason_size, "types not implemented by the example adapter");
        return SB_NOT_SUPPORTED;
    }
    for (long long batch = 0; batch < g->batch; batch++) {
        for (long long i = 0; i < g->m; i++) {
            for (long long j = 0; j < g->n; j++) {
                size_t out = (size_t)((batch * g->m + i) * g->n + j);
                if (integer) {
                    int32_t total = 0;
                    for (long long k = 0; k < g->k; k++) {
                        size_t ai = (size_t)((batch * g->m + i) * g->k + k);
                        size_t bi = g->layout_nk ? (size_t)((batch * g->n + j) * g->k + k) : (size_t)((batch * g->k + k) * g->n + j);
                        total += (int32_t)((const int8_t *)a->data)[ai] * (int32_t)((const int8_t *)b->data)[bi];
                    }
                    if (g->output == SB_INT32) {
                        memcpy((char *)c->data + 4 * out, &total, 4);
                    } else {
                        ((int8_t *)c->data)[out] = (int8_t)(total > 127 ? 127 : total < -128 ? -128 : total);
                    }
                    continue;
                }
                float total = 0;
                for (long long k0 = 0; k0 < g->k; k0 += TILE) {
                    long long k1 = k0 + TILE < g->k ? k0 + TILE : g->k;
                    float p = 0;
                    for (long long k = k0; k < k1; k++) {
                        size_t ai = (size_t)((batch * g->m + i) * g->k + k);
                        size_t bi = g->layout_nk ? (size_t)((batch * g->n + j) * g->k + k) : (size_t)((batch * g->k + k) * g->n + j);
                        p = fmaf(load_float(a->data, ai, g->a), load_float(b->data, bi, g->b), p);
                    }
                    total = k0 == 0 ? p : total + p;
                }
                if (g->output == SB_FP32) {
                    if (isinf(total) && g->overflow_saturate) total = copysignf(3.40282347e38f, total);
                    memcpy((char *)c->data + 4 * out, &total, 4);
                } else {
                    uint16_t h = g->output == SB_BF16 ? to_bf16(total, g->overflow_saturate) : to_fp16(total, g->overflow_saturate);
                    memcpy((char *)c->data + 2 * out, &h, 2);
                }
            }
        }
    }
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

static sb_status run_attention(void *context, const sb_attention *at, const sb_tensor *q, const sb_tensor *k, const sb_tensor *v,
                               const sb_tensor *kv_lens, const sb_tensor *page_table, sb_tensor *o, double *seconds, double *joules,
                               char *reason, size_t reason_size) {
    (void)context; (void)seconds; (void)joules;
    if (!is_float(at->input) || !is_float(at->kv) || !is_float(at->output)) {
        snprintf(reason, reason_size, "types not implemented by the example adapter");
        return SB_NOT_SUPPORTED;
    }
    const int32_t *lengths = kv_lens->data;
    const int32_t *pages = page_table ? page_table->data : NULL;
    long long group = at->heads / at->kv_heads, d = at->head_dim;
    double *weights = malloc(sizeof(double) * (size_t)at->kv_len);
    double *row = malloc(sizeof(double) * (size_t)d);
    if (!weights || !row) { free(weights); free(row); snprintf(reason, reason_size, "out of memory"); return SB_ERROR; }
    for (long long b = 0; b < at->batch; b++) {
        long long n = lengths[b];
        for (long long h = 0; h < at->heads; h++) {
            long long g = h / group;
            for (long long s = 0; s < at->q_len; s++) {
                long long visible = n;
                if (at->causal) {
                    visible = s + n - at->q_len + 1;
                    if (visible < 0) visible = 0;
                    if (visible > n) visible = n;
                }
                size_t q_row = (size_t)(((b * at->heads + h) * at->q_len + s) * d);
                double top = -INFINITY, total = 0;
                for (long long j = 0; j < visible; j++) {
                    size_t kj = kv_offset(at, pages, b, g, j);
                    double dot = 0;
                    for (long long c = 0; c < d; c++) dot += (double)load_float(q->data, q_row + c, at->input) * load_float(k->data, kj + c, at->kv);
                    weights[j] = dot * at->scale * at->k_scale;
                    if (weights[j] > top) top = weights[j];
                }
                for (long long j = 0; j < visible; j++) { weights[j] = exp(weights[j] - top); total += weights[j]; }
                for (long long c = 0; c < d; c++) row[c] = 0;
                for (long long j = 0; j < visible; j++) {
                    size_t vj = kv_offset(at, pages, b, g, j);
                    for (long long c = 0; c < d; c++) row[c] += weights[j] * load_float(v->data, vj + c, at->kv);
                }
                for (long long c = 0; c < d; c++) {
                    float value = visible > 0 ? (float)(row[c] / total * at->v_scale) : 0.0f;
                    if (at->output == SB_FP32) {
                        if (isinf(value) && at->overflow_saturate) value = copysignf(3.40282347e38f, value);
                        memcpy((char *)o->data + 4 * (q_row + c), &value, 4);
                    } else {
                        uint16_t bits = at->output == SB_BF16 ? to_bf16(value, at->overflow_saturate) : to_fp16(value, at->overflow_saturate);
                        memcpy((char *)o->data + 2 * (q_row + c), &bits, 2);
                    }
                }
            }
        }
    }
    free(weights);
    free(row);
    return SB_OK;
}

/* Element i of a buffer as a double (integers exactly). */
static double load_value(const void *base, size_t i, sb_type t) {
    switch (t) {
    case SB_INT8: return ((const int8_t *)base)[i];
    case SB_INT32: { int32_t v; memcpy(&v, (const char *)base + 4 * i, 4); return v; }
    default: return load_float(base, i, t);
    }
}

static void store_value(void *base, size_t i, sb_type t, double v) {
    switch (t) {
    case SB_INT8: ((int8_t *)base)[i] = (int8_t)(uint8_t)(uint64_t)(int64_t)v; break; /* wraps, as NCCL adds int8 */
    case SB_INT32: { int32_t x = (int32_t)(uint32_t)(uint64_t)(int64_t)v; memcpy((char *)base + 4 * i, &x, 4); break; }
    case SB_FP32: { float f = (float)v; memcpy((char *)base + 4 * i, &f, 4); break; }
    case SB_BF16: { uint16_t h = to_bf16((float)v, 0); memcpy((char *)base + 2 * i, &h, 2); break; }
    default: { uint16_t h = to_fp16((float)v, 0); memcpy((char *)base + 2 * i, &h, 2); break; }
    }
}

/* Ranks simulated in one process: each output row computed from the input rows as the collective
 * defines it; reductions in rank order, each step rounded to the type (bf16 and fp16 sums of two
 * values are exact in double before that rounding; integer sums wrap). */
static sb_status run_collective(void *context, const sb_collective *co, const sb_tensor *in, sb_tensor *out, double *seconds,
                                double *joules, char *reason, size_t reason_size) {
    (void)context; (void)seconds; (void)joules;
    if (co->type != SB_FP32 && co->type != SB_FP16 && co->type != SB_BF16 && co->type != SB_INT8 && co->type != SB_INT32) {
        snprintf(reason, reason_size, "type not implemented by the example adapter");
        return SB_NOT_SUPPORTED;
    }
    size_t width = sb_type_width(co->type);
    long long n = co->ranks, ic = co->input_count, oc = co->output_count;
    const void *x = in ? in->data : NULL;
    void *y = out ? out->data : NULL;
    void *own_in = NULL, *own_out = NULL;
    if (co->timing_only) {
        /* Buffers of our own, as a device would use; the example stops at 512 MiB in all. */
        if ((double)(ic + oc) * (double)n * (double)width > 512.0 * 1024 * 1024) {
            snprintf(reason, reason_size, "the example adapter moves at most 512 MiB of buffers");
            return SB_NOT_SUPPORTED;
        }
        own_in = calloc((size_t)(n * ic), width);
        own_out = calloc((size_t)(n * oc), width);
        if (!own_in || !own_out) { free(own_in); free(own_out); snprintf(reason, reason_size, "out of memory"); return SB_ERROR; }
        x = own_in;
        y = own_out;
    }
    long long block = co->op == SB_ALL_TO_ALL ? ic / n : (co->op == SB_ALL_GATHER ? ic : oc);
    for (long long r = 0; r < n; r++) {
        for (long long i = 0; i < oc; i++) {
            size_t o = (size_t)(r * oc + i);
            if (co->op == SB_ALL_REDUCE || co->op == SB_REDUCE_SCATTER) {
                long long j = co->op == SB_ALL_REDUCE ? i : r * oc + i;
                double acc = load_value(x, (size_t)j, co->type);
                for (long long k = 1; k < n; k++) {
                    double v = load_value(x, (size_t)(k * ic + j), co->type);
                    double combined = co->reduction == SB_SUM ? acc + v : co->reduction == SB_MAX ? fmax(acc, v) : fmin(acc, v);
                    /* Round each step to the type. */
                    store_value(y, o, co->type, combined);
                    acc = load_value(y, o, co->type);
                }
                store_value(y, o, co->type, acc);
                continue;
            }
            long long k, j;
            switch (co->op) {
            case SB_ALL_GATHER: k = i / block; j = i % block; break;
            case SB_ALL_TO_ALL: k = i / block; j = r * block + i % block; break;
            case SB_BROADCAST: k = co->root; j = i; break;
            default: k = (r - 1 + n) % n; j = i; break;
            }
            memcpy((char *)y + o * width, (const char *)x + (size_t)(k * ic + j) * width, width);
        }
    }
    free(own_in);
    free(own_out);
    return SB_OK;
}

int main(void) {
    sb_adapter adapter = {device_json, "wall", "none", run_gemm, run_attention, run_collective};
    return sb_serve(&adapter, NULL);
}
