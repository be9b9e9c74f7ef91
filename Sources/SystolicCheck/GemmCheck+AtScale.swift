import SystolicData
import SystolicResults
import SystolicDevice
import SystolicNumerics
import SystolicSuite

/// Verification of large outputs at a fraction of the cost of the device (docs/numerics.md,
/// "Verification at scale"), with every random choice drawn from the output digest:
///
/// 1. **Freivalds' projections**, `vectors` random ±1 vectors x: each row's C·x is compared with
///    A·(B·x), computed in fp64. For floating point the allowed difference is the sum over the row
///    of each element's bound (from |A|·(|B|·|x|), which gives Σⱼ Sᵢⱼ|xⱼ| without the full
///    reference), plus each output's rounding cell and our fp64 error. Because the allowed error
///    adds up along the row, this catches gross faults only. Where every partial sum and every
///    output is an exact integer, the comparison is instead exact modulo the prime 2⁶¹ − 1 with x
///    uniform in [0, p): a wrong row escapes one vector with probability at most 1/p.
/// 2. **Sampled elements**: `sampledRows` whole rows and `sampledTiles` tiles of 32×32, chosen at
///    random, plus any row the projection had to skip (saturated, infinite or NaN outputs), each
///    judged elementwise with the interval rule. This catches local faults: a stuck PE column, a
///    dropped tile, a narrow accumulator.
extension GemmCheck {
    public static let freivaldsVectors = 4
    public static let sampledRows = 16
    public static let sampledTiles = 8
    static let tileSize = 32
    static let prime: UInt64 = (1 << 61) - 1

    /// Draws from SplitMix64 seeded by the output digest.
    struct Draws {
        let seed: UInt64
        var next = 0
        mutating func raw() -> UInt64 { defer { next += 1 }; return DataGenerator.raw(key: seed, next) }
        mutating func below(_ n: Int) -> Int { Int(raw() % UInt64(n)) }
    }

    static func verifyAtScale(_ c: Tensor, _ inputs: GemmInputs, _ g: GemmCase, _ arithmetic: DeclaredArithmetic,
                              _ options: Options) -> CheckReport {
        var draws = Draws(seed: options.sampleSeed)
        // Inputs as Floats (every input type decodes exactly to fp32, at half the memory of
        // doubles); outputs as doubles (an int32 output need not fit a Float).
        let a = inputs.a.decodedFloats(), b = inputs.b.decodedFloats(), cv = c.decoded()
        let exact = isExactByConstruction(g, arithmetic)
        let bound = GemmBound(k: g.k, engine: arithmetic.engine(for: g))
        let modular = exact && outputsAreExactIntegers(g, arithmetic)
        var freivalds = FreivaldsReport(kind: modular ? "modular" : "bounded", vectors: freivaldsVectors, failedRows: 0,
                                        skippedRows: 0, worstRow: nil, worstRatio: 0)
        var skipped = Set<Int>()
        var macs = 0
        // Each row's outputs, once for all vectors: their rounding cells cost more than a projection.
        let outputs = modular ? [] : outputRows(g, cv)
        if modular {
            for _ in 0..<freivaldsVectors { macs += modularProjection(g, a, b, cv, &draws, &freivalds) }
        } else {
            macs += boundedProjections(g, a, b, cv, outputs, exact: exact, bound: bound, arithmetic: arithmetic, &draws, &freivalds, &skipped)
        }
        freivalds.skippedRows = skipped.count

        // Elements to judge one by one: whole rows, tiles, and the rows the projection skipped.
        var chosen = Set<Int>()
        let totalRows = g.batch * g.m
        var rows = skipped
        for _ in 0..<min(sampledRows, totalRows) { rows.insert(draws.below(totalRows)) }
        for row in rows { for j in 0..<g.n { chosen.insert(row * g.n + j) } }
        for _ in 0..<sampledTiles {
            let batch = draws.below(g.batch), i0 = draws.below(g.m), j0 = draws.below(g.n)
            for i in i0..<min(i0 + tileSize, g.m) {
                for j in j0..<min(j0 + tileSize, g.n) { chosen.insert((batch * g.m + i) * g.n + j) }
            }
        }
        var judge = ElementJudge(gemm: g, arithmetic: arithmetic, exact: exact, testedElements: chosen.count, falseAlarm: options.falseAlarm,
                                 grain: grain(inputs, g, arithmetic))
        // The reference for every row that holds a chosen element, in the vectorised kernel: whole
        // rows cost little there, and the sums are the same k-ordered fp64 sums element by element.
        let rowsNeeded = Set(chosen.map { $0 / g.n }).sorted()
        let reference = GemmReference.rows(g, inputs, rows: rowsNeeded)
        for idx in chosen.sorted() {
            let (row, j) = (idx / g.n, idx % g.n)
            guard let r = reference[row] else { continue }
            judge.judge(index: idx, device: cv[idx], exact: r.value[j], absSum: r.absSum[j])
        }
        macs += rowsNeeded.count * g.n * g.k
        var report = judge.report(mode: "at_scale")
        report.freivalds = freivalds
        report.referenceMacs = macs
        return report
    }

    /// True when exact sums also fit the output type exactly, so outputs equal A·B as integers.
    static func outputsAreExactIntegers(_ g: GemmCase, _ arithmetic: DeclaredArithmetic) -> Bool {
        if g.types.a.isInteger { return g.types.output == .int32 }
        guard let a = g.dataA.maxMagnitude, let b = g.dataB.maxMagnitude, let f = g.types.output.floatFormat else { return false }
        let largest = Double(g.k) * g.types.a.round(a, overflow: .saturate) * g.types.b.round(b, overflow: .saturate)
        return largest <= Double(sign: .plus, exponent: f.mantissaBits + 1, significand: 1) && largest <= f.maxFinite
    }

    private static func bAt(_ g: GemmCase, _ b: [Float], _ batch: Int, _ k: Int, _ j: Int) -> Double {
        Double(g.layoutB == .kn ? b[(batch * g.k + k) * g.n + j] : b[(batch * g.n + j) * g.k + k])
    }

    /// What a projection needs of one row of outputs whatever the vector: Σ|c|, the sum of each
    /// output's rounding-cell half-width, and whether any output (or its cell) is not finite.
    struct OutputRow {
        var absSum = 0.0
        var cells = 0.0
        var special = false
    }

    static func outputRows(_ g: GemmCase, _ c: [Double]) -> [OutputRow] {
        (0..<(g.batch * g.m)).map { row in
            var r = OutputRow()
            for j in 0..<g.n {
                let v = c[row * g.n + j]
                guard let half = cellHalfWidth(v, g.types.output, g.overflow) else { r.special = true; break }
                r.absSum += abs(v)
                r.cells += half
            }
            return r
        }
    }

    /// max(v − low, high − v) for v's rounding cell [low, high] in `type`, or nil where v or its
    /// cell is not finite. For fp32 and bf16 outputs below the largest finite value it is half the
    /// spacing above |v| (the spacing below is never larger), from the bits; otherwise, and for
    /// other types, from `roundingCell`.
    static func cellHalfWidth(_ v: Double, _ type: NumberType, _ overflow: OverflowMode) -> Double? {
        let a = Float(v.magnitude)
        if Double(a) == v.magnitude, a < .greatestFiniteMagnitude {
            switch type {
            case .fp32: return Double(a.nextUp - a) / 2
            case .bf16 where a.bitPattern & 0xFFFF == 0 && a.bitPattern < 0x7F7F_0000:
                return Double(Float(bitPattern: a.bitPattern + 0x1_0000) - a) / 2
            default: break
            }
        }
        guard v.isFinite else { return nil }
        let cell = roundingCell(v, type, overflow)
        guard cell.lowerBound.isFinite, cell.upperBound.isFinite else { return nil }
        return max(v - cell.lowerBound, cell.upperBound - v)
    }

    /// The four ±1 vectors at once (one pass over B and over C for all of them, each lane of a
    /// SIMD4 one vector's sums, in the same order as a vector on its own): rows outside their
    /// summed bound fail; rows holding specials are skipped. The report folds the vectors in turn.
    private static func boundedProjections(_ g: GemmCase, _ a: [Float], _ b: [Float], _ c: [Double], _ rows: [OutputRow], exact: Bool,
                                           bound: GemmBound, arithmetic: DeclaredArithmetic, _ draws: inout Draws,
                                           _ report: inout FreivaldsReport, _ skipped: inout Set<Int>) -> Int {
        precondition(freivaldsVectors == 4, "the projections run as SIMD4 lanes")
        let xs = (0..<4).map { _ in (0..<g.n).map { _ in draws.raw() & 1 == 0 ? 1.0 : -1.0 } }
        let x = (0..<g.n).map { SIMD4(xs[0][$0], xs[1][$0], xs[2][$0], xs[3][$0]) }
        let u64 = 0x1p-53
        let kd = Double(g.k), nd = Double(g.n)
        let totalRows = g.batch * g.m
        // Each vector's ratio for each row; nil where the row is skipped for that vector.
        var ratios = [[Double?]](repeating: [Double?](repeating: nil, count: totalRows), count: 4)
        for batch in 0..<g.batch {
            var bx = [SIMD4<Double>](repeating: .zero, count: g.k), babs = [Double](repeating: 0, count: g.k)
            for k in 0..<g.k {
                var s = SIMD4<Double>.zero, t = 0.0
                for j in 0..<g.n {
                    let v = bAt(g, b, batch, k, j)
                    s += v * x[j]
                    t += abs(v)
                }
                bx[k] = s; babs[k] = t
            }
            for i in 0..<g.m {
                let row = batch * g.m + i
                var z = SIMD4<Double>.zero, t = 0.0
                for k in 0..<g.k {
                    let av = Double(a[row * g.k + k])
                    z += av * bx[k]
                    t += abs(av) * babs[k]
                }
                let (cabs, cells) = (rows[row].absSum, rows[row].cells)
                var y = SIMD4<Double>.zero
                if !rows[row].special { for j in 0..<g.n { y += c[row * g.n + j] * x[j] } }
                // Σⱼ Eᵢⱼ with Σⱼ Sᵢⱼ = t (|xⱼ| = 1), the outputs' rounding, and our own fp64 sums.
                let elementBounds = exact ? 0 : bound.summed(t, elements: g.n)
                let allowed = elementBounds + cells + 2 * (kd + nd) * u64 * t + 2 * nd * u64 * cabs + 4 * (kd + nd) * u64 * t * u64
                for v in 0..<4 {
                    if rows[row].special || !z[v].isFinite || !t.isFinite || (!exact && bound.mayOverflow(t)) {
                        skipped.insert(row)
                        continue
                    }
                    ratios[v][row] = abs(y[v] - z[v]) / max(allowed, .leastNonzeroMagnitude)
                }
            }
        }
        for v in 0..<4 {
            for row in 0..<totalRows {
                guard let ratio = ratios[v][row] else { continue }
                if ratio > report.worstRatio { report.worstRatio = ratio; report.worstRow = [row / g.m, row % g.m] }
                if ratio > 1 { report.failedRows += 1 }
            }
        }
        return 4 * g.batch * (g.k * g.n + g.m * g.k + g.m * g.n)
    }

    /// One vector uniform in [0, p): rows whose C·x ≠ A·(B·x) mod p fail, as do rows holding a
    /// value that is not an integer.
    private static func modularProjection(_ g: GemmCase, _ a: [Float], _ b: [Float], _ c: [Double], _ draws: inout Draws,
                                          _ report: inout FreivaldsReport) -> Int {
        let x = (0..<g.n).map { _ in draws.raw() % prime }
        for batch in 0..<g.batch {
            var bx = [UInt64](repeating: 0, count: g.k)
            for k in 0..<g.k {
                var s: UInt64 = 0
                for j in 0..<g.n { s = addmod(s, mulmod(residue(bAt(g, b, batch, k, j)), x[j])) }
                bx[k] = s
            }
            for i in 0..<g.m {
                let row = batch * g.m + i
                var z: UInt64 = 0
                for k in 0..<g.k { z = addmod(z, mulmod(residue(Double(a[row * g.k + k])), bx[k])) }
                var y: UInt64 = 0
                var integral = true
                for j in 0..<g.n {
                    let v = c[row * g.n + j]
                    guard v.isFinite, v == v.rounded(), abs(v) < 0x1p53 else { integral = false; break }
                    y = addmod(y, mulmod(residue(v), x[j]))
                }
                if !integral || y != z {
                    report.failedRows += 1
                    report.worstRatio = .infinity
                    if report.worstRow == nil { report.worstRow = [batch, i] }
                }
            }
        }
        return g.batch * (g.k * g.n + g.m * g.k + g.m * g.n)
    }

    /// An integer-valued double as a residue modulo p.
    static func residue(_ v: Double) -> UInt64 {
        let r = UInt64(abs(v)) % prime
        return v < 0 && r != 0 ? prime - r : r
    }

    static func addmod(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let s = a + b
        return s >= prime ? s - prime : s
    }

    /// a·b mod 2⁶¹ − 1 for a, b < p, using 2⁶¹ ≡ 1.
    static func mulmod(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (hi, lo) = a.multipliedFullWidth(by: b)
        var r = (lo & prime) + (lo >> 61) + (hi << 3)
        r = (r & prime) + (r >> 61)
        return r >= prime ? r - prime : r
    }
}
