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

static const sb_adapter adapter = {"{\"name\": \"fuzz\"}", "wall", "none", run_gemm};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char *reply;
    if (!reply) reply = malloc(1 << 20);
    sb_handle_line(&adapter, NULL, (const char *)data, size, reply, 1 << 20);
    return 0;
}
