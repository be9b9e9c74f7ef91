/// int32 → int8 requantisation, bit for bit (docs/numerics.md, "int8 requantisation"; "int8
/// requantisation"). Both schemes add the output zero point and saturate to [−128, 127].
public enum Requantizer {
    /// The fp32 scheme: v = fp32(acc) × scale in fp32 (each step rounded to nearest even), then v
    /// rounded to the nearest integer, ties to even.
    public static func fp32Scale(_ acc: Int32, scale: Float, zeroPoint: Int32) -> Int8 {
        saturate(fp32ScaleUnsaturated(acc, scale: scale) + Double(zeroPoint))
    }

    /// The fp32 scheme's value before the zero point and saturation.
    public static func fp32ScaleUnsaturated(_ acc: Int32, scale: Float) -> Double {
        Double((Float(acc) * scale).rounded(.toNearestOrEven))
    }

    /// TFLite's QuantizeMultiplier for 0 < scale < 1: scale = f·2^e with f in [0.5, 1); the
    /// multiplier is round(f·2³¹) (half away from zero; 2³¹ becomes 2³⁰ with e + 1) and the right
    /// shift −e. A scale too small for a 31-bit shift gives multiplier 0.
    public static func quantizeMultiplier(_ scale: Double) -> (multiplier: Int32, shift: Int32) {
        guard scale > 0, scale < 1 else { return (0, 0) }
        var e = Int(scale.exponent) + 1
        let f = scale.significand / 2
        var q = (f * 0x1p31).rounded(.toNearestOrAwayFromZero)
        if q == 0x1p31 { q /= 2; e += 1 }
        let shift = -e
        guard shift <= 31 else { return (0, 0) }
        return (Int32(q), Int32(shift))
    }

    /// The fixed-point scheme (gemmlowp): x = SaturatingRoundingDoublingHighMul(acc, multiplier),
    /// i.e. acc·multiplier / 2³¹ rounded half away from zero (INT32_MIN × INT32_MIN saturates),
    /// then RoundingDivideByPOT(x, shift), i.e. x / 2^shift rounded half away from zero.
    public static func fixedPoint(_ acc: Int32, multiplier: Int32, shift: Int32, zeroPoint: Int32) -> Int8 {
        saturate(fixedPointUnsaturated(acc, multiplier: multiplier, shift: shift) + Double(zeroPoint))
    }

    /// The fixed-point scheme's value before the zero point and saturation.
    public static func fixedPointUnsaturated(_ acc: Int32, multiplier: Int32, shift: Int32) -> Double {
        let high: Int32
        if acc == .min && multiplier == .min {
            high = .max
        } else {
            let ab = Int64(acc) * Int64(multiplier)
            let nudge: Int64 = ab >= 0 ? 1 << 30 : 1 - (1 << 30)
            high = Int32((ab + nudge) / (1 << 31))
        }
        let mask = (Int64(1) << Int64(shift)) - 1
        let x = Int64(high)
        let remainder = x & mask
        let threshold = (mask >> 1) + (x < 0 ? 1 : 0)
        return Double((x >> Int64(shift)) + (remainder > threshold ? 1 : 0))
    }

    @inline(__always)
    static func saturate(_ v: Double) -> Int8 { Int8(Swift.max(-128, Swift.min(127, v))) }
}
