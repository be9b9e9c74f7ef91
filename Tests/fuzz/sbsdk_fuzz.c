/* libFuzzer harness for the adapter SDK's request handling: any bytes as one request line. */
#include "sbsdk.h"

#include <stdint.h>
#include <stdlib.h>

static sb_status run_gemm(void *context, const sb_gemm *g, const sb_tensor *a, const sb_tensor *b, sb_tensor *c, double *seconds,
                          double *joules, char *reason, size_t reason_size) {
    (void)context; (void)g; (void)a; (void)b; (void)seconds; (void)joules; (void)reason; (void)reason_size;
    /* Touch the whole output mapping, as a real device would. */
    for (size_t i = 0; i < c->bytes; i++) ((unsigned char *)c->data)[i] = 0;
    return SB_OK;
}

static sb_status run_attention(void *context, const sb_attention *at, const sb_tensor *q, const sb_tensor *k, const sb_tensor *v,
                               const sb_tensor *kv_lens, const sb_tensor *page_table, sb_tensor *o, double *seconds, double *joules,
                               char *reason, size_t reason_size) {
    (void)context; (void)q; (void)seconds; (void)joules; (void)reason; (void)reason_size;
    /* Read every key and value a sequence owns through the checked lengths and page table, as a
     * real kernel would: the sanitizers catch any page or position the SDK let through unchecked. */
    const int32_t *lengths = kv_lens->data;
    unsigned char sum = 0;
    size_t width = sb_type_width(at->kv), row = (size_t)(at->kv_heads * at->head_dim) * width;
    for (long long b = 0; b < at->batch; b++) {
        for (long long s = 0; s < lengths[b]; s++) {
            size_t offset;
            if (at->layout == SB_KV_PAGED) {
                long long per_sequence = (at->kv_len + at->page_size - 1) / at->page_size;
                long long page = ((const int32_t *)page_table->data)[b * per_sequence + s / at->page_size];
                offset = (size_t)(page * at->page_size + s % at->page_size) * row;
            } else if (at->layout == SB_KV_BSHD) {
                offset = (size_t)(b * at->kv_len + s) * row;
            } else {
                offset = (size_t)((b * at->kv_heads) * at->kv_len + s) * at->head_dim * width;
            }
            sum ^= ((const unsigned char *)k->data)[offset] ^ ((const unsigned char *)v->data)[offset];
        }
    }
    for (size_t i = 0; i < o->bytes; i++) ((unsigned char *)o->data)[i] = sum;
    return SB_OK;
}

static sb_status run_collective(void *context, const sb_collective *co, const sb_tensor *in, sb_tensor *out, double *seconds,
                                double *joules, char *reason, size_t reason_size) {
    (void)context; (void)seconds; (void)joules; (void)reason; (void)reason_size;
    if (co->timing_only) return SB_OK;
    /* Read every input element and write every output element through the checked counts. */
    size_t width = sb_type_width(co->type);
    unsigned char sum = 0;
    for (size_t i = 0; i < (size_t)(co->ranks * co->input_count) * width; i++) sum ^= ((const unsigned char *)in->data)[i];
    for (size_t i = 0; i < (size_t)(co->ranks * co->output_count) * width; i++) ((unsigned char *)out->data)[i] = sum;
    return SB_OK;
}

/* Protocol 2 with every feature, so mutations reach every field's checks. */
static const sb_adapter adapter = {"{\"name\": \"fuzz\"}", "wall", "none", run_gemm, run_attention, run_collective, 2, 0x7F, 0x7};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char *reply;
    if (!reply) reply = malloc(1 << 20);
    sb_handle_line(&adapter, NULL, (const char *)data, size, reply, 1 << 20);
    return 0;
}
