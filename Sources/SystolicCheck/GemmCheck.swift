import SystolicData
import SystolicDevice
import SystolicNumerics
import SystolicSuite

/// Judges a GEMM output against an fp64 reference with the hard interval rule of design.md.
///
/// For element C[b,i,j] with K terms, exact value Ĉ and S = Σ|aₖbₖ| (both from an fp64 reference
/// whose products are exact), a device whose accumulator has unit roundoff u may sum in any order
/// and still be within
///
///     E = K·u·S·(1 + 2K·u₆₄) + K·η + 2K·u₆₄·S
///
/// of the exact value (Jeannerod & Rump 2013: K·u·S for K terms; K·η for underflow, η the
/// accumulator's smallest subnormal, or its smallest normal for a `flush` device; 2K·u₆₄·S for our
/// own fp64 sums, and the same factor again on S). The device's output passes iff it lies in
/// [conv(Ĉ − E), conv(Ĉ + E)], conv being the case's own output conversion: conversion is monotone,
/// so this covers rounding, ties, saturation, subnormal outputs and coarse fp8 steps in one rule.
/// Integer cases are exact. An element whose S·(1 + K·u) reaches the accumulator's largest finite
/// value could overflow a partial sum under a legal reordering and is counted as unverifiable.
public enum GemmCheck {
    public static func verify(output c: Tensor, inputs: GemmInputs, gemm g: GemmCase,
                              arithmetic: DeclaredArithmetic) -> CheckReport {
        let reference = GemmReference.compute(g, inputs)
        if g.types.output.isInteger && g.types.a.isInteger {
            return exact(c, reference: reference, gemm: g)
        }
        return interval(c, reference: reference, gemm: g, arithmetic: arithmetic)
    }

    /// The bound E for one element with K terms and S = Σ|aₖbₖ|.
    public static func bound(k: Int, absSum s: Double, arithmetic: DeclaredArithmetic) -> Double {
        let u = arithmetic.accumulator.unitRoundoff ?? 0x1p-24
        let format = arithmetic.accumulator.floatFormat ?? .fp32
        let eta = arithmetic.subnormals == .preserve ? format.minSubnormal : format.minNormal
        let kd = Double(k)
        let u64 = 0x1p-53
        return kd * u * s * (1 + 2 * kd * u64) + kd * eta + 2 * kd * u64 * s
    }

    private static func interval(_ c: Tensor, reference: GemmReference, gemm g: GemmCase,
                                 arithmetic: DeclaredArithmetic) -> CheckReport {
        let out = g.types.output
        let accMax = arithmetic.accumulator.maxFinite
        let u = arithmetic.accumulator.unitRoundoff ?? 0x1p-24
        var mismatches = 0
        var unverifiable = 0
        var worst: ElementReport?
        var maxRatio = 0.0
        for idx in 0..<c.count {
            let exactValue = reference.value[idx]
            let s = reference.absSum[idx]
            let device = c.value(at: idx)
            if s.isFinite, s * (1 + Double(g.k) * u) >= accMax {
                unverifiable += 1
                continue
            }
            let e = bound(k: g.k, absSum: s, arithmetic: arithmetic)
            let low: Double, high: Double
            if exactValue.isFinite {
                low = out.round((exactValue - e).nextDown, overflow: g.overflow)
                high = out.round((exactValue + e).nextUp, overflow: g.overflow)
            } else {
                // Infinite or NaN inputs: every order gives the same special value.
                low = out.round(exactValue, overflow: g.overflow)
                high = low
            }
            let inside: Bool
            if low.isNaN || high.isNaN {
                inside = device.isNaN
            } else {
                inside = !device.isNaN && device >= low && device <= high
            }
            let ratio = ratioToBound(device: device, exact: exactValue, bound: e, type: out, overflow: g.overflow)
            if !inside { mismatches += 1 }
            let candidate = ElementReport(index: unflatten(idx, g), device: device, exact: exactValue, low: low, high: high,
                                          bound: e, ratio: ratio, ulpsOutside: inside ? 0 : ulpsOutside(device, low, high, out))
            if worst == nil || isWorse(candidate, than: worst!, insideCandidate: inside) { worst = candidate }
            if ratio > maxRatio || ratio.isNaN { maxRatio = ratio.isNaN ? .infinity : ratio }
        }
        return CheckReport(rule: "interval", elements: c.count, mismatches: mismatches, unverifiable: unverifiable,
                           maxRatioToBound: maxRatio, worst: worst, outputDigest: nil)
    }

    private static func exact(_ c: Tensor, reference: GemmReference, gemm g: GemmCase) -> CheckReport {
        var mismatches = 0
        var worst: ElementReport?
        for idx in 0..<c.count {
            let device = c.value(at: idx)
            let expected = g.types.output.round(reference.value[idx], overflow: .saturate)
            let diff = abs(device - expected)
            if diff != 0 { mismatches += 1 }
            if worst == nil || diff > abs(worst!.device - worst!.exact) {
                worst = ElementReport(index: unflatten(idx, g), device: device, exact: expected, low: expected, high: expected,
                                      bound: 0, ratio: diff == 0 ? 0 : .infinity, ulpsOutside: diff)
            }
        }
        return CheckReport(rule: "exact", elements: c.count, mismatches: mismatches, unverifiable: 0,
                           maxRatioToBound: nil, worst: worst, outputDigest: nil)
    }

    /// How much of the bound the device needed: the distance from Ĉ to the nearest value that
    /// the output conversion rounds to the device's output (its rounding cell), over E. It is 0
    /// when the output is Ĉ correctly rounded and above 1 exactly when the interval rule fails, for
    /// every output type (a bf16 output one step away from Ĉ's rounding is not charged its whole
    /// step).
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

    private static func isWorse(_ a: ElementReport, than b: ElementReport, insideCandidate: Bool) -> Bool {
        a.ratio > b.ratio || (a.ratio == b.ratio && a.ulpsOutside > b.ulpsOutside)
    }

    private static func unflatten(_ idx: Int, _ g: GemmCase) -> [Int] {
        [idx / (g.m * g.n), (idx / g.n) % g.m, idx % g.n]
    }

    /// Ulps of `type` between `value` and the nearer end of [low, high], counted on the ordered
    /// bit patterns (so it is exact across binades and zero).
    static func ulpsOutside(_ value: Double, _ low: Double, _ high: Double, _ type: NumberType) -> Double {
        guard let f = type.floatFormat, !value.isNaN, !low.isNaN, !high.isNaN else { return .infinity }
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
