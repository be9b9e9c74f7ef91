import SystolicDevice
import SystolicNumerics
import SystolicSuite

/// Version 1 of the adapter protocol (docs/protocol.md): how the harness drives a vendor's device in
/// another process.
///
/// The harness starts the adapter in its own process group with two extra file descriptors: it
/// writes requests to fd 3 and reads replies from fd 4, one JSON object per line. The adapter's
/// stdout and stderr are free for its own logs (they go to files; stderr is kept in the results).
/// Tensors travel as files in a scratch directory the harness owns: raw little-endian element bit
/// patterns, row-major, exactly `count × width` bytes.
public enum AdapterProtocol {
    public static let version = 1
    /// File descriptor the adapter reads requests from.
    public static let requestDescriptor: Int32 = 3
    /// File descriptor the adapter writes replies to.
    public static let replyDescriptor: Int32 = 4
    /// Longest reply line accepted; anything longer is garbage.
    public static let maximumLineBytes = 1 << 20
}

/// Harness → adapter: the first message.
public struct HelloRequest: Codable, Sendable {
    public var type = "hello"
    public var protocolVersion: Int
    public var harness: String

    enum CodingKeys: String, CodingKey {
        case type, harness
        case protocolVersion = "protocol"
    }

    public init(protocolVersion: Int = AdapterProtocol.version, harness: String) {
        self.protocolVersion = protocolVersion; self.harness = harness
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

    enum CodingKeys: String, CodingKey {
        case type, device, timer
        case protocolVersion = "protocol"
        case energySource = "energy_source"
    }

    public init(device: DeviceDescriptor, timer: String, energySource: String) {
        type = "hello"; protocolVersion = AdapterProtocol.version
        self.device = device; self.timer = timer; self.energySource = energySource
    }
}

/// A tensor file: where it is, its element type and shape.
public struct TensorFile: Codable, Sendable, Equatable {
    public var path: String
    public var type: NumberType
    public var shape: [Int]

    public init(path: String, type: NumberType, shape: [Int]) {
        self.path = path; self.type = type; self.shape = shape
    }

    public var byteCount: Int { shape.reduce(1, *) * type.byteWidth }
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

    enum CodingKeys: String, CodingKey {
        case m, n, k, batch, a, b, accumulate, output, overflow
        case layoutB = "layout_b"
    }

    public init(_ g: GemmCase) {
        m = g.m; n = g.n; k = g.k; batch = g.batch
        a = g.types.a; b = g.types.b; accumulate = g.types.accumulate; output = g.types.output
        layoutB = g.layoutB.rawValue; overflow = g.overflow
    }

    /// The case back, for an adapter that wraps our own emulator.
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

/// Harness → adapter: finish and exit.
public struct ShutdownRequest: Codable, Sendable {
    public var type = "shutdown"
    public init() {}
}
