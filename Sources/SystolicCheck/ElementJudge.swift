import SystolicDevice
import SystolicResults
import SystolicNumerics
import SystolicSuite

/// Judges output elements one at a time with the interval rule and keeps the tallies a report
/// needs. Used by the full check and by the sampled part of the at-scale check alike.
struct ElementJudge {
    let gemm: GemmCase
    let bound: GemmBound
    /// True when every partial sum in every order is exact: E is then zero and the output must be
    /// the correctly rounded exact value.
    let exact: Bool
    let lambda: Double
    /// The grain of every product (see `GemmBound.hard(_:grain:)`), or nil.
    let grain: Double?
    /// The values a block engine's result can take, when an fp32 output holds them exactly
    /// (see `judge`); nil for plain engines and other outputs.
    let grid: AccumulatorGrid?

    private(set) var elements = 0
    private(set) var mismatches = 0
    private(set) var unverifiable = 0
    private(set) var suspectElements = 0
    private(set) var maxRatio = 0.0
    private(set) var maxSuspectRatio = 0.0
    private(set) var worst: ElementReport?

    init(gemm: GemmCase, arithmetic: DeclaredArithmetic, exact: Bool, testedElements: Int, falseAlarm: Double, grain: Double? = nil) {
        self.gemm = gemm
        self.grain = grain
        // C, where the case accumulates into it, is one more term: one more rounding for a plain
        // engine; a block engine's bound already counts the accumulator (and C's own block when it comes last).
        let declared = arithmetic.engine(for: gemm)
        self.bound = GemmBound(k: gemm.k + (gemm.addend != nil && declared.isPlain ? 1 : 0), engine: declared)
        let engine = bound.engine
        self.grid = !engine.isPlain && gemm.types.output == .fp32 && engine.accumulate.floatFormat != nil
            ? AccumulatorGrid(fractionBits: engine.promoteEvery == nil ? engine.fractionBits : 23,
                              minExponent: (engine.promoteEvery == nil ? engine.accumulate.floatFormat! : .fp32).minExponent)
            : nil
        self.exact = exact
        self.lambda = GemmBound.lambda(elements: testedElements, falseAlarm: falseAlarm)
    }

    /// Judges the element at flat index `index` (in [batch, M, N]).
    mutating func judge(index: Int, device: Double, exact exactValue: Double, absSum s: Double) {
        let out = gemm.types.output
        elements += 1
        if !exact, s.isFinite, bound.mayOverflow(s) {
            unverifiable += 1
            return
        }
        let e = exact ? 0 : bound.hard(s, grain: grain)
        // Most elements sit well inside their bound: when |device − Ĉ| ≤ E the element passes
        // (conversion is monotone and leaves the device's own value alone), and |device − Ĉ|/E
        // caps both ratios, so an element whose caps cannot beat the worst seen so far changes
        // no tally and needs no rounding-cell arithmetic.
        if e > 0, exactValue.isFinite, device.isFinite, let w = worst {
            let d = abs(device - exactValue)
            let cap = d / e
            if d <= e, cap < w.ratio, cap <= maxRatio, d / bound.probabilistic(s, lambda: lambda) <= maxSuspectRatio {
                return
            }
        }
        let low: Double, high: Double
        if exactValue.isFinite {
            low = out.round(e == 0 ? exactValue : (exactValue - e).nextDown, overflow: gemm.overflow)
            high = out.round(e == 0 ? exactValue : (exactValue + e).nextUp, overflow: gemm.overflow)
        } else {
            // Infinite or NaN inputs: every order gives the same special value.
            low = out.round(exactValue, overflow: gemm.overflow)
            high = low
        }
        var inside = low.isNaN || high.isNaN ? device.isNaN : !device.isNaN && device >= low && device <= high
        if inside, e > 0, let grid, exactValue.isFinite, device.isFinite, grid.holds(device) {
            // A block engine's result lies on its accumulator's grid (F fraction bits), and an fp32
            // output holds it unchanged: an output on that grid must be one the declared engine can
            // reach, within [Ĉ − E, Ĉ + E] rounded inward to the grid. An output off the grid keeps
            // more bits than declared and is judged by the interval alone (docs/arithmetic.md).
            inside = device >= grid.up((exactValue - e).nextDown) && device <= grid.down((exactValue + e).nextUp)
        }
        let ratio = GemmCheck.reportedRatio(inside: inside, device: device, exact: exactValue, bound: e, type: out, overflow: gemm.overflow)
        if !inside { mismatches += 1 }
        if ratio > maxRatio || ratio.isNaN { maxRatio = ratio.isNaN ? .infinity : ratio }
        if inside && !exact && exactValue.isFinite {
            let suspectRatio = GemmCheck.ratioToBound(device: device, exact: exactValue, bound: bound.probabilistic(s, lambda: lambda),
                                                      type: out, overflow: gemm.overflow)
            if suspectRatio > 1 { suspectElements += 1 }
            maxSuspectRatio = max(maxSuspectRatio, suspectRatio)
        }
        let candidate = ElementReport(index: GemmCheck.unflatten(index, gemm), device: device, exact: exactValue, low: low, high: high,
                                      bound: e, ratio: ratio,
                                      ulpsOutside: inside ? 0 : GemmCheck.ulpsOutside(device, low, high, out))
        if let w = worst, !(candidate.ratio > w.ratio || (candidate.ratio == w.ratio && candidate.ulpsOutside > w.ulpsOutside)) {
            return
        }
        worst = candidate
    }

    func report(mode: String) -> CheckReport {
        CheckReport(rule: exact ? "exact" : "interval", mode: mode, elements: elements, mismatches: mismatches,
                    unverifiable: unverifiable, maxRatioToBound: maxRatio, worst: worst,
                    suspect: suspectElements > 0, suspectElements: suspectElements,
                    maxRatioToProbabilisticBound: exact ? nil : maxSuspectRatio)
    }
}

/// The values of a floating-point accumulator with `fractionBits` fraction bits and fp32's or
/// fp16's smallest normal exponent (no upper limit: elements that could overflow are not judged).
struct AccumulatorGrid {
    let fractionBits: Int
    let minExponent: Int

    private func quantum(_ v: Double) -> Double {
        Double(sign: .plus, exponent: max(v.magnitude.exponent, minExponent) - fractionBits, significand: 1)
    }

    /// The smallest grid value ≥ v.
    func up(_ v: Double) -> Double {
        if v == 0 { return 0 }
        let q = quantum(v)
        return (v / q).rounded(.up) * q
    }

    /// The largest grid value ≤ v.
    func down(_ v: Double) -> Double {
        if v == 0 { return 0 }
        let q = quantum(v)
        return (v / q).rounded(.down) * q
    }

    func holds(_ v: Double) -> Bool { v == 0 || down(v) == v }
}
