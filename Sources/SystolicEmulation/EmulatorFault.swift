import SystolicNumerics
import SystolicDevice

/// A way the emulator can be told to misbehave while still declaring correct behaviour, so tests
/// and `systolic-bench faults` can prove the conformance cases catch real classes of hardware and
/// driver bugs.
public enum EmulatorFault: Sendable, Hashable {
    /// The accumulator rounds every partial sum to a narrower type (bf16, fp16) while the device
    /// keeps declaring fp32.
    case narrowAccumulator(NumberType)
    /// The output conversion truncates (rounds toward zero) instead of rounding to nearest even.
    case truncatingOutput
    /// The output conversion rounds ties away from zero instead of to even.
    case tiesAwayOutput
    /// The output conversion overflows to infinity even when the case asks to saturate.
    case ignoresSaturation
    /// Products and partial sums below fp32's smallest normal are flushed to zero while the device
    /// declares `preserve`.
    case flushSubnormals
    /// int8 outputs wrap around instead of saturating.
    case int8Wrap
    /// One PE column is stuck: every output column it produces (index mod cols) reads zero.
    case stuckColumn(Int)
    /// One PE column's output register is not updated: it repeats the previous N-tile's value.
    case staleColumn(Int)
    /// One K-tile of every dot product is dropped.
    case droppedKTile(Int)
    /// One array row receives its inputs a cycle late: it multiplies the previous row of A.
    case skewedInput(row: Int)
    /// The first weight tile is loaded transposed.
    case transposedWeightTile
    /// The driver returns the previous result for a case of the same shape (a cache bug, or a cheat).
    case cachedResult
    /// The accumulator is not cleared between output elements: each sum starts from the last.
    case accumulatorNotCleared
    /// NaN outputs come back as zero (a max/clamp unit that eats NaNs).
    case swallowsNaN
    /// One bit of one output element is flipped (an SRAM upset without ECC).
    case bitFlip
    /// The driver returns an output of the wrong shape (a broken adapter, not wrong arithmetic).
    case wrongOutputShape
    /// Attention: the causal mask lets each query see one key too many.
    case causalOffByOne
    /// Attention: the causal mask aligns top-left (query i sees keys 0…i) instead of bottom-right.
    case causalTopLeft
    /// Attention: the softmax exponentiates raw scores, without subtracting the row maximum.
    case softmaxWithoutMax
    /// Attention: query head h reads kv head h mod kv_heads instead of h ÷ (heads/kv_heads).
    case gqaHeadModulo
    /// int8 requantisation leaves out the output zero point.
    case requantIgnoresZeroPoint
    /// int8 requantisation applies channel 0's scale and zero point to every channel.
    case requantPerTensor
    /// GELU evaluated in its tanh form where the case names the erf form.
    case geluTanhForErf
    /// The epilogue applies the activation before adding the bias.
    case activationBeforeBias
    /// Per-tensor scales (fp8 dequantisation and the output scale) are not applied.
    case ignoresScales
    /// Block scales: every block takes the scales of its row's (A) or column's (B) first K group,
    /// as a kernel that loads the scales once per tile instead of once per group would.
    case blockScalesFirstGroup
    /// Block-scaled activations the device quantises (`a_from`): scales rounded the other way
    /// than declared (rceil for floor or even, floor for rceil; up for nearest, nearest for up).
    case undeclaredScaleRounding
    /// MX: the E8M0 NaN scale (0xFF) decoded as an ordinary exponent, 2^128, which is +inf in
    /// fp32, so its block's products come out infinite (or NaN where they are zero) instead of NaN.
    case scaleNaNAsNumber
    /// fp4 and int4 elements stored two per byte unpacked high nibble first: each even-indexed
    /// element of storage exchanged with the odd one after it.
    case swappedNibbles
    /// int4 weights read with the other signedness: an int4 nibble zero-extended (−8…−1 read as
    /// 8…15), a uint4 one sign-extended (8…15 read as −8…−1).
    case int4SignExtension
    /// MXINT8 elements read as the integers k instead of k/64 (the element format's six fraction
    /// bits dropped): every MXINT8 sum 4096 times too large.
    case mxint8AsInteger
    /// NVFP4: the sum is never multiplied by the two fp32 tensor scales.
    case ignoresTensorScale
    /// Strided rows read and written as if packed: lda, ldb and ldc are ignored.
    case ignoresLeadingDimension
    /// The epilogue's bias vector is never added.
    case ignoresBias
    /// Grouped GEMMs: each expert's rows are multiplied by the next expert's weights (a routing
    /// table off by one).
    case misroutedGroups
    /// Batched GEMMs: every batch is multiplied by batch 0's weights (a B batch stride of zero).
    case batchesShareWeights
    /// D = A·B + C computed as A·B: C is never added (a beta of zero).
    case ignoresAddend
    /// Attention: the softmax scale is always 1/√head_dim, whatever the case sets.
    case attentionDefaultScale
    /// Collectives: rank 1's data never enters the collective.
    case collectiveDropsRank
    /// Collectives: odd ranks reduce in their own order, so ranks disagree where rounding differs.
    case collectiveRanksDisagree
    /// Collectives: the first message of the algorithm goes to the wrong peer.
    case collectiveWrongPeer
    /// Collectives: chunk boundaries are off by one (each chunk runs one element into the next).
    case collectiveChunkOffByOne

    /// The catalogue: each fault's command-line spelling, the instance `faults --run` uses, and a
    /// sentence a hardware engineer would recognise.
    public static let catalogue: [(spelling: String, fault: EmulatorFault, summary: String)] = [
        ("narrow-accumulator:bf16", .narrowAccumulator(.bf16), "partial sums kept in bf16 while fp32 is declared"),
        ("narrow-accumulator:fp16", .narrowAccumulator(.fp16), "partial sums kept in fp16 while fp32 is declared"),
        ("truncating-output", .truncatingOutput, "output conversion rounds toward zero instead of to nearest even"),
        ("ties-away-output", .tiesAwayOutput, "output conversion rounds ties away from zero instead of to even"),
        ("ignores-saturation", .ignoresSaturation, "output overflow gives infinity although the case asks to saturate"),
        ("flush-subnormals", .flushSubnormals, "subnormal products and sums flushed to zero while preserve is declared"),
        ("int8-wrap", .int8Wrap, "int8 outputs wrap around instead of saturating"),
        ("stuck-column:5", .stuckColumn(5), "PE column 5 is stuck: its outputs read zero"),
        ("stale-column:5", .staleColumn(5), "PE column 5's output register holds the previous tile's value"),
        ("dropped-k-tile:0", .droppedKTile(0), "the first K-tile of every dot product is dropped"),
        ("skewed-input:1", .skewedInput(row: 1), "array row 1 gets its inputs one cycle late (the previous row of A)"),
        ("transposed-weight-tile", .transposedWeightTile, "the first weight tile is loaded transposed"),
        ("cached-result", .cachedResult, "returns the previous result for a case of the same shape"),
        ("accumulator-not-cleared", .accumulatorNotCleared, "the accumulator is not cleared between output elements"),
        ("swallows-nan", .swallowsNaN, "NaN outputs come back as zero"),
        ("bit-flip", .bitFlip, "one bit of one output element is flipped (SRAM upset, no ECC)"),
        ("wrong-output-shape", .wrongOutputShape, "the driver returns the output with the wrong shape"),
        ("requant-ignores-zero-point", .requantIgnoresZeroPoint, "int8 requantisation leaves out the output zero point"),
        ("requant-per-tensor", .requantPerTensor, "int8 requantisation applies channel 0's scale and zero point to every channel"),
        ("gelu-tanh-for-erf", .geluTanhForErf, "GELU in its tanh form where the case names the erf form"),
        ("activation-before-bias", .activationBeforeBias, "the epilogue applies the activation before adding the bias"),
        ("ignores-scales", .ignoresScales, "per-tensor scales (fp8 dequantisation, output scale) are not applied"),
        ("block-scales-first-group", .blockScalesFirstGroup, "fp8 block scales: every K group scaled by the first group's scales"),
        ("scale-rounding-undeclared", .undeclaredScaleRounding, "block-scaled activations quantised with the other scale rounding than the one declared"),
        ("e8m0-nan-as-number", .scaleNaNAsNumber, "MX: the E8M0 scale 0xFF read as the number 2^128 instead of NaN"),
        ("swapped-nibbles", .swappedNibbles, "fp4 and int4 elements unpacked high nibble first: neighbouring elements exchanged"),
        ("int4-sign-extension", .int4SignExtension, "int4 weights read with the other signedness: int4 zero-extended, uint4 sign-extended"),
        ("mxint8-as-integer", .mxint8AsInteger, "MXINT8 elements read as integers k instead of k/64"),
        ("ignores-tensor-scale", .ignoresTensorScale, "NVFP4: the fp32 tensor scales are never applied"),
        ("ignores-leading-dimension", .ignoresLeadingDimension, "strided matrices read and written as if packed (lda, ldb, ldc ignored)"),
        ("ignores-bias", .ignoresBias, "the epilogue's bias vector is never added"),
        ("misrouted-groups", .misroutedGroups, "grouped GEMMs: each expert's rows meet the next expert's weights"),
        ("batches-share-weights", .batchesShareWeights, "batched GEMMs: every batch meets batch 0's weights (a B batch stride of zero)"),
        ("ignores-c", .ignoresAddend, "D = A·B + C computed as A·B: C is never added (beta taken as zero)"),
        ("attention-default-scale", .attentionDefaultScale, "attention: the softmax scale is always 1/√head_dim, whatever the case sets"),
        ("causal-off-by-one", .causalOffByOne, "attention: the causal mask lets each query see one key too many"),
        ("causal-top-left", .causalTopLeft, "attention: causal mask aligned top-left instead of bottom-right"),
        ("softmax-without-max", .softmaxWithoutMax, "attention: softmax without subtracting the row maximum"),
        ("gqa-head-modulo", .gqaHeadModulo, "attention: query head h reads kv head h mod kv_heads (wrong GQA mapping)"),
        ("collective-drops-rank", .collectiveDropsRank, "collectives: rank 1's data is dropped from the collective"),
        ("collective-ranks-disagree", .collectiveRanksDisagree, "collectives: odd ranks reduce in another order (ranks disagree)"),
        ("collective-wrong-peer", .collectiveWrongPeer, "collectives: the first chunk is sent to the wrong peer"),
        ("collective-chunk-off-by-one", .collectiveChunkOffByOne, "collectives: chunk boundaries off by one element"),
    ]

    /// The op whose runs the fault changes (the emulator applies it nowhere else), so that a
    /// mutation run need not run the other ops' cases under it.
    public var op: String {
        switch self {
        case .causalOffByOne, .causalTopLeft, .softmaxWithoutMax, .gqaHeadModulo, .attentionDefaultScale: "attention"
        case .collectiveDropsRank, .collectiveRanksDisagree, .collectiveWrongPeer, .collectiveChunkOffByOne: "collective"
        default: "gemm"
        }
    }

    /// Parses a command-line spelling: a catalogue entry, or a parameterised one such as
    /// `stuck-column:3`, `dropped-k-tile:1`, `skewed-input:2`.
    public init?(_ spec: String) {
        if let entry = Self.catalogue.first(where: { $0.spelling == spec }) { self = entry.fault; return }
        let parts = spec.split(separator: ":").map(String.init)
        guard parts.count == 2 else { return nil }
        if parts[0] == "narrow-accumulator" {
            guard let t = NumberType(rawValue: parts[1]), t == .bf16 || t == .fp16 else { return nil }
            self = .narrowAccumulator(t)
            return
        }
        guard let n = Int(parts[1]), n >= 0 else { return nil }
        switch parts[0] {
        case "stuck-column": self = .stuckColumn(n)
        case "stale-column": self = .staleColumn(n)
        case "dropped-k-tile": self = .droppedKTile(n)
        case "skewed-input": self = .skewedInput(row: n)
        default: return nil
        }
    }

    public static var spellings: String {
        catalogue.map(\.spelling).joined(separator: ", ") + " (columns, tiles and rows take any index)"
    }
}
