#ifndef SYSTOLIC_BLOCK_FMA_H
#define SYSTOLIC_BLOCK_FMA_H
// A matrix engine's dot product as real tensor cores compute it (docs/arithmetic.md): products
// exact; the products of a block and the running accumulator aligned to the largest exponent,
// kept to a fixed number of bits below it and truncated there; summed exactly; normalised and
// rounded once per block. Parameterised by the device's declaration (`MatrixArithmetic`), so one
// implementation models V100-, A100-, Ada-, H100-, B200- and CDNA2-class engines. Bit-accurate
// against real tensor-core outputs (Tests/SystolicEmulationTests, the shared vectors of Khattak
// and Mikaitis, ACM TACO 2026).
#include <stddef.h>
#include <stdint.h>

typedef struct {
    /// Products summed before one normalisation (1: a chain of fused multiply-adds).
    int block;
    /// Fraction bits F the block result keeps (23 for fp32, 13 for Hopper's fp8 path, 10 for fp16).
    int frac_bits;
    /// The accumulator's exponent range (normal numbers): −126…127 for fp32, −14…15 for fp16.
    int emin, emax;
    /// Bits kept below the block result's last place when aligning (0…24): terms are truncated
    /// toward zero at 2^(e_max − F − extra_bits), e_max the largest term exponent.
    int extra_bits;
    /// Products rounded to F + 1 significant bits (nearest-even) before alignment, instead of exact.
    int round_products;
    /// The block result's rounding: 1 nearest-even, 0 toward zero.
    int nearest;
    /// Subnormal inputs read as zero (with the input types' smallest normals below).
    int flush_inputs;
    float a_min_normal, b_min_normal;
    /// Block results below 2^emin become zero (keeping the sign).
    int flush_outputs;
    /// 0, or a multiple of `block`: after that many products the partial sum (started at zero) is
    /// added to an fp32 accumulator with one nearest-even fp32 addition (DeepSeek-V3's promotion).
    int promote_every;
    /// 0: C is the accumulator's first value and joins the first block's alignment (as tensor
    /// cores do); 1: C joins after every product, as a block with no products.
    int c_last;
} sb_block_fma;

/// One input decoded once: |x| = sig·2^lsb, e = ⌊log₂|x|⌋; sig = 0 for zero (and for a flushed
/// subnormal); `special` marks NaN or infinity (then `value` holds it).
typedef struct {
    uint32_t sig;
    int16_t lsb;
    int16_t e;
    uint8_t negative;
    uint8_t special;
} sb_bfma_input;

/// Decodes `count` floats (values of an input type), flushing subnormals below `min_normal` when
/// `flush` is set.
void sb_bfma_decode(size_t count, const float *x, int flush, float min_normal, sb_bfma_input *out);

/// D = C + Σₖ aₖ·bₖ by the engine `e`, the products in k order, blocks of consecutive k.
/// `a` and `b` are decoded inputs (K each, contiguous); `af`/`bf` the same values as floats (read
/// only when an input is NaN or infinite). The result is the accumulator's value as a float.
float sb_bfma_dot(const sb_block_fma *e, int k, const sb_bfma_input *a, const sb_bfma_input *b,
                  const float *af, const float *bf, float c);

/// Rows [row_begin, row_end) of D = A·B (+ C): A is M×K (decoded, row-major), B given transposed
/// (N×K, decoded), `c` M×N or NULL (zero), `out` M×N.
void sb_bfma_gemm(const sb_block_fma *e, int m, int n, int k, const sb_bfma_input *a, const float *af,
                  const sb_bfma_input *bt, const float *btf, const float *c, float *out, int row_begin, int row_end);

/// The fast path's operand layout: rows of K, significands normalised to 24 bits (0 for zero,
/// flushed or special inputs), exponents (a large negative one for those), sign bits, and
/// whether each row holds a NaN or an infinity (such rows take the generic path).
typedef struct {
    uint32_t *sig;
    int32_t *e;
    uint32_t *negative;
    uint8_t *row_special;
} sb_bfma_fast_operand;

/// Decodes `count` floats into the fast layout (`special` per element).
void sb_bfma_decode_fast(size_t count, const float *x, int flush, float min_normal, uint32_t *sig, int32_t *e, uint32_t *negative,
                         uint8_t *special);

/// True when the fast path computes engine `e` (exact products, C first, F + x ≤ 46, blocks of
/// at most 64).
int sb_bfma_fast_applies(const sb_block_fma *e);

/// `sb_bfma_gemm` on the fast path, the same bits: `a` and `bt` in the fast layout; rows holding
/// a special go through the generic path with `ag`/`af` and `btg`/`btf`.
void sb_bfma_gemm_fast(const sb_block_fma *e, int n, int k, const sb_bfma_fast_operand *a, const sb_bfma_fast_operand *bt,
                       const sb_bfma_input *ag, const float *af, const sb_bfma_input *btg, const float *btf,
                       const float *c, float *out, int row_begin, int row_end);

#endif
