import SystolicNumerics
import SystolicDevice
import SystolicSuite

/// What one GEMM costs on an emulated chip: cycles, traffic per memory level and energy.
public struct GemmCost: Sendable, Equatable {
    /// Array cycles with unlimited bandwidth (SCALE-Sim's quantity for serial weight loading).
    public var computeCycles: Int
    /// Cycles including memory stalls and the vector unit's tail.
    public var cycles: Int
    /// Cycles the array waited for HBM.
    public var stallCycles: Int
    /// Vector-unit cycles not hidden behind the array (the last output block's conversion).
    public var vectorTailCycles: Int
    public var macs: Int
    public var vectorOps: Int
    public var hbmReadBytes: Int
    public var hbmWriteBytes: Int
    public var sramBytes: Int
    /// Folds: array-sized pieces of work (see `GemmCostModel`).
    public var folds: Int
    public var joules: Double
    public var seconds: Double
}

/// The analytical timing, traffic and energy model of the reference emulator.
///
/// **Folds.** Weight stationary (WS), R×C arrays, r MACs per PE per cycle for the input type: a
/// fold holds a K-tile of R·r rows and an N-tile of C columns of B; all M rows of A stream through
/// it. Folds run N-tile by N-tile, K-tiles in order inside each. Output stationary (OS): a fold
/// holds an R×C block of C and streams all of K (r values per cycle); folds run M-block by M-block.
/// With `count` arrays, consecutive folds run `count` at a time (a round).
///
/// **Compute cycles** (unlimited bandwidth), less one at the end as SCALE-Sim reports:
/// - WS, serial weight loading: each round 2R + C + M − 2 (load R rows, stream M rows skewed, drain).
/// - WS, double-buffered: R to load the first weights, then each round max(R, M) (the next weights
///   load while M rows stream), M for the last, then R + C − 2 to drain.
/// - OS: each round R + C + ⌈K/r⌉ − 2.
///
/// **HBM traffic** (operands at their stored width: `NumberType.storedBits`, so fp4 and int4
/// weights move half a byte each, fp6 three quarters). WS: every weight once; A once if it fits the unified buffer, else once per
/// N-tile; partial sums spill to HBM (written and read back between K-tiles) when M×C fp32 values
/// do not fit the accumulators; C written once. OS: an A row-block once per M-block if it fits the
/// unified buffer, else per fold; B once if it fits the weight buffer, else per fold; C once.
///
/// **Overlap.** Double buffering hides a round's HBM traffic behind its compute: a round takes
/// max(compute, bytes ÷ bytes-per-cycle). The vector unit converts outputs as they finish (with the
/// epilogue's bias, activation and requantisation, `vectorOpsPerOutput`), so only the last block's
/// work adds to the total, unless the vector unit is the bottleneck.
///
/// **SRAM bytes**: every byte written into or read out of an on-chip buffer (HBM fills and drains,
/// operands read into the array, partial sums written and read, outputs written).
///
/// **Energy** (modelled): MACs × energy per MAC of the input type + SRAM bytes × per-byte energy +
/// HBM bytes × per-byte energy + vector ops × per-op energy + static power × time.
public enum GemmCostModel {
    /// Vector-unit operations per output element: the conversion, plus the bias add, the
    /// activation (relu 1; GELU 8, its polynomial and special-function steps) and requantisation
    /// (multiply, round, add the zero point, clamp: 4).
    static func vectorOpsPerOutput(_ g: GemmCase) -> Int {
        var ops = 1
        if g.bias { ops += 1 }
        switch g.activation {
        case .none: break
        case .relu: ops += 1
        case .geluErf, .geluTanh: ops += 8
        }
        if g.requantization != nil { ops += 4 }
        // Block scales: per K group, the scales' product, then a multiply and an add per output.
        if let group = g.scales.group { ops += 3 * ((g.k + group - 1) / group) }
        return ops
    }

    /// Bytes of block scales read from HBM, once: fp32, one per block of A and of B.
    static func scaleBytes(_ g: GemmCase) -> Int {
        let a = g.scales.blockA.map { $0.grid(g.m, g.k) }.map { $0.rows * $0.cols } ?? 0
        let b = g.scales.blockB.map { $0.grid(g.k, g.n) }.map { $0.rows * $0.cols } ?? 0
        // As the chip stores them: one byte per E8M0 (MX) or E4M3 (NVFP4) scale; int4 weights'
        // fp16 or bf16 scales two, their uint4 zero points half a byte, W4A8's per-row activation
        // scales four; block scales of another GEMM fp32.
        guard let f = g.blockFormat else { return 4 * g.batch * (a + b) }
        switch f.scheme {
        case .mx, .nvfp4: return g.batch * (a + b)
        case .int4: return g.batch * (4 * a + 2 * b + (f.int4?.zeroPoint == true ? (b + 1) / 2 : 0))
        }
    }

    /// GEMMs run one after another: every figure adds up.
    private static func sum(_ gemms: [GemmCase], on config: DeviceConfig) -> GemmCost? {
        var total: GemmCost?
        for sub in gemms {
            guard let c = cost(sub, on: config) else { return nil }
            guard var t = total else { total = c; continue }
            t.computeCycles += c.computeCycles; t.cycles += c.cycles; t.stallCycles += c.stallCycles
            t.vectorTailCycles += c.vectorTailCycles; t.macs += c.macs; t.vectorOps += c.vectorOps
            t.hbmReadBytes += c.hbmReadBytes; t.hbmWriteBytes += c.hbmWriteBytes; t.sramBytes += c.sramBytes
            t.folds += c.folds; t.joules += c.joules; t.seconds += c.seconds
            total = t
        }
        return total
    }

    public static func cost(_ g: GemmCase, on config: DeviceConfig) -> GemmCost? {
        // A grouped GEMM runs its experts one after another, each loading its own weights: the sum.
        if g.groups != nil { return sum(g.groupCases.map(\.gemm), on: config) }
        // An output-stationary array keeps one running sum per PE: with block scales each K group
        // runs as a GEMM of its own whose outputs drain to the vector unit to be scaled and added.
        if config.array.dataflow == .outputStationary, let group = g.scales.group {
            var part = g
            part.scales = GemmCase.Scales()
            let parts = stride(from: 0, to: g.k, by: group).map { k0 in
                part.k = min(group, g.k - k0)
                return part
            }
            guard var total = sum(parts, on: config) else { return nil }
            // The parts converted their outputs once each; the whole does that once, plus the
            // scaling (vectorOpsPerOutput), and reads the scales.
            let outputs = g.batch * g.m * g.n
            let extraOps = outputs * vectorOpsPerOutput(g) - total.vectorOps
            let extraBytes = scaleBytes(g)
            let lanes = config.vectorUnit.lanes * config.vectorUnit.opsPerCycle
            // The scales cross HBM too: the whole takes at least its bytes' time.
            // (Bandwidth 0, which model tests use for unlimited, sets no floor.)
            let bytes = Double(total.hbmReadBytes + extraBytes + total.hbmWriteBytes)
            let bytesPerCycle = config.memory.hbmBytesPerSecond / config.clockHz
            let memoryCycles = bytesPerCycle > 0 ? Int((bytes / bytesPerCycle).rounded(.up)) : 0
            let cycles = max(total.cycles, (total.vectorOps + extraOps + lanes - 1) / lanes, memoryCycles)
            let seconds = Double(cycles) / config.clockHz
            total.joules += Double(extraOps) * config.energy.vectorOpJoules + Double(extraBytes) * config.energy.sramByteJoules
                + Double(extraBytes) * config.energy.hbmByteJoules + config.energy.staticWatts * (seconds - total.seconds)
            total.vectorTailCycles += cycles - total.cycles
            total.vectorOps += extraOps; total.hbmReadBytes += extraBytes; total.sramBytes += extraBytes
            total.cycles = cycles; total.seconds = seconds
            return total
        }
        guard let rate = config.arithmetic.rate(g.types.a), config.arithmetic.rate(g.types.b) != nil else { return nil }
        let r = config.array.rows, c = config.array.cols, count = config.array.count
        // Bytes as the chip stores each operand: fp4 and int4 two to a byte, fp6 four to three.
        func bytesA(_ count: Int) -> Int { g.types.a.storedBytes(count) }
        func bytesB(_ count: Int) -> Int { g.types.b.storedBytes(count) }
        func bytesO(_ count: Int) -> Int { g.types.output.storedBytes(count) }
        let accBytes = 4
        var folds: [(compute: Int, bytes: Int)] = []
        var hbmRead = 0, hbmWrite = 0, sram = 0
        var prologue = 0, epilogue = 0
        var lastBlockOutputs = 0

        switch config.array.dataflow {
        case .weightStationary:
            // A block-scaled GEMM sums one quantisation group per pass: its K-tile is at most the group.
            let tileK = min(r * rate, g.scales.group ?? Int.max)
            let kFolds = (g.k + tileK - 1) / tileK, nFolds = (g.n + c - 1) / c
            let aFits = bytesA(g.m * g.k) <= config.memory.unifiedBufferBytes
            let accFits = g.m * c * accBytes <= config.memory.accumulatorBytes
            let serial = config.array.weightLoading == .serial
            if !serial { prologue = r; epilogue = r + c - 2 }
            for _ in 0..<g.batch {
                for nb in 0..<nFolds {
                    let tn = min(c, g.n - nb * c)
                    for kb in 0..<kFolds {
                        let tk = min(tileK, g.k - kb * tileK)
                        var read = bytesB(tk * tn)
                        if !aFits || nb == 0 { read += bytesA(g.m * tk) }
                        var write = 0
                        if !accFits && kb > 0 { read += g.m * tn * accBytes }
                        if !accFits && kb < kFolds - 1 { write += g.m * tn * accBytes }
                        if kb == kFolds - 1 { write += bytesO(g.m * tn) }
                        hbmRead += read; hbmWrite += write
                        // Into the array: the A tile and the weight tile; partial sums out, and back in after the first K-tile.
                        sram += bytesA(g.m * tk) + bytesB(tk * tn) + g.m * tn * accBytes + (kb > 0 ? g.m * tn * accBytes : 0)
                        if kb == kFolds - 1 { sram += g.m * tn * accBytes + bytesO(g.m * tn) }
                        let compute = serial ? 2 * r + c + g.m - 2 : max(r, g.m)
                        folds.append((compute, read + write))
                    }
                    lastBlockOutputs = g.m * tn
                }
            }
        case .outputStationary:
            let mFolds = (g.m + r - 1) / r, nFolds = (g.n + c - 1) / c
            let depth = (g.k + rate - 1) / rate
            let aBlockFits = bytesA(r * g.k) <= config.memory.unifiedBufferBytes
            let bFits = bytesB(g.k * g.n) <= config.memory.weightBufferBytes
            for _ in 0..<g.batch {
                for mb in 0..<mFolds {
                    let tm = min(r, g.m - mb * r)
                    for nb in 0..<nFolds {
                        let tn = min(c, g.n - nb * c)
                        var read = 0
                        if !aBlockFits || nb == 0 { read += bytesA(tm * g.k) }
                        if !bFits || mb == 0 { read += bytesB(g.k * tn) }
                        let write = bytesO(tm * tn)
                        hbmRead += read; hbmWrite += write
                        sram += bytesA(tm * g.k) + bytesB(g.k * tn) + bytesO(tm * tn)
                        folds.append((r + c + depth - 2, read + write))
                        lastBlockOutputs = tm * tn
                    }
                }
            }
        }
        hbmRead += scaleBytes(g)
        sram += hbmRead + hbmWrite

        let bytesPerCycle = config.memory.hbmBytesPerSecond / config.clockHz
        var compute = prologue + epilogue - 1
        var total = prologue + epilogue - 1
        var index = 0
        while index < folds.count {
            let round = folds[index..<min(index + count, folds.count)]
            var roundCompute = round.map(\.compute).max() ?? 0
            let isLast = index + count >= folds.count
            // Double-buffered WS: the last round has no next weights to wait for.
            if isLast, config.array.dataflow == .weightStationary, config.array.weightLoading == .doubleBuffered { roundCompute = g.m }
            let bytes = round.reduce(0) { $0 + $1.bytes }
            let memory = bytesPerCycle > 0 ? Int((Double(bytes) / bytesPerCycle).rounded(.up)) : 0
            compute += roundCompute
            total += max(roundCompute, memory)
            index += count
        }
        let lanes = config.vectorUnit.lanes * config.vectorUnit.opsPerCycle
        let vectorOps = g.batch * g.m * g.n * vectorOpsPerOutput(g)
        let tail = (lastBlockOutputs * vectorOpsPerOutput(g) + lanes - 1) / lanes
        let vectorTotal = (vectorOps + lanes - 1) / lanes
        // Every byte crosses HBM in some round: the block scales, read beside the folds, too.
        let memoryFloor = bytesPerCycle > 0 ? Int((Double(hbmRead + hbmWrite) / bytesPerCycle).rounded(.up)) : 0
        let cycles = max(total + tail, vectorTotal, memoryFloor)
        let seconds = Double(cycles) / config.clockHz
        let e = config.energy
        let joules = Double(g.macs) * (e.macJoules[g.types.a.rawValue] ?? 0) + Double(sram) * e.sramByteJoules
            + Double(hbmRead + hbmWrite) * e.hbmByteJoules + Double(vectorOps) * e.vectorOpJoules + e.staticWatts * seconds
        return GemmCost(computeCycles: compute, cycles: cycles, stallCycles: total - compute, vectorTailCycles: cycles - total,
                        macs: g.macs, vectorOps: vectorOps, hbmReadBytes: hbmRead, hbmWriteBytes: hbmWrite, sramBytes: sram,
                        folds: folds.count, joules: joules, seconds: seconds)
    }
}
