/// The emulator vector unit's transcendental functions, defined bit for bit without the host's
/// libm (docs/emulator.md: nothing that decides a bit may depend on a platform's libm).
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

extension VectorMath {
    /// e^x in binary64 by the same reduction and polynomial as `exp(_: Float)`, not rounded to fp32.
    static func exp64(_ x: Double) -> Double {
        if x.isNaN { return x }
        if x > 709 { return .infinity }
        if x < -745 { return 0 }
        let k = (x * 1.4426950408889634).rounded(.toNearestOrEven)
        let r = (x - k * 0x1.62e42fefa3800p-1) - k * 0x1.ef35793c76730p-45
        var p = 1.0 / 6227020800.0
        for factorial in [479001600.0, 39916800.0, 3628800.0, 362880.0, 40320.0, 5040.0, 720.0, 120.0, 24.0, 6.0, 2.0, 1.0, 1.0] {
            p = p * r + 1.0 / factorial
        }
        // 2^k in two steps, so a result near the subnormal range keeps its low bits.
        let half = Int(k) / 2
        return Double(sign: .plus, exponent: half, significand: p) * Double(sign: .plus, exponent: Int(k) - half, significand: 1)
    }

    /// erf in binary64: its Taylor series below 2.5 (terms summed until they stop changing the sum),
    /// 1 − erfc above, with erfc(z) = e^{−z²}/(√π·F) and F = z + (1/2)/(z + 1/(z + (3/2)/(z + …)))
    /// evaluated backwards over 60 terms. Within about 10⁻¹⁴ of erf everywhere.
    static func erf64(_ x: Double) -> Double {
        let a = abs(x)
        if a.isNaN { return x }
        let twoOverRootPi = 1.1283791670955126
        if a < 2.5 {
            var term = a, sum = a, n = 0.0
            while true {
                n += 1
                term *= -a * a / n
                let next = sum + term / (2 * n + 1)
                if next == sum { break }
                sum = next
            }
            return x < 0 ? -twoOverRootPi * sum : twoOverRootPi * sum
        }
        var f = a
        for k in stride(from: 60.0, through: 1, by: -1) { f = a + (k / 2) / f }
        let erfc = exp64(-a * a) / (1.7724538509055160 * f)
        return x < 0 ? erfc - 1 : 1 - erfc
    }

    /// tanh in binary64: sign(x)·(1 − 2/(e^{2|x|} + 1)), ±1 beyond |x| = 20.
    static func tanh64(_ x: Double) -> Double {
        let a = abs(x)
        if a.isNaN { return x }
        if a > 20 { return x < 0 ? -1 : 1 }
        let t = 1 - 2 / (exp64(2 * a) + 1)
        return x < 0 ? -t : t
    }

    /// erfc in binary64 without cancellation in either tail: the continued fraction of `erf64`
    /// for z ≥ 2.5, 2 minus it for z ≤ −2.5, 1 − erf between.
    static func erfc64(_ z: Double) -> Double {
        let a = abs(z)
        if a < 2.5 { return 1 - erf64(z) }
        var f = a
        for k in stride(from: 60.0, through: 1, by: -1) { f = a + (k / 2) / f }
        let tail = exp64(-a * a) / (1.7724538509055160 * f)
        return z > 0 ? tail : 2 - tail
    }

    /// The vector unit's GELU of an fp32 value, evaluated in binary64 and rounded once to fp32:
    /// erf form x·erfc(−x/√2)/2 (= x·(1 + erf(x/√2))/2, written so the negative tail keeps its
    /// digits), tanh form x·(1 + tanh(z))/2 with z = √(2/π)·(x + 0.044715·x³) and 1 + tanh(z)
    /// computed as 2/(1 + e^{−2z}).
    static func gelu(_ x: Float, tanhForm: Bool) -> Float {
        let y = Double(x)
        if tanhForm {
            let z = 0.7978845608028654 * (y + 0.044715 * y * y * y)
            return Float(0.5 * y * (2 / (1 + exp64(-2 * z))))
        }
        return Float(0.5 * y * erfc64(-y * 0.7071067811865476))
    }
}
