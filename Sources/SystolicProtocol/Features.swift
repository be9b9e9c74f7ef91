import SystolicSuite

/// What of each op a version-2 adapter supports beyond the plain case (docs/protocol.md,
/// "Features"). The harness sends a case only when the adapter declares every feature it uses.
public struct Features: Codable, Sendable, Equatable {
    public var gemm: [GemmFeature]
    public var attention: [AttentionFeature]

    public init(gemm: [GemmFeature] = [], attention: [AttentionFeature] = []) { self.gemm = gemm; self.attention = attention }

    /// Every feature: what a version-1 adapter was sent for attention, and what the reference
    /// adapter declares.
    public static let all = Features(gemm: GemmFeature.allCases, attention: AttentionFeature.allCases)

    /// A version-1 adapter: the attention it was always sent, no GEMM feature.
    public static let version1 = Features(gemm: [], attention: AttentionFeature.allCases)
}

public enum GemmFeature: String, Codable, CaseIterable, Sendable {
    /// A bias vector added to each row (`bias` input: fp32 [N], int32 [N] for int8).
    case bias
    /// An activation after the bias (`activation`: relu, gelu_erf, gelu_tanh).
    case activation
    /// Per-tensor scales: `scale_a`, `scale_b`, `scale_output`.
    case scales
    /// Block scales of A and/or B (`block_a`, `block_b`; inputs `scale_a`, `scale_b`).
    case blockScales = "block_scales"
    /// int32 → int8 requantisation (`requantization`; inputs `scale`, `zero_point`, and
    /// `multiplier` and `shift` for the fixed-point scheme).
    case requantization
    /// Strided rows (`lda`, `ldb`, `ldc`; input `c` with C's initial rows when ldc is set).
    case leadingDimensions = "leading_dimensions"
    /// Mixture-of-experts grouped GEMM (`groups`; input `group_sizes`, B [experts, K, N]).
    case groups
    /// D = A·B + C (`accumulate_c`: C's type; input `c` [batch, M, N]), C in the place the
    /// device's declared matrix engine gives it (docs/arithmetic.md).
    case accumulateC = "accumulate_c"
    /// MX and NVFP4 operands (`block_format`: its scheme): elements of the case's `a` and `b`
    /// types with block scales `scale_a` and `scale_b` (block_scales, which such a case also
    /// uses), and for NVFP4 the fp32 tensor scales `tensor_scale_a` and `tensor_scale_b` [1].
    case blockFormats = "block_formats"
    /// A block-scaled case whose A the device quantises itself (`block_format.a_from`: A travels
    /// unquantised in that type), its scales rounded as the device declares (`scale_rounding`).
    case quantizesA = "quantizes_a"
    /// int4 weights (`block_format` scheme `int4`): B int4, or uint4 with zero points (input
    /// `zero_b`, uint4 [matrices, K/group, N]), packed two per byte in their files; group scales
    /// `scale_b` (and, with int8 activations, per-row scales `scale_a`) as block scales.
    case int4Weights = "int4_weights"

    /// The features `g` uses.
    public static func used(by g: GemmCase) -> [GemmFeature] {
        var out: [GemmFeature] = []
        if g.bias { out.append(.bias) }
        if g.activation != .none { out.append(.activation) }
        if g.scales.a != 1 || g.scales.b != 1 || g.scales.output != 1 { out.append(.scales) }
        if g.scales.isBlocked { out.append(.blockScales) }
        if g.requantization != nil { out.append(.requantization) }
        if !g.leading.isPacked { out.append(.leadingDimensions) }
        if g.groups != nil { out.append(.groups) }
        if g.addend != nil { out.append(.accumulateC) }
        if let f = g.blockFormat {
            out.append(f.scheme == .int4 ? .int4Weights : .blockFormats)
            if f.activationSource != nil { out.append(.quantizesA) }
        }
        return out
    }
}

public enum AttentionFeature: String, Codable, CaseIterable, Sendable {
    /// K and V scaled per tensor (`k_scale`, `v_scale` other than 1: an fp8 KV cache).
    case kvScales = "kv_scales"
    /// The [batch, kv_len, kv_heads, head_dim] cache layout.
    case layoutBSHD = "layout_bshd"
    /// The paged cache (pages and a page table).
    case layoutPaged = "layout_paged"

    public static func used(by a: AttentionCase) -> [AttentionFeature] {
        var out: [AttentionFeature] = []
        if a.kScale != 1 || a.vScale != 1 { out.append(.kvScales) }
        if a.layout == .bshd { out.append(.layoutBSHD) }
        if a.layout == .paged { out.append(.layoutPaged) }
        return out
    }
}
