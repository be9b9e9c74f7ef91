import SystolicNumerics

// The facts of each workload family that every stage needs (the emulator, the process adapter,
// the harness, the package checker, the leaderboard, `bench`): the output a device returns, the
// work a case counts, and for collectives nccl-tests' bandwidths. Each is defined here once.

/// The tensor a device returns for a case: its role (the protocol's and the results' name), type
/// and shape.
public struct OutputSpec: Sendable, Equatable {
    public var role: String
    public var type: NumberType
    public var shape: [Int]

    public init(role: String, type: NumberType, shape: [Int]) {
        self.role = role; self.type = type; self.shape = shape
    }

    /// Why `tensors` does not hold this output, in the words a verdict's reason uses; nil when it does.
    public func problem(in tensors: [String: Tensor]) -> String? {
        guard let t = tensors[role] else { return "the device returned no output \"\(role)\"" }
        guard t.shape == shape, t.type == type else {
            return "the device returned \(role) as \(t.type.rawValue) \(t.shape), expected \(type.rawValue) \(shape)"
        }
        return nil
    }
}

/// The work a case counts for throughput and energy efficiency, in its unit.
public struct WorkCount: Sendable, Equatable {
    public var count: Double
    /// `op` for a GEMM (two per MAC), `FLOP` for attention.
    public var unit: String
}

extension GemmCase {
    /// C as stored ([batch, M, ldc]: the padding of a leading dimension included).
    public var output: OutputSpec { OutputSpec(role: "c", type: types.output, shape: storedShapeC) }
    /// Two operations per multiply-accumulate.
    public var work: WorkCount { WorkCount(count: 2 * Double(macs), unit: "op") }
}

extension AttentionCase {
    public var output: OutputSpec { OutputSpec(role: "o", type: outputType, shape: [batch, heads, queryLength, headDim]) }
    /// 2·head_dim FLOPs per visible (query, key) pair for each of the two products; masked pairs
    /// are not counted.
    public var work: WorkCount { WorkCount(count: 4 * Double(visiblePairs * headDim), unit: "FLOP") }
}

extension CollectiveCase {
    /// Every rank's output buffer; nil for a timing-only case, which moves no data.
    public var output: OutputSpec? { timingOnly ? nil : OutputSpec(role: "out", type: type, shape: [ranks, outputCount]) }

    /// nccl-tests' algorithm bandwidth (S / t) and bus bandwidth (algbw times the operation's bus
    /// factor) for a time of `seconds`.
    public func bandwidths(seconds: Double) -> (algbw: Double, busbw: Double) {
        let algbw = Double(bytes) / seconds
        return (algbw, algbw * operation.busFactor(ranks: ranks))
    }
}

extension Workload {
    /// The output a device returns for the case; nil when it returns none.
    public var output: OutputSpec? {
        switch self {
        case let .gemm(g): return g.output
        case let .attention(a): return a.output
        case let .collective(c): return c.output
        }
    }

    /// The input type whose declared peak rate bounds the case's throughput (a device cannot
    /// finish faster than its work at that peak); nil for collectives.
    public var rateType: NumberType? {
        switch self {
        case let .gemm(g): return g.types.a
        case let .attention(a): return a.inputType
        case .collective: return nil
        }
    }

    /// A few words on what the case runs, for listings (`list`).
    public var summary: String {
        switch self {
        case let .gemm(g): return "gemm \(g.types.label)\(g.layoutB == .nk ? " b:nk" : "")"
        case let .attention(a): return "attention \(a.inputType.rawValue)\(a.causal ? " causal" : "")"
        case let .collective(c): return "\(c.operation.rawValue) \(c.type.rawValue) \(c.reduction.rawValue)"
        }
    }

    /// The work the case counts; nil for collectives, which are measured in bytes.
    public var work: WorkCount? {
        switch self {
        case let .gemm(g): return g.work
        case let .attention(a): return a.work
        case .collective: return nil
        }
    }

}
