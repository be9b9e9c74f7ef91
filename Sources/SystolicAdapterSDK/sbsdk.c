#include "sbsdk.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SB_REQUEST_FD 3
#define SB_REPLY_FD 4
#define SB_MAX_LINE (1 << 20)
#define SB_MAX_SAMPLES 10000
#define SB_MAX_DIM (1LL << 31)

size_t sb_type_width(sb_type type) {
    switch (type) {
    case SB_FP32: case SB_INT32: return 4;
    case SB_FP16: case SB_BF16: return 2;
    default: return 1;
    }
}

static int parse_type(const char *s, sb_type *t) {
    static const char *names[] = {"fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "int8", "int32", "fp6_e2m3", "fp6_e3m2", "fp4_e2m1", "int4", "uint4"};
    if (!s) return 0;
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++) if (strcmp(s, names[i]) == 0) { *t = (sb_type)i; return 1; }
    return 0;
}

static const char *get_string(json_object *o, const char *key) {
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string)) return NULL;
    return json_object_get_string(v);
}

static int get_int(json_object *o, const char *key, long long min, long long max, long long *out) {
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int)) return 0;
    errno = 0;
    long long x = json_object_get_int64(v);
    if (errno || x < min || x > max) return 0;
    *out = x;
    return 1;
}

static int get_number(json_object *o, const char *key, double min, double max, double *out) {
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v)) return 0;
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double)) return 0;
    double x = json_object_get_double(v);
    if (!(x >= min && x <= max)) return 0;
    *out = x;
    return 1;
}

/* Copies a serialised object into the reply buffer; an over-long reply becomes a short error. */
static void emit(json_object *obj, char *reply, size_t size) {
    const char *text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
    size_t n = strlen(text);
    if (n + 2 > size) {  /* the text, its terminator, and room for sb_serve's newline */
        snprintf(reply, size, "{\"type\":\"error\",\"id\":\"\",\"reason\":\"reply too long\"}");
    } else {
        memcpy(reply, text, n + 1);
    }
}

static void reply_status(char *reply, size_t size, const char *type, const char *id, const char *reason) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string(type));
    json_object_object_add(o, "id", json_object_new_string(id ? id : ""));
    json_object_object_add(o, "reason", json_object_new_string(reason ? reason : ""));
    emit(o, reply, size);
    json_object_put(o);
}

/* Reads path, type and shape of a tensor description, checking every field and the byte count. */
static int describe_tensor(json_object *spec, sb_tensor *t, char *why, size_t n) {
    memset(t, 0, sizeof *t);
    t->path = get_string(spec, "path");
    if (!t->path || !parse_type(get_string(spec, "type"), &t->type)) { snprintf(why, n, "tensor without a path or a known type"); return 0; }
    json_object *shape;
    if (!json_object_object_get_ex(spec, "shape", &shape) || !json_object_is_type(shape, json_type_array)) {
        snprintf(why, n, "tensor %s without a shape", t->path);
        return 0;
    }
    size_t rank = json_object_array_length(shape);
    if (rank < 1 || rank > 8) { snprintf(why, n, "tensor %s has rank %zu", t->path, rank); return 0; }
    unsigned long long count = 1;
    for (size_t i = 0; i < rank; i++) {
        json_object *d = json_object_array_get_idx(shape, i);
        if (!json_object_is_type(d, json_type_int)) { snprintf(why, n, "tensor %s: a dimension is not an integer", t->path); return 0; }
        long long v = json_object_get_int64(d);
        if (v < 1 || v > SB_MAX_DIM) { snprintf(why, n, "tensor %s: dimension %lld out of range", t->path, v); return 0; }
        t->shape[i] = v;
        count *= (unsigned long long)v;
        if (count > (1ULL << 40)) { snprintf(why, n, "tensor %s is too large", t->path); return 0; }
    }
    t->rank = (int)rank;
    /* int4 and uint4 files hold two elements per byte (an odd count leaves a high nibble unused). */
    t->bytes = t->type == SB_INT4 || t->type == SB_UINT4 ? (size_t)(count + 1) / 2 : (size_t)count * sb_type_width(t->type);
    return 1;
}

int sb_nibble(const sb_tensor *t, size_t i) {
    uint8_t byte = ((const uint8_t *)t->data)[i / 2];
    int nibble = i % 2 == 0 ? byte & 0x0F : byte >> 4;
    return t->type == SB_INT4 && nibble >= 8 ? nibble - 16 : nibble;
}

/* Mappings kept from one request to the next. The harness reuses its tensor files across cases
 * of the same sizes (docs/protocol.md, "Tensor files"), so opening, mapping and unmapping every
 * tensor of every case (five system calls and fresh page faults each) was most of a small case's
 * cost. A mapping is reused only while its path still names the same file (device, inode) of the
 * same size, and each call drops the mappings it did not use, so at most one case's tensors stay
 * mapped between requests. Inputs are mapped shared and read-only: the harness's writes to the
 * file are what the next case reads. Tensors are never empty (describe_tensor), so every mapping
 * has a size. */
typedef struct {
    char *path;
    dev_t device;
    ino_t inode;
    size_t bytes;
    int writable;
    int used;
    void *data;
} sb_mapping;

enum { SB_MAPPINGS = 32 };
static sb_mapping s_mappings[SB_MAPPINGS];

static void drop_mapping(sb_mapping *m) {
    if (m->data && m->bytes) munmap(m->data, m->bytes);
    free(m->path);
    memset(m, 0, sizeof *m);
}

/* The kept mapping for this path, file and size, or NULL (dropping a stale one for the path). */
static sb_mapping *kept_mapping(const sb_tensor *t, const struct stat *st, int writable) {
    for (int i = 0; i < SB_MAPPINGS; i++) {
        sb_mapping *m = &s_mappings[i];
        if (!m->path || strcmp(m->path, t->path) != 0) continue;
        if (m->device == st->st_dev && m->inode == st->st_ino && m->bytes == t->bytes && m->writable == writable && !m->used) return m;
        if (!m->used) drop_mapping(m);
    }
    return NULL;
}

static void keep_mapping(const sb_tensor *t, const struct stat *st, int writable, void *data) {
    for (int i = 0; i < SB_MAPPINGS; i++) {
        sb_mapping *m = &s_mappings[i];
        if (m->path) continue;
        m->path = strdup(t->path);
        if (!m->path) break;
        m->device = st->st_dev; m->inode = st->st_ino; m->bytes = t->bytes; m->writable = writable; m->used = 1; m->data = data;
        return;
    }
    /* No room: unmapped after the call, like any mapping not kept. */
}

static int is_kept(const void *data) {
    for (int i = 0; i < SB_MAPPINGS; i++)
        if (s_mappings[i].path && s_mappings[i].data == data) return 1;
    return 0;
}

static int map_input(sb_tensor *t, char *why, size_t n) {
    struct stat st;
    if (stat(t->path, &st) == 0 && (size_t)st.st_size == t->bytes) {
        sb_mapping *m = kept_mapping(t, &st, 0);
        if (m) { m->used = 1; t->data = m->data; return 1; }
    }
    int fd = open(t->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { snprintf(why, n, "cannot open %s: %s", t->path, strerror(errno)); return 0; }
    if (fstat(fd, &st) != 0 || (size_t)st.st_size != t->bytes) {
        snprintf(why, n, "%s holds %lld bytes, %zu expected", t->path, (long long)st.st_size, t->bytes);
        close(fd);
        return 0;
    }
    void *p = mmap(NULL, t->bytes, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) { snprintf(why, n, "cannot map %s: %s", t->path, strerror(errno)); return 0; }
    t->data = p;
    keep_mapping(t, &st, 0, p);
    return 1;
}

static int map_output(sb_tensor *t, char *why, size_t n) {
    struct stat st;
    if (lstat(t->path, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == t->bytes) {
        sb_mapping *m = kept_mapping(t, &st, 1);
        if (m) { m->used = 1; t->data = m->data; return 1; }
    }
    /* Written in place, into the file the harness made at its full size (docs/protocol.md): the
     * SDK never creates or resizes a file, so a request naming another path writes nothing there. */
    int fd = open(t->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) { snprintf(why, n, "cannot open output %s: %s", t->path, strerror(errno)); return 0; }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size != t->bytes) {
        snprintf(why, n, "output %s is not a regular file of %zu bytes (the harness makes it at its full size)", t->path, t->bytes);
        close(fd);
        return 0;
    }
    void *p = mmap(NULL, t->bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) { snprintf(why, n, "cannot map %s: %s", t->path, strerror(errno)); return 0; }
    t->data = p;
    keep_mapping(t, &st, 1, p);
    return 1;
}

static void unmap(sb_tensor *t) {
    if (t->data && !is_kept(t->data)) munmap(t->data, t->bytes);
    t->data = NULL;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int check_gemm_contents(const sb_gemm *g, char *why, size_t n);

/* One call of a device callback: the op and its mapped tensors. */
typedef struct {
    const sb_gemm *gemm;
    const sb_attention *attention;
    const sb_collective *collective;
    sb_tensor *inputs[16];
    int input_count;
    sb_tensor *output;
    const char *output_role;
    /* A GEMM with ldc: C's initial rows, copied into the output before every call so that a device
     * writing only the M×N matrix returns the padding untouched. */
    const sb_tensor *c_initial;
} sb_call;

static sb_status invoke(const sb_adapter *adapter, void *context, const sb_call *call, double *device, double *joules, char *why, size_t n) {
    if (call->gemm) {
        const sb_tensor *initial = call->c_initial;
        if (initial) memcpy(call->output->data, initial->data, call->output->bytes);
        return adapter->run_gemm(context, call->gemm, call->inputs[0], call->inputs[1], call->output, device, joules, why, n);
    }
    if (call->collective)
        return adapter->run_collective(context, call->collective, call->input_count > 0 ? call->inputs[0] : NULL, call->output, device,
                                       joules, why, n);
    return adapter->run_attention(context, call->attention, call->inputs[0], call->inputs[1], call->inputs[2], call->inputs[3],
                                  call->input_count > 4 ? call->inputs[4] : NULL, call->output, device, joules, why, n);
}

static void unmap_call(sb_call *call) {
    for (int i = 0; i < call->input_count; i++) unmap(call->inputs[i]);
    if (call->output) unmap(call->output);
}

/* Maps the call's tensors (inputs read-only, the output read-write), reusing the previous call's
 * mappings where the files are the same and dropping those this call does not use. */
static int map_call(sb_call *call, char *why, size_t n) {
    for (int i = 0; i < SB_MAPPINGS; i++) s_mappings[i].used = 0;
    for (int i = 0; i < call->input_count; i++) {
        if (!map_input(call->inputs[i], why, n)) { unmap_call(call); return 0; }
    }
    if (call->output && !map_output(call->output, why, n)) { unmap_call(call); return 0; }
    for (int i = 0; i < SB_MAPPINGS; i++)
        if (s_mappings[i].path && !s_mappings[i].used) drop_mapping(&s_mappings[i]);
    return 1;
}

/* Runs the warm-up and timed repeats the request asks for, then writes the reply. The tensors are
 * mapped here and unmapped before returning. */
static void run_timed(const sb_adapter *adapter, void *context, json_object *request, const char *id, sb_call *call,
                      char *reply, size_t size) {
    char why[512] = "";
    json_object *timing;
    long long warmup = 0, repeats = 1;
    double min_seconds = 0;
    if (json_object_object_get_ex(request, "timing", &timing)) {
        get_int(timing, "warmup", 0, 1000, &warmup);
        get_int(timing, "min_repeats", 1, SB_MAX_SAMPLES, &repeats);
        get_number(timing, "min_seconds", 0, 3600, &min_seconds);
    }
    if (!map_call(call, why, sizeof why)) { reply_status(reply, size, "error", id, why); return; }
    if (call->gemm && !check_gemm_contents(call->gemm, why, sizeof why)) {
        unmap_call(call);
        reply_status(reply, size, "error", id, why);
        return;
    }
    /* One buffer for every request: 80 KB from malloc each time cost a heap consolidation per case. */
    static double *samples;
    if (!samples) samples = malloc(sizeof(double) * SB_MAX_SAMPLES);
    int count = 0;
    double total = 0, joules_total = 0;
    int have_joules = 0;
    sb_status status = SB_OK;
    for (long long run = 0; samples && status == SB_OK; run++) {
        double device = -1, joules = -1;
        double start = now_seconds();
        status = invoke(adapter, context, call, &device, &joules, why, sizeof why);
        double wall = now_seconds() - start;
        if (status != SB_OK || run < warmup) continue;
        double seconds = strcmp(adapter->timer, "device") == 0 && device >= 0 ? device : wall;
        samples[count++] = seconds;
        total += seconds;
        if (joules >= 0) { joules_total += joules; have_joules = 1; }
        if ((count >= repeats && total >= min_seconds) || count >= SB_MAX_SAMPLES) break;
    }
    unmap_call(call);
    if (!samples) { reply_status(reply, size, "error", id, "out of memory"); return; }
    if (status != SB_OK) {
        reply_status(reply, size, status == SB_NOT_SUPPORTED ? "not_supported" : "error", id, why[0] ? why : "the device failed");
        return;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string("result"));
    json_object_object_add(o, "id", json_object_new_string(id));
    json_object *outs = json_object_new_object();
    if (call->output) json_object_object_add(outs, call->output_role, json_object_new_string(call->output->path));
    json_object_object_add(o, "outputs", outs);
    json_object *list = json_object_new_array();
    for (int i = 0; i < count; i++) json_object_array_add(list, json_object_new_double(samples[i]));
    json_object_object_add(o, "samples_seconds", list);
    if (have_joules) json_object_object_add(o, "energy_joules", json_object_new_double(joules_total / count));
    emit(o, reply, size);
    json_object_put(o);
}

static int shape_is(const sb_tensor *t, sb_type type, int rank, long long d0, long long d1, long long d2, long long d3) {
    long long d[4] = {d0, d1, d2, d3};
    if (t->type != type || t->rank != rank) return 0;
    for (int i = 0; i < rank; i++) if (t->shape[i] != d[i]) return 0;
    return 1;
}

/* An optional member: absent (1, *present = 0), or present and valid (1), or present and invalid (0). */
static int optional_int(json_object *o, const char *key, long long min, long long max, long long *out, int *present) {
    json_object *v;
    *present = json_object_object_get_ex(o, key, &v);
    return !*present || get_int(o, key, min, max, out);
}

static int optional_number(json_object *o, const char *key, double min, double max, double *out) {
    json_object *v;
    return !json_object_object_get_ex(o, key, &v) || get_number(o, key, min, max, out);
}

/* A block shape [rows, cols], each in 1 … 2^31. */
static int optional_block(json_object *o, const char *key, long long block[2], int *present) {
    json_object *v;
    block[0] = block[1] = 0;
    *present = json_object_object_get_ex(o, key, &v);
    if (!*present) return 1;
    if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) != 2) return 0;
    for (int i = 0; i < 2; i++) {
        json_object *d = json_object_array_get_idx(v, (size_t)i);
        if (!json_object_is_type(d, json_type_int)) return 0;
        block[i] = json_object_get_int64(d);
        if (block[i] < 1 || block[i] > SB_MAX_DIM) return 0;
    }
    return 1;
}

/* By bit position of the SB_GEMM_* and SB_ATTENTION_* flags (sbsdk.h), in the protocol's words. */
static const char *gemm_feature_names[] = {"bias", "activation", "scales", "block_scales", "requantization", "leading_dimensions", "groups",
                                           "accumulate_c", "block_formats", "quantizes_a", "int4_weights"};
#define GEMM_FEATURES 11
static const char *attention_feature_names[] = {"kv_scales", "layout_bshd", "layout_paged"};

/* Looks up input `role` and describes it; *t is untouched (and 1 returned) when the role is absent
 * and not required. */
static int input_tensor(json_object *inputs, const char *role, int required, sb_tensor *t, int *present, char *why, size_t n) {
    json_object *spec;
    *present = json_object_object_get_ex(inputs, role, &spec);
    if (!*present) {
        if (required) snprintf(why, n, "the request has no input %s", role);
        return !required;
    }
    if (!describe_tensor(spec, t, why, n)) return 0;
    return 1;
}

/* What only the mapped data can show: group sizes that are counts of rows summing to M. */
static int check_gemm_contents(const sb_gemm *g, char *why, size_t n) {
    if (!g->group_sizes) return 1;
    long long total = 0;
    for (long long e = 0; e < g->groups; e++) {
        int32_t rows;
        memcpy(&rows, (const char *)g->group_sizes->data + 4 * e, 4);
        if (rows < 0) { snprintf(why, n, "group_sizes[%lld] is %d, a negative row count", e, rows); return 0; }
        total += rows;
    }
    if (total != g->m) { snprintf(why, n, "group_sizes sum to %lld rows, not M = %lld", total, g->m); return 0; }
    return 1;
}

static void handle_gemm(const sb_adapter *adapter, void *context, json_object *request, const char *id, char *reply, size_t size) {
    char why[512] = "";
    json_object *g, *inputs, *outputs, *c_spec;
    if (!json_object_object_get_ex(request, "gemm", &g) || !json_object_object_get_ex(request, "inputs", &inputs) ||
        !json_object_object_get_ex(request, "outputs", &outputs) || !json_object_object_get_ex(outputs, "c", &c_spec)) {
        reply_status(reply, size, "error", id, "malformed run request: gemm, inputs a and b, output c expected");
        return;
    }
    sb_gemm gemm;
    memset(&gemm, 0, sizeof gemm);
    const char *layout = get_string(g, "layout_b"), *overflow = get_string(g, "overflow");
    if (!get_int(g, "m", 1, SB_MAX_DIM, &gemm.m) || !get_int(g, "n", 1, SB_MAX_DIM, &gemm.n) || !get_int(g, "k", 1, SB_MAX_DIM, &gemm.k) ||
        !get_int(g, "batch", 1, 1 << 20, &gemm.batch) || !parse_type(get_string(g, "a"), &gemm.a) ||
        !parse_type(get_string(g, "b"), &gemm.b) || !parse_type(get_string(g, "accumulate"), &gemm.accumulate) ||
        !parse_type(get_string(g, "output"), &gemm.output) || !layout || !overflow) {
        reply_status(reply, size, "error", id, "malformed gemm description");
        return;
    }
    gemm.layout_nk = strcmp(layout, "nk") == 0;
    gemm.overflow_saturate = strcmp(overflow, "saturate") == 0;
    long long row_b = gemm.layout_nk ? gemm.k : gemm.n;
    gemm.lda = gemm.k; gemm.ldb = row_b; gemm.ldc = gemm.n;
    gemm.scale_a = gemm.scale_b = gemm.scale_output = 1;

    /* Protocol 2's fields, each checked, and the features they use. */
    unsigned used = 0;
    int has_lda, has_ldb, has_ldc, has_block_a, has_block_b, has_groups;
    json_object *v;
    /* Each field checked on its own, so the error names the one at fault. */
    const char *bad = !optional_int(g, "lda", gemm.k, SB_MAX_DIM, &gemm.lda, &has_lda)               ? "lda (at least k)"
                      : !optional_int(g, "ldb", row_b, SB_MAX_DIM, &gemm.ldb, &has_ldb)              ? "ldb (at least B's row length)"
                      : !optional_int(g, "ldc", gemm.n, SB_MAX_DIM, &gemm.ldc, &has_ldc)             ? "ldc (at least n)"
                      : !optional_number(g, "scale_a", 1e-300, 1e300, &gemm.scale_a)                 ? "scale_a (a positive number)"
                      : !optional_number(g, "scale_b", 1e-300, 1e300, &gemm.scale_b)                 ? "scale_b (a positive number)"
                      : !optional_number(g, "scale_output", 1e-300, 1e300, &gemm.scale_output)       ? "scale_output (a positive number)"
                      : !optional_block(g, "block_a", gemm.block_a, &has_block_a)                    ? "block_a ([rows, cols], each positive)"
                      : !optional_block(g, "block_b", gemm.block_b, &has_block_b)                    ? "block_b ([rows, cols], each positive)"
                      : !optional_int(g, "groups", 1, 1 << 20, &gemm.groups, &has_groups)            ? "groups (1 to 2^20 experts)"
                                                                                                    : NULL;
    if (bad) {
        snprintf(why, sizeof why, "malformed gemm description: %s", bad);
        reply_status(reply, size, "error", id, why);
        return;
    }
    if (has_lda || has_ldb || has_ldc) used |= SB_GEMM_LEADING_DIMENSIONS;
    if (gemm.scale_a != 1 || gemm.scale_b != 1 || gemm.scale_output != 1) used |= SB_GEMM_SCALES;
    if (has_block_a || has_block_b) used |= SB_GEMM_BLOCK_SCALES;
    if (has_groups) used |= SB_GEMM_GROUPS;
    int has_bias = json_object_object_get_ex(g, "bias", &v);
    if (has_bias) {
        if (!json_object_is_type(v, json_type_boolean)) { reply_status(reply, size, "error", id, "malformed gemm description: bias"); return; }
        has_bias = json_object_get_boolean(v);
        if (has_bias) used |= SB_GEMM_BIAS;
    }
    const char *activation = get_string(g, "activation");
    if (json_object_object_get_ex(g, "activation", &v)) {
        static const char *names[] = {"none", "relu", "gelu_erf", "gelu_tanh"};
        int found = -1;
        for (int i = 0; activation && i < 4; i++) if (strcmp(activation, names[i]) == 0) found = i;
        if (found < 0) { reply_status(reply, size, "error", id, "malformed gemm description: unknown activation"); return; }
        gemm.activation = (sb_activation)found;
        if (found) used |= SB_GEMM_ACTIVATION;
    }
    /* D = A·B + C: C's type, fp32 or the output type; never with strided C rows. */
    sb_type addend_type = SB_FP32;
    int has_addend = json_object_object_get_ex(g, "accumulate_c", &v);
    if (has_addend) {
        const char *name = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
        if (!name || !parse_type(name, &addend_type) || (addend_type != SB_FP32 && addend_type != gemm.output) || has_ldc) {
            reply_status(reply, size, "error", id, "malformed gemm description: accumulate_c (fp32 or the output type, without ldc)");
            return;
        }
        used |= SB_GEMM_ACCUMULATE_C;
    }
    if (json_object_object_get_ex(g, "requantization", &v)) {
        const char *scheme = get_string(v, "scheme");
        json_object *per_channel;
        if (!scheme || (strcmp(scheme, "fp32_scale") != 0 && strcmp(scheme, "fixed_point") != 0) ||
            !json_object_object_get_ex(v, "per_channel", &per_channel) || !json_object_is_type(per_channel, json_type_boolean)) {
            reply_status(reply, size, "error", id, "malformed gemm description: requantization");
            return;
        }
        gemm.requant = strcmp(scheme, "fp32_scale") == 0 ? SB_REQUANT_FP32_SCALE : SB_REQUANT_FIXED_POINT;
        gemm.requant_per_channel = json_object_get_boolean(per_channel);
        used |= SB_GEMM_REQUANTIZATION;
    }
    /* MX or NVFP4 operands: the scheme's blocks of A and B, element types it takes, and where the
     * device quantises A, the type A travels in. int4 weights: the group, its scales' type, zero
     * points, and the types and blocks they imply. */
    int nibble_b = gemm.b == SB_INT4 || gemm.b == SB_UINT4;
    if (json_object_object_get_ex(g, "block_format", &v)) {
        const char *scheme = get_string(v, "scheme");
        json_object *from;
        gemm.block_scheme = scheme && strcmp(scheme, "mx") == 0      ? SB_BLOCKS_MX
                            : scheme && strcmp(scheme, "nvfp4") == 0 ? SB_BLOCKS_NVFP4
                            : scheme && strcmp(scheme, "int4") == 0  ? SB_BLOCKS_INT4
                                                                     : SB_BLOCKS_NONE;
        if (gemm.block_scheme == SB_BLOCKS_INT4) {
            json_object *zero;
            int has_group, zero_ok = 1, scale_ok = parse_type(get_string(v, "scale_type"), &gemm.int4_scale_type) &&
                                                   (gemm.int4_scale_type == SB_FP16 || gemm.int4_scale_type == SB_BF16);
            int group_ok = optional_int(v, "group", 32, 128, &gemm.int4_group, &has_group) && has_group &&
                           (gemm.int4_group == 32 || gemm.int4_group == 64 || gemm.int4_group == 128);
            if (json_object_object_get_ex(v, "zero_point", &zero)) {
                zero_ok = json_object_is_type(zero, json_type_boolean);
                gemm.int4_zero_point = zero_ok && json_object_get_boolean(zero);
            }
            long long group = gemm.int4_group;
            int a_ok = gemm.a == SB_BF16 || gemm.a == SB_FP16 || gemm.a == SB_INT8;
            if (!scale_ok || !group_ok || !zero_ok || !a_ok || gemm.b != (gemm.int4_zero_point ? SB_UINT4 : SB_INT4) ||
                gemm.accumulate != SB_FP32 || has_groups || gemm.k % group != 0 || !has_block_b || gemm.block_b[0] != group ||
                gemm.block_b[1] != 1 || has_block_a != (gemm.a == SB_INT8) || (has_block_a && (gemm.block_a[0] != 1 || gemm.block_a[1] != group))) {
                reply_status(reply, size, "error", id,
                             "malformed gemm description: block_format (scheme int4: group 32, 64 or 128, scale_type fp16 or bf16, "
                             "b int4 or, with zero_point, uint4; a bf16, fp16 or int8 (with block_a [1, group]); block_b [group, 1]; "
                             "fp32 accumulator; K a whole number of groups; not grouped)");
                return;
            }
            used |= SB_GEMM_INT4_WEIGHTS;
        } else {
            long long block = gemm.block_scheme == SB_BLOCKS_MX ? 32 : 16;
            int mx_element = gemm.a == SB_FP8_E4M3 || gemm.a == SB_FP8_E5M2 || gemm.a == SB_FP6_E2M3 || gemm.a == SB_FP6_E3M2 || gemm.a == SB_FP4_E2M1;
            int mx_element_b = gemm.b == SB_FP8_E4M3 || gemm.b == SB_FP8_E5M2 || gemm.b == SB_FP6_E2M3 || gemm.b == SB_FP6_E3M2 || gemm.b == SB_FP4_E2M1;
            /* MXINT8: both operands int8 (each element k/64). */
            int mxint8 = gemm.a == SB_INT8 && gemm.b == SB_INT8;
            int elements_ok = gemm.block_scheme == SB_BLOCKS_MX ? (mx_element && mx_element_b) || mxint8 : gemm.a == SB_FP4_E2M1 && gemm.b == SB_FP4_E2M1;
            if (gemm.accumulate != SB_FP32) elements_ok = 0;
            if (json_object_object_get_ex(v, "a_from", &from)) {
                gemm.quantize_a = json_object_is_type(from, json_type_string) && parse_type(json_object_get_string(from), &gemm.a_from) &&
                                  (gemm.a_from == SB_FP32 || gemm.a_from == SB_BF16 || gemm.a_from == SB_FP16);
                if (!gemm.quantize_a) elements_ok = 0;
                used |= SB_GEMM_QUANTIZES_A;
            }
            if (gemm.block_scheme == SB_BLOCKS_NONE || !elements_ok || !has_block_a || !has_block_b || gemm.block_a[0] != 1 ||
                gemm.block_a[1] != block || gemm.block_b[0] != block || gemm.block_b[1] != 1 || gemm.k % block != 0) {
                reply_status(reply, size, "error", id,
                             "malformed gemm description: block_format (scheme mx or nvfp4 with its element types (MXINT8: both int8), an fp32 "
                             "accumulator, blocks [1, 32] and [32, 1] or [1, 16] and [16, 1], K a whole number of blocks, a_from fp32, bf16 or fp16)");
                return;
            }
            used |= SB_GEMM_BLOCK_FORMATS;
        }
    }
    if ((nibble_b || gemm.a == SB_INT4 || gemm.a == SB_UINT4) && gemm.block_scheme != SB_BLOCKS_INT4) {
        reply_status(reply, size, "error", id, "malformed gemm description: int4 and uint4 are int4 weights (b, with block_format scheme int4)");
        return;
    }
    /* A feature the adapter did not declare is refused, whatever the harness sent. */
    unsigned declared = adapter->protocol >= 2 ? adapter->gemm_features : 0;
    for (int i = 0; i < GEMM_FEATURES; i++) {
        if ((used & (1u << i)) && !(declared & (1u << i))) {
            snprintf(why, sizeof why, "this adapter does not implement gemm feature %s", gemm_feature_names[i]);
            reply_status(reply, size, "not_supported", id, why);
            return;
        }
    }

    /* The tensors, each with the type and shape the description implies. */
    enum { A, B, C_INITIAL, BIAS, SCALE, ZERO_POINT, MULTIPLIER, SHIFT, SCALE_A, SCALE_B, GROUP_SIZES, TENSOR_SCALE_A, TENSOR_SCALE_B, ZERO_B,
           INPUTS };
    static const char *roles[INPUTS] = {"a", "b", "c", "bias", "scale", "zero_point", "multiplier", "shift", "scale_a", "scale_b", "group_sizes",
                                        "tensor_scale_a", "tensor_scale_b", "zero_b"};
    long long c_count = gemm.requant_per_channel ? gemm.n : 1, matrices = has_groups ? gemm.groups : gemm.batch;
    int nvfp4 = gemm.block_scheme == SB_BLOCKS_NVFP4;
    int required[INPUTS] = {1, 1, has_ldc || has_addend, has_bias, gemm.requant != SB_REQUANT_NONE, gemm.requant != SB_REQUANT_NONE,
                            gemm.requant == SB_REQUANT_FIXED_POINT, gemm.requant == SB_REQUANT_FIXED_POINT, has_block_a && !gemm.quantize_a,
                            has_block_b, has_groups, nvfp4 && !gemm.quantize_a, nvfp4, gemm.int4_zero_point};
    sb_tensor t[INPUTS], c;
    int present[INPUTS];
    memset(t, 0, sizeof t);
    for (int i = 0; i < INPUTS; i++) {
        if (!input_tensor(inputs, roles[i], required[i], &t[i], &present[i], why, sizeof why)) { reply_status(reply, size, "error", id, why); return; }
        if (present[i] && !required[i]) {
            snprintf(why, sizeof why, "input %s is not one this gemm takes", roles[i]);
            reply_status(reply, size, "error", id, why);
            return;
        }
    }
    if (!describe_tensor(c_spec, &c, why, sizeof why)) { reply_status(reply, size, "error", id, why); return; }
    /* An int32 bias goes with an int32 accumulator (int8 GEMMs; W4A8 accumulates in fp32). */
    sb_type bias_type = gemm.a == SB_INT8 && gemm.accumulate == SB_INT32 ? SB_INT32 : SB_FP32;
    struct { int i; sb_type type; int rank; long long d0, d1, d2; } expect[INPUTS] = {
        {A, gemm.quantize_a ? gemm.a_from : gemm.a, 3, gemm.batch, gemm.m, gemm.lda},
        {B, gemm.b, 3, matrices, gemm.layout_nk ? gemm.n : gemm.k, gemm.ldb},
        {C_INITIAL, has_addend ? addend_type : gemm.output, 3, gemm.batch, gemm.m, gemm.ldc},
        {BIAS, bias_type, 1, gemm.n, 0, 0},
        {SCALE, SB_FP32, 1, c_count, 0, 0},
        {ZERO_POINT, SB_INT32, 1, c_count, 0, 0},
        {MULTIPLIER, SB_INT32, 1, c_count, 0, 0},
        {SHIFT, SB_INT32, 1, c_count, 0, 0},
        {SCALE_A, SB_FP32, 3, gemm.batch, has_block_a ? (gemm.m + gemm.block_a[0] - 1) / gemm.block_a[0] : 0,
         has_block_a ? (gemm.k + gemm.block_a[1] - 1) / gemm.block_a[1] : 0},
        {SCALE_B, SB_FP32, 3, matrices, has_block_b ? (gemm.k + gemm.block_b[0] - 1) / gemm.block_b[0] : 0,
         has_block_b ? (gemm.n + gemm.block_b[1] - 1) / gemm.block_b[1] : 0},
        {GROUP_SIZES, SB_INT32, 1, gemm.groups, 0, 0},
        {TENSOR_SCALE_A, SB_FP32, 1, 1, 0, 0},
        {TENSOR_SCALE_B, SB_FP32, 1, 1, 0, 0},
        {ZERO_B, SB_UINT4, 3, matrices, gemm.int4_group ? gemm.k / gemm.int4_group : 0, gemm.n},
    };
    for (int i = 0; i < INPUTS; i++) {
        if (!present[i]) continue;
        if (!shape_is(&t[i], expect[i].type, expect[i].rank, expect[i].d0, expect[i].d1, expect[i].d2, 0)) {
            snprintf(why, sizeof why, "input %s: type or shape does not match the gemm description", roles[i]);
            reply_status(reply, size, "error", id, why);
            return;
        }
    }
    if (!shape_is(&c, gemm.output, 3, gemm.batch, gemm.m, gemm.ldc, 0)) {
        reply_status(reply, size, "error", id, "output c: type or shape does not match the gemm description");
        return;
    }
    sb_call call;
    memset(&call, 0, sizeof call);
    call.gemm = &gemm;
    call.output = &c;
    call.output_role = "c";
    /* a and b first (run_gemm's arguments), the rest reached through the description. */
    for (int i = 0; i < INPUTS; i++) if (present[i]) call.inputs[call.input_count++] = &t[i];
    gemm.bias = present[BIAS] ? &t[BIAS] : NULL;
    gemm.scale = present[SCALE] ? &t[SCALE] : NULL;
    gemm.zero_point = present[ZERO_POINT] ? &t[ZERO_POINT] : NULL;
    gemm.multiplier = present[MULTIPLIER] ? &t[MULTIPLIER] : NULL;
    gemm.shift = present[SHIFT] ? &t[SHIFT] : NULL;
    gemm.scale_a_blocks = present[SCALE_A] ? &t[SCALE_A] : NULL;
    gemm.scale_b_blocks = present[SCALE_B] ? &t[SCALE_B] : NULL;
    gemm.group_sizes = present[GROUP_SIZES] ? &t[GROUP_SIZES] : NULL;
    gemm.tensor_scale_a = present[TENSOR_SCALE_A] ? &t[TENSOR_SCALE_A] : NULL;
    gemm.tensor_scale_b = present[TENSOR_SCALE_B] ? &t[TENSOR_SCALE_B] : NULL;
    gemm.zero_b = present[ZERO_B] ? &t[ZERO_B] : NULL;
    call.c_initial = present[C_INITIAL] && has_ldc ? &t[C_INITIAL] : NULL;
    gemm.addend = present[C_INITIAL] && has_addend ? &t[C_INITIAL] : NULL;
    run_timed(adapter, context, request, id, &call, reply, size);
}

static void handle_attention(const sb_adapter *adapter, void *context, json_object *request, const char *id, char *reply, size_t size) {
    char why[512] = "";
    if (!adapter->run_attention) { reply_status(reply, size, "not_supported", id, "this adapter does not run attention"); return; }
    json_object *spec, *inputs, *outputs, *lens, *t_spec[5], *o_spec;
    static const char *roles[5] = {"q", "k", "v", "kv_lens", "page_table"};
    if (!json_object_object_get_ex(request, "attention", &spec) || !json_object_object_get_ex(request, "inputs", &inputs) ||
        !json_object_object_get_ex(request, "outputs", &outputs) || !json_object_object_get_ex(outputs, "o", &o_spec)) {
        reply_status(reply, size, "error", id, "malformed run request: attention, inputs and output o expected");
        return;
    }
    sb_attention at;
    memset(&at, 0, sizeof at);
    const char *layout = get_string(spec, "kv_layout"), *overflow = get_string(spec, "overflow");
    json_object *causal;
    if (!get_int(spec, "batch", 1, 1 << 20, &at.batch) || !get_int(spec, "heads", 1, 1 << 16, &at.heads) ||
        !get_int(spec, "kv_heads", 1, 1 << 16, &at.kv_heads) || !get_int(spec, "head_dim", 1, 1 << 16, &at.head_dim) ||
        !get_int(spec, "q_len", 1, SB_MAX_DIM, &at.q_len) || !get_int(spec, "page_size", 1, 1 << 20, &at.page_size) ||
        !get_number(spec, "scale", 1e-300, 1e300, &at.scale) || !get_number(spec, "k_scale", 1e-300, 1e300, &at.k_scale) ||
        !get_number(spec, "v_scale", 1e-300, 1e300, &at.v_scale) || !parse_type(get_string(spec, "input"), &at.input) ||
        !parse_type(get_string(spec, "kv"), &at.kv) || !parse_type(get_string(spec, "accumulate"), &at.accumulate) ||
        !parse_type(get_string(spec, "p"), &at.p) || !parse_type(get_string(spec, "output"), &at.output) || !layout || !overflow ||
        !json_object_object_get_ex(spec, "causal", &causal) || !json_object_is_type(causal, json_type_boolean) ||
        !json_object_object_get_ex(spec, "kv_lens", &lens) || !json_object_is_type(lens, json_type_array) ||
        (long long)json_object_array_length(lens) != at.batch || at.heads % at.kv_heads != 0) {
        reply_status(reply, size, "error", id, "malformed attention description");
        return;
    }
    at.causal = json_object_get_boolean(causal);
    at.overflow_saturate = strcmp(overflow, "saturate") == 0;
    if (strcmp(layout, "bhsd") == 0) at.layout = SB_KV_BHSD;
    else if (strcmp(layout, "bshd") == 0) at.layout = SB_KV_BSHD;
    else if (strcmp(layout, "paged") == 0) at.layout = SB_KV_PAGED;
    else { reply_status(reply, size, "error", id, "unknown kv_layout"); return; }
    if (adapter->protocol >= 2) {
        /* Protocol 2: what the adapter did not declare is refused, whatever the harness sent. */
        unsigned used = (at.k_scale != 1 || at.v_scale != 1 ? SB_ATTENTION_KV_SCALES : 0u) |
                        (at.layout == SB_KV_BSHD ? SB_ATTENTION_LAYOUT_BSHD : 0u) | (at.layout == SB_KV_PAGED ? SB_ATTENTION_LAYOUT_PAGED : 0u);
        for (int i = 0; i < 3; i++) {
            if ((used & (1u << i)) && !(adapter->attention_features & (1u << i))) {
                snprintf(why, sizeof why, "this adapter does not implement attention feature %s", attention_feature_names[i]);
                reply_status(reply, size, "not_supported", id, why);
                return;
            }
        }
    }
    for (size_t i = 0; i < (size_t)at.batch; i++) {
        json_object *l = json_object_array_get_idx(lens, i);
        long long v = json_object_is_type(l, json_type_int) ? json_object_get_int64(l) : 0;
        if (v < 1 || v > SB_MAX_DIM) { reply_status(reply, size, "error", id, "kv_lens out of range"); return; }
        if (v > at.kv_len) at.kv_len = v;
    }
    int count = at.layout == SB_KV_PAGED ? 5 : 4;
    sb_tensor t[5], o;
    for (int i = 0; i < count; i++) {
        if (!json_object_object_get_ex(inputs, roles[i], &t_spec[i])) {
            snprintf(why, sizeof why, "malformed run request: input %s expected", roles[i]);
            reply_status(reply, size, "error", id, why);
            return;
        }
        if (!describe_tensor(t_spec[i], &t[i], why, sizeof why)) { reply_status(reply, size, "error", id, why); return; }
    }
    if (!describe_tensor(o_spec, &o, why, sizeof why)) { reply_status(reply, size, "error", id, why); return; }
    long long per_sequence = (at.kv_len + at.page_size - 1) / at.page_size;
    at.pages = at.layout == SB_KV_PAGED ? t[1].shape[0] : 0;
    int kv_ok;
    switch (at.layout) {
    case SB_KV_BHSD: kv_ok = shape_is(&t[1], at.kv, 4, at.batch, at.kv_heads, at.kv_len, at.head_dim); break;
    case SB_KV_BSHD: kv_ok = shape_is(&t[1], at.kv, 4, at.batch, at.kv_len, at.kv_heads, at.head_dim); break;
    default: kv_ok = shape_is(&t[1], at.kv, 4, at.pages, at.page_size, at.kv_heads, at.head_dim) &&
                     shape_is(&t[4], SB_INT32, 2, at.batch, per_sequence, 0, 0);
    }
    if (!shape_is(&t[0], at.input, 4, at.batch, at.heads, at.q_len, at.head_dim) || !kv_ok ||
        t[2].type != t[1].type || t[2].rank != 4 || memcmp(t[2].shape, t[1].shape, sizeof(long long) * 4) != 0 ||
        !shape_is(&t[3], SB_INT32, 1, at.batch, 0, 0, 0) || !shape_is(&o, at.output, 4, at.batch, at.heads, at.q_len, at.head_dim)) {
        reply_status(reply, size, "error", id, "tensor shapes or types do not match the attention description");
        return;
    }
    sb_call call = {NULL, &at, NULL, {&t[0], &t[1], &t[2], &t[3], &t[4]}, count, &o, "o"};
    if (!map_call(&call, why, sizeof why)) { reply_status(reply, size, "error", id, why); return; }
    /* The vendor's code may trust these: every length agrees with the description and every page
     * a sequence needs exists. */
    const int32_t *lengths = t[3].data;
    int valid = 1;
    for (long long b = 0; b < at.batch && valid; b++) {
        long long expected = json_object_get_int64(json_object_array_get_idx(lens, (size_t)b));
        if (lengths[b] != expected) valid = 0;
        if (at.layout == SB_KV_PAGED) {
            const int32_t *row = (const int32_t *)t[4].data + b * per_sequence;
            for (long long p = 0; p < (expected + at.page_size - 1) / at.page_size && valid; p++)
                if (row[p] < 0 || row[p] >= at.pages) valid = 0;
        }
    }
    unmap_call(&call);
    if (!valid) { reply_status(reply, size, "error", id, "kv_lens or page_table disagree with the description"); return; }
    run_timed(adapter, context, request, id, &call, reply, size);
}

static int parse_choice(const char *s, const char *const *names, int count, int *out) {
    if (!s) return 0;
    for (int i = 0; i < count; i++) if (strcmp(s, names[i]) == 0) { *out = i; return 1; }
    return 0;
}

static void handle_collective(const sb_adapter *adapter, void *context, json_object *request, const char *id, char *reply, size_t size) {
    char why[512] = "";
    if (!adapter->run_collective) { reply_status(reply, size, "not_supported", id, "this adapter does not run collectives"); return; }
    static const char *const ops[] = {"all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast", "send_recv"};
    static const char *const reductions[] = {"sum", "max", "min"};
    json_object *spec, *inputs, *outputs, *in_place, *timing_only, *in_spec, *out_spec;
    sb_collective co;
    memset(&co, 0, sizeof co);
    int op = 0, reduction = 0;
    long long root = 0;
    if (!json_object_object_get_ex(request, "collective", &spec) || !parse_choice(get_string(spec, "collective"), ops, 6, &op) ||
        !parse_choice(get_string(spec, "reduction"), reductions, 3, &reduction) || !get_int(spec, "ranks", 1, 1 << 16, &co.ranks) ||
        !get_int(spec, "bytes", 1, SB_MAX_DIM * 8, &co.bytes) || !get_int(spec, "root", 0, 1 << 16, &root) ||
        !parse_type(get_string(spec, "type"), &co.type) ||
        !json_object_object_get_ex(spec, "in_place", &in_place) || !json_object_is_type(in_place, json_type_boolean) ||
        !json_object_object_get_ex(spec, "timing_only", &timing_only) || !json_object_is_type(timing_only, json_type_boolean) ||
        root >= co.ranks) {
        reply_status(reply, size, "error", id, "malformed collective description");
        return;
    }
    co.op = (sb_collective_op)op;
    co.reduction = (sb_reduction)reduction;
    co.root = (int)root;
    co.in_place = json_object_get_boolean(in_place);
    co.timing_only = json_object_get_boolean(timing_only);
    long long elements = co.bytes / (long long)sb_type_width(co.type);
    if (co.bytes % (long long)sb_type_width(co.type) != 0 ||
        ((co.op == SB_ALL_GATHER || co.op == SB_REDUCE_SCATTER || co.op == SB_ALL_TO_ALL) && elements % co.ranks != 0)) {
        reply_status(reply, size, "error", id, "bytes do not divide into the collective's elements");
        return;
    }
    co.input_count = co.op == SB_ALL_GATHER ? elements / co.ranks : elements;
    co.output_count = co.op == SB_REDUCE_SCATTER ? elements / co.ranks : elements;
    if (co.timing_only) {
        sb_call call = {NULL, NULL, &co, {NULL}, 0, NULL, "out"};
        run_timed(adapter, context, request, id, &call, reply, size);
        return;
    }
    sb_tensor in, out;
    if (!json_object_object_get_ex(request, "inputs", &inputs) || !json_object_object_get_ex(request, "outputs", &outputs) ||
        !json_object_object_get_ex(inputs, "in", &in_spec) || !json_object_object_get_ex(outputs, "out", &out_spec)) {
        reply_status(reply, size, "error", id, "malformed run request: collective, input in and output out expected");
        return;
    }
    if (!describe_tensor(in_spec, &in, why, sizeof why) || !describe_tensor(out_spec, &out, why, sizeof why)) {
        reply_status(reply, size, "error", id, why);
        return;
    }
    if (!shape_is(&in, co.type, 2, co.ranks, co.input_count, 0, 0) || !shape_is(&out, co.type, 2, co.ranks, co.output_count, 0, 0)) {
        reply_status(reply, size, "error", id, "tensor shapes or types do not match the collective description");
        return;
    }
    sb_call call = {NULL, NULL, &co, {&in}, 1, &out, "out"};
    run_timed(adapter, context, request, id, &call, reply, size);
}

static void handle_run(const sb_adapter *adapter, void *context, json_object *request, const char *id, char *reply, size_t size) {
    const char *op = get_string(request, "op");
    if (op && strcmp(op, "gemm") == 0) handle_gemm(adapter, context, request, id, reply, size);
    else if (op && strcmp(op, "attention") == 0) handle_attention(adapter, context, request, id, reply, size);
    else if (op && strcmp(op, "collective") == 0) handle_collective(adapter, context, request, id, reply, size);
    else reply_status(reply, size, "not_supported", id, "op not run by this adapter");
}

int sb_handle_line(const sb_adapter *adapter, void *context, const char *line, size_t length, char *reply, size_t size) {
    if (size == 0) return 0;
    reply[0] = '\0';
    /* One tokener for every line, reset before each. */
    static json_tokener *tok;
    if (!tok) tok = json_tokener_new_ex(32);
    if (!tok) { reply_status(reply, size, "error", "", "out of memory"); return 0; }
    json_tokener_reset(tok);
    json_object *request = length > SB_MAX_LINE || length > (size_t)INT32_MAX ? NULL : json_tokener_parse_ex(tok, line, (int)length);
    int complete = request && json_tokener_get_error(tok) == json_tokener_success && (size_t)json_tokener_get_parse_end(tok) == length;
    if (!complete || !json_object_is_type(request, json_type_object)) {
        json_object_put(request);
        reply_status(reply, size, "error", "", "the request is not one JSON object");
        return 0;
    }
    const char *type = get_string(request, "type");
    const char *id = get_string(request, "id");
    int stop = 0;
    if (type && strcmp(type, "hello") == 0) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "type", json_object_new_string("hello"));
        /* Protocol 2 when the adapter speaks it and the harness offers it; else 1, as before. */
        int offered = 0;
        json_object *protocols;
        if (json_object_object_get_ex(request, "protocols", &protocols) && json_object_is_type(protocols, json_type_array)) {
            for (size_t i = 0; i < json_object_array_length(protocols); i++) {
                json_object *p = json_object_array_get_idx(protocols, i);
                if (json_object_is_type(p, json_type_int) && json_object_get_int64(p) == 2) offered = 1;
            }
        }
        int version = adapter->protocol >= 2 && offered ? 2 : 1;
        json_object_object_add(o, "protocol", json_object_new_int(version));
        if (version == 2) {
            json_object *features = json_object_new_object(), *gemm = json_object_new_array(), *attention = json_object_new_array();
            for (int i = 0; i < GEMM_FEATURES; i++)
                if (adapter->gemm_features & (1u << i)) json_object_array_add(gemm, json_object_new_string(gemm_feature_names[i]));
            for (int i = 0; i < 3; i++)
                if (adapter->attention_features & (1u << i)) json_object_array_add(attention, json_object_new_string(attention_feature_names[i]));
            json_object_object_add(features, "gemm", gemm);
            json_object_object_add(features, "attention", attention);
            json_object_object_add(o, "features", features);
        }
        json_object *device = json_tokener_parse(adapter->device_json ? adapter->device_json : "null");
        json_object_object_add(o, "device", device ? device : json_object_new_object());
        json_object_object_add(o, "timer", json_object_new_string(adapter->timer ? adapter->timer : "wall"));
        json_object_object_add(o, "energy_source", json_object_new_string(adapter->energy_source ? adapter->energy_source : "none"));
        emit(o, reply, size);
        json_object_put(o);
    } else if (type && strcmp(type, "run") == 0 && id) {
        handle_run(adapter, context, request, id, reply, size);
    } else if (type && strcmp(type, "shutdown") == 0) {
        stop = 1;
    } else {
        reply_status(reply, size, "error", id, "unknown or malformed request");
    }
    json_object_put(request);
    return stop;
}

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return 0;
        p += w;
        n -= (size_t)w;
    }
    return 1;
}

int sb_serve(const sb_adapter *adapter, void *context) {
    signal(SIGPIPE, SIG_IGN);
    size_t capacity = 1 << 16, used = 0;
    char *buffer = malloc(capacity);
    char *reply = malloc(SB_MAX_LINE);
    if (!buffer || !reply) return 70;
    int skipping = 0;
    for (;;) {
        char *newline = used ? memchr(buffer, '\n', used) : NULL;
        if (!newline) {
            if (used == capacity) {
                if (capacity >= SB_MAX_LINE) {
                    /* An over-long line: drop it, answer once, resynchronise at its end. */
                    used = 0;
                    if (!skipping) {
                        reply_status(reply, SB_MAX_LINE, "error", "", "request longer than 1 MiB");
                        if (!write_all(SB_REPLY_FD, reply, strlen(reply)) || !write_all(SB_REPLY_FD, "\n", 1)) break;
                    }
                    skipping = 1;
                    continue;
                }
                char *bigger = realloc(buffer, capacity * 2);
                if (!bigger) break;
                buffer = bigger;
                capacity *= 2;
            }
            /* The next request often follows a small case's reply within tens of microseconds:
             * look without sleeping for a short while first, since waking from a blocking read
             * costs 10-20 µs on a virtual machine (protocol v2, item 4). */
            struct pollfd request = {.fd = SB_REQUEST_FD, .events = POLLIN};
            double spin_until = now_seconds() + 50e-6;
            /* sched_yield hands the core to any other runnable task, so the look is free when the
             * core is wanted (by the harness itself, on a busy machine). */
            while (poll(&request, 1, 0) == 0 && now_seconds() < spin_until) sched_yield();
            ssize_t n = read(SB_REQUEST_FD, buffer + used, capacity - used);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            used += (size_t)n;
            continue;
        }
        size_t length = (size_t)(newline - buffer);
        int stop = 0;
        if (skipping) {
            skipping = 0;
        } else {
            stop = sb_handle_line(adapter, context, buffer, length, reply, SB_MAX_LINE);
            /* One write per reply, newline included: the harness wakes once. emit() leaves room for it. */
            size_t n = strlen(reply);
            reply[n] = '\n';
            if (!stop && !write_all(SB_REPLY_FD, reply, n + 1)) break;
        }
        memmove(buffer, newline + 1, used - length - 1);
        used -= length + 1;
        if (stop) break;
    }
    free(buffer);
    free(reply);
    return 0;
}
