import Dispatch
import SystolicNumerics
import SystolicSuite

/// Counter-based, seeded input data: element `i` of an operand is a pure function of
/// (seed, case id, operand name, i), so any element can be regenerated in any language without
/// generating the ones before it, and no platform library decides a bit.
///
/// The algorithm (also in docs/suites.md, with golden values):
/// 1. `stream = fnv1a64(caseId + "/" + operand)` over the UTF-8 bytes;
///    `key = mix64(seed ^ stream)`.
/// 2. Raw value `j`: `r(j) = mix64(key &+ (j + 1) &* 0x9E3779B97F4A7C15)` (SplitMix64 output `j`
///    from state `key`), where `mix64(z)` is SplitMix64's finaliser.
/// 3. Element `i` by pattern, computed in binary64 and then rounded to the operand's type
///    (nearest-even, saturating):
///    - uniform(lo, hi): `lo + (hi - lo) * ((r(i) >> 11) * 2^-53)`
///    - normal(mean, std): `S` = sum of the twelve 16-bit pieces of `r(3i)`, `r(3i+1)`, `r(3i+2)`;
///      `mean + std * ((2S - 786420) / 131072)` (Irwin–Hall: mean 0, variance 1 − 2^-32, |z| < 6)
///    - integer(lo, hi): `lo + (r(i) mod (hi - lo + 1))`
///    - constant(v): `v`
///    - log_uniform(e0, e1): `(-1)^(r >> 63) · (1 + (r & 0xFFFFFFFF) · 2^-32) · 2^e`, with
///      `e = e0 + ((r >> 32) & 0x7FFFFFFF) mod (e1 - e0 + 1)`, r = r(i)
///    - specials(lo, hi, p_nan, p_inf): uniform(lo, hi) from r(i); then with
///      `u = (s(i) >> 11) · 2^-53` from the stream of key `mix64(key ^ 0x5350454349414C53)`,
///      NaN if u < p_nan, else +Inf if u < p_nan + p_inf
///    - cancelling(std): see `GemmInputs` (it needs the operand's role and shape)
///    - dominant_first(first, lo, hi): `lo + 2·(r(i) mod ((hi - lo)/2 + 1))`, and `first` at k = 0
///      (set by `GemmInputs`, which knows where k is)
public struct DataGenerator: Sendable {
    public let seed: UInt64

    public init(seed: UInt64) { self.seed = seed }

    static let gamma: UInt64 = 0x9E37_79B9_7F4A_7C15
    /// "SPECIALS" in ASCII: separates the specials decision stream from the values.
    static let specialsSalt: UInt64 = 0x5350_4543_4941_4C53

    /// SplitMix64's output function.
    @inline(__always)
    public static func mix64(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// FNV-1a, 64-bit, over the UTF-8 bytes of `text`.
    public static func fnv1a64(_ text: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in text.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        return h
    }

    /// The key of one operand's stream.
    public func key(caseId: String, operand: String) -> UInt64 {
        Self.mix64(seed ^ Self.fnv1a64(caseId + "/" + operand))
    }

    /// Raw 64-bit value `j` of the stream with `key`.
    @inline(__always)
    public static func raw(key: UInt64, _ j: Int) -> UInt64 {
        mix64(key &+ UInt64(j + 1) &* gamma)
    }

    /// Element `i` of a pattern in binary64, before rounding to the operand's type.
    @inline(__always)
    public static func value(_ pattern: DataPattern, key: UInt64, index i: Int) -> Double {
        switch pattern {
        case let .uniform(low, high):
            let u = Double(raw(key: key, i) >> 11) * 0x1p-53
            return low + (high - low) * u
        case let .normal(mean, std):
            return mean + std * normal(key: key, index: i)
        case let .integer(low, high):
            let span = UInt64(high - low) + 1
            return Double(low + Int(raw(key: key, i) % span))
        case let .constant(v):
            return v
        case let .logUniform(e0, e1):
            let r = raw(key: key, i)
            let e = e0 + Int(((r >> 32) & 0x7FFF_FFFF) % UInt64(e1 - e0 + 1))
            let significand = 1 + Double(r & 0xFFFF_FFFF) * 0x1p-32
            let magnitude = Double(sign: .plus, exponent: e, significand: significand)
            return r >> 63 == 1 ? -magnitude : magnitude
        case let .specials(low, high, nanRate, infRate):
            let u = Double(raw(key: mix64(key ^ specialsSalt), i) >> 11) * 0x1p-53
            if u < nanRate { return .nan }
            if u < nanRate + infRate { return .infinity }
            return value(.uniform(low: low, high: high), key: key, index: i)
        case let .cancelling(std):
            return value(.normal(mean: 0, std: std), key: key, index: i)
        case let .dominantFirst(_, low, high):
            let span = UInt64((high - low) / 2) + 1
            return Double(low + 2 * Int(raw(key: key, i) % span))
        }
    }

    /// The standard normal draw of element `i` (Irwin–Hall over twelve 16-bit pieces).
    @inline(__always)
    static func normal(key: UInt64, index i: Int) -> Double {
        var s: UInt64 = 0
        for j in 0..<3 {
            let r = raw(key: key, 3 * i + j)
            // The four 16-bit pieces summed two at a time in 32-bit lanes, then the lanes.
            let pairs = (r & 0x0000_FFFF_0000_FFFF) + ((r >> 16) & 0x0000_FFFF_0000_FFFF)
            s += (pairs & 0xFFFF_FFFF) + (pairs >> 32)
        }
        return (Double(2 * s) - 786_420) / 131_072
    }

    /// A tensor of `type` and `shape` filled from the operand's stream, rounded to nearest-even
    /// with saturation. Elements are encoded straight into the tensor's storage, slices of them
    /// by the cores (each element depends on its index alone): no binary64 copy of the whole
    /// tensor, which for a mixture-of-experts layer's 117 M weights was 0.9 GB.
    public func tensor(caseId: String, operand: String, pattern: DataPattern, type: NumberType, shape: [Int]) -> Tensor {
        let key = key(caseId: caseId, operand: operand)
        let count = shape.reduce(1, *), width = type.byteWidth
        let storage = [UInt8](unsafeUninitializedCapacity: count * width) { out, initialized in
            let target = Storage(raw: UnsafeMutableRawBufferPointer(out))
            let slices = count >= 1 << 16 ? 64 : 1
            DispatchQueue.concurrentPerform(iterations: slices) { s in
                Self.fill((s * count / slices)..<((s + 1) * count / slices), of: type, pattern: pattern, key: key, into: target.raw)
            }
            initialized = count * width
        }
        return Tensor(type: type, shape: shape, storage: storage)
    }

    /// Elements `range` of a tensor encoded into its storage: the type's encoder and element width
    /// chosen once, outside the loop (per element, `NumberType.encode` looked them up again).
    static func fill(_ range: Range<Int>, of type: NumberType, pattern: DataPattern, key: UInt64, into raw: UnsafeMutableRawBufferPointer) {
        @inline(__always) func each<T: FixedWidthInteger>(_: T.Type, _ encode: (Double) -> UInt32) {
            @inline(__always) func loop(_ element: (Int) -> Double) {
                for i in range {
                    raw.storeBytes(of: T(truncatingIfNeeded: encode(element(i))).littleEndian, toByteOffset: i * MemoryLayout<T>.size, as: T.self)
                }
            }
            // The common patterns with their parameters taken out of the loop; the rest per element.
            switch pattern {
            case let .normal(mean, std): loop { mean + std * normal(key: key, index: $0) }
            case let .uniform(low, high): loop { low + (high - low) * (Double(Self.raw(key: key, $0) >> 11) * 0x1p-53) }
            default: loop { value(pattern, key: key, index: $0) }
            }
        }
        switch type {
        case .fp32: each(UInt32.self) { type.encode($0, overflow: .saturate) }
        case .fp16, .bf16:
            let format = type.floatFormat!
            each(UInt16.self) { format.encode($0, overflow: .saturate) }
        case .fp8_e4m3, .fp8_e5m2, .fp6_e2m3, .fp6_e3m2, .fp4_e2m1:
            let format = type.floatFormat!
            each(UInt8.self) { format.encode($0, overflow: .saturate) }
        case .int8, .int4, .uint4: each(UInt8.self) { type.encode($0, overflow: .saturate) }
        case .int32: each(UInt32.self) { type.encode($0, overflow: .saturate) }
        }
    }

    /// A storage buffer whose disjoint slices the threads fill.
    private struct Storage: @unchecked Sendable { let raw: UnsafeMutableRawBufferPointer }
}
