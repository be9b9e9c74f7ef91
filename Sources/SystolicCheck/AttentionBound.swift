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
public struct AttentionBound: Sendable {
    public let headDim: Int
    public let u: Double
    public let exp: Double
    public let probabilityRoundoff: Double
    public let underflow: Double
    public let vScale: Double

    public init(_ a: AttentionCase, arithmetic: DeclaredArithmetic, expUlps: Double) {
        headDim = a.headDim
        u = arithmetic.accumulator.unitRoundoff ?? 0x1p-24
        exp = expUlps * 0x1p-23
        probabilityRoundoff = a.probabilityType.unitRoundoff ?? 0x1p-24
        let p = a.probabilityType.floatFormat ?? .fp32
        let acc = arithmetic.accumulator.floatFormat ?? .fp32
        switch arithmetic.subnormals {
        case .preserve: underflow = max(p.minSubnormal / 2, FloatFormat.fp32.minSubnormal) + acc.minSubnormal
        case .flush: underflow = max(p.minNormal, FloatFormat.fp32.minNormal) + 2 * acc.minNormal
        }
        vScale = a.vScale
    }

    /// E for an element of a row with `visible` keys, score magnitude `scoreAbsMax` (A above),
    /// weighted absolute sum W and largest |v| of its column.
    public func hard(visible n: Int, scoreAbsMax a: Double, weightedAbsSum w: Double, maxAbsValue: Double) -> Double {
        guard n > 0 else { return 0 }
        let nd = Double(n), r = Double((n + 15) / 16), d = Double(headDim)
        let sigma = (d + 4) * u * a + 4 * d * 0x1p-53 * a
        let tau = (r + 1) * exp + r * (u + 2 * u * a) + probabilityRoundoff + 2 * u
        let rho = Foundation.exp(2 * sigma + 2 * tau) * (1 + (nd + r) * u) - 1
        return vScale * ((rho + (nd + 2 * r + 4) * u * (1 + rho)) * w + nd * underflow * maxAbsValue) + 0x1p-40 * vScale * w
    }
}
