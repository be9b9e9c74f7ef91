import SystolicNumerics

/// The three families of the mission. A case holds exactly one.
public enum Workload: Sendable, Equatable {
    case gemm(GemmCase)
    case attention(AttentionCase)
    case collective(CollectiveCase)

    /// The op name used in suite and results files.
    public var op: String {
        switch self {
        case .gemm: return "gemm"
        case .attention: return "attention"
        case .collective: return "collective"
        }
    }
}

/// How one input operand's values are generated (see `DataGenerator` for the exact algorithm).
public enum DataPattern: Sendable, Equatable {
    /// Uniform in [low, high).
    case uniform(low: Double, high: Double)
    /// Approximately normal (Irwin–Hall sum of twelve 16-bit uniforms), bounded at mean ± 6·std.
    case normal(mean: Double, std: Double)
    /// Uniform integers in [low, high], both included.
    case integer(low: Int, high: Int)
    /// Every element equal to `value`.
    case constant(Double)
    /// Wide dynamic range: random sign, exponent uniform in [minExponent, maxExponent], significand
    /// uniform in [1, 2). Small terms vanish in a narrow accumulator.
    case logUniform(minExponent: Int, maxExponent: Int)
    /// Uniform in [low, high) with elements replaced by NaN or +Inf at the given rates, to check
    /// that specials propagate.
    case specials(low: Double, high: Double, nanRate: Double, infRate: Double)
    /// Heavy cancellation in A·B: the second half of K repeats the first half of A, and negates
    /// the first half of B plus a small perturbation, so Σ|ab| is large while Σab is small.
    /// Both operands of a case must use it.
    case cancelling(std: Double)
    /// Odd integers uniform among those in [low, high] (both odd), except the element at k = 0
    /// (A's column 0, B's row 0), which is `first`: a dominant first product puts a matrix
    /// engine's accumulator in its top binade from the first block, and odd products have their
    /// last bit set, so an engine keeping one bit fewer than it declares loses them (#21). GEMM
    /// operands only.
    case dominantFirst(first: Double, low: Int, high: Int)

    /// True when every generated value is an integer (before rounding to the operand's type).
    public var isIntegerValued: Bool {
        switch self {
        case .integer: return true
        case let .constant(v): return v == v.rounded()
        case let .dominantFirst(first, _, _): return first == first.rounded()
        default: return false
        }
    }

    /// The largest magnitude the pattern can produce, when it is bounded.
    public var maxMagnitude: Double? {
        switch self {
        case let .uniform(low, high): return max(abs(low), abs(high))
        case let .normal(mean, std): return abs(mean) + 6 * std
        case let .integer(low, high): return Double(max(abs(low), abs(high)))
        case let .constant(v): return abs(v)
        case let .logUniform(_, maxExponent): return Double(sign: .plus, exponent: maxExponent + 1, significand: 1)
        case .specials: return .infinity
        case let .cancelling(std): return 6 * std * 1.01
        case let .dominantFirst(first, low, high): return max(abs(first), Double(max(abs(low), abs(high))))
        }
    }
}

/// C = epilogue(A·B (+ bias)) for M×N×K, optionally batched.
public struct GemmCase: Sendable, Equatable {
    public enum WeightLayout: String, CaseIterable, Sendable {
        /// B stored [K, N], row-major.
        case kn
        /// B stored [N, K], row-major (a transposed weight, as most frameworks keep linear layers).
        case nk
    }

    public enum Activation: String, CaseIterable, Sendable {
        case none, relu
        case geluErf = "gelu_erf"
        case geluTanh = "gelu_tanh"
    }

    public struct Types: Sendable, Equatable {
        public var a: NumberType
        public var b: NumberType
        public var accumulate: NumberType
        public var output: NumberType

        public init(a: NumberType, b: NumberType, accumulate: NumberType, output: NumberType) {
            self.a = a; self.b = b; self.accumulate = accumulate; self.output = output
        }

        /// The shorthand a suite may write as one type name: inputs and output of that type,
        /// accumulated in fp32, or in int32 for int8 (whose output is then int32 too).
        public init(shorthand t: NumberType) {
            if t == .int8 {
                self.init(a: .int8, b: .int8, accumulate: .int32, output: .int32)
            } else {
                self.init(a: t, b: t, accumulate: .fp32, output: t)
            }
        }

        /// A short label for case ids: the shorthand name where it applies.
        public var label: String {
            for t in NumberType.allCases where Types(shorthand: t) == self { return t.rawValue }
            return "\(a.rawValue).\(b.rawValue).\(accumulate.rawValue).\(output.rawValue)"
        }
    }

    /// Scales: C = conv(Σₖ (sa·a)(sb·b) / output scale), with sa and sb either one per tensor or
    /// one per block (fp8 block scaling as DeepSeek-V3 runs it: 1×128 blocks of A, 128×128 of B).
    /// Unit per-tensor scales and no blocks mean none.
    public struct Scales: Sendable, Equatable {
        public var a: Double = 1
        public var b: Double = 1
        public var output: Double = 1
        /// Block scales of A, replacing `a`: one fp32 scale per block of A's logical [M, K].
        public var blockA: ScaleBlocks?
        /// Block scales of B, replacing `b`: one fp32 scale per block of B's logical [K, N]
        /// (whatever its stored layout).
        public var blockB: ScaleBlocks?
        public init(a: Double = 1, b: Double = 1, output: Double = 1, blockA: ScaleBlocks? = nil, blockB: ScaleBlocks? = nil) {
            self.a = a; self.b = b; self.output = output; self.blockA = blockA; self.blockB = blockB
        }
        public var isUnit: Bool { a == 1 && b == 1 && output == 1 && !isBlocked }
        public var isBlocked: Bool { blockA != nil || blockB != nil }
        /// The K extent of a block (the quantisation group the device sums before scaling).
        public var group: Int? { blockA?.cols ?? blockB?.rows }
    }

    /// One scale per `rows`×`cols` block of a matrix (the last blocks may be partial), drawn
    /// uniformly from [low, high] and rounded to fp32.
    public struct ScaleBlocks: Sendable, Equatable {
        public var rows: Int
        public var cols: Int
        public var low: Double
        public var high: Double
        public init(rows: Int, cols: Int, low: Double, high: Double) { self.rows = rows; self.cols = cols; self.low = low; self.high = high }
        /// Scales along each dimension of a rows×cols matrix: ⌈rows/block rows⌉ × ⌈cols/block cols⌉.
        public func grid(_ matrixRows: Int, _ matrixCols: Int) -> (rows: Int, cols: Int) {
            ((matrixRows + rows - 1) / rows, (matrixCols + cols - 1) / cols)
        }
    }

    /// Block-scaled inputs (docs/formats.md, "Block-scaled GEMMs" and "int4 weights"): A and B
    /// quantised by `scheme` in blocks along K (32 for MX, 16 for NVFP4, the group for int4),
    /// their element types the case's `a` and `b`. Data generation draws the unquantised values
    /// (`dataA`, `dataB`) and quantises them; the blocks then are the case's `Scales.blockA`
    /// (1 × block) and `blockB` (block × 1), so the scales travel, and are judged, as any block
    /// scales.
    public struct BlockFormat: Sendable, Equatable {
        public enum Scheme: String, CaseIterable, Sendable {
            /// OCP Microscaling Formats v1.0: one E8M0 scale per 32 elements.
            case mx
            /// NVIDIA's NVFP4: one unsigned E4M3 scale per 16 E2M1 elements, one fp32 scale per tensor.
            case nvfp4
            /// int4 weights in groups along K (GPTQ/AWQ-style W4A16 and W4A8): B int4 (or uint4
            /// with zero points), A bf16 or fp16, or int8 with one fp32 scale per row.
            case int4
        }

        /// An int4 scheme's parameters: the group along K, its scales' type and its zero points.
        public struct Int4Weights: Sendable, Equatable {
            public var group: Int
            public var scaleType: NumberType
            public var zeroPoint: Bool
            public init(group: Int, scaleType: NumberType, zeroPoint: Bool) {
                self.group = group; self.scaleType = scaleType; self.zeroPoint = zeroPoint
            }
            /// The groups checkpoints use.
            public static let groups = [32, 64, 128]
        }

        public var scheme: Scheme
        /// The scale rounding the harness quantises with (the checkpoint tool's): the entry of
        /// `scheme`.
        public var harnessRounding: ScaleRoundings
        /// Set when the device quantises A itself (dynamic activation quantisation, as an
        /// inference engine quantises each layer's input): A then travels unquantised in this type,
        /// and the device rounds its scales as it declares (`DeclaredArithmetic.scaleRounding`).
        /// nil: A travels quantised, like B.
        public var activationSource: NumberType?
        /// The int4 scheme's parameters (nil for MX and NVFP4).
        public var int4: Int4Weights?

        public init(scheme: Scheme, harnessRounding: ScaleRoundings = ScaleRoundings(), activationSource: NumberType? = nil, int4: Int4Weights? = nil) {
            self.scheme = scheme; self.harnessRounding = harnessRounding; self.activationSource = activationSource; self.int4 = int4
        }

        /// Elements per block along K.
        public var blockSize: Int {
            switch scheme {
            case .mx: return 32
            case .nvfp4: return NVFP4Quantizer.blockSize
            case .int4: return int4?.group ?? 128
            }
        }

        /// The element types each scheme takes for A ("a") or B ("b"): each its own for MX.
        public static func elementTypes(_ scheme: Scheme, operand: String) -> [NumberType] {
            switch scheme {
            case .mx: return [.fp8_e4m3, .fp8_e5m2, .fp6_e2m3, .fp6_e3m2, .fp4_e2m1, .int8]  // int8: MXINT8
            case .nvfp4: return [.fp4_e2m1]
            case .int4: return operand == "a" ? [.bf16, .fp16, .int8] : [.int4, .uint4]
            }
        }

        /// The types A may travel in before the device quantises it.
        public static let activationSources: [NumberType] = [.fp32, .bf16, .fp16]

        /// The scale blocks of A and B the scheme gives for A of type `a`: int4's A has a scale
        /// per row only when it is int8 (one per row, repeated in each group: per-token
        /// activation quantisation).
        public func scales(a: NumberType) -> Scales {
            let n = blockSize
            let blockA = scheme != .int4 || a == .int8 ? ScaleBlocks(rows: 1, cols: n, low: 1, high: 1) : nil
            return Scales(blockA: blockA, blockB: ScaleBlocks(rows: n, cols: 1, low: 1, high: 1))
        }
    }

    /// Row strides of the stored matrices, as BLAS's lda, ldb and ldc: each stored row holds this
    /// many elements of which the first K (A), N or K (B, by layout) or N (C) are the matrix; the
    /// rest is padding a device must neither read nor write. nil: rows are packed.
    public struct LeadingDimensions: Sendable, Equatable {
        public var a: Int?
        public var b: Int?
        public var c: Int?
        public init(a: Int? = nil, b: Int? = nil, c: Int? = nil) { self.a = a; self.b = b; self.c = c }
        public var isPacked: Bool { a == nil && b == nil && c == nil }
    }

    /// int32 → int8 requantisation of an int8 GEMM (docs/numerics.md, "int8 requantisation").
    public struct Requantization: Sendable, Equatable {
        public enum Scheme: String, CaseIterable, Sendable {
            /// fp32(acc) × fp32 scale, rounded to nearest even (`Requantizer.fp32Scale`).
            case fp32Scale = "fp32_scale"
            /// Fixed-point multiplier and right shift with rounding, as gemmlowp and TFLite (`Requantizer.fixedPoint`).
            case fixedPoint = "fixed_point"
        }
        public var scheme: Scheme
        /// One scale and zero point per output channel (column n), or one for the tensor.
        public var perChannel: Bool
        /// Scales are drawn uniformly from [scaleLow, scaleHigh] (equal ends: that scale), rounded to fp32.
        public var scaleLow: Double
        public var scaleHigh: Double
        /// Zero points are drawn uniformly from [zeroPointLow, zeroPointHigh].
        public var zeroPointLow: Int
        public var zeroPointHigh: Int

        public init(scheme: Scheme, perChannel: Bool, scaleLow: Double, scaleHigh: Double, zeroPointLow: Int, zeroPointHigh: Int) {
            self.scheme = scheme; self.perChannel = perChannel; self.scaleLow = scaleLow; self.scaleHigh = scaleHigh
            self.zeroPointLow = zeroPointLow; self.zeroPointHigh = zeroPointHigh
        }
    }

    public var m: Int
    public var n: Int
    public var k: Int
    public var batch: Int
    public var types: Types
    /// Set for int8 → int8 GEMMs: how the int32 sum (plus the int32 bias) becomes int8.
    public var requantization: Requantization?
    /// A grouped GEMM (mixture of experts): the rows of A and C each expert takes, in order
    /// (m is their sum); expert e multiplies its rows by its own B, stored [experts, K, N] (or
    /// [experts, N, K]). nil for a plain or batched GEMM.
    public var groups: [Int]?

    /// The experts of a grouped GEMM as plain GEMMs: each one's first row in A and C, and its case.
    public var groupCases: [(expert: Int, firstRow: Int, gemm: GemmCase)] {
        guard let groups else { return [(0, 0, self)] }
        var out: [(expert: Int, firstRow: Int, gemm: GemmCase)] = []
        var row = 0
        for (e, rows) in groups.enumerated() {
            if rows > 0 {
                var sub = self
                sub.groups = nil
                sub.m = rows
                out.append((e, row, sub))
            }
            row += rows
        }
        return out
    }
    public var layoutB: WeightLayout
    public var leading = LeadingDimensions()
    public var scales: Scales
    public var bias: Bool
    public var activation: Activation
    public var dataA: DataPattern
    public var dataB: DataPattern
    public var overflow: OverflowMode
    public var verification: Verification
    /// Block-scaled inputs (MX, NVFP4 or int4 weights), nil for others; when set, `scales` holds its blocks.
    public var blockFormat: BlockFormat?
    /// MX operands of type int8: MXINT8 (OCP MX v1.0, 5.4: each element k/64, both operands).
    public var isMXINT8: Bool { blockFormat?.scheme == .mx && types.a == .int8 }
    /// D = A·B + C (`"accumulate_c"` in a suite): C's type (fp32 or the output type), nil for
    /// D = A·B. C is input `c` [batch, M, N], data `dataC` from stream "c" (docs/numerics.md).
    public var addend: NumberType?
    public var dataC: DataPattern = .normal(mean: 0, std: 1)

    public init(m: Int, n: Int, k: Int, batch: Int = 1, types: Types, layoutB: WeightLayout = .kn,
                scales: Scales = Scales(), bias: Bool = false, activation: Activation = .none,
                dataA: DataPattern, dataB: DataPattern, overflow: OverflowMode = .saturate, verification: Verification = .auto,
                requantization: Requantization? = nil) {
        self.m = m; self.n = n; self.k = k; self.batch = batch; self.types = types; self.requantization = requantization
        self.layoutB = layoutB; self.scales = scales; self.bias = bias; self.activation = activation
        self.dataA = dataA; self.dataB = dataB; self.overflow = overflow; self.verification = verification
    }

    /// Multiply-accumulates in the whole case.
    public var macs: Int { batch * m * n * k }

    /// Elements per stored row of A, of B and of C (the leading dimensions in effect).
    public var lda: Int { leading.a ?? k }
    public var ldb: Int { leading.b ?? (layoutB == .kn ? n : k) }
    public var ldc: Int { leading.c ?? n }

    /// The stored shape of A, B and C: [matrices, rows, leading dimension].
    public var storedShapeA: [Int] { [batch, m, lda] }
    public var storedShapeB: [Int] { [groups?.count ?? batch, layoutB == .kn ? k : n, ldb] }
    public var storedShapeC: [Int] { [batch, m, ldc] }

    /// The same case with packed rows: what the arithmetic sees once strided rows are read.
    public var packed: GemmCase {
        var g = self
        g.leading = LeadingDimensions()
        return g
    }
}

/// How a case's outputs are verified (docs/numerics.md, "Verification at scale").
public enum Verification: String, CaseIterable, Sendable, Codable {
    /// Elementwise below a size threshold, at scale above it.
    case auto
    /// Every element against the reference.
    case full
    /// Freivalds projections plus rows and tiles sampled after the outputs are committed.
    case atScale = "at_scale"
}

/// softmax(Q·Kᵀ·scale + mask)·V (docs/attention.md), for prefill and for decode against a
/// KV cache.
///
/// Semantics: query position i of a sequence with kv length L and query length Lq may attend key
/// j iff the case is not causal or j ≤ i + (L − Lq) (causal masks align bottom-right, the
/// KV-cache convention); a row that may attend nothing outputs zeros. K and V hold stored values;
/// the keys and values meant are `kScale`·K and `vScale`·V (an fp8 KV cache with per-tensor scales).
public struct AttentionCase: Sendable, Equatable {
    /// How the KV cache is laid out in memory. Q and the output are always [batch, heads, q_len, head_dim].
    public enum KVLayout: String, CaseIterable, Sendable {
        /// [batch, kv_heads, kv_len, head_dim].
        case bhsd
        /// [batch, kv_len, kv_heads, head_dim].
        case bshd
        /// Pages of `pageSize` positions, [pages, page_size, kv_heads, head_dim], found through a
        /// page table [batch, pages per sequence] of int32 page numbers (vLLM's block table).
        case paged
    }

    public var batch: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var queryLength: Int
    /// The kv length of each sequence of the batch (ragged in a decode batch).
    public var kvLengths: [Int]
    public var causal: Bool
    /// Softmax scale; nil means 1/√head_dim.
    public var scale: Double?
    public var inputType: NumberType
    /// The KV cache's stored type (the input type unless an fp8 cache is asked for).
    public var kvType: NumberType
    public var accumulateType: NumberType
    /// The type P is rounded to before P·V.
    public var probabilityType: NumberType
    public var outputType: NumberType
    public var kScale: Double
    public var vScale: Double
    public var layout: KVLayout
    public var pageSize: Int
    public var dataQ: DataPattern
    public var dataK: DataPattern
    public var dataV: DataPattern
    public var overflow: OverflowMode

    public init(batch: Int, heads: Int, kvHeads: Int, headDim: Int, queryLength: Int, kvLengths: [Int], causal: Bool,
                scale: Double? = nil, inputType: NumberType, kvType: NumberType? = nil, accumulateType: NumberType = .fp32,
                probabilityType: NumberType? = nil, outputType: NumberType? = nil, kScale: Double = 1, vScale: Double = 1,
                layout: KVLayout = .bhsd, pageSize: Int = 16, data: DataPattern = .normal(mean: 0, std: 1),
                dataK: DataPattern? = nil, dataV: DataPattern? = nil, overflow: OverflowMode = .saturate) {
        self.batch = batch; self.heads = heads; self.kvHeads = kvHeads; self.headDim = headDim
        self.queryLength = queryLength; self.kvLengths = kvLengths; self.causal = causal; self.scale = scale
        self.inputType = inputType; self.kvType = kvType ?? inputType; self.accumulateType = accumulateType
        self.probabilityType = probabilityType ?? inputType; self.outputType = outputType ?? inputType
        self.kScale = kScale; self.vScale = vScale; self.layout = layout; self.pageSize = pageSize
        self.dataQ = data; self.dataK = dataK ?? data; self.dataV = dataV ?? data; self.overflow = overflow
    }

    /// The longest kv length of the batch: the padded length of the bhsd and bshd layouts.
    public var kvLength: Int { kvLengths.max() ?? 0 }
    /// The softmax scale in use.
    public var softmaxScale: Double { scale ?? 1 / Double(headDim).squareRoot() }
    /// Query heads per kv head; query head h reads kv head h / groupSize.
    public var groupSize: Int { heads / kvHeads }
    /// Pages each sequence's page-table row holds (paged layout).
    public var pagesPerSequence: Int { (kvLength + pageSize - 1) / pageSize }

    /// The first key query row `row` may not attend: keys [0, visibleKeys) are visible.
    public func visibleKeys(row: Int, kvLength: Int) -> Int {
        guard causal else { return kvLength }
        return max(0, min(kvLength, row + kvLength - queryLength + 1))
    }

    /// (query, key) pairs the mask lets through, over the whole case: the count FLOP/s are
    /// reported against (masked pairs are not counted).
    public var visiblePairs: Int {
        var pairs = 0
        for length in kvLengths {
            for row in 0..<queryLength { pairs += visibleKeys(row: row, kvLength: length) }
        }
        return pairs * heads
    }
}

/// A collective across the chips of one system, with nccl-tests' byte conventions.
///
/// `bytes` is nccl-tests' size S: the per-rank buffer of all-reduce, broadcast and send/recv; the
/// whole output of all-gather (each rank contributes S/n); the whole input of reduce-scatter (each
/// rank keeps S/n); the per-rank buffer of all-to-all (S/n to each peer).
public struct CollectiveCase: Sendable, Equatable {
    public enum Operation: String, CaseIterable, Sendable {
        case allReduce = "all_reduce"
        case allGather = "all_gather"
        case reduceScatter = "reduce_scatter"
        case allToAll = "all_to_all"
        case broadcast
        case sendRecv = "send_recv"

        /// nccl-tests' bus-bandwidth factor for n ranks.
        public func busFactor(ranks n: Int) -> Double {
            let nd = Double(n)
            switch self {
            case .allReduce: return 2 * (nd - 1) / nd
            case .allGather, .reduceScatter, .allToAll: return (nd - 1) / nd
            case .broadcast, .sendRecv: return 1
            }
        }

        /// True for the ops that reduce.
        public var reduces: Bool { self == .allReduce || self == .reduceScatter }
    }

    public enum Reduction: String, CaseIterable, Sendable { case sum, max, min }

    public var operation: Operation
    public var ranks: Int
    /// Message size in bytes as nccl-tests counts it (`-b`/`-e`).
    public var bytes: Int
    public var type: NumberType
    public var reduction: Reduction
    public var inPlace: Bool
    public var root: Int
    /// nil: the crafted exact data (see `CollectiveInputs`); otherwise a random pattern.
    public var data: DataPattern?
    /// Only the device's timing is asked for: no data is generated or checked (large sizes).
    public var timingOnly: Bool

    public init(operation: Operation, ranks: Int, bytes: Int, type: NumberType, reduction: Reduction = .sum, inPlace: Bool = false,
                root: Int = 0, data: DataPattern? = nil, timingOnly: Bool = false) {
        self.operation = operation; self.ranks = ranks; self.bytes = bytes; self.type = type; self.reduction = reduction
        self.inPlace = inPlace; self.root = root; self.data = data; self.timingOnly = timingOnly
    }

    /// Elements of S.
    public var elements: Int { bytes / type.byteWidth }
    /// Elements of each rank's input buffer.
    public var inputCount: Int {
        switch operation {
        case .allGather: return elements / ranks
        default: return elements
        }
    }
    /// Elements of each rank's output buffer.
    public var outputCount: Int {
        switch operation {
        case .reduceScatter: return elements / ranks
        default: return elements
        }
    }
}
