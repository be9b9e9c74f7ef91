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

// MARK: Host memory

// What one case holds in host memory at its peak when it runs on the in-process emulator and is
// checked: its tensors as stored, the working copies the emulator and the check make of them, the
// output and the reference. The loader refuses a case above `SuiteLoader.Limits.caseBytes`, and
// `run --max-case-memory` skips one above the user's limit, by this count. (The tensors' bytes
// alone undercounted: an fp8 case of about 2 GiB of tensors peaked at 10.3 GB, hardening #26,
// item 8.) Measured peaks (resident set above the harness's own, release build, Zen 4) are at or
// below the count: `scripts/case-memory.py` runs the table of docs/suites.md, "Host memory".
//
// GEMM: every element of A and B is held as stored (its width) and once decoded to fp32 (4 B:
// the emulator's packed panels, then the reference's, never both at once); a case with leading
// dimensions also holds packed copies of A and B (their width again) and C's initial rows; every
// element of C is held as the device's output (its width) and as 16 B of accumulation and
// reference (the emulator's fp32 accumulator, the reference's fp64 value and bound).
// Measured: M=1, N=K=8192 fp32 512 MiB of 537 counted; fp8_e4m3 322 of 335; bf16 385 of 402;
// M=N=8192, K=64 bf16 1160 of 1208.
//
// Attention: Q, K, V, the page table and O as stored, 20 B per element of O (the kernel's fp32
// output, the reference's fp64 value and bound), K of one kv head decoded and transposed by the
// kernel and by the reference on each core (8 copies of d × kv_len fp32 allowed), and the
// reference's fp64 scores and weights of a block of up to 64 query rows.
// Measured: decode, 32 heads × 128, kv_len 65536, bf16: 1152 MiB of 1303 counted.
//
// Collectives: every rank's input and output buffers and the check's exact values (fp64).
// Measured: all-reduce of 8 ranks × 64 MiB fp32: 1088 MiB of 2048 counted.

extension GemmCase {
    public var hostBytes: Int {
        let (aw, bw, cw) = (types.a.byteWidth, types.b.byteWidth, types.output.byteWidth)
        let storedA = storedShapeA.reduce(1, *), storedB = storedShapeB.reduce(1, *), storedC = storedShapeC.reduce(1, *)
        let logicalA = batch * m * k, logicalB = (groups?.count ?? batch) * k * n, logicalC = batch * m * n
        var bytes = storedA * aw + storedB * bw + (logicalA + logicalB) * 4 + storedC * cw + logicalC * 16
        if !leading.isPacked { bytes += logicalA * aw + logicalB * bw + (leading.c != nil ? storedC * cw : 0) }
        // Epilogue and scale vectors, and block scales: at most a few values per row or column.
        bytes += (m + n) * batch * 16
        return bytes
    }
}

extension AttentionCase {
    public var hostBytes: Int {
        let storedKV = layout == .paged ? batch * pagesPerSequence * pageSize : batch * kvLength
        let q = batch * heads * queryLength * headDim, o = q
        let kv = storedKV * kvHeads * headDim
        let pageTable = layout == .paged ? batch * pagesPerSequence * 4 : 0
        let rowBlock = min(queryLength, 64)
        return q * inputType.byteWidth + 2 * kv * kvType.byteWidth + pageTable + o * outputType.byteWidth + o * 20
            + 8 * headDim * kvLength * 4 + rowBlock * kvLength * 16
    }
}

extension CollectiveCase {
    /// Nothing moves for a timing-only case.
    public var hostBytes: Int {
        timingOnly ? 0 : ranks * ((inputCount + outputCount) * type.byteWidth + outputCount * 8)
    }
}

extension Workload {
    /// Host memory the case holds at its peak, by the count above.
    public var hostBytes: Int {
        switch self {
        case let .gemm(g): g.hostBytes
        case let .attention(a): a.hostBytes
        case let .collective(c): c.hostBytes
        }
    }
}
