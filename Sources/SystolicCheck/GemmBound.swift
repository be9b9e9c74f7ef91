import Foundation
import SystolicDevice
import SystolicNumerics
import SystolicSuite

/// The error bounds for one GEMM element of K terms with S ≥ Σ|aₖbₖ| (the reference's upper
/// bound, within K·2⁻²³ of it: each bound grows with S, so it stays sound), for the matrix engine
/// a device declares (docs/numerics.md; docs/arithmetic.md for declared arithmetic v2 and the
/// proof of the block bound).
///
/// - Plain engines (v1: one nearest-even rounding per product, any order): E = K·u·S·(1 + 2K·u₆₄)
///   + U + 2K·u₆₄·S. Any summation order of K terms in an accumulator with unit roundoff u lies
///   within K·u·S of the exact sum (Jeannerod & Rump 2013, SIAM J. Matrix Anal. Appl. 34; the
///   classic form is Higham's γ_K). U covers underflow: K·η with η the accumulator's smallest
///   subnormal for a `preserve` device, or 2K·ν for a `flush` device (ν its smallest normal: K
///   products and K partial sums can each be flushed). The u₆₄ terms cover our own fp64
///   reference: its sum is within (K−1)·u₆₄·S of exact (and S, where it is the fp64 sum, too).
/// - Block engines (v2): each of the nb blocks (⌈K/n⌉, one more when C comes last) moves the
///   running sum by at most β·(|acc| + Σ|p|) + η, β = ρ + (n + 1)·2^(−F−x)·(1 + ρ) (ρ = 2^−F
///   toward zero, 2^−(F+1) to nearest; the alignment truncates each of at most n + 1 terms by less
///   than 2^(e_max − F − x) ≤ 2^(−F−x)·max|term|), so E = ((1 + β)^nb − 1)·S + nb·(1 + β)^nb·η,
///   with rounded products' and promotion's terms added as docs/arithmetic.md derives.
/// - Probabilistic bound: λ·√K·u·S + U + 2K·u₆₄·S. If rounding errors behave as independent
///   mean-zero variables, each element exceeds λ·√K·u·S with probability at most 2·exp(−λ²/2)
///   (Higham & Mary 2019, SIAM J. Sci. Comput. 41); with λ = √(2·ln(2·elements/δ)) the chance that
///   any element of the case does is at most δ. Truncating engines' errors are not mean-zero:
///   their bias is counted whole.
public struct GemmBound: Sendable {
    public let k: Int
    /// Roundings a plain engine is allowed: k plus the extra ones.
    private let roundings: Int
    public let engine: MatrixArithmetic
    /// The unit roundoff of the epilogue's arithmetic: the accumulator's for a plain engine, fp32's
    /// (the vector unit) for a block engine.
    public let unitRoundoff: Double
    public let underflow: Double
    /// E's coefficient of S, our own reference's terms aside.
    public let relative: Double
    /// The probabilistic bound's coefficients: of λ·S, and of S (a truncating engine's bias).
    private let randomPart: Double
    private let biasPart: Double
    /// E's coefficient when alignment loses nothing (coarse data), and F + x; nil for a plain
    /// engine, exact alignment or rounded products.
    private let coarseRelative: Double?
    private let windowBits: Int
    static let u64 = 0x1p-53

    /// The bound for a v1 declaration (its plain engine), with `k` roundings.
    public init(k: Int, arithmetic: DeclaredArithmetic) {
        self.init(k: k, engine: .plain(accumulator: arithmetic.accumulator, subnormals: arithmetic.subnormals))
    }

    /// The bound for `k` products on `engine`, plus `extraRoundings` fp32 roundings after them (the
    /// epilogue's scale multiplies of a block engine).
    public init(k: Int, engine: MatrixArithmetic, extraRoundings: Int = 0) {
        self.k = k
        self.engine = engine
        let format = engine.accumulate.floatFormat ?? .fp32
        roundings = k + extraRoundings
        if engine.isPlain {
            let u = engine.accumulate.unitRoundoff ?? 0x1p-24
            unitRoundoff = u
            // k counts every rounding, extra ones included (the v1 epilogue's γ_{K+3}).
            let r = Double(roundings)
            relative = r * u * (1 + 2 * r * Self.u64)
            switch engine.subnormalOutputs {
            case .preserve: underflow = r * format.minSubnormal
            case .flush: underflow = 2 * r * format.minNormal
            }
            randomPart = r.squareRoot() * u
            biasPart = 0
            coarseRelative = nil
            windowBits = 0
            return
        }
        unitRoundoff = 0x1p-24
        let f = Double(engine.fractionBits)
        let rho = engine.blockRounding == .towardZero ? pow(2, -f) : pow(2, -f - 1)
        let n = min(engine.blockSize, max(k, 1))
        let align: Double
        switch engine.alignment {
        case .exact: align = 0
        case .extraBits(let x): align = Double(n + 1) * pow(2, -f - Double(x))
        }
        // The accumulator's smallest step (its subnormal quantum), or its smallest normal when
        // block results are flushed.
        let eta = engine.subnormalOutputs == .flush ? format.minNormal : format.minNormal * pow(2, -f)
        let pi = engine.products == .rounded ? pow(2, -f - 1) : 0
        // Every computed bound is inflated by 2⁻⁴⁰ of itself: pow and the products round.
        let slack = 1 + 0x1p-40
        func bound(align: Double) -> (relative: Double, underflow: Double) {
            let beta = rho + align * (1 + rho)
            func chain(_ blocks: Int) -> Double { pow(1 + beta, Double(blocks)) - 1 }
            var rel: Double, under: Double
            if let every = engine.promoteEvery, k > every {
                // Chunks of `every` products summed from zero on the engine, each added to an fp32
                // accumulator with one nearest-even addition (plus C's when it comes last).
                let chunks = (k + every - 1) / every
                let inner = (every + engine.blockSize - 1) / engine.blockSize
                let innerRel = chain(inner) * (1 + pi) + pi
                let innerUnder = Double(chunks) * Double(inner) * pow(1 + beta, Double(inner)) * eta
                let outer = pow(1 + 0x1p-24, Double(chunks + (engine.cPosition == .last ? 1 : 0))) - 1
                rel = innerRel + outer * (1 + innerRel)
                under = innerUnder * (1 + outer) + Double(chunks + 1) * FloatFormat.fp32.minSubnormal
            } else {
                let blocks = max((k + engine.blockSize - 1) / engine.blockSize + (engine.cPosition == .last ? 1 : 0), 1)
                rel = chain(blocks) * (1 + pi) + pi
                under = Double(blocks) * pow(1 + beta, Double(blocks)) * eta
            }
            if extraRoundings > 0 { rel = (1 + rel) * pow(1 + 0x1p-24, Double(extraRoundings)) - 1 }
            return (rel * slack, under * slack)
        }
        (relative, underflow) = bound(align: align)
        // Coarse data (every product a multiple of the alignment window's last place) loses
        // nothing in alignment: see `hard(_:grain:)`.
        if case .extraBits(let x) = engine.alignment, engine.products == .exact {
            coarseRelative = bound(align: 0).relative
            windowBits = engine.fractionBits + x
        } else {
            coarseRelative = nil
            windowBits = 0
        }
        let blocks = Double(max((k + engine.blockSize - 1) / engine.blockSize, 1))
        if engine.blockRounding == .nearestEven {
            randomPart = blocks.squareRoot() * rho * (1 + pi)
            biasPart = blocks * align * (1 + rho) + pi
        } else {
            randomPart = 0
            biasPart = relative
        }
    }

    /// E for an element whose products are all multiples of `grain` (a power of two: the product
    /// of the smallest last places in A and in B), or nil when unknown. When the grain reaches the
    /// alignment window's last place for every block this element can have, 2^(Ê − F − x) with
    /// 2^Ê ≤ S·(1 + relative) + U bounding every term, no term is ever truncated: every product,
    /// partial sum and rounded block result is then a multiple of the grain (rounding to a
    /// quantum at or above the grain keeps that; below it, the sum is already representable), so
    /// alignment costs nothing and E keeps only the roundings (docs/arithmetic.md).
    public func hard(_ absSum: Double, grain: Double?) -> Double {
        guard let coarse = coarseRelative, let g = grain, g > 0, absSum.isFinite else { return hard(absSum) }
        let top = absSum * (1 + relative) + underflow
        guard top > 0, g.exponent >= top.exponent - windowBits else { return hard(absSum) }
        return coarse * absSum + underflow + 2 * Double(k) * Self.u64 * absSum
    }

    /// E: the largest error any summation the declaration allows can make.
    public func hard(_ absSum: Double) -> Double {
        let kd = Double(engine.isPlain ? roundings : k)
        if engine.isPlain {
            return kd * unitRoundoff * absSum * (1 + 2 * kd * Self.u64) + underflow + 2 * kd * Self.u64 * absSum
        }
        return relative * absSum + underflow + 2 * kd * Self.u64 * absSum
    }

    /// The error a sound accumulator exceeds only with small probability (see `lambda`).
    public func probabilistic(_ absSum: Double, lambda: Double) -> Double {
        let kd = Double(engine.isPlain ? roundings : k)
        if engine.isPlain {
            return lambda * kd.squareRoot() * unitRoundoff * absSum + underflow + 2 * kd * Self.u64 * absSum
        }
        return (lambda * randomPart + biasPart) * absSum + underflow + 2 * kd * Self.u64 * absSum
    }

    /// The sum of the hard bounds of `elements` elements whose S add up to `absSum` (a row's
    /// projection), our own reference's terms aside.
    public func summed(_ absSum: Double, elements: Int) -> Double {
        if engine.isPlain {
            let kd = Double(roundings)
            return kd * unitRoundoff * absSum * (1 + 2 * kd * Self.u64) + Double(elements) * underflow
        }
        return relative * absSum + Double(elements) * underflow
    }

    /// True when a partial sum could reach the accumulator's largest finite value in an order the
    /// declaration allows (the element is then unverifiable).
    public func mayOverflow(_ absSum: Double) -> Bool {
        let limit = engine.accumulate.maxFinite
        if engine.isPlain { return absSum * (1 + Double(roundings) * unitRoundoff) >= limit }
        return absSum * (1 + relative) >= limit
    }

    /// λ for a false-alarm probability δ over `elements` elements tested.
    public static func lambda(elements: Int, falseAlarm: Double) -> Double {
        (2 * log(2 * Double(max(elements, 1)) / falseAlarm)).squareRoot()
    }
}

extension DeclaredArithmetic {
    /// The engine a GEMM is judged by: the declared one, and for a block-scaled GEMM on a block
    /// engine, a promotion every quantisation group (each group is summed on the engine alone and
    /// joins the fp32 sum on the vector unit; the scales' two roundings are the bound's extra ones).
    func judgedEngine(for g: GemmCase) -> MatrixArithmetic {
        var engine = engine(for: g)
        if g.scales.isBlocked, !engine.isPlain, let group = g.scales.group {
            engine.promoteEvery = min(engine.promoteEvery ?? group, group)
        }
        return engine
    }
}
