/// A binary floating-point layout: sign, exponent and fraction widths, and how the top exponent
/// is used. Encoding and decoding are exact arithmetic on `Double`, which holds every value of
/// every format here, so no platform library decides a bit.
public struct FloatFormat: Sendable, Hashable {
    public let exponentBits: Int
    public let mantissaBits: Int
    /// How the all-ones exponent is used.
    public let specials: Specials
    /// True for IEEE-style formats whose all-ones exponent holds infinities and NaNs.
    public var hasInfinity: Bool { specials == .ieee }

    public enum Specials: Sendable, Hashable {
        /// IEEE 754: the all-ones exponent holds ±infinity and NaNs.
        case ieee
        /// OCP E4M3 "fn": the all-ones exponent holds normal numbers except the NaN S.1111.111.
        case nanOnly
        /// OCP MX fp6 and fp4 (E2M3, E3M2, E2M1): every code is a finite number; no infinity, no
        /// NaN (OCP Microscaling Formats v1.0, 5.3.2 and 5.3.3). Overflow saturates in either mode,
        /// and a NaN to encode gives +0: in MX a NaN is carried by the block's scale.
        case finiteOnly
    }

    public static let fp32 = FloatFormat(exponentBits: 8, mantissaBits: 23, hasInfinity: true)
    public static let fp16 = FloatFormat(exponentBits: 5, mantissaBits: 10, hasInfinity: true)
    public static let bf16 = FloatFormat(exponentBits: 8, mantissaBits: 7, hasInfinity: true)
    public static let e4m3fn = FloatFormat(exponentBits: 4, mantissaBits: 3, hasInfinity: false)
    public static let e5m2 = FloatFormat(exponentBits: 5, mantissaBits: 2, hasInfinity: true)
    /// MXFP6 E2M3: bias 1, largest ±7.5, smallest subnormal 0.125.
    public static let e2m3 = FloatFormat(exponentBits: 2, mantissaBits: 3, specials: .finiteOnly)
    /// MXFP6 E3M2: bias 3, largest ±28, smallest subnormal 0.0625.
    public static let e3m2 = FloatFormat(exponentBits: 3, mantissaBits: 2, specials: .finiteOnly)
    /// fp4 E2M1 (MXFP4's and NVFP4's element): bias 1, values ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}.
    public static let e2m1 = FloatFormat(exponentBits: 2, mantissaBits: 1, specials: .finiteOnly)

    public let bias: Int
    /// Exponent of the smallest normal number.
    public let minExponent: Int
    /// Bits of the largest finite magnitude.
    public let maxFiniteBits: UInt32
    public let maxFinite: Double
    /// The exponent of the largest finite value's binade.
    public let maxFiniteExponent: Int
    /// Smallest positive subnormal.
    public let minSubnormal: Double
    /// Smallest positive normal.
    public let minNormal: Double
    private let exponentMask: UInt32
    private let mantissaMask: UInt32
    @usableFromInline let signBit: UInt32
    private let nanBits: UInt32

    public init(exponentBits: Int, mantissaBits: Int, hasInfinity: Bool) {
        self.init(exponentBits: exponentBits, mantissaBits: mantissaBits, specials: hasInfinity ? .ieee : .nanOnly)
    }

    // Every constant is computed once here: encode and decode run per element.
    public init(exponentBits: Int, mantissaBits: Int, specials: Specials) {
        self.exponentBits = exponentBits
        self.mantissaBits = mantissaBits
        self.specials = specials
        bias = (1 << (exponentBits - 1)) - 1
        minExponent = 1 - bias
        exponentMask = (1 << UInt32(exponentBits)) - 1
        mantissaMask = (1 << UInt32(mantissaBits)) - 1
        signBit = 1 << UInt32(exponentBits + mantissaBits)
        switch specials {
        case .ieee:
            maxFiniteBits = ((exponentMask - 1) << UInt32(mantissaBits)) | mantissaMask
            nanBits = (exponentMask << UInt32(mantissaBits)) | (1 << UInt32(mantissaBits - 1))
        case .nanOnly:
            maxFiniteBits = (exponentMask << UInt32(mantissaBits)) | (mantissaMask - 1)
            nanBits = (exponentMask << UInt32(mantissaBits)) | mantissaMask
        case .finiteOnly:
            maxFiniteBits = (exponentMask << UInt32(mantissaBits)) | mantissaMask
            nanBits = 0  // no NaN: +0 (see `Specials.finiteOnly`)
        }
        minSubnormal = Double(sign: .plus, exponent: minExponent - mantissaBits, significand: 1)
        minNormal = Double(sign: .plus, exponent: minExponent, significand: 1)
        let top = Int((maxFiniteBits >> UInt32(mantissaBits)) & exponentMask)
        maxFinite = Double((1 << UInt32(mantissaBits)) | (maxFiniteBits & mantissaMask))
            * Double(sign: .plus, exponent: top - bias - mantissaBits, significand: 1)
        maxFiniteExponent = top - bias
    }

    /// The exact value of `bits`.
    public func decode(_ bits: UInt32) -> Double {
        let negative = bits & signBit != 0
        let e = Int((bits >> UInt32(mantissaBits)) & exponentMask)
        let f = bits & mantissaMask
        let magnitude: Double
        if specials == .ieee && e == Int(exponentMask) {
            magnitude = f == 0 ? .infinity : .nan
        } else if specials == .nanOnly && e == Int(exponentMask) && f == mantissaMask {
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
    ///
    /// A value in the format's normal range takes a path on the bits alone (data generation
    /// encodes every input element, and this was over half of a full GEMM profile's time): the
    /// double's exponent and fraction fields, read as one integer, are rounded to nearest-even at
    /// the format's last fraction bit (a carry moves into the exponent, as it should) and
    /// rebiased. That is the same rounding as `encodeInGeneral`'s, which takes everything else
    /// (zeros, subnormal results, overflow, infinities, NaN); the tests compare the two over the
    /// whole double range.
    @inlinable @inline(__always)
    public func encode(_ value: Double, overflow: OverflowMode) -> UInt32 {
        let bits = value.bitPattern
        let e = Int((bits >> 52) & 0x7FF) - 1023
        if e >= minExponent && e <= maxFiniteExponent {
            let shift = UInt64(52 - mantissaBits)
            let magnitude = bits & 0x7FFF_FFFF_FFFF_FFFF
            let rounded = (magnitude + (1 << (shift - 1)) - 1 + ((magnitude >> shift) & 1)) >> shift
            let target = rounded - (UInt64(1023 - bias) << UInt64(mantissaBits))
            if target <= UInt64(maxFiniteBits) {
                return (bits >> 63 == 1 ? signBit : 0) | UInt32(target)
            }
        }
        return encodeInGeneral(value, overflow: overflow)
    }

    /// `encode` for every value, from the arithmetic on doubles.
    public func encodeInGeneral(_ value: Double, overflow: OverflowMode) -> UInt32 {
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
        case .ieee:
            switch specials {
            case .ieee: return exponentMask << UInt32(mantissaBits)
            case .nanOnly: return nanBits
            case .finiteOnly: return maxFiniteBits
            }
        }
    }
}

/// The MX block scale E8M0 (OCP Microscaling Formats v1.0, 5.4.1): an unsigned 8-bit exponent,
/// value 2^(code − 127); 0xFF is NaN; no zero, no sign, no infinity.
public enum ScaleE8M0 {
    public static let nanCode: UInt8 = 0xFF

    /// The scale's value: 2^(code − 127), or NaN for 0xFF.
    public static func decode(_ code: UInt8) -> Double {
        code == nanCode ? .nan : Double(sign: .plus, exponent: Int(code) - 127, significand: 1)
    }

    /// The code of 2^exponent, nil outside −127…127 (what a scale out of range becomes is the
    /// quantisation scheme's rule, not the format's).
    public static func encode(exponent: Int) -> UInt8? {
        (-127...127).contains(exponent) ? UInt8(exponent + 127) : nil
    }
}

/// int4 as stored: two's complement nibbles, two per byte, the element with the lower index in
/// the low nibble (bits 0–3) and the next in the high nibble (bits 4–7); values −8…7.
public enum PackedInt4 {
    /// The value of element `index` of a packed buffer.
    public static func value(at index: Int, in bytes: [UInt8]) -> Int {
        let byte = bytes[index / 2]
        let nibble = index % 2 == 0 ? byte & 0x0F : byte >> 4
        return Int(nibble) - (nibble & 0x08 != 0 ? 16 : 0)  // sign-extend bit 3
    }

    /// `values` (each in −8…7) packed two per byte, low nibble first; an odd count leaves the last
    /// byte's high nibble zero.
    public static func pack(_ values: [Int]) -> [UInt8] {
        precondition(values.allSatisfy { (-8...7).contains($0) }, "int4 values lie in -8...7")
        var bytes = [UInt8](repeating: 0, count: (values.count + 1) / 2)
        for (i, v) in values.enumerated() {
            let nibble = UInt8(v & 0x0F)
            bytes[i / 2] |= i % 2 == 0 ? nibble : nibble << 4
        }
        return bytes
    }
}
