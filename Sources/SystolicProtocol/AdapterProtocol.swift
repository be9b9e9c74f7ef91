import SystolicDevice
import SystolicJSON
import SystolicNumerics
import SystolicSuite

/// The adapter protocol (docs/protocol.md), versions 1 and 2: how the harness drives a vendor's
/// device in another process. Version 2 carries every GEMM a suite can hold (epilogues,
/// requantisation, scales, leading dimensions, grouped GEMMs) and lets the adapter declare which of
/// those features it supports; a version-1 adapter keeps working, its missing cases
/// `not_supported` with the reason.
///
/// The harness starts the adapter in its own process group with two extra file descriptors: it
/// writes requests to fd 3 and reads replies from fd 4, one JSON object per line. The adapter's
/// stdout and stderr are free for its own logs (they go to files; stderr is kept in the results).
/// Tensors travel as files in a scratch directory the harness owns: raw little-endian element bit
/// patterns, row-major, exactly `count × width` bytes.
public enum AdapterProtocol {
    /// The versions this harness speaks, offered in `hello`.
    public static let versions = [1, 2]
    /// The newest version.
    public static let version = 2
    /// File descriptor the adapter reads requests from.
    public static let requestDescriptor: Int32 = 3
    /// File descriptor the adapter writes replies to.
    public static let replyDescriptor: Int32 = 4
    /// Longest reply line accepted; anything longer is garbage.
    public static let maximumLineBytes = 1 << 20
}

/// Harness → adapter: the first message. `protocol` stays 1, what a version-1 adapter reads;
/// `protocols` offers every version, and the adapter answers with the one it speaks.
public struct HelloRequest: Codable, Sendable {
    public var type = "hello"
    public var protocolVersion: Int
    public var protocols: [Int]?
    public var harness: String

    enum CodingKeys: String, CodingKey {
        case type, harness, protocols
        case protocolVersion = "protocol"
    }

    public init(harness: String, protocols: [Int] = AdapterProtocol.versions) {
        protocolVersion = 1; self.protocols = protocols; self.harness = harness
    }
}

/// Adapter → harness: the answer to `hello`, describing the device.
public struct HelloReply: Codable, Sendable {
    public var type: String
    public var protocolVersion: Int
    public var device: DeviceDescriptor
    /// `device` when the device times itself, `wall` when the adapter measures host time.
    public var timer: String
    /// Where reported energy comes from: `modelled`, `on_chip_counter`, `board_sensor`, `wall_meter`, or `none`.
    public var energySource: String
    /// Version 2: the features it supports per op (absent: none beyond the plain cases).
    public var features: Features?

    enum CodingKeys: String, CodingKey {
        case type, device, timer, features
        case protocolVersion = "protocol"
        case energySource = "energy_source"
    }

    public init(device: DeviceDescriptor, timer: String, energySource: String, protocolVersion: Int = AdapterProtocol.version,
                features: Features? = nil) {
        type = "hello"; self.protocolVersion = protocolVersion
        self.device = device; self.timer = timer; self.energySource = energySource; self.features = features
    }
}

/// A tensor file: where it is, its element type and shape.
public struct TensorFile: Codable, Sendable, Equatable {
    public var path: String
    public var type: NumberType
    public var shape: [Int]

    enum CodingKeys: String, CodingKey { case path, type, shape }

    public init(path: String, type: NumberType, shape: [Int]) {
        self.path = path; self.type = type; self.shape = shape
    }

    /// The file's size: `byteWidth` per element, or two nibbles per byte for int4 and uint4.
    public var byteCount: Int { type.fileBytes(shape.reduce(1, *)) }
}

/// The GEMM a `run` asks for, in the protocol's words.
public struct GemmSpec: Codable, Sendable, Equatable {
    public var m: Int
    public var n: Int
    public var k: Int
    public var batch: Int
    public var a: NumberType
    public var b: NumberType
    public var accumulate: NumberType
    public var output: NumberType
    /// `kn` or `nk`: how B is stored.
    public var layoutB: String
    public var overflow: OverflowMode
    // Version 2 (absent in a plain case, so a plain request reads as version 1's):
    /// Row strides of the stored A, B and C (`leading_dimensions`); C's initial rows come as input `c`.
    public var lda: Int?
    public var ldb: Int?
    public var ldc: Int?
    /// A bias [N] is added to every row (`bias`): input `bias`, fp32 (int32 for int8 GEMMs).
    public var bias: Bool?
    /// `relu`, `gelu_erf` or `gelu_tanh`, applied after the bias (`activation`).
    public var activation: String?
    /// Per-tensor scales (`scales`): C = conv(scale_a·scale_b·Σ a·b / scale_output).
    public var scaleA: Double?
    public var scaleB: Double?
    public var scaleOutput: Double?
    /// Block shapes of A's and B's scales [rows, cols] (`block_scales`): inputs `scale_a` fp32
    /// [batch, ⌈M/rows⌉, ⌈K/cols⌉] and `scale_b` fp32 [matrices of B, ⌈K/rows⌉, ⌈N/cols⌉].
    public var blockA: [Int]?
    public var blockB: [Int]?
    /// int32 → int8 requantisation (`requantization`).
    public var requantization: RequantizationSpec?
    /// Experts of a grouped GEMM (`groups`): input `group_sizes` int32 [experts], rows of A per
    /// expert in order (summing to M); B is [experts, K, N] (or [experts, N, K]).
    public var groups: Int?
    /// D = A·B + C (`accumulate_c`): C's type (fp32 or the output type); input `c` [batch, M, N].
    public var accumulateC: NumberType?
    /// MX, NVFP4 or int4-weight operands (`block_format`, docs/formats.md).
    public var blockFormat: BlockFormatSpec?

    public struct BlockFormatSpec: Codable, Sendable, Equatable {
        /// `mx`, `nvfp4` or `int4`.
        public var scheme: String
        /// Set when the device quantises A: the type A travels in, unquantised.
        public var aFrom: NumberType?
        /// int4 weights: the group along K, the scales' type in the checkpoint (they travel as
        /// fp32 values, exact) and whether B has zero points (input `zero_b`, uint4).
        public var group: Int?
        public var scaleType: NumberType?
        public var zeroPoint: Bool?

        public init(scheme: String, aFrom: NumberType? = nil, group: Int? = nil, scaleType: NumberType? = nil, zeroPoint: Bool? = nil) {
            self.scheme = scheme; self.aFrom = aFrom; self.group = group; self.scaleType = scaleType; self.zeroPoint = zeroPoint
        }

        enum CodingKeys: String, CodingKey {
            case scheme, group
            case aFrom = "a_from"
            case scaleType = "scale_type"
            case zeroPoint = "zero_point"
        }
    }

    enum CodingKeys: String, CodingKey {
        case m, n, k, batch, a, b, accumulate, output, overflow, lda, ldb, ldc, bias, activation, requantization, groups
        case accumulateC = "accumulate_c"
        case blockFormat = "block_format"
        case layoutB = "layout_b"
        case scaleA = "scale_a"
        case scaleB = "scale_b"
        case scaleOutput = "scale_output"
        case blockA = "block_a"
        case blockB = "block_b"
    }

    public struct RequantizationSpec: Codable, Sendable, Equatable {
        /// `fp32_scale` or `fixed_point` (docs/numerics.md, "int8 requantisation").
        public var scheme: String
        /// One scale and zero point per output column (inputs [N]) or one for the tensor ([1]).
        public var perChannel: Bool

        enum CodingKeys: String, CodingKey {
            case scheme
            case perChannel = "per_channel"
        }
    }

    public init(_ g: GemmCase) {
        m = g.m; n = g.n; k = g.k; batch = g.batch
        a = g.types.a; b = g.types.b; accumulate = g.types.accumulate; output = g.types.output
        layoutB = g.layoutB.rawValue; overflow = g.overflow
        lda = g.leading.a; ldb = g.leading.b; ldc = g.leading.c
        bias = g.bias ? true : nil
        activation = g.activation == .none ? nil : g.activation.rawValue
        if g.scales.a != 1 || g.scales.b != 1 || g.scales.output != 1 {
            scaleA = g.scales.blockA == nil ? g.scales.a : nil
            scaleB = g.scales.blockB == nil ? g.scales.b : nil
            scaleOutput = g.scales.output
        }
        blockA = g.scales.blockA.map { [$0.rows, $0.cols] }
        blockB = g.scales.blockB.map { [$0.rows, $0.cols] }
        requantization = g.requantization.map { RequantizationSpec(scheme: $0.scheme.rawValue, perChannel: $0.perChannel) }
        groups = g.groups?.count
        accumulateC = g.addend
        blockFormat = g.blockFormat.map {
            BlockFormatSpec(scheme: $0.scheme.rawValue, aFrom: $0.activationSource, group: $0.int4?.group, scaleType: $0.int4?.scaleType, zeroPoint: $0.int4?.zeroPoint)
        }
    }

    /// The case back, for an adapter that wraps our own emulator; `groupSizes` from the request's
    /// `group_sizes` tensor for a grouped GEMM. Nil when a field names something unknown.
    public func gemmCase(groupSizes: [Int]? = nil) -> GemmCase? {
        guard let layout = GemmCase.WeightLayout(rawValue: layoutB), let act = GemmCase.Activation(rawValue: activation ?? "none") else { return nil }
        var scales = GemmCase.Scales(a: scaleA ?? 1, b: scaleB ?? 1, output: scaleOutput ?? 1)
        // The draw's range does not travel: the scales themselves do, as tensors.
        if let blockA { guard blockA.count == 2 else { return nil }; scales.blockA = .init(rows: blockA[0], cols: blockA[1], low: 1, high: 1) }
        if let blockB { guard blockB.count == 2 else { return nil }; scales.blockB = .init(rows: blockB[0], cols: blockB[1], low: 1, high: 1) }
        var requant: GemmCase.Requantization?
        if let r = requantization {
            guard let scheme = GemmCase.Requantization.Scheme(rawValue: r.scheme) else { return nil }
            requant = .init(scheme: scheme, perChannel: r.perChannel, scaleLow: 1, scaleHigh: 1, zeroPointLow: 0, zeroPointHigh: 0)
        }
        var g = GemmCase(m: m, n: n, k: k, batch: batch, types: .init(a: a, b: b, accumulate: accumulate, output: output),
                         layoutB: layout, scales: scales, bias: bias ?? false, activation: act, dataA: .constant(0), dataB: .constant(0),
                         overflow: overflow, requantization: requant)
        g.leading = .init(a: lda, b: ldb, c: ldc)
        if groups != nil { g.groups = groupSizes }
        g.addend = accumulateC
        if let f = blockFormat {
            // The harness's own rounding does not travel: the operands it quantised do.
            guard let scheme = GemmCase.BlockFormat.Scheme(rawValue: f.scheme) else { return nil }
            g.blockFormat = GemmCase.BlockFormat(scheme: scheme, activationSource: f.aFrom)
            if scheme == .int4 {
                guard let group = f.group, let scaleType = f.scaleType else { return nil }
                g.blockFormat?.int4 = .init(group: group, scaleType: scaleType, zeroPoint: f.zeroPoint ?? false)
            }
        }
        return g
    }

    /// The case back for a plain (version-1) request.
    public var gemmCase: GemmCase {
        GemmCase(m: m, n: n, k: k, batch: batch, types: .init(a: a, b: b, accumulate: accumulate, output: output),
                 layoutB: GemmCase.WeightLayout(rawValue: layoutB) ?? .kn, dataA: .constant(0), dataB: .constant(0), overflow: overflow)
    }
}

/// The attention a `run` asks for, in the protocol's words (semantics in docs/attention.md). `scale` is always the softmax scale in use (1/√head_dim unless the case sets one).
public struct AttentionSpec: Codable, Sendable, Equatable {
    public var batch: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var qLen: Int
    /// Each sequence's kv length (also in the `kv_lens` input tensor).
    public var kvLens: [Int]
    public var causal: Bool
    public var scale: Double
    public var input: NumberType
    public var kv: NumberType
    public var accumulate: NumberType
    public var p: NumberType
    public var output: NumberType
    public var kScale: Double
    public var vScale: Double
    /// `bhsd`, `bshd` or `paged`.
    public var kvLayout: String
    public var pageSize: Int
    public var overflow: OverflowMode

    enum CodingKeys: String, CodingKey {
        case batch, heads, causal, scale, input, kv, accumulate, p, output, overflow
        case kvHeads = "kv_heads"
        case headDim = "head_dim"
        case qLen = "q_len"
        case kvLens = "kv_lens"
        case kScale = "k_scale"
        case vScale = "v_scale"
        case kvLayout = "kv_layout"
        case pageSize = "page_size"
    }

    public init(_ a: AttentionCase) {
        batch = a.batch; heads = a.heads; kvHeads = a.kvHeads; headDim = a.headDim; qLen = a.queryLength; kvLens = a.kvLengths
        causal = a.causal; scale = a.softmaxScale; input = a.inputType; kv = a.kvType; accumulate = a.accumulateType
        p = a.probabilityType; output = a.outputType; kScale = a.kScale; vScale = a.vScale; kvLayout = a.layout.rawValue
        pageSize = a.pageSize; overflow = a.overflow
    }

    /// The case back, for an adapter that wraps our own emulator.
    public var attentionCase: AttentionCase {
        AttentionCase(batch: batch, heads: heads, kvHeads: kvHeads, headDim: headDim, queryLength: qLen, kvLengths: kvLens,
                      causal: causal, scale: scale, inputType: input, kvType: kv, accumulateType: accumulate, probabilityType: p,
                      outputType: output, kScale: kScale, vScale: vScale, layout: AttentionCase.KVLayout(rawValue: kvLayout) ?? .bhsd,
                      pageSize: pageSize, overflow: overflow)
    }
}

/// The collective a `run` asks for. `bytes` is nccl-tests' size S; the `in` tensor is
/// [ranks, input count] (rank r's send buffer in row r) and `out` [ranks, output count]. A
/// `timing_only` request carries no tensors: the adapter moves data of its own and reports time.
public struct CollectiveSpec: Codable, Sendable, Equatable {
    public var collective: String
    public var ranks: Int
    public var bytes: Int
    public var type: NumberType
    public var reduction: String
    public var inPlace: Bool
    public var root: Int
    public var timingOnly: Bool

    enum CodingKeys: String, CodingKey {
        case collective, ranks, bytes, type, reduction, root
        case inPlace = "in_place"
        case timingOnly = "timing_only"
    }

    public init(_ c: CollectiveCase) {
        collective = c.operation.rawValue; ranks = c.ranks; bytes = c.bytes; type = c.type; reduction = c.reduction.rawValue
        inPlace = c.inPlace; root = c.root; timingOnly = c.timingOnly
    }

    /// The case back, for an adapter that wraps our own emulator (the data pattern does not travel).
    public var collectiveCase: CollectiveCase? {
        guard let op = CollectiveCase.Operation(rawValue: collective), let r = CollectiveCase.Reduction(rawValue: reduction) else { return nil }
        return CollectiveCase(operation: op, ranks: ranks, bytes: bytes, type: type, reduction: r, inPlace: inPlace, root: root,
                              timingOnly: timingOnly)
    }
}

/// How the harness wants a case timed: warm-up runs, then repeats until both minimums are met.
public struct TimingPlan: Codable, Sendable, Equatable {
    public var warmup: Int
    public var minRepeats: Int
    public var minSeconds: Double

    enum CodingKeys: String, CodingKey {
        case warmup
        case minRepeats = "min_repeats"
        case minSeconds = "min_seconds"
    }

    public init(warmup: Int, minRepeats: Int, minSeconds: Double) {
        self.warmup = warmup; self.minRepeats = minRepeats; self.minSeconds = minSeconds
    }
}

/// Harness → adapter: run one case.
public struct RunRequest: Codable, Sendable {
    public var type = "run"
    public var id: String
    public var op: String
    public var gemm: GemmSpec?
    public var attention: AttentionSpec?
    public var collective: CollectiveSpec?
    public var inputs: [String: TensorFile]
    /// Where each output must be written (the harness owns these paths).
    public var outputs: [String: TensorFile]
    public var timing: TimingPlan

    public init(id: String, op: String, gemm: GemmSpec? = nil, attention: AttentionSpec? = nil, collective: CollectiveSpec? = nil,
                inputs: [String: TensorFile], outputs: [String: TensorFile], timing: TimingPlan) {
        self.id = id; self.op = op; self.gemm = gemm; self.attention = attention; self.collective = collective; self.inputs = inputs
        self.outputs = outputs; self.timing = timing
    }
}

/// Adapter → harness: the answer to `run`. `type` is `result`, `not_supported` or `error`.
public struct RunReply: Codable, Sendable {
    public var type: String
    public var id: String
    public var reason: String?
    /// Paths the outputs were written to: must be the paths the request named.
    public var outputs: [String: String]?
    /// Seconds per timed repeat, as the device's timer (or the adapter's wall clock) measured them.
    public var samplesSeconds: [Double]?
    public var energyJoules: Double?

    enum CodingKeys: String, CodingKey {
        case type, id, reason, outputs
        case samplesSeconds = "samples_seconds"
        case energyJoules = "energy_joules"
    }

    public init(type: String, id: String, reason: String? = nil, outputs: [String: String]? = nil,
                samplesSeconds: [Double]? = nil, energyJoules: Double? = nil) {
        self.type = type; self.id = id; self.reason = reason; self.outputs = outputs
        self.samplesSeconds = samplesSeconds; self.energyJoules = energyJoules
    }
}

extension RunReply {
    /// Reads a reply line as strictly as a file (the hello reply is read the same way): an unknown
    /// member, a missing one or a value of the wrong kind is named with its place. Read member by
    /// member from the parsed line, which also costs a few microseconds where `JSONDecoder` took 25
    /// (protocol v2, item 4).
    public init(line: [UInt8]) throws(InputFileError) {
        let value: JSONValue
        do { value = try JSONParser.parse(line) } catch {
            throw InputFileError(file: "the adapter's reply", place: nil, message: "not JSON: \(error)")
        }
        let root = JSONNode(value: value, file: "the adapter's reply")
        try root.rejectUnknownMembers(["type", "id", "reason", "outputs", "samples_seconds", "energy_joules"])
        type = try root.member("type").string()
        id = try root.member("id").string()
        reason = try root.optionalMember("reason")?.string()
        if let outputs = try root.optionalMember("outputs") {
            var paths: [String: String] = [:]
            for (role, path) in try outputs.members() { paths[role] = try path.string() }
            self.outputs = paths
        } else {
            outputs = nil
        }
        samplesSeconds = try root.optionalMember("samples_seconds").map { node throws(InputFileError) in
            var seconds: [Double] = []
            for item in try node.items() { seconds.append(try item.double()) }
            return seconds
        }
        energyJoules = try root.optionalMember("energy_joules")?.double()
    }
}

/// Harness → adapter: finish and exit.
public struct ShutdownRequest: Codable, Sendable {
    public var type = "shutdown"
    public init() {}
}
