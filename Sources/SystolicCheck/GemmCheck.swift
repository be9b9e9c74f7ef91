import Dispatch
import Foundation
import SystolicData
import SystolicResults
import SystolicDevice
import SystolicNumerics
import SystolicSuite

/// Judges a GEMM output against the host's own reference (docs/numerics.md and
/// "Verification at scale"); see `GemmBound` for the bounds and `ElementJudge` for the rule.
///
/// The device's output passes iff each element lies in [conv(Ĉ − E), conv(Ĉ + E)], conv being the
/// case's own output conversion (monotone, so one rule covers rounding, ties, saturation,
/// subnormal outputs and fp8's coarse steps). Where every partial sum is exact in any order
/// (integer GEMMs, and integer-valued data small enough) E is zero and the output must be the
/// exact value correctly rounded. An element whose S·(1 + K·u) reaches the accumulator's largest
/// finite value could overflow a partial sum under a legal reordering and is counted as
/// unverifiable. NaN in the exact value requires NaN; an infinite exact value requires its own
/// conversion.
public enum GemmCheck {
    public struct Options: Sendable {
        /// Seeds the at-scale sampling; the harness derives it from the output digest, so a device
        /// cannot know in advance which elements are checked.
        public var sampleSeed: UInt64
        /// False-alarm probability of the `suspect` flag per case.
        public var falseAlarm: Double
        public init(sampleSeed: UInt64 = 0, falseAlarm: Double = 1e-3) {
            self.sampleSeed = sampleSeed; self.falseAlarm = falseAlarm
        }
    }

    /// Cases with more multiply-accumulates than this are verified at scale under `auto`.
    // The vectorised reference checks 2^36 MACs (4096³) elementwise in seconds on two cores.
    public static let atScaleThresholdMacs = 1 << 36

    /// The mode `verification` resolves to for `g`.
    public static func mode(for g: GemmCase) -> Verification {
        switch g.verification {
        // A case that accumulates into C is judged elementwise (the projections do not carry C).
        case .auto: return g.macs > atScaleThresholdMacs && g.addend == nil ? .atScale : .full
        case .full, .atScale: return g.verification
        }
    }

    public static func verify(output c: Tensor, inputs: GemmInputs, gemm g: GemmCase, arithmetic: DeclaredArithmetic,
                              options: Options = Options()) -> CheckReport {
        let start = DispatchTime.now().uptimeNanoseconds
        if inputs.awaitsQuantisedA(g) {
            // The device quantised A itself: judged against A quantised as it declares.
            var report = verify(output: c, inputs: inputs.quantisingA(g, rounding: arithmetic.declaredScaleRounding), gemm: g,
                                arithmetic: arithmetic, options: options)
            report.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            return report
        }
        if let (wide, wideInputs) = inputs.widenedIntegerElements(g) {
            // int4 weights and MXINT8: judged as the block-scaled GEMMs of their values they are.
            var report = verify(output: c, inputs: wideInputs, gemm: wide, arithmetic: arithmetic, options: options)
            report.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            return report
        }
        if !g.types.a.isInteger, arithmetic.engine(for: g).subnormalInputs == .flush {
            // Judged against what the engine declares to read: its inputs with subnormals flushed.
            var declared = arithmetic
            declared.matrixEngine = declared.matrixEngine?.map { var e = $0; e.subnormalInputs = .preserve; return e }
            precondition(declared.engine(for: g).subnormalInputs == .preserve, "only declared engines flush inputs")
            var report = verify(output: c, inputs: inputs.flushingSubnormalInputs(), gemm: g, arithmetic: declared, options: options)
            report.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            return report
        }
        if !g.leading.isPacked {
            var report = verifyStrided(c, inputs, g, arithmetic, options)
            report.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            return report
        }
        if g.groups != nil {
            var report = verifyGrouped(c, inputs, g, arithmetic, options)
            report.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            return report
        }
        if let epilogue = inputs.epilogue, g.types.a == .int8 {
            var report = verifyIntegerEpilogue(c, inputs, g, epilogue)
            report.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            return report
        }
        if !g.types.a.isInteger, g.bias || g.activation != .none || !g.scales.isUnit {
            var report = verifyFloatEpilogue(c, inputs, g, arithmetic)
            report.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            return report
        }
        var report = mode(for: g) == .atScale
            ? verifyAtScale(c, inputs, g, arithmetic, options)
            : verifyFully(c, inputs, g, arithmetic, options)
        report.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return report
    }

    static func verifyFully(_ c: Tensor, _ inputs: GemmInputs, _ g: GemmCase, _ arithmetic: DeclaredArithmetic,
                            _ options: Options) -> CheckReport {
        let reference = GemmReference.compute(g, inputs)
        var judge = ElementJudge(gemm: g, arithmetic: arithmetic, exact: isExactByConstruction(g, arithmetic),
                                 testedElements: c.count, falseAlarm: options.falseAlarm, grain: grain(inputs, g, arithmetic))
        for idx in 0..<c.count {
            judge.judge(index: idx, device: c.value(at: idx), exact: reference.value[idx], absSum: reference.absSum[idx])
        }
        var report = judge.report(mode: "full")
        report.referenceMacs = g.macs
        return report
    }

    /// A GEMM over strided rows: the matrices read at their leading dimensions and judged as the
    /// packed GEMM, and every padding element of C's stored rows compared, bit for bit, with what
    /// the caller's buffer held before.
    static func verifyStrided(_ c: Tensor, _ inputs: GemmInputs, _ g: GemmCase, _ arithmetic: DeclaredArithmetic, _ options: Options) -> CheckReport {
        var report = verify(output: c.packedRows(length: g.n), inputs: inputs.packed(g), gemm: g.packed, arithmetic: arithmetic, options: options)
        guard let before = inputs.c else { return report }
        var changed = 0
        for row in 0..<(g.batch * g.m) {
            for j in g.n..<g.ldc where c.bits(at: row * g.ldc + j) != before.bits(at: row * g.ldc + j) { changed += 1 }
        }
        report.paddingWrites = changed
        return report
    }

    /// A grouped GEMM: each expert's rows judged as a GEMM of their own against that expert's
    /// weights; the tallies add up and the worst element keeps its row in the whole output.
    static func verifyGrouped(_ c: Tensor, _ inputs: GemmInputs, _ g: GemmCase, _ arithmetic: DeclaredArithmetic, _ options: Options) -> CheckReport {
        var total: CheckReport?
        let w = c.type.byteWidth
        for (e, first, sub) in g.groupCases {
            let rows = Tensor(type: c.type, shape: [1, sub.m, g.n], storage: Array(c.storage[(first * g.n * w)..<((first + sub.m) * g.n * w)]))
            var r = verify(output: rows, inputs: inputs.expert(e, firstRow: first, rows: sub.m, g), gemm: sub, arithmetic: arithmetic, options: options)
            if var worst = r.worst { worst.index[1] += first; r.worst = worst }
            guard var t = total else { total = r; continue }
            t.elements += r.elements; t.mismatches += r.mismatches; t.unverifiable += r.unverifiable
            t.suspectElements += r.suspectElements; t.suspect = t.suspect || r.suspect; t.referenceMacs += r.referenceMacs
            if let a = r.maxRatioToBound { t.maxRatioToBound = max(t.maxRatioToBound ?? 0, a) }
            if let a = r.maxRatioToProbabilisticBound { t.maxRatioToProbabilisticBound = max(t.maxRatioToProbabilisticBound ?? 0, a) }
            if let rw = r.worst, (t.worst.map { rw.ratio > $0.ratio } ?? true) { t.worst = rw }
            if t.rule != r.rule { t.rule = "interval" }
            total = t
        }
        return total!
    }

    /// A floating-point GEMM with scales, a bias and/or an activation (docs/numerics.md, "Epilogues"): the sum
    /// lies within E of Ĉ (the hard bound); scaling by σ = scale_a·scale_b/scale_out (an fp32 factor
    /// and an fp32 multiply) moves it by σ·E(1 + u) + 2u·σ·(|Ĉ| + E); adding the fp32 bias rounds once more (u·(|Ĉ| + E + |b|));
    /// the activation's exact values over that whole interval of pre-activations (relu and
    /// identity monotone; GELU's minimum near −0.752 included when the interval holds it),
    /// widened by the vector unit's allowance for GELU (2⁻²¹ relative, plus 2⁻²³·|y| for the
    /// rounding of its erf or tanh, plus 2⁻⁶⁰), then converted to the output type, bound the output.
    ///
    /// Block scales: Ĉ and S are sums of the scaled products (`GemmReference.judged`), and the sum
    /// is allowed K + 3 roundings, γ_{K+3}·S: a group's K terms, the scales' product and its
    /// multiply (or, for a device that dequantises first, the two operands' and the product's),
    /// all within K + 3 whatever the group size. σ is then 1/scale_out, times NVFP4's two tensor
    /// scales (docs/formats.md), which the device multiplies by once after the groups.
    static func verifyFloatEpilogue(_ c: Tensor, _ inputs: GemmInputs, _ g: GemmCase, _ arithmetic: DeclaredArithmetic) -> CheckReport {
        let reference = GemmReference.judged(g, inputs)
        let roundings = g.scales.isBlocked ? g.k + 3 : g.k
        let engine = arithmetic.judgedEngine(for: g)
        // A plain engine's roundings are counted together (γ_{K+3}); a block engine's K products
        // are its own bound's, the scales' roundings fp32 ones after them.
        let bound = engine.isPlain ? GemmBound(k: roundings, engine: engine)
                                   : GemmBound(k: g.k, engine: engine, extraRoundings: roundings - g.k)
        let u = bound.unitRoundoff
        // γ_n = n·u/(1 − n·u): products rounded along with the sums need the γ form of the bound.
        let gamma = g.scales.isBlocked ? 1 / (1 - Double(roundings) * u) : 1
        let bias = inputs.epilogue?.bias
        func act(_ y: Double) -> Double {
            switch g.activation {
            case .none: return y
            case .relu: return max(y, 0)
            case .geluErf:
                // x·erfc(−x/√2)/2: the same function as x·(1 + erf(x/√2))/2 without losing the negative tail.
                let c: Double = Foundation.erfc(-y * 0.7071067811865476)
                return 0.5 * y * c
            case .geluTanh:
                let z: Double = 0.7978845608028654 * (y + 0.044715 * y * y * y)
                let onePlusTanh: Double = 2 / (1 + Foundation.exp(-2 * z))
                return 0.5 * y * onePlusTanh
            }
        }
        func range(_ lo: Double, _ hi: Double) -> (Double, Double) {
            var values = [act(lo), act(hi)]
            if g.activation == .geluErf || g.activation == .geluTanh, lo < -0.74, hi > -0.76 {
                let a = max(lo, -0.76), b = min(hi, -0.74)
                for i in 0...64 { values.append(act(a + (b - a) * Double(i) / 64)) }
                values[values.count - 1] -= 1e-12  // the sampled minimum, less the sampling's error
            }
            return (values.min()!, values.max()!)
        }
        let isGelu = g.activation == .geluErf || g.activation == .geluTanh
        let tensorScales = inputs.blockScales?.tensorProduct ?? 1
        var mismatches = 0, maxRatio = 0.0, unverifiable = 0
        var worst: ElementReport?
        for idx in 0..<c.count {
            // As in `ElementJudge`: a sum whose partial sums could reach the accumulator's largest
            // finite value in an allowed order is not judged (block-scaled data near fp32's limit).
            if reference.absSum[idx].isFinite, bound.mayOverflow(reference.absSum[idx]) {
                unverifiable += 1
                continue
            }
            let b = bias.map { $0.value(at: idx % g.n) } ?? 0
            // The scales: one fp32 multiply by σ rounded to fp32, each within u of exact.
            // NVFP4's tensor scales join σ: the device multiplies by them once, after the groups.
            let sigma = g.scales.isBlocked ? tensorScales / g.scales.output : g.scales.a * g.scales.b / g.scales.output
            let raw = reference.value[idx], rawBound = bound.hard(reference.absSum[idx]) * gamma
            let sum = raw * sigma
            let e = g.scales.isUnit ? rawBound : sigma * (1 + u) * rawBound + 2.01 * u * sigma * (abs(raw) + rawBound)
            let y = sum + b
            let ey = e + (bias == nil ? 0 : u * (abs(sum) + e + abs(b)))
            var (lo, hi) = range(y - ey, y + ey)
            if isGelu {
                // 2⁻²¹ of the value, plus 2⁻²³·|y|: GELU is y·(1 + f)/2 with f (erf or tanh) near ±1,
                // so an fp32 f's own rounding moves the result by up to about 2⁻²⁴·|y| (a device that
                // gets 1 + f = 0 in the far negative tail outputs 0 and is right to).
                let slack = 0x1p-23 * (abs(y) + ey) + 0x1p-60
                lo -= 0x1p-21 * abs(lo) + slack
                hi += 0x1p-21 * abs(hi) + slack
            }
            let exact = act(y)
            let low = g.types.output.round(lo.nextDown, overflow: g.overflow), high = g.types.output.round(hi.nextUp, overflow: g.overflow)
            let device = c.value(at: idx)
            // A NaN sum (an MX block whose scale is NaN: its values were lost) must come out NaN.
            let inside = raw.isNaN ? device.isNaN : !device.isNaN && device >= low && device <= high
            if !inside { mismatches += 1 }
            let halfWidth = max(hi - exact, exact - lo)
            let ratio = reportedRatio(inside: inside, device: device, exact: exact, bound: halfWidth, type: g.types.output, overflow: g.overflow)
            maxRatio = max(maxRatio, ratio.isNaN ? .infinity : ratio)
            if worst == nil || ratio > worst!.ratio {
                worst = ElementReport(index: unflatten(idx, g), device: device, exact: exact, low: low, high: high, bound: halfWidth, ratio: ratio,
                                      ulpsOutside: inside ? 0 : ulpsOutside(device, low, high, g.types.output))
            }
        }
        var report = CheckReport(rule: "interval", mode: "full", elements: c.count, mismatches: mismatches, unverifiable: unverifiable, maxRatioToBound: maxRatio,
                                 worst: worst, suspect: false, suspectElements: 0, maxRatioToProbabilisticBound: nil)
        report.referenceMacs = g.macs
        return report
    }

    /// An int8 GEMM with an int32 bias and, for an int8 output, requantisation: the exact int32 sum
    /// plus the bias (an int32 output), or its requantisation by the case's scheme (an int8
    /// output), compared exactly.
    static func verifyIntegerEpilogue(_ c: Tensor, _ inputs: GemmInputs, _ g: GemmCase, _ e: EpilogueInputs) -> CheckReport {
        let reference = GemmReference.compute(g, inputs)
        var mismatches = 0
        var worst: ElementReport?
        for idx in 0..<c.count {
            let column = idx % g.n
            let acc = Int32(reference.value[idx]) &+ e.biasValue(column: column)
            let expected: Double = g.requantization.map { Double(e.requantize(acc, column: column, $0)) } ?? Double(acc)
            let device = c.value(at: idx)
            let inside = device == expected
            if !inside { mismatches += 1 }
            if worst == nil || (!inside && worst!.ratio == 0) {
                worst = ElementReport(index: unflatten(idx, g), device: device, exact: expected, low: expected, high: expected, bound: 0,
                                      ratio: inside ? 0 : .infinity, ulpsOutside: inside ? 0 : abs(device - expected))
            }
        }
        var report = CheckReport(rule: "exact", mode: "full", elements: c.count, mismatches: mismatches, unverifiable: 0, maxRatioToBound: nil,
                                 worst: worst, suspect: false, suspectElements: 0, maxRatioToProbabilisticBound: nil)
        report.referenceMacs = g.macs
        return report
    }

    /// The grain of every product of the case, the smallest last place of A's nonzero finite values
    /// times B's (a power of two), when the engine can use it (`GemmBound.hard(_:grain:)`); nil
    /// for plain engines, exact alignment, rounded products, or an operand without a nonzero
    /// finite value.
    static func grain(_ inputs: GemmInputs, _ g: GemmCase, _ arithmetic: DeclaredArithmetic) -> Double? {
        let engine = arithmetic.engine(for: g)
        guard !g.types.a.isInteger, !engine.isPlain, engine.products == .exact, case .extraBits = engine.alignment else { return nil }
        func smallestLastPlace(_ t: Tensor) -> Double? {
            var least: Double?
            for i in 0..<t.count {
                let v = t.value(at: i)
                guard v.isFinite, v != 0 else { continue }
                // The weight of v's last set bit: its exponent less the significand's bits after that bit.
                let significand = v.significandBitPattern | (1 << 52)
                let place = Double(sign: .plus, exponent: v.exponent - 52 + significand.trailingZeroBitCount, significand: 1)
                if least.map({ place < $0 }) ?? true { least = place }
            }
            return least
        }
        guard let a = smallestLastPlace(inputs.a), let b = smallestLastPlace(inputs.b) else { return nil }
        // C is a term too: the grain is also at most its smallest last place.
        if g.addend != nil, let c = inputs.c, let cPlace = smallestLastPlace(c) { return min(a * b, cPlace) }
        return a * b
    }

    /// True when every partial sum, in any order, is exact: integer GEMMs; integer-valued data
    /// with K·max|a|·max|b| ≤ 2^p, p the significant bits the engine's block results keep (every
    /// term and partial sum is then an integer below 2^p, so alignment, which keeps bits down to
    /// 2^(e_max − p + 1) ≤ 1, drops nothing); and K = 1 with fp16 or fp8 inputs into an fp32
    /// accumulator keeping all their product's bits (it is always exact there, so only the output
    /// conversion is tested).
    public static func isExactByConstruction(_ g: GemmCase, _ arithmetic: DeclaredArithmetic) -> Bool {
        if g.types.a.isInteger { return true }
        if g.addend != nil { return false }
        let engine = arithmetic.engine(for: g)
        guard engine.products == .exact else { return false }
        let p = engine.fractionBits + 1
        let narrow: Set<NumberType> = [.fp16, .fp8_e4m3, .fp8_e5m2, .fp6_e2m3, .fp6_e3m2, .fp4_e2m1]
        if g.k == 1, narrow.contains(g.types.a), narrow.contains(g.types.b), engine.accumulate == .fp32,
           let fa = g.types.a.floatFormat, let fb = g.types.b.floatFormat, fa.mantissaBits + fb.mantissaBits + 2 <= p {
            return true
        }
        guard g.dataA.isIntegerValued, g.dataB.isIntegerValued,
              let a = g.dataA.maxMagnitude, let b = g.dataB.maxMagnitude else { return false }
        // Rounding an integer to a coarse input type can only move it to a nearby integer.
        let maxA = g.types.a.round(a, overflow: .saturate), maxB = g.types.b.round(b, overflow: .saturate)
        return Double(g.k) * maxA * maxB <= Double(sign: .plus, exponent: p, significand: 1)
    }

    /// How much of the bound the device needed: the distance from Ĉ to the nearest value that
    /// the output conversion rounds to the device's output (its rounding cell), over E. It is 0
    /// when the output is Ĉ correctly rounded and above 1 exactly when the interval rule fails, for
    /// every output type (a bf16 output one step away from Ĉ's rounding is not charged its whole
    /// step).
    /// The ratio a report gives an element, consistent with whether it lies in its interval: the
    /// rounding-cell ratio (`ratioToBound`) inside, which is at most 1 there (a value in the
    /// interval is the conversion of some x within E of Ĉ, so its cell meets [Ĉ − E, Ĉ + E]); and
    /// outside, at least |device − Ĉ| / E, never 1 or less. The cell alone gave 0 for an element
    /// outside at a rounding tie broken the wrong way or at a saturation edge, where the cell
    /// touches Ĉ ("device 334.0 inside [332.0, 332.0] … ratio 0", issue #28, item 4).
    static func reportedRatio(inside: Bool, device: Double, exact: Double, bound e: Double, type: NumberType,
                              overflow: OverflowMode) -> Double {
        let cell = ratioToBound(device: device, exact: exact, bound: e, type: type, overflow: overflow)
        if inside { return cell }
        guard e > 0, device.isFinite, exact.isFinite else { return .infinity }
        // Outside: beyond one end of the interval. With an interval lopsided about Ĉ the distance
        // over the wider half can still be 1 or less; the ratio then says "just outside".
        return max(cell, abs(device - exact) / e, (1 as Double).nextUp)
    }

    static func ratioToBound(device: Double, exact: Double, bound e: Double, type: NumberType, overflow: OverflowMode) -> Double {
        if device.isNaN { return exact.isNaN ? 0 : .infinity }
        if !exact.isFinite { return device == type.round(exact, overflow: overflow) ? 0 : .infinity }
        let cell = roundingCell(device, type, overflow)
        let d = exact < cell.lowerBound ? cell.lowerBound - exact : exact > cell.upperBound ? exact - cell.upperBound : 0
        if d == 0 { return 0 }
        return e > 0 ? d / e : .infinity
    }

    /// The values that `type`'s conversion rounds to `v` (ends included; ties ignored).
    static func roundingCell(_ v: Double, _ type: NumberType, _ overflow: OverflowMode) -> ClosedRange<Double> {
        guard let f = type.floatFormat else { return v...v }
        let maxFinite = f.maxFinite
        let ulpAtMax = maxFinite - f.decode(f.maxFiniteBits - 1)
        let overflowThreshold = maxFinite + ulpAtMax / 2
        let a = v.magnitude
        let low: Double, high: Double
        if a.isInfinite {
            (low, high) = (overflowThreshold, .infinity)
        } else {
            let bits = f.encode(a, overflow: .ieee)
            let up = bits == f.maxFiniteBits ? (overflow == .saturate ? .infinity : maxFinite + ulpAtMax) : f.decode(bits + 1)
            let down = bits == 0 ? -f.minSubnormal : f.decode(bits - 1)
            (low, high) = ((down + a) / 2, up.isInfinite ? .infinity : (a + up) / 2)
        }
        return v.sign == .minus ? -high ... -low : low...high
    }

    static func unflatten(_ idx: Int, _ g: GemmCase) -> [Int] {
        [idx / (g.m * g.n), (idx / g.n) % g.m, idx % g.n]
    }

    /// Ulps of `type` between `value` and the nearer end of [low, high], counted on the ordered
    /// bit patterns (so it is exact across binades and zero); plain distance for integers.
    static func ulpsOutside(_ value: Double, _ low: Double, _ high: Double, _ type: NumberType) -> Double {
        if value.isNaN || low.isNaN || high.isNaN { return .infinity }
        guard let f = type.floatFormat else { return value < low ? low - value : value - high }
        func ordinal(_ x: Double) -> Int64 {
            let bits = f.encode(x, overflow: .ieee)
            let signBit = UInt32(1) << UInt32(f.exponentBits + f.mantissaBits)
            let magnitude = Int64(bits & (signBit - 1))
            return bits & signBit != 0 ? -magnitude : magnitude
        }
        let v = ordinal(value)
        let edge = value < low ? ordinal(low) : ordinal(high)
        return Double(abs(v - edge))
    }
}
