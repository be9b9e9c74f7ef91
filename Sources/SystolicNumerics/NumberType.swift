/// The element types a case can name for its inputs, accumulator and outputs.
///
/// Floating-point formats are encoded by `FloatFormat`; the integer ones are two's complement.
/// Raw values are the spellings used in suite and results files.
public enum NumberType: String, CaseIterable, Sendable, Codable, Hashable {
    case fp32
    case fp16
    case bf16
    /// OCP 8-bit E4M3 "fn": no infinities, S.1111.111 is NaN, largest finite 448.
    case fp8_e4m3
    /// OCP 8-bit E5M2: IEEE-like with infinities, largest finite 57344.
    case fp8_e5m2
    case int8
    case int32
    /// OCP MX fp6 E2M3 (bias 1, largest 7.5) and E3M2 (bias 3, largest 28), and fp4 E2M1 (values
    /// ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}): GEMM input formats only, with no infinity and no NaN
    /// (docs/formats.md). One code per byte in memory, dumps and tensor files.
    case fp6_e2m3
    case fp6_e3m2
    case fp4_e2m1
    /// int4 weights (docs/formats.md, "int4 weights"): two's complement, −8…7 (`int4`), or
    /// unsigned 0…15 beside a zero point (`uint4`, as GPTQ and AWQ checkpoints store them). A
    /// GEMM's B only. One code per byte in memory (the low nibble); two per byte, low nibble
    /// first, in tensor files and dumps (`PackedInt4`, `Tensor.fileBytes`).
    case int4
    case uint4

    /// Bytes per element in memory and in dumps.
    public var byteWidth: Int {
        switch self {
        case .fp32, .int32: return 4
        case .fp16, .bf16: return 2
        case .fp8_e4m3, .fp8_e5m2, .int8, .fp6_e2m3, .fp6_e3m2, .fp4_e2m1, .int4, .uint4: return 1
        }
    }

    /// Bits per element as a chip stores it (HBM traffic in the cost model): 4 for fp4 and int4,
    /// 6 for fp6, else the byte width's.
    public var storedBits: Int {
        switch self {
        case .fp4_e2m1, .int4, .uint4: return 4
        case .fp6_e2m3, .fp6_e3m2: return 6
        default: return 8 * byteWidth
        }
    }

    /// Bytes `count` elements take as a chip stores them, rounded up.
    public func storedBytes(_ count: Int) -> Int { (count * storedBits + 7) / 8 }

    /// True for the nibble types, packed two per byte in files.
    public var isNibble: Bool { self == .int4 || self == .uint4 }

    /// Bytes of `count` elements in a tensor file or dump: two per byte for the nibble types,
    /// else `byteWidth` each.
    public func fileBytes(_ count: Int) -> Int { isNibble ? (count + 1) / 2 : count * byteWidth }

    /// The MX element formats below fp8, which a GEMM takes as inputs only: never an accumulator,
    /// an output, or attention's or a collective's type.
    public var isNarrowInput: Bool { self == .fp6_e2m3 || self == .fp6_e3m2 || self == .fp4_e2m1 }

    /// int8 and int32: the integer GEMM and collective types (int4 and uint4 are weight formats,
    /// `isNibble`).
    public var isInteger: Bool { self == .int8 || self == .int32 }

    /// The floating-point layout, or nil for integer types.
    public var floatFormat: FloatFormat? {
        switch self {
        case .fp32: return .fp32
        case .fp16: return .fp16
        case .bf16: return .bf16
        case .fp8_e4m3: return .e4m3fn
        case .fp8_e5m2: return .e5m2
        case .fp6_e2m3: return .e2m3
        case .fp6_e3m2: return .e3m2
        case .fp4_e2m1: return .e2m1
        case .int8, .int32, .int4, .uint4: return nil
        }
    }

    /// Unit roundoff (half an ulp of 1), for float types.
    public var unitRoundoff: Double? {
        floatFormat.map { Double(sign: .plus, exponent: -($0.mantissaBits + 1), significand: 1) }
    }

    /// Largest finite magnitude.
    public var maxFinite: Double {
        switch self {
        case .int8: return 127
        case .int4: return 7
        case .uint4: return 15
        case .int32: return 2_147_483_647
        default: return floatFormat!.maxFinite
        }
    }

    /// Encodes `value` rounding to nearest, ties to even, with the given overflow behaviour.
    ///
    /// Integers saturate in both modes (wrapping is a fault, never a mode) and NaN becomes 0.
    /// The result is the element's bit pattern in the low `byteWidth` bytes.
    public func encode(_ value: Double, overflow: OverflowMode) -> UInt32 {
        switch self {
        case .fp32:
            // The hardware conversion rounds to nearest-even once, subnormals included.
            let f = Float(value)
            if f.isInfinite && overflow == .saturate {
                return (f < 0 ? -Float.greatestFiniteMagnitude : Float.greatestFiniteMagnitude).bitPattern
            }
            return f.bitPattern
        case .int8: return UInt32(UInt8(bitPattern: Int8(Self.roundSaturating(value, min: -128, max: 127))))
        case .int32: return UInt32(truncatingIfNeeded: Int32(Self.roundSaturating(value, min: -2_147_483_648, max: 2_147_483_647)))
        case .int4: return UInt32(Self.roundSaturating(value, min: -8, max: 7) & 0x0F)
        case .uint4: return UInt32(Self.roundSaturating(value, min: 0, max: 15))
        default: return floatFormat!.encode(value, overflow: overflow)
        }
    }

    /// The exact value of a bit pattern.
    public func decode(_ bits: UInt32) -> Double {
        switch self {
        case .fp32: return Double(Float(bitPattern: bits))
        case .fp16: return DecodeTables.fp16[Int(bits & 0xFFFF)]
        case .bf16: return Double(Float(bitPattern: (bits & 0xFFFF) << 16))
        case .fp8_e4m3: return DecodeTables.e4m3[Int(bits & 0xFF)]
        case .fp8_e5m2: return DecodeTables.e5m2[Int(bits & 0xFF)]
        case .fp6_e2m3: return DecodeTables.e2m3[Int(bits & 0x3F)]
        case .fp6_e3m2: return DecodeTables.e3m2[Int(bits & 0x3F)]
        case .fp4_e2m1: return DecodeTables.e2m1[Int(bits & 0x0F)]
        case .int8: return Double(Int8(truncatingIfNeeded: bits))
        case .int32: return Double(Int32(truncatingIfNeeded: bits))
        case .int4: return Double(Int(bits & 0x0F) - (bits & 0x08 != 0 ? 16 : 0))  // bit 3 is the sign
        case .uint4: return Double(bits & 0x0F)
        }
    }

    /// `value` rounded to this type and back: the nearest representable value.
    public func round(_ value: Double, overflow: OverflowMode) -> Double {
        decode(encode(value, overflow: overflow))
    }

    private static func roundSaturating(_ value: Double, min: Double, max: Double) -> Int64 {
        if value.isNaN { return 0 }
        return Int64(Swift.min(Swift.max(value.rounded(.toNearestOrEven), min), max))
    }
}

/// What a conversion does with a value beyond the largest finite one (docs/numerics.md).
public enum OverflowMode: String, CaseIterable, Sendable, Codable, Hashable {
    /// Clamp to ±largest finite, infinities included; NaN stays NaN.
    case saturate
    /// IEEE behaviour: ±infinity, or NaN where the format has no infinity (fp8 E4M3).
    case ieee
}

/// Every value of the narrow formats, decoded once by `FloatFormat.decode`.
enum DecodeTables {
    static let fp16 = (0..<65536).map { FloatFormat.fp16.decode(UInt32($0)) }
    static let e4m3 = (0..<256).map { FloatFormat.e4m3fn.decode(UInt32($0)) }
    static let e5m2 = (0..<256).map { FloatFormat.e5m2.decode(UInt32($0)) }
    static let e2m3 = (0..<64).map { FloatFormat.e2m3.decode(UInt32($0)) }
    static let e3m2 = (0..<64).map { FloatFormat.e3m2.decode(UInt32($0)) }
    static let e2m1 = (0..<16).map { FloatFormat.e2m1.decode(UInt32($0)) }
}
