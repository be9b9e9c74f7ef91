import Dispatch
import SystolicNumerics
import SystolicSuite

/// Integer elements under block scales: int4 weights (below) and MXINT8 (the second extension).
///
/// The operands of an int4-weight GEMM (docs/formats.md, "int4 weights"): W4A16 (A bf16 or fp16)
/// and W4A8 (A int8 with one fp32 scale per row).
///
/// B's unquantised values are drawn as for any GEMM (stream "b", the case's pattern, rounded to
/// fp32) and quantised down each column in groups of g along K by `Int4GroupQuantizer`: one scale
/// per group in the case's scale type (fp16 or bf16), travelling as its fp32 value (exact), and,
/// with zero points, one uint4 zero point per group. B's codes are int4 (two's complement) or,
/// with zero points, uint4. A: W4A16 draws it in its own type (stream "a"); W4A8 draws it in fp32
/// and quantises each row symmetrically: s = fp32(amax / 127) (1 for an all-zero row),
/// q = clamp(round-half-even(x / s), −127, 127), its scale repeated in every group of the row (the
/// block grid [batch, M, K/g] any block scale uses).
///
/// The value of the GEMM: C[m, n] = Σ_groups sa[m]·sb[g, n]·Σ_{k in g} a[m, k]·(q[k, n] − z[g, n]).
extension GemmInputs {
    static func int4Weights(_ g: GemmCase, _ int4: GemmCase.BlockFormat.Int4Weights, caseId: String, generator: DataGenerator) -> GemmInputs {
        let bShape = g.layoutB == .kn ? [g.batch, g.k, g.n] : [g.batch, g.n, g.k]
        let unquantisedB = generator.tensor(caseId: caseId, operand: "b", pattern: g.dataB, type: .fp32, shape: bShape)
        let quantiser = Int4GroupQuantizer(groupSize: int4.group, scaleType: int4.scaleType, zeroPoint: int4.zeroPoint)
        let groups = g.k / int4.group
        var codes = [UInt8](repeating: 0, count: unquantisedB.count)
        var scales = [Double](repeating: 0, count: g.batch * groups * g.n)
        var zeros = [UInt8](repeating: 0, count: int4.zeroPoint ? scales.count : 0)
        var values = [Double](repeating: 0, count: int4.group)
        for matrix in 0..<g.batch {
            for j in 0..<g.n {
                for t in 0..<groups {
                    func index(_ i: Int) -> Int {
                        let k = t * int4.group + i
                        return g.layoutB == .kn ? (matrix * g.k + k) * g.n + j : (matrix * g.n + j) * g.k + k
                    }
                    for i in 0..<int4.group { values[i] = unquantisedB.value(at: index(i)) }
                    let q = quantiser.quantize(values[...])
                    let at = (matrix * groups + t) * g.n + j
                    scales[at] = int4.scaleType.decode(q.scale)
                    if int4.zeroPoint { zeros[at] = UInt8(q.zero) }
                    for i in 0..<int4.group { codes[index(i)] = UInt8(q.values[i] & 0x0F) }
                }
            }
        }
        let b = Tensor(type: g.types.b, shape: bShape, storage: codes)
        var blockScales = BlockScaleInputs(g, a: nil, b: Tensor(type: .fp32, shape: [g.batch, groups, g.n], values: scales, overflow: .ieee))!
        if int4.zeroPoint { blockScales.zeroB = Tensor(type: .uint4, shape: [g.batch, groups, g.n], storage: zeros) }
        guard g.types.a == .int8 else {
            let a = generator.tensor(caseId: caseId, operand: "a", pattern: g.dataA, type: g.types.a, shape: [g.batch, g.m, g.k])
            return GemmInputs(a: a, b: b, blockScales: blockScales)
        }
        let unquantisedA = generator.tensor(caseId: caseId, operand: "a", pattern: g.dataA, type: .fp32, shape: [g.batch, g.m, g.k])
        var a = Tensor(type: .int8, shape: [g.batch, g.m, g.k])
        var scalesA = [Double](repeating: 0, count: g.batch * g.m * groups)
        for row in 0..<(g.batch * g.m) {
            var amax = 0.0
            for k in 0..<g.k { amax = max(amax, unquantisedA.value(at: row * g.k + k).magnitude) }
            let s = amax > 0 ? Double(Float(amax / 127)) : 1
            for k in 0..<g.k {
                let q = min(max((unquantisedA.value(at: row * g.k + k) / s).rounded(.toNearestOrEven), -127), 127)
                a.setBits(UInt32(UInt8(bitPattern: Int8(q))), at: row * g.k + k)
            }
            for t in 0..<groups { scalesA[row * groups + t] = s }
        }
        blockScales.a = Tensor(type: .fp32, shape: [g.batch, g.m, groups], values: scalesA, overflow: .ieee)
        return GemmInputs(a: a, b: b, blockScales: blockScales)
    }

    /// How a datapath reads int4 and uint4 nibbles: as declared (bit 3 the sign of int4, none
    /// for uint4), or the other way (the fault `int4-sign-extension`).
    public enum NibbleReading: Sendable { case declared, otherSignedness }

    /// An int4-weight case as the block-scaled GEMM it is, for every arithmetic to start from
    /// (the emulator's, the check's, the reference adapter's): B's elements minus their group's
    /// zero point, A's values, and the same block scales, in types that hold them exactly. A bf16
    /// or fp16 A stays as it is and the case names B's q − z (in −15…15) in A's type; an int8 A and B's
    /// q − z become fp32, where every group's sum of at most 128 products of magnitude at most
    /// 128·15 is an integer below 2²⁴, so it is exact in fp32 as in an int32 accumulator. nil
    /// for a case without int4 weights. (B's values are held as fp32 whatever the case's B type.)
    public func widenedInt4(_ g: GemmCase, reading: NibbleReading = .declared) -> (gemm: GemmCase, inputs: GemmInputs)? {
        guard g.blockFormat?.scheme == .int4, let scales = blockScales, b.type.isNibble else { return nil }
        let wideType: NumberType = a.type == .int8 ? .fp32 : a.type
        let groups = g.k / scales.group, group = scales.group
        // fp32 bits of q − z for every zero point z and nibble as read (at 16·z + nibble): one
        // lookup per element. B's values travel in fp32 storage whatever the case's B type (the
        // values are the same; the kernels then read them without a second conversion).
        let signed = (b.type == .int4) == (reading == .declared)
        let table = (0..<256).map { i -> UInt32 in
            let nibble = i % 16, q = signed && nibble >= 8 ? nibble - 16 : nibble
            return Float(q - i / 16).bitPattern
        }
        // Zero points come with the format that declares them (data generation makes them; an
        // adapter's side refuses a request without them): reading none as zeros would be wrong.
        precondition((g.blockFormat?.int4?.zeroPoint == true) == (scales.zeroB != nil), "int4 zero points present exactly when declared")
        let zeros = scales.zeroB?.storage ?? [UInt8](repeating: 0, count: b.shape[0] * groups * g.n)
        let (rows, cols) = (b.shape[1], b.shape[2])
        let lines = b.shape[0] * rows, layoutKN = g.layoutB == .kn, n = g.n
        let storage = [UInt8](unsafeUninitializedCapacity: b.count * 4) { out, initialized in
            b.storage.withUnsafeBufferPointer { codes in
                zeros.withUnsafeBufferPointer { zeros in
                    table.withUnsafeBufferPointer { table in
                        let shared = WideningPointers(out: UnsafeMutableRawPointer(out.baseAddress!).assumingMemoryBound(to: UInt32.self),
                                                      codes: codes.baseAddress!, zeros: zeros.baseAddress!, table: table.baseAddress!)
                        // One stored line of B (a row of [K, N], or of [N, K]) per work item.
                        DispatchQueue.concurrentPerform(iterations: lines) { line in
                            let (matrix, row) = (line / rows, line % rows)
                            let (code, wide) = (shared.codes + line * cols, shared.out + line * cols)
                            if layoutKN {
                                let z = shared.zeros + (matrix * groups + row / group) * n
                                for column in 0..<cols { wide[column] = shared.table[Int(z[column]) << 4 | Int(code[column] & 0x0F)].littleEndian }
                            } else {
                                let z = shared.zeros + matrix * groups * n + row
                                for column in 0..<cols { wide[column] = shared.table[Int(z[(column / group) * n]) << 4 | Int(code[column] & 0x0F)].littleEndian }
                            }
                        }
                    }
                }
            }
            initialized = b.count * 4
        }
        var wide = g
        wide.types = GemmCase.Types(a: wideType, b: wideType, accumulate: .fp32, output: g.types.output)
        wide.blockFormat = nil
        var out = self
        if a.type == .int8 { out.a = Self.fp32(int8: a) }
        out.b = Tensor(type: .fp32, shape: b.shape, storage: storage)
        out.blockScales?.zeroB = nil
        return (wide, out)
    }
}

extension GemmInputs {
    /// An int8 tensor's values as fp32 (exact), one table lookup per element.
    static func fp32(int8 t: Tensor) -> Tensor {
        let table = (0..<256).map { Float(Int8(truncatingIfNeeded: $0)).bitPattern }
        var storage = [UInt8](repeating: 0, count: 4 * t.count)
        storage.withUnsafeMutableBytes { raw in
            for (i, code) in t.storage.enumerated() { raw.storeBytes(of: table[Int(code)].littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
        }
        return Tensor(type: .fp32, shape: t.shape, storage: storage)
    }
}

/// Raw pointers for the threads widening B, each writing its own lines.
private struct WideningPointers: @unchecked Sendable {
    let out: UnsafeMutablePointer<UInt32>
    let codes: UnsafePointer<UInt8>
    let zeros: UnsafePointer<UInt8>
    let table: UnsafePointer<UInt32>
}

/// MXINT8 (OCP MX v1.0, 5.4: an int8 element k stands for k/64, times its block's E8M0 scale).
extension GemmInputs {
    /// Integer elements under block scales, int4 weights or MXINT8, as the block-scaled fp32 or
    /// A-typed GEMM they are: what the emulator, the check and the reference adapter compute.
    /// `reading` and `mxint8AsInteger` are the faults that live in reading them.
    public func widenedIntegerElements(_ g: GemmCase, reading: NibbleReading = .declared, mxint8AsInteger: Bool = false)
        -> (gemm: GemmCase, inputs: GemmInputs)? {
        widenedInt4(g, reading: reading) ?? widenedMXINT8(g, asInteger: mxint8AsInteger)
    }

    /// An MXINT8 case as the block-scaled fp32 GEMM of the integer codes k under the scales
    /// sa·2⁻⁶ and sb·2⁻⁶: every code is exact in fp32; a block's sum of 32 products of magnitude
    /// at most 128² is an integer below 2²⁴, so exact; and scaling an E8M0 scale by 2⁻⁶ is exact
    /// (2⁻¹³³ at the least, an fp32 subnormal; NaN stays NaN). So the sums are the definition's,
    /// Σ_blocks sa·sb·Σ (ka/64)(kb/64), with the roundings of any block-scaled GEMM. With
    /// `asInteger` (the fault `mxint8-as-integer`) the scales are left as they are: the elements
    /// read as integers, 4096 times too large. nil for any other case.
    public func widenedMXINT8(_ g: GemmCase, asInteger: Bool = false) -> (gemm: GemmCase, inputs: GemmInputs)? {
        guard g.isMXINT8, a.type == .int8, b.type == .int8, var scales = blockScales else { return nil }
        func fractional(_ t: Tensor?) -> Tensor? {
            guard let t, !asInteger else { return t }
            return Tensor(type: .fp32, shape: t.shape, values: (0..<t.count).map { t.value(at: $0) * 0x1p-6 }, overflow: .ieee)
        }
        scales.a = fractional(scales.a)
        scales.b = fractional(scales.b)
        var wide = g
        wide.types = GemmCase.Types(a: .fp32, b: .fp32, accumulate: .fp32, output: g.types.output)
        wide.blockFormat = nil
        var out = self
        out.a = Self.fp32(int8: a)
        out.b = Self.fp32(int8: b)
        out.blockScales = scales
        return (wide, out)
    }
}
