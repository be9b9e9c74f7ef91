/*
 * SystolicBench adapter SDK: the process protocol (PROTOCOL.md, version 1) in C, on libjson-c.
 *
 * A vendor fills an sb_adapter with a description of the device and a run_gemm callback, and
 * calls sb_serve(). The SDK reads requests on fd 3 and answers on fd 4, maps the tensor files
 * (inputs read-only, the output read-write, never copied), runs the warm-up and timed repeats the
 * harness asks for, and reports the samples, energy and errors. Anything malformed from the
 * harness is answered with an error reply; the loop never trusts a length it did not check.
 *
 * Build with SwiftPM (target SystolicAdapterSDK) or with plain cc:
 *   cc -O2 -o my-adapter my-adapter.c sbsdk.c -I. $(pkg-config --cflags --libs json-c)
 */
#ifndef SBSDK_H
#define SBSDK_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { SB_FP32, SB_FP16, SB_BF16, SB_FP8_E4M3, SB_FP8_E5M2, SB_INT8, SB_INT32 } sb_type;

/* Bytes per element of a type. */
size_t sb_type_width(sb_type type);

/* A tensor file mapped into memory: raw little-endian element bits, row-major. */
typedef struct {
    const char *path;
    sb_type type;
    int rank;
    long long shape[8];
    size_t bytes;
    void *data;
} sb_tensor;

/* One GEMM request: C[batch, M, N] = A[batch, M, K] · B (stored [batch, K, N], or [batch, N, K]
 * when layout_nk), accumulated in `accumulate`, converted to `output` (saturating or IEEE). */
typedef struct {
    long long m, n, k, batch;
    sb_type a, b, accumulate, output;
    int layout_nk;
    int overflow_saturate;
} sb_gemm;

typedef enum { SB_OK = 0, SB_NOT_SUPPORTED = 1, SB_ERROR = 2 } sb_status;

typedef struct {
    /* The device descriptor as a JSON object (the results file's device format). Required. */
    const char *device_json;
    /* "device" when run_gemm reports *seconds from the device's own timer, else "wall". */
    const char *timer;
    /* "none", "modelled", "on_chip_counter", "board_sensor" or "wall_meter". */
    const char *energy_source;
    /* Runs one GEMM once, writing c->data. May set *seconds (device time of this run) and
     * *joules; on SB_NOT_SUPPORTED or SB_ERROR, writes a reason. Required. */
    sb_status (*run_gemm)(void *context, const sb_gemm *gemm, const sb_tensor *a, const sb_tensor *b, sb_tensor *c,
                          double *seconds, double *joules, char *reason, size_t reason_size);
} sb_adapter;

/* Serves the protocol until shutdown or until the harness closes fd 3. Returns the exit status. */
int sb_serve(const sb_adapter *adapter, void *context);

/* Handles one request line (exposed for tests and fuzzing): writes the reply line, without its
 * newline, into reply (at most reply_size bytes). Returns 1 after a shutdown request, else 0. */
int sb_handle_line(const sb_adapter *adapter, void *context, const char *line, size_t length, char *reply, size_t reply_size);

#ifdef __cplusplus
}
#endif
#endif
