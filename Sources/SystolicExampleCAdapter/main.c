/*
 * An example SystolicBench adapter on the C SDK: a straightforward CPU GEMM that declares its
 * arithmetic honestly (fp32 accumulator, fp32/bf16/int8 inputs, subnormals preserved) and sums in
 * the weight-stationary order of a 128-row array. A vendor replaces run_gemm with a call into
 * their driver.
 *
 *   cc -O2 -o example-adapter main.c ../SystolicAdapterSDK/sbsdk.c -I../SystolicAdapterSDK/include \
 *      $(pkg-config --cflags --libs json-c) -lm
 */
#include "sbsdk.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define TILE 128

static const char *device_json =
    "{\"name\": \"example-c-cpu\", \"vendor\": \"SystolicBench example\", \"product\": \"C CPU adapter on the SDK\","
    " \"driver_version\": \"1.0.0\", \"kind\": \"hardware\","
    " \"arithmetic\": {\"accumulator\": \"fp32\", \"subnormals\": \"preserve\", \"overflow_modes\": [\"saturate\", \"ieee\"],"
    "  \"input_types\": [\"fp32\", \"bf16\", \"int8\"]},"
    " \"ops\": [\"gemm\"], \"array\": {\"rows\": 128, \"cols\": 128, \"dataflow\": \"weight_stationary\", \"clock_hz\": 1e9},"
    " \"peak_ops_per_second\": {\"fp32\": 1e10, \"bf16\": 1e10, \"int8\": 1e10}}";

static float load_float(const void *base, size_t i, sb_type t) {
    uint32_t bits;
    switch (t) {
    case SB_FP32: memcpy(&bits, (const char *)base + 4 * i, 4); break;
    case SB_BF16: { uint16_t h; memcpy(&h, (const char *)base + 2 * i, 2); bits = (uint32_t)h << 16; break; }
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

static sb_status run_gemm(void *context, const sb_gemm *g, const sb_tensor *a, const sb_tensor *b, sb_tensor *c, double *seconds,
                          double *joules, char *reason, size_t reason_size) {
    (void)context; (void)seconds; (void)joules;
    int integer = g->a == SB_INT8;
    if (integer ? (g->b != SB_INT8 || (g->output != SB_INT32 && g->output != SB_INT8))
                : ((g->a != SB_FP32 && g->a != SB_BF16) || (g->b != SB_FP32 && g->b != SB_BF16) ||
                   (g->output != SB_FP32 && g->output != SB_BF16))) {
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
                    uint16_t h = to_bf16(total, g->overflow_saturate);
                    memcpy((char *)c->data + 2 * out, &h, 2);
                }
            }
        }
    }
    return SB_OK;
}

int main(void) {
    sb_adapter adapter = {device_json, "wall", "none", run_gemm};
    return sb_serve(&adapter, NULL);
}
