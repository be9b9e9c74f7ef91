/*
 * SystolicBench adapter SDK: the process protocol (docs/protocol.md, versions 1 and 2) in C, on libjson-c.
 *
 * A vendor fills an sb_adapter with a description of the device, a run_gemm callback and
 * optionally run_attention and run_collective callbacks, and calls sb_serve(). The SDK reads requests on fd 3 and answers on fd 4, maps the tensor files
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

/* fp6 E2M3 and E3M2 and fp4 E2M1 (OCP MX element formats, docs/formats.md) are GEMM inputs only,
 * one code per byte in the low bits. int4 (two's complement, −8…7) and uint4 (0…15, with zero
 * points) are int4 weights, B only, packed two per byte: element 2i in bits 0–3 of byte i, element
 * 2i + 1 in bits 4–7 (sb_nibble reads one). Appended, so earlier values keep their numbers. */
typedef enum { SB_FP32, SB_FP16, SB_BF16, SB_FP8_E4M3, SB_FP8_E5M2, SB_INT8, SB_INT32, SB_FP6_E2M3, SB_FP6_E3M2, SB_FP4_E2M1,
               SB_INT4, SB_UINT4 } sb_type;

/* Bytes per element of a type (1 for int4 and uint4, whose files hold two per byte). */
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

/* Element i of an int4 or uint4 tensor: −8…7 (int4, bit 3 the sign) or 0…15 (uint4). */
int sb_nibble(const sb_tensor *t, size_t i);

/* Protocol 2's GEMM features (docs/protocol.md, "Features"): an adapter declares the ones it
 * implements in sb_adapter.gemm_features, and is sent only cases that use no other. */
enum {
    SB_GEMM_BIAS = 1 << 0,
    SB_GEMM_ACTIVATION = 1 << 1,
    SB_GEMM_SCALES = 1 << 2,
    SB_GEMM_BLOCK_SCALES = 1 << 3,
    SB_GEMM_REQUANTIZATION = 1 << 4,
    SB_GEMM_LEADING_DIMENSIONS = 1 << 5,
    SB_GEMM_GROUPS = 1 << 6,
    SB_GEMM_ACCUMULATE_C = 1 << 7,
    SB_GEMM_BLOCK_FORMATS = 1 << 8,
    SB_GEMM_QUANTIZES_A = 1 << 9,
    SB_GEMM_INT4_WEIGHTS = 1 << 10
};
enum { SB_ATTENTION_KV_SCALES = 1 << 0, SB_ATTENTION_LAYOUT_BSHD = 1 << 1, SB_ATTENTION_LAYOUT_PAGED = 1 << 2 };

typedef enum { SB_ACTIVATION_NONE, SB_ACTIVATION_RELU, SB_ACTIVATION_GELU_ERF, SB_ACTIVATION_GELU_TANH } sb_activation;
typedef enum { SB_REQUANT_NONE, SB_REQUANT_FP32_SCALE, SB_REQUANT_FIXED_POINT } sb_requant;
/* Block-scaled operands (docs/formats.md): none, MX (blocks of 32 along K, E8M0 scales) or NVFP4
 * (blocks of 16 E2M1 values, E4M3 scales, an fp32 scale per tensor). */
typedef enum { SB_BLOCKS_NONE, SB_BLOCKS_MX, SB_BLOCKS_NVFP4, SB_BLOCKS_INT4 } sb_block_scheme;

/* One GEMM request: C[batch, M, N] = A[batch, M, K] · B (stored [batch, K, N], or [batch, N, K]
 * when layout_nk), accumulated in `accumulate`, converted to `output` (saturating or IEEE).
 *
 * Protocol 2 adds what a case may use (each zero, NULL or 1 when the case does not, so code for a
 * plain GEMM reads only the first fields). The SDK has checked every tensor's type and shape, that
 * group sizes are non-negative and sum to M, and, with ldc, has copied C's initial rows into c
 * before each call: write the M×N matrix and leave the padding as it is. */
typedef struct {
    long long m, n, k, batch;
    sb_type a, b, accumulate, output;
    int layout_nk;
    int overflow_saturate;
    /* Row strides of A [batch, M, lda], B [matrices, K or N, ldb] and C [batch, M, ldc] as stored:
     * k, n (or k when layout_nk) and n when packed. */
    long long lda, ldb, ldc;
    /* bias [N]: fp32, or int32 for int8 GEMMs; added to every row before the activation. */
    const sb_tensor *bias;
    sb_activation activation;
    /* Per-tensor scales: C = conv(scale_a·scale_b·Σ a·b / scale_output). */
    double scale_a, scale_b, scale_output;
    /* Block scales: block_a = {rows, cols} of A's blocks and scale_a_blocks fp32 [batch, ⌈M/rows⌉,
     * ⌈K/cols⌉]; block_b and scale_b_blocks fp32 [matrices, ⌈K/rows⌉, ⌈N/cols⌉]; {0, 0} and NULL
     * when not blocked. Each K group's partial sum is scaled by its blocks' scales (numerics.md). */
    long long block_a[2], block_b[2];
    const sb_tensor *scale_a_blocks, *scale_b_blocks;
    /* int32 → int8 requantisation: scale fp32 and zero_point int32 ([N] when per channel, else [1]),
     * multiplier and shift int32 for the fixed-point scheme (numerics.md, "int8 requantisation"). */
    sb_requant requant;
    int requant_per_channel;
    const sb_tensor *scale, *zero_point, *multiplier, *shift;
    /* A grouped GEMM: `groups` experts, group_sizes int32 [groups] (rows of A and C per expert, in
     * order); B is [groups, K, N] (or [groups, N, K]). 0 and NULL when not grouped. */
    long long groups;
    const sb_tensor *group_sizes;
    /* D = A·B + C: C [batch, M, N] in fp32 or the output type, added where the device's declared
     * matrix engine adds it (docs/arithmetic.md); NULL for D = A·B. Never with ldc. */
    const sb_tensor *addend;
    /* MX or NVFP4 operands (block_formats): a and b hold element codes of the types a and b, one
     * per byte; scale_a_blocks and scale_b_blocks the block scales as fp32 values (block_a
     * {1, 32} and block_b {32, 1}, or 16 for NVFP4; a NaN scale loses its block); for NVFP4,
     * tensor_scale_a and tensor_scale_b fp32 [1], which multiply the finished sum. With
     * quantize_a (quantizes_a), a holds A unquantised in type a_from, with no scale_a_blocks nor
     * tensor_scale_a: quantise it by the scheme, rounding the scales as the device declares
     * (its arithmetic's scale_rounding). */
    sb_block_scheme block_scheme;
    int quantize_a;
    sb_type a_from;
    const sb_tensor *tensor_scale_a, *tensor_scale_b;
    /* int4 weights (int4_weights, block_scheme SB_BLOCKS_INT4; docs/formats.md): b int4, or uint4
     * with zero_b uint4 [matrices, K/group, N]; a bf16 or fp16, or int8 with scale_a_blocks one
     * fp32 scale per row (block_a {1, group}, equal along the row); scale_b_blocks the group
     * scales as fp32 values (block_b {group, 1}; int4_scale_type is their type in the checkpoint).
     * C = Σ_groups sa·sb·Σ a·(q − z). */
    long long int4_group;
    sb_type int4_scale_type;
    int int4_zero_point;
    const sb_tensor *zero_b;
} sb_gemm;

/* How an attention request's KV cache is laid out (docs/protocol.md). */
typedef enum { SB_KV_BHSD, SB_KV_BSHD, SB_KV_PAGED } sb_kv_layout;

/* One attention request: O[batch, heads, q_len, head_dim] = softmax(Q·Kᵀ·scale + mask)·V, with
 * query head h reading kv head h / (heads / kv_heads); keys k_scale·K and values v_scale·V; when
 * causal, query i of a sequence of kv length L sees keys 0 … i + L − q_len (bottom-right), and a
 * row that sees none outputs zeros. P may be rounded to `p` before P·V. K and V are
 * [batch, kv_heads, kv_len, head_dim] (BHSD), [batch, kv_len, kv_heads, head_dim] (BSHD), or pages
 * [pages, page_size, kv_heads, head_dim] found through page_table [batch, pages per sequence].
 * The SDK has checked every shape, every kv length (1 … kv_len) and every page number a sequence
 * needs (0 … pages − 1) before the callback runs. */
typedef struct {
    long long batch, heads, kv_heads, head_dim, q_len;
    /* The longest kv length; each sequence's own is in the kv_lens tensor (int32). */
    long long kv_len;
    long long page_size, pages;
    int causal;
    double scale, k_scale, v_scale;
    sb_type input, kv, accumulate, p, output;
    sb_kv_layout layout;
    int overflow_saturate;
} sb_attention;

typedef enum { SB_ALL_REDUCE, SB_ALL_GATHER, SB_REDUCE_SCATTER, SB_ALL_TO_ALL, SB_BROADCAST, SB_SEND_RECV } sb_collective_op;
typedef enum { SB_SUM, SB_MAX, SB_MIN } sb_reduction;

/* One collective request over `ranks` ranks (nccl-tests' semantics, docs/protocol.md): `bytes` is
 * nccl-tests' size S; `in` is [ranks, input_count] (rank r's send buffer in row r) and `out`
 * [ranks, output_count]. For a timing_only request both are NULL: the device moves buffers of its
 * own of those sizes and reports the time. */
typedef struct {
    sb_collective_op op;
    long long ranks, bytes, input_count, output_count;
    sb_type type;
    sb_reduction reduction;
    int in_place, root, timing_only;
} sb_collective;

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
    /* Runs one attention case once, writing o->data; page_table is NULL unless the layout is
     * paged. Optional: when NULL, attention requests are answered not_supported (declare
     * "attention" in the descriptor's ops, and exp_ulps in its arithmetic, only with it set). */
    sb_status (*run_attention)(void *context, const sb_attention *attention, const sb_tensor *q, const sb_tensor *k,
                               const sb_tensor *v, const sb_tensor *kv_lens, const sb_tensor *page_table, sb_tensor *o,
                               double *seconds, double *joules, char *reason, size_t reason_size);
    /* Runs one collective once, writing out->data (both NULL for timing_only). Optional: when NULL,
     * collective requests are answered not_supported. */
    sb_status (*run_collective)(void *context, const sb_collective *collective, const sb_tensor *in, sb_tensor *out,
                                double *seconds, double *joules, char *reason, size_t reason_size);
    /* 2 to speak protocol 2 (when the harness offers it) and declare the features below; 0 or 1
     * for protocol 1, where a GEMM request is always plain. (Last, so that an adapter written for
     * version 1 compiles unchanged.) */
    int protocol;
    /* SB_GEMM_* and SB_ATTENTION_* flags: what run_gemm and run_attention implement (protocol 2). */
    unsigned gemm_features;
    unsigned attention_features;
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
