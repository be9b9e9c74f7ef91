/// A binary floating-point layout: sign, exponent and fraction widths, and how the top exponent
/// is used. Encoding and decoding are exact arithmetic on `Double`, which holds every value of
/// every format here, so no platform library decides a bit.
public struct FloatFormat: Sendable, Hashable {
    public let exponentBits: Int
    public let mantissaBits: Int
    /// True for IEEE-style formats whose all-ones exponent holds infinities and NaNs. False for
    /// OCP E4M3 "fn", whose all-ones exponent holds normal numbers except the NaN S.1111.111.
    public let hasInfinity: Bool

    public static let fp32 = FloatFormat(exponentBits: 8, mantissaBits: 23, hasInfinity: true)
    public static let fp16 = FloatFormat(exponentBits: 5, mantissaBits: 10, hasInfinity: true)
    public static let bf16 = FloatFormat(exponentBits: 8, mantissaBits: 7, hasInfinity: true)
    public static let e4m3fn = FloatFormat(exponentBits: 4, mantissaBits: 3, hasInfinity: false)
    public static let e5m2 = FloatFormat(exponentBits: 5, mantissaBits: 2, hasInfinity: true)

    public let bias: Int
    /// Exponent of the smallest normal number.
    public let minExponent: Int
    /// Bits of the largest finite magnitude.
    public let maxFiniteBits: UInt32
    public let maxFinite: Double
    /// Smallest positive subnormal.
    public let minSubnormal: Double
    /// Smallest positive normal.
    public let minNormal: Double
    private let exponentMask: UInt32
    private let mantissaMask: UInt32
    private let signBit: UInt32
    private let nanBits: UInt32

    // Every constant is computed once here: encode and decode run per element.
    public init(exponentBits: Int, mantissaBits: Int, hasInfinity: Bool) {
        self.exponentBits = exponentBits
        self.mantissaBits = mantissaBits
        self.hasInfinity = hasInfinity
        bias = (1 << (exponentBits - 1)) - 1
        minExponent = 1 - bias
        exponentMask = (1 << UInt32(exponentBits)) - 1
        mantissaMask = (1 << UInt32(mantissaBits)) - 1
        signBit = 1 << UInt32(exponentBits + mantissaBits)
        maxFiniteBits = hasInfinity ? ((exponentMask - 1) << UInt32(mantissaBits)) | mantissaMask
                                    : (exponentMask << UInt32(mantissaBits)) | (mantissaMask - 1)
        nanBits = hasInfinity ? (exponentMask << UInt32(mantissaBits)) | (1 << UInt32(mantissaBits - 1))
                              : (exponentMask << UInt32(mantissaBits)) | mantissaMask
        minSubnormal = Double(sign: .plus, exponent: minExponent - mantissaBits, significand: 1)
        minNormal = Double(sign: .plus, exponent: minExponent, significand: 1)
        let top = Int((maxFiniteBits >> UInt32(mantissaBits)) & exponentMask)
        maxFinite = Double((1 << UInt32(mantissaBits)) | (maxFiniteBits & mantissaMask))
            * Double(sign: .plus, exponent: top - bias - mantissaBits, significand: 1)
    }

    /// The exact value of `bits`.
    public func decode(_ bits: UInt32) -> Double {
        let negative = bits & signBit != 0
        let e = Int((bits >> UInt32(mantissaBits)) & exponentMask)
        let f = bits & mantissaMask
        let magnitude: Double
        if hasInfinity && e == Int(exponentMask) {
            magnitude = f == 0 ? .infinity : .nan
        } else if !hasInfinity && e == Int(exponentMask) && f == mantissaMask {
            magnitude = .nan
        } else if e == 0 {
            magnitude = Double(f) * minSubnormal
        } else {
            magnitude = Double((1 << UInt32(mantissaBits)) | f) * Self.power(e - bias - mantissaBits)
        }
        return negative ? -magnitude : magnitude
    }

    /// 2^e for a normal double's exponent (−1022…1023), from the bits: the same value as
    /// `Double(sign: .plus, exponent: e, significand: 1)` at a fraction of the cost (encode and
    /// decode run per element, and data generation encodes every input).
    @inline(__always)
    static func power(_ e: Int) -> Double { Double(bitPattern: UInt64(e + 1023) << 52) }

    /// The unbiased exponent of a positive normal double; below −1022 for a subnormal one.
    @inline(__always)
    static func binade(_ a: Double) -> Int { Int((a.bitPattern >> 52) & 0x7FF) - 1023 }

    /// Rounds `value` to nearest, ties to even, and returns the bits.
    ///
    /// A value overflows when its rounded magnitude (with the exponent range unbounded) exceeds the
    /// largest finite value; `overflow` then decides between ±max finite and ±infinity (NaN for
    /// E4M3). NaN inputs give a quiet NaN.
    public func encode(_ value: Double, overflow: OverflowMode) -> UInt32 {
        if value.isNaN { return nanBits }
        let sign: UInt32 = value.sign == .minus ? signBit : 0
        let a = value.magnitude
        if a == 0 { return sign }
        if a.isInfinite { return sign | overflowBits(overflow) }
        // Quantum of the binade that holds `a`, never below the subnormal quantum (a double
        // subnormal lies far below every format's subnormals). Dividing by a power of two and
        // multiplying by its inverse are the same exact operation here.
        let e = Swift.max(Self.binade(a), minExponent)
        let quantum = Self.power(e - mantissaBits)
        let rounded = (a * Self.power(mantissaBits - e)).rounded(.toNearestOrEven) * quantum
        if rounded > maxFinite { return sign | overflowBits(overflow) }
        if rounded == 0 { return sign }
        let re = Self.binade(rounded)
        if re < minExponent {
            return sign | UInt32(rounded * Self.power(mantissaBits - minExponent))
        }
        let significand = UInt32(rounded * Self.power(mantissaBits - re))
        return sign | (UInt32(re + bias) << UInt32(mantissaBits)) | (significand & mantissaMask)
    }

    private func overflowBits(_ mode: OverflowMode) -> UInt32 {
        switch mode {
        case .saturate: return maxFiniteBits
        case .ieee: return hasInfinity ? exponentMask << UInt32(mantissaBits) : nanBits
        }
    }
}
