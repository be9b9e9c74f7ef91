/// The emulator vector unit's transcendental functions, defined bit for bit without the host's
/// libm (design.md: nothing that decides a bit may depend on a platform's libm).
enum VectorMath {
    /// exp for fp32: x = k·ln2 + r with k = round(x·log₂e) and |r| ≤ ln2/2 (Cody–Waite, in binary64),
    /// e^r by its Taylor series to degree 13 (truncation below 2⁻⁶⁰), scaled by 2^k exactly and rounded
    /// once to fp32 (nearest-even, overflow to +inf, gradual underflow). Within 0.5 ulp plus 2⁻⁵⁰
    /// relative of e^x; the preset declares 2 ulps. Binary64 + − × are the same bits on every
    /// IEEE host, so this is too.
    static func exp(_ x: Float) -> Float {
        if x.isNaN { return x }
        if x > 89 { return .infinity }
        if x < -104 { return 0 }
        let xd = Double(x)
        let k = (xd * 1.4426950408889634).rounded(.toNearestOrEven)
        let r = (xd - k * 0x1.62e42fefa3800p-1) - k * 0x1.ef35793c76730p-45
        var p = 1.0 / 6227020800.0
        for factorial in [479001600.0, 39916800.0, 3628800.0, 362880.0, 40320.0, 5040.0, 720.0, 120.0, 24.0, 6.0, 2.0, 1.0, 1.0] {
            p = p * r + 1.0 / factorial
        }
        return Float(Double(sign: .plus, exponent: Int(k), significand: p))
    }
}
