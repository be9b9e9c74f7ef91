/// Block-scaled quantisation: how unquantised values become MX, NVFP4 and int4-group tensors
/// (docs/formats.md). Data generation produces the unquantised values and quantises them with
/// these schemes, so suites exercise real scale choices; the scale rounding is a declared choice
/// because implementations differ.

/// How an MX block's E8M0 scale is chosen from the block's largest magnitude amax. emax is the
/// exponent of the element format's largest normal value (E4M3 8, E5M2 15, E2M3 2, E3M2 4, E2M1 2,
/// MXINT8 0) and max its largest value.
public enum MXScaleRounding: String, CaseIterable, Sendable, Codable, Hashable {
    /// OCP Microscaling Formats v1.0, 6.3: X = 2^(⌊log₂ amax⌋ − emax). Elements above max
    /// saturate (an amax whose significand exceeds max's, like 500 for E4M3, is clamped).
    case floor
    /// Round the ratio up (cuBLAS, "Computing scaling and conversion factors for FP8 with UE8M0
    /// scales"; torchao's RCEIL): X = 2^⌈log₂(amax / max)⌉, the smallest power of two with
    /// amax / X ≤ max, so no element saturates.
    case rceil
    /// amax first rounded to the element's precision (nearest-even), then as `floor`
    /// (torchao's EVEN): X = 2^(⌊log₂ round(amax)⌋ − emax); an amax that rounds up into the next
    /// binade takes the larger scale.
    case even
}

/// An MX element type (OCP MX v1.0, 5.3 and 5.4): the five float formats, or MXINT8 (int8 as a
/// two's complement fixed-point number with six fraction bits: k/64).
public enum MXElement: String, CaseIterable, Sendable, Codable, Hashable {
    case e4m3, e5m2, e2m3, e3m2, e2m1, int8

    /// The element format a GEMM input type names (MXINT8 has no type of its own).
    public init?(_ type: NumberType) {
        switch type {
        case .fp8_e4m3: self = .e4m3
        case .fp8_e5m2: self = .e5m2
        case .fp6_e2m3: self = .e2m3
        case .fp6_e3m2: self = .e3m2
        case .fp4_e2m1: self = .e2m1
        default: return nil
        }
    }

    public var format: FloatFormat? {
        switch self {
        case .e4m3: return .e4m3fn
        case .e5m2: return .e5m2
        case .e2m3: return .e2m3
        case .e3m2: return .e3m2
        case .e2m1: return .e2m1
        case .int8: return nil
        }
    }

    /// The largest finite element value.
    public var maxValue: Double { format?.maxFinite ?? 127.0 / 64 }

    /// emax: the exponent of the largest normal value (OCP MX v1.0, Table 1).
    public var emax: Int { format.map { FloatFormat.binade($0.maxFinite) } ?? 0 }

    /// The element's code for `value` (already divided by the scale): nearest-even, saturating to
    /// ±max (OCP MX v1.0, 6.3: "clamped to the largest normal"). For MXINT8 the two's complement
    /// byte of round(64·value) clamped to −127…127 (−128 is not used: the format is symmetric).
    public func encode(_ value: Double) -> UInt32 {
        if let format { return format.encode(value, overflow: .saturate) }
        let k = Swift.min(Swift.max((value * 64).rounded(.toNearestOrEven), -127), 127)
        return UInt32(UInt8(bitPattern: Int8(k)))
    }

    /// The element's value (before the scale).
    public func decode(_ code: UInt32) -> Double {
        if let format { return format.decode(code) }
        return Double(Int8(truncatingIfNeeded: code)) / 64
    }

    /// The value `value` rounds to in the element format (nearest-even, no saturation): for
    /// `MXScaleRounding.even`.
    func roundedMagnitude(_ value: Double) -> Double {
        guard let format else { return (value * 64).rounded(.toNearestOrEven) / 64 }
        let e = Swift.max(FloatFormat.binade(value), format.minExponent)
        let quantum = FloatFormat.power(e - format.mantissaBits)
        return (value / quantum).rounded(.toNearestOrEven) * quantum
    }
}

/// One quantised MX block: its E8M0 scale code and its elements' codes.
public struct MXBlock: Equatable, Sendable {
    public var scale: UInt8
    public var elements: [UInt32]
}

/// MX quantisation of blocks of (by default) 32 values along K (OCP MX v1.0, 6.3).
public struct MXQuantizer: Sendable, Hashable {
    public var element: MXElement
    public var rounding: MXScaleRounding
    public var blockSize: Int

    public init(element: MXElement, rounding: MXScaleRounding, blockSize: Int = 32) {
        self.element = element
        self.rounding = rounding
        self.blockSize = blockSize
    }

    /// The scale exponent for a block whose largest magnitude is `amax` (finite, positive),
    /// clamped to E8M0's −127…127.
    public func scaleExponent(amax: Double) -> Int {
        let e: Int
        switch rounding {
        case .floor: e = FloatFormat.binade(amax) - element.emax
        case .even:
            // amax brought into the element's top binade [2^emax, 2^(emax+1)), rounded there to
            // the element's precision: a carry into 2^(emax+1) moves the scale up one binade.
            let floor = FloatFormat.binade(amax) - element.emax
            let rounded = element.roundedMagnitude(amax * FloatFormat.power(-floor))
            e = floor + FloatFormat.binade(rounded) - element.emax
        case .rceil:
            // The smallest e with amax / 2^e ≤ max: start one binade low and step up (exact).
            var candidate = FloatFormat.binade(amax) - element.emax - 1
            while amax * FloatFormat.power(-candidate) > element.maxValue { candidate += 1 }
            e = candidate
        }
        return Swift.min(Swift.max(e, -127), 127)
    }

    /// One block quantised: a NaN or infinity anywhere gives the NaN scale (0xFF): the block's
    /// values are lost (OCP MX v1.0, 6.3: under a NaN scale the elements are ignored). The
    /// elements then hold what the finite values would have been given (a NaN or infinity as 0),
    /// not zeros: a device must ignore them, and one that reads 0xFF as a number shows it. An
    /// all-zero block takes the smallest scale, 2^−127, and zero elements.
    public func quantize(_ values: ArraySlice<Double>) -> MXBlock {
        precondition(values.count <= blockSize, "a block holds at most \(blockSize) values")
        if values.contains(where: { !$0.isFinite }) {
            let finite = quantize(ArraySlice(values.map { $0.isFinite ? $0 : 0 }))
            return MXBlock(scale: ScaleE8M0.nanCode, elements: finite.elements)
        }
        let amax = values.reduce(0.0) { Swift.max($0, $1.magnitude) }
        if amax == 0 { return MXBlock(scale: 0, elements: values.map { element.encode($0) }) }
        let e = scaleExponent(amax: amax)
        // Dividing by 2^e is exact unless a quotient falls below double's normals, far below
        // every element format's subnormals; two steps keep 2^−e finite for e = −127…127.
        let inverse = FloatFormat.power(-e)
        return MXBlock(scale: ScaleE8M0.encode(exponent: e)!, elements: values.map { element.encode($0 * inverse) })
    }

    /// A row of K values quantised in consecutive blocks (the last may be shorter).
    public func quantize(row: [Double]) -> [MXBlock] {
        stride(from: 0, to: row.count, by: blockSize).map { quantize(row[$0..<Swift.min($0 + blockSize, row.count)]) }
    }

    /// The value a quantised element stands for: scale × element (NaN under the NaN scale).
    public func value(_ block: MXBlock, _ index: Int) -> Double {
        ScaleE8M0.decode(block.scale) * element.decode(block.elements[index])
    }
}

/// How an NVFP4 block's E4M3 scale is rounded from its exact value.
public enum NVFP4ScaleRounding: String, CaseIterable, Sendable, Codable, Hashable {
    /// Nearest-even to E4M3 (NVIDIA Transformer Engine's NVFP4 recipe; the element of amax may
    /// then exceed 6 by up to half an E4M3 step and saturates).
    case nearest
    /// Up to the next E4M3 value, so no element saturates.
    case up
}

/// One quantised NVFP4 block: its E4M3 scale code and its E2M1 elements' codes.
public struct NVFP4Block: Equatable, Sendable {
    public var scale: UInt32
    public var elements: [UInt32]
}

/// NVFP4 (NVIDIA Blackwell): blocks of 16 E2M1 values, each block with an unsigned E4M3 scale,
/// and one fp32 scale for the whole tensor so that the block scales use E4M3's range: a value is
/// tensorScale × blockScale × element. The tensor scale is amax_tensor / (448 × 6) (NVIDIA,
/// "Introducing NVFP4 for efficient and accurate low-precision inference", 2025; Transformer
/// Engine's NVFP4 recipe), and a block's exact scale amax_block / (6 × tensorScale), rounded to
/// E4M3 as `rounding` says.
public struct NVFP4Quantizer: Sendable, Hashable {
    public static let blockSize = 16
    public var rounding: NVFP4ScaleRounding
    /// The fp32 tensor scale (decoding factor).
    public var tensorScale: Float

    public init(rounding: NVFP4ScaleRounding, tensorAmax: Double) {
        self.rounding = rounding
        let s = Float(tensorAmax / (448 * 6))
        tensorScale = s > 0 && s.isFinite ? s : 1
    }

    public func quantize(_ values: ArraySlice<Double>) -> NVFP4Block {
        precondition(values.count <= Self.blockSize, "an NVFP4 block holds at most 16 values")
        let e4m3 = FloatFormat.e4m3fn
        if values.contains(where: { !$0.isFinite }) {
            // E4M3's NaN scale; the elements as for MX (what the finite values give).
            let finite = quantize(ArraySlice(values.map { $0.isFinite ? $0 : 0 }))
            return NVFP4Block(scale: 0x7F, elements: finite.elements)
        }
        let amax = values.reduce(0.0) { Swift.max($0, $1.magnitude) }
        let exact = amax / (6 * Double(tensorScale))
        var code = e4m3.encode(exact, overflow: .saturate)
        if rounding == .up && e4m3.decode(code) < exact && code < e4m3.maxFiniteBits { code += 1 }
        let blockScale = e4m3.decode(code)
        let factor = Double(tensorScale) * blockScale
        let elements = values.map { factor > 0 ? FloatFormat.e2m1.encode($0 / factor, overflow: .saturate) : 0 }
        return NVFP4Block(scale: code, elements: elements)
    }

    public func value(_ block: NVFP4Block, _ index: Int) -> Double {
        Double(tensorScale) * FloatFormat.e4m3fn.decode(block.scale) * FloatFormat.e2m1.decode(block.elements[index])
    }
}

/// int4 weights quantised in groups of g values along K (g = 32, 64 or 128), as GPTQ- and
/// AWQ-style W4A16 and W4A8 checkpoints store them: a scale per group in fp16 or bf16 and, with a
/// zero point, unsigned nibbles. Symmetric: s = amax / 7, q = clamp(round(x / s), −8, 7), value
/// s·q. Asymmetric: s = (max − min) / 15, z = clamp(round(−min / s), 0, 15),
/// q = clamp(round(x / s) + z, 0, 15), value s·(q − z). Rounding is nearest-even throughout, and
/// the scale is rounded to its type before it divides.
public struct Int4GroupQuantizer: Sendable, Hashable {
    public var groupSize: Int
    public var scaleType: NumberType
    public var zeroPoint: Bool

    public init(groupSize: Int, scaleType: NumberType, zeroPoint: Bool) {
        precondition(scaleType == .fp16 || scaleType == .bf16, "int4 group scales are fp16 or bf16")
        self.groupSize = groupSize
        self.scaleType = scaleType
        self.zeroPoint = zeroPoint
    }

    public struct Group: Equatable, Sendable {
        /// The scale's bits in `scaleType`.
        public var scale: UInt32
        /// The zero point (0…15) with `zeroPoint`, else 0.
        public var zero: Int
        /// Signed −8…7, or unsigned 0…15 with a zero point.
        public var values: [Int]
    }

    public func quantize(_ values: ArraySlice<Double>) -> Group {
        precondition(values.count <= groupSize && values.allSatisfy(\.isFinite), "a group holds at most g finite values")
        let round = { (x: Double) in x.rounded(.toNearestOrEven) }
        if zeroPoint {
            let low = Swift.min(values.min() ?? 0, 0), high = Swift.max(values.max() ?? 0, 0)
            let bits = scaleType.encode(high > low ? (high - low) / 15 : 1, overflow: .saturate)
            let s = scaleType.decode(bits)
            let z = Int(Swift.min(Swift.max(round(-low / s), 0), 15))
            return Group(scale: bits, zero: z, values: values.map { Int(Swift.min(Swift.max(round($0 / s) + Double(z), 0), 15)) })
        }
        let amax = values.reduce(0.0) { Swift.max($0, $1.magnitude) }
        let bits = scaleType.encode(amax > 0 ? amax / 7 : 1, overflow: .saturate)
        let s = scaleType.decode(bits)
        return Group(scale: bits, zero: 0, values: values.map { Int(Swift.min(Swift.max(round($0 / s), -8), 7)) })
    }

    public func value(_ group: Group, _ index: Int) -> Double {
        scaleType.decode(group.scale) * Double(group.values[index] - group.zero)
    }
}

/// The scale roundings one quantiser uses, one per block-scaled scheme: what a device declares
/// for the operands it quantises itself (`scale_rounding` in its declared arithmetic), and what
/// the harness used for the operands it sends quantised. The defaults are the specifications'
/// own: the MX specification's floor, and NVFP4's nearest (Transformer Engine's recipe).
public struct ScaleRoundings: Sendable, Codable, Equatable, Hashable {
    public var mx: MXScaleRounding
    public var nvfp4: NVFP4ScaleRounding

    public init(mx: MXScaleRounding = .floor, nvfp4: NVFP4ScaleRounding = .nearest) {
        self.mx = mx
        self.nvfp4 = nvfp4
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        mx = try c.decodeIfPresent(MXScaleRounding.self, forKey: .mx) ?? .floor
        nvfp4 = try c.decodeIfPresent(NVFP4ScaleRounding.self, forKey: .nvfp4) ?? .nearest
    }

    /// The other choice for each scheme (rceil for floor or even, floor for rceil; up for
    /// nearest and back): a device rounding its scales so without declaring it is a fault.
    public var flipped: ScaleRoundings {
        ScaleRoundings(mx: mx == .rceil ? .floor : .rceil, nvfp4: nvfp4 == .up ? .nearest : .up)
    }
}
