import Foundation
import SystolicDevice
import SystolicNumerics

/// The error bounds for one GEMM element of K terms with S ≥ Σ|aₖbₖ| (the reference's upper
/// bound, within K·2⁻²³ of it: each bound grows with S, so it stays sound), for a device with a
/// given declared arithmetic (docs/numerics.md).
///
/// - Hard bound: E = K·u·S·(1 + 2K·u₆₄) + U + 2K·u₆₄·S. Any summation order of K terms in an
///   accumulator with unit roundoff u lies within K·u·S of the exact sum (Jeannerod & Rump 2013,
///   SIAM J. Matrix Anal. Appl. 34; the classic form is Higham's γ_K). U covers underflow: K·η with
///   η the accumulator's smallest subnormal for a `preserve` device, or 2K·ν for a `flush` device
///   (ν its smallest normal: K products and K partial sums can each be flushed). The u₆₄ terms cover
///   our own fp64 reference: its sum is within (K−1)·u₆₄·S of exact (and S, where it is the fp64 sum, too).
/// - Probabilistic bound: λ·√K·u·S + U + 2K·u₆₄·S. If rounding errors behave as independent
///   mean-zero variables, each element exceeds λ·√K·u·S with probability at most 2·exp(−λ²/2)
///   (Higham & Mary 2019, SIAM J. Sci. Comput. 41); with λ = √(2·ln(2·elements/δ)) the chance that
///   any element of the case does is at most δ.
public struct GemmBound: Sendable {
    public let k: Int
    public let unitRoundoff: Double
    public let underflow: Double
    static let u64 = 0x1p-53

    public init(k: Int, arithmetic: DeclaredArithmetic) {
        self.k = k
        let format = arithmetic.accumulator.floatFormat ?? .fp32
        unitRoundoff = arithmetic.accumulator.unitRoundoff ?? 0x1p-24
        switch arithmetic.subnormals {
        case .preserve: underflow = Double(k) * format.minSubnormal
        case .flush: underflow = 2 * Double(k) * format.minNormal
        }
    }

    /// E: the largest error any summation order can make.
    public func hard(_ absSum: Double) -> Double {
        let kd = Double(k)
        return kd * unitRoundoff * absSum * (1 + 2 * kd * Self.u64) + underflow + 2 * kd * Self.u64 * absSum
    }

    /// The error a sound accumulator exceeds only with small probability (see `lambda`).
    public func probabilistic(_ absSum: Double, lambda: Double) -> Double {
        let kd = Double(k)
        return lambda * kd.squareRoot() * unitRoundoff * absSum + underflow + 2 * kd * Self.u64 * absSum
    }

    /// λ for a false-alarm probability δ over `elements` elements tested.
    public static func lambda(elements: Int, falseAlarm: Double) -> Double {
        (2 * log(2 * Double(max(elements, 1)) / falseAlarm)).squareRoot()
    }
}
