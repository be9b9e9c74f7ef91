import Foundation
import SystolicDevice
import SystolicNumerics
import SystolicSuite

/// The error bound for one attention output element (docs/attention.md, "How attention is judged").
///
/// For a query row with n visible keys, exact weights wⱼ = softmax(f·sⱼ) (f = scale·k_scale,
/// sⱼ = Σ q·k), A = max over visible j of f·Σ|q·kⱼ|, and an output element
/// o = v_scale·Σⱼ wⱼ·vⱼ with W = Σⱼ wⱼ·|vⱼ|, a device with accumulator roundoff u, exp accurate to
/// ε = exp_ulps·2⁻²³ and P rounded to a type of roundoff u_p computes each weight within a factor
/// e^{±(2σ+2τ)}·(1 ± (n+R)u) of the exact one, where
///
/// - σ = (D + 4)·u·A + 4D·u₆₄·A: a score's error (D products summed, the scale multiplied, the
///   running max subtracted) and our fp64 reference's;
/// - R = ⌈n/16⌉: the online-softmax rescales a flash kernel with blocks of at least 16 keys makes
///   (a full softmax makes none);
/// - τ = (R+1)·ε + R·(u + 2u·A) + u_p + 2u: the exp of each weight and of each rescale factor, the
///   rounding of rescales and of P, and a division when P is normalised before P·V.
///
/// With ρ = e^{2σ+2τ}·(1 + (n+R)u) − 1, the bound is
/// E = v_scale·[(ρ + (n + 2R + 4)·u·(1+ρ))·W + n·η·max|v|] + 2⁻⁴⁰·v_scale·W, where the second
/// product's n terms and R rescales round in the accumulator, η covers weights lost below P's
/// (or fp32's) smallest subnormal (its smallest normal for a `flush` device, as for products that
/// flush in the accumulator), and the last term covers the reference's own fp64 exp and sums.
/// A fully masked row has E = 0: its output must be exactly zero.
///
/// A device that declares a matrix engine for attention (`matrix_engine` entries whose `ops` hold
/// `attention`: Q·Kᵀ on Q's type, P·V on P's type) has its products judged by that engine's
/// bound (`GemmBound`, docs/arithmetic.md) instead of n·u: σ = ε_s·A + f·U_s + 4u·A + 4D·u₆₄·A with
/// ε_s, U_s the relative and absolute terms of D products, and the P·V term (n + 2R + 4)·u becomes
/// ε_p + (2R + 4)·u with ε_p, U_p those of n + R·b products (a flash kernel's R chunks each start
/// new blocks of b, twice as many when C comes last), U_p added to the absolute part. An engine
/// that flushes subnormal inputs is judged against the flushed inputs (the reference flushes Q
/// and K, or V, as GEMM's does) with P's flushing η.
public struct AttentionBound: Sendable {
    public let headDim: Int
    public let u: Double
    public let exp: Double
    public let probabilityRoundoff: Double
    public let underflow: Double
    public let vScale: Double
    /// The declared engines of the two products, or nil (the v1 formula above).
    public let scoreEngine: MatrixArithmetic?
    public let valueEngine: MatrixArithmetic?
    /// f·scale: the logits' scale (for U_s).
    private let logitScale: Double
    /// ε_s and f·U_s, once per case (D is fixed).
    private let scoreRelative: Double
    private let scoreAbsolute: Double

    public init(_ a: AttentionCase, arithmetic: DeclaredArithmetic, expUlps: Double) {
        headDim = a.headDim
        u = arithmetic.accumulator.unitRoundoff ?? 0x1p-24
        exp = expUlps * 0x1p-23
        probabilityRoundoff = a.probabilityType.unitRoundoff ?? 0x1p-24
        let engines = arithmetic.attentionEngines(a)
        scoreEngine = engines.score
        valueEngine = engines.value
        let p = a.probabilityType.floatFormat ?? .fp32
        let acc = arithmetic.accumulator.floatFormat ?? .fp32
        let flushesP = engines.value?.subnormalInputs == .flush
        switch (arithmetic.subnormals, flushesP) {
        case (.preserve, false): underflow = max(p.minSubnormal / 2, FloatFormat.fp32.minSubnormal) + acc.minSubnormal
        default: underflow = max(p.minNormal, FloatFormat.fp32.minNormal) + 2 * acc.minNormal
        }
        vScale = a.vScale
        logitScale = a.softmaxScale * a.kScale
        if let e = engines.score {
            let b = GemmBound(k: a.headDim, engine: e)
            scoreRelative = b.relative
            scoreAbsolute = logitScale * b.underflow
        } else {
            scoreRelative = 0
            scoreAbsolute = 0
        }
    }

    /// Flash chunks of a row with n visible keys (blocks of at least 16 keys).
    static func rescales(_ n: Int) -> Int { (n + 15) / 16 }

    /// The P·V engine's bound for a row of n visible keys: its R chunks each start new blocks (and
    /// promotion groups), and add C as a block of its own when C comes last.
    public func valueBound(visible n: Int) -> GemmBound? {
        guard let e = valueEngine else { return nil }
        let pad = (e.promoteEvery ?? e.blockSize) * (e.cPosition == .last ? 2 : 1)
        return GemmBound(k: n + Self.rescales(n) * pad, engine: e)
    }

    /// The relative error allowed on a score of magnitude A (σ above, in units of the logits).
    func scoreError(_ a: Double) -> Double {
        let d = Double(headDim)
        if scoreEngine == nil { return (d + 4) * u * a + 4 * d * 0x1p-53 * a }
        return scoreRelative * a + scoreAbsolute + 4 * u * a + 4 * d * 0x1p-53 * a
    }

    /// E for an element of a row with `visible` keys, score magnitude `scoreAbsMax` (A above),
    /// weighted absolute sum W and largest |v| of its column.
    public func hard(visible n: Int, scoreAbsMax a: Double, weightedAbsSum w: Double, maxAbsValue: Double) -> Double {
        row(visible: n, scoreAbsMax: a).hard(weightedAbsSum: w, maxAbsValue: maxAbsValue)
    }

    /// The bound's row part (everything but W and max|v|), computed once per row.
    public func row(visible n: Int, scoreAbsMax a: Double) -> RowBound {
        guard n > 0 else { return RowBound(rho: 0, valueRelative: 0, valueAbsolute: 0, underflowPerValue: 0, vScale: vScale, masked: true) }
        let nd = Double(n), r = Double(Self.rescales(n))
        let sigma = scoreError(a)
        let tau = (r + 1) * exp + r * (u + 2 * u * a) + probabilityRoundoff + 2 * u
        let rho = Foundation.exp(2 * sigma + 2 * tau) * (1 + (nd + r) * u) - 1
        if let pv = valueBound(visible: n) {
            return RowBound(rho: rho, valueRelative: pv.relative + (2 * r + 4) * u, valueAbsolute: pv.underflow,
                            underflowPerValue: nd * underflow, vScale: vScale, masked: false)
        }
        return RowBound(rho: rho, valueRelative: (nd + 2 * r + 4) * u, valueAbsolute: 0, underflowPerValue: nd * underflow,
                        vScale: vScale, masked: false)
    }

    /// E for the elements of one row: E = v_scale·[(ρ + ε·(1 + ρ))·W + n·η·max|v| + U_p] + 2⁻⁴⁰·v_scale·W.
    public struct RowBound: Sendable {
        let rho: Double
        let valueRelative: Double
        let valueAbsolute: Double
        let underflowPerValue: Double
        let vScale: Double
        let masked: Bool

        public func hard(weightedAbsSum w: Double, maxAbsValue: Double) -> Double {
            if masked { return 0 }
            return vScale * ((rho + valueRelative * (1 + rho)) * w + underflowPerValue * maxAbsValue + valueAbsolute) + 0x1p-40 * vScale * w
        }
    }
}
