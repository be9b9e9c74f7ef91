import Dispatch
import SystolicNumerics
import SystolicSuite

/// The operands of a block-scaled GEMM (MX or NVFP4; docs/formats.md, "Block-scaled GEMMs").
///
/// Unquantised values are drawn as for any GEMM (streams "a" and "b", the case's patterns),
/// rounded to fp32 (or, for an A the device quantises, to the type it travels in), then quantised
/// along K: A's rows and B's columns in blocks of the scheme's size, each block's scale chosen by
/// the rounding in force (`BlockFormat.harnessRounding`, or the device's declared one for its A).
/// The elements become codes of the case's `a` and `b` types (one per byte); the scales fp32
/// values (every E8M0 and E4M3 value is exact in fp32), A's [batch, M, K/block] and B's
/// [matrices, K/block, N] as `BlockScaleInputs` holds them. An NVFP4 operand also has its fp32
/// tensor scale, from the amax of the whole operand (all its matrices).
extension GemmInputs {
    static func blockScaled(_ g: GemmCase, _ format: GemmCase.BlockFormat, caseId: String, generator: DataGenerator) -> GemmInputs {
        let bMatrices = g.groups?.count ?? g.batch
        let bShape = g.layoutB == .kn ? [bMatrices, g.k, g.n] : [bMatrices, g.n, g.k]
        let b = generator.tensor(caseId: caseId, operand: "b", pattern: g.dataB, type: .fp32, shape: bShape)
        let a = generator.tensor(caseId: caseId, operand: "a", pattern: g.dataA, type: format.activationSource ?? .fp32, shape: [g.batch, g.m, g.k])
        return blockScaled(g, unquantisedA: a, unquantisedB: b)
    }

    /// A block-scaled case's operands from given unquantised values: B (fp32, in its stored
    /// layout) quantised by the harness's rounding, A likewise, or, where the device quantises it
    /// (`a_from`), kept as given (in that type). For probes that place their values by hand (the
    /// fingerprint's scale-rounding probes).
    public static func blockScaled(_ g: GemmCase, unquantisedA: Tensor, unquantisedB: Tensor) -> GemmInputs {
        guard let format = g.blockFormat else { preconditionFailure("blockScaled takes a block-format case") }
        let bMatrices = g.groups?.count ?? g.batch
        let b = BlockQuantisedOperand(unquantisedB, type: g.types.b, format: format, rounding: format.harnessRounding, alongRows: g.layoutB == .nk,
                                      matrices: bMatrices, rows: g.layoutB == .kn ? g.k : g.n, cols: g.layoutB == .kn ? g.n : g.k)
        var scales = BlockScaleInputs(g, a: nil, b: b.scalesOfB(n: g.n, matrices: bMatrices), tensorA: 1, tensorB: b.tensorScale)!
        if format.activationSource != nil { return GemmInputs(a: unquantisedA, b: b.elements, blockScales: scales) }
        let a = BlockQuantisedOperand(unquantisedA, type: g.types.a, format: format, rounding: format.harnessRounding, alongRows: true,
                                      matrices: g.batch, rows: g.m, cols: g.k)
        scales.a = a.scalesOfA(m: g.m, matrices: g.batch)
        scales.tensorA = a.tensorScale
        return GemmInputs(a: a.elements, b: b.elements, blockScales: scales)
    }

    /// A and B of an MX or NVFP4 case dequantised to fp32 (each element times its block's scale),
    /// where a plain fp32 GEMM over them, summed in K-tiles of one block, gives the block-scaled
    /// sum bit for bit: nil otherwise (A not yet quantised, a scale not finite or outside
    /// [2⁻⁴⁰, 2⁴⁰]). Why it is the same: every element times its scale is exact in fp32 (at most
    /// 4 significant bits times a power of two, or an E4M3 value, far from fp32's limits); for
    /// MX, scaling by the power of two s = sa·sb commutes with every fp32 rounding of a block's
    /// fused chain, because each partial sum is 0 or at least the smallest product's quantum
    /// (2⁻³²) and at most 32·57344² unscaled, so scaled by s in [2⁻⁸⁰, 2⁸⁰] it stays in fp32's
    /// normal range; for NVFP4 every product and partial sum is exact both ways (E2M1 sums are
    /// multiples of 1/4 below 2¹¹, times an 8-bit s). The block-scaled path's p·s is then the
    /// scaled chain's block result, and its running fp32 sum of them is the K-tiles' sum.
    public func dequantisedBlockFormat(_ g: GemmCase) -> GemmInputs? {
        guard let format = g.blockFormat, format.scheme != .int4, !g.isMXINT8, !awaitsQuantisedA(g), let scales = blockScales, let sa = scales.a, let sb = scales.b,
              a.type.byteWidth == 1, b.type.byteWidth == 1 else { return nil }
        // Scales as stored (A's [batch, M, K/block], B's [matrices, K/block, N]) and every element
        // code's value, each read once.
        let scaleA = (0..<sa.count).map { Float(sa.value(at: $0)) }, scaleB = (0..<sb.count).map { Float(sb.value(at: $0)) }
        guard (scaleA + scaleB).allSatisfy({ $0 >= 0x1p-40 && $0 <= 0x1p40 }) else { return nil }
        let valueA = (0..<256).map { Float(a.type.decode(UInt32($0))) }, valueB = (0..<256).map { Float(b.type.decode(UInt32($0))) }
        let group = scales.group, blocks = g.k / group
        // Written straight into fp32 tensors' storage, one stored row per work item: a row of A
        // (its scales along it), a row of a [K, N] B (one row of scales across it) or of an [N, K]
        // B (its column's scales along it).
        func dequantised(_ t: Tensor, rows: Int, _ fill: @escaping @Sendable (_ row: Int, _ codes: UnsafePointer<UInt8>, _ out: UnsafeMutablePointer<Float>) -> Void) -> Tensor {
            let length = t.count / max(rows, 1)
            let storage = [UInt8](unsafeUninitializedCapacity: 4 * t.count) { out, initialized in
                let destination = RowPointers(out: UnsafeMutableRawPointer(out.baseAddress!).assumingMemoryBound(to: Float.self))
                t.storage.withUnsafeBufferPointer { codes in
                    let source = RowPointers.Codes(base: codes.baseAddress!)
                    DispatchQueue.concurrentPerform(iterations: rows) { row in
                        fill(row, source.base + row * length, destination.out + row * length)
                    }
                }
                initialized = 4 * t.count
            }
            return Tensor(type: .fp32, shape: t.shape, storage: storage)
        }
        let (k, n) = (g.k, g.n)
        let scaledA = dequantised(a, rows: g.batch * g.m) { row, codes, out in
            for t in 0..<blocks {
                let s = scaleA[row * blocks + t]
                for x in (t * group)..<((t + 1) * group) { out[x] = valueA[Int(codes[x])] * s }
            }
        }
        let scaledB: Tensor
        if g.layoutB == .kn {
            scaledB = dequantised(b, rows: b.shape[0] * k) { row, codes, out in
                let first = ((row / k) * blocks + (row % k) / group) * n
                for j in 0..<n { out[j] = valueB[Int(codes[j])] * scaleB[first + j] }
            }
        } else {
            scaledB = dequantised(b, rows: b.shape[0] * n) { row, codes, out in
                let (matrix, j) = (row / n, row % n)
                for t in 0..<blocks {
                    let s = scaleB[(matrix * blocks + t) * n + j]
                    for x in (t * group)..<((t + 1) * group) { out[x] = valueB[Int(codes[x])] * s }
                }
            }
        }
        return GemmInputs(a: scaledA, b: scaledB)
    }

    /// The plain fp32 GEMM `dequantisedBlockFormat`'s operands are multiplied as.
    public static func dequantisedCase(_ g: GemmCase) -> GemmCase {
        var plain = g
        plain.types = GemmCase.Types(a: .fp32, b: .fp32, accumulate: .fp32, output: g.types.output)
        plain.scales = GemmCase.Scales()
        plain.blockFormat = nil
        return plain
    }

    /// True when A still has to be quantised (the device's part of a case whose `a_from` is set).
    public func awaitsQuantisedA(_ g: GemmCase) -> Bool {
        g.blockFormat?.activationSource != nil && a.type != g.types.a
    }

    /// These inputs with A quantised as a device declaring `rounding` does it: what the emulator
    /// runs and what the check judges a case whose device quantises A (`a_from`). Unchanged
    /// when A is already quantised.
    public func quantisingA(_ g: GemmCase, rounding: ScaleRoundings) -> GemmInputs {
        guard let format = g.blockFormat, awaitsQuantisedA(g), var scales = blockScales else { return self }
        let q = BlockQuantisedOperand(a, type: g.types.a, format: format, rounding: rounding, alongRows: true, matrices: g.batch, rows: g.m, cols: g.k)
        scales.a = q.scalesOfA(m: g.m, matrices: g.batch)
        scales.tensorA = q.tensorScale
        var out = self
        out.a = q.elements
        out.blockScales = scales
        return out
    }
}

/// Raw pointers handed to worker threads, each writing its own lines.
private struct RowPointers: @unchecked Sendable {
    let out: UnsafeMutablePointer<Float>
    struct Codes: @unchecked Sendable { let base: UnsafePointer<UInt8> }
}

/// One operand quantised block by block along K.
struct BlockQuantisedOperand {
    /// Element codes in the operand's stored layout.
    let elements: Tensor
    /// Scale values, block after block along each stored line (a row of A, a column or row of B).
    let lineScales: [Double]
    let blocksPerLine: Int
    let tensorScale: Double

    /// `values` [matrices, rows, cols] quantised in blocks along its rows (`alongRows`: K is the
    /// last dimension) or down its columns (K is the middle one).
    init(_ values: Tensor, type: NumberType, format: GemmCase.BlockFormat, rounding: ScaleRoundings, alongRows: Bool,
         matrices: Int, rows: Int, cols: Int) {
        let size = format.blockSize
        let k = alongRows ? cols : rows
        let lines = matrices * (alongRows ? rows : cols)
        blocksPerLine = k / size
        var codes = [UInt8](repeating: 0, count: matrices * rows * cols)
        var scales = [Double](repeating: 0, count: lines * blocksPerLine)
        /// The storage index of element `t` along K of line `line`.
        func index(_ line: Int, _ t: Int) -> Int {
            if alongRows { return line * cols + t }
            let matrix = line / cols, column = line % cols
            return (matrix * rows + t) * cols + column
        }
        // Values are read from the tensor where they are used: no decoded copy of the operand.
        var nvfp4: NVFP4Quantizer?
        if format.scheme == .nvfp4 {
            var amax = 0.0
            for i in 0..<values.count {
                let v = values.value(at: i)
                if v.isFinite { amax = max(amax, v.magnitude) }
            }
            nvfp4 = NVFP4Quantizer(rounding: rounding.nvfp4, tensorAmax: amax)
        }
        // An MX operand of type int8 is MXINT8 (its elements k/64: `MXElement.int8`).
        let mx = (type == .int8 ? MXElement.int8 : MXElement(type)).map { MXQuantizer(element: $0, rounding: rounding.mx, blockSize: size) }
        var block = [Double](repeating: 0, count: size)
        for line in 0..<lines {
            for t in 0..<blocksPerLine {
                for i in 0..<size { block[i] = values.value(at: index(line, t * size + i)) }
                let scale: Double, elements: [UInt32]
                if let nvfp4 {
                    let q = nvfp4.quantize(block[...])
                    scale = FloatFormat.e4m3fn.decode(q.scale)
                    elements = q.elements
                } else {
                    let q = mx!.quantize(block[...])
                    scale = ScaleE8M0.decode(q.scale)
                    elements = q.elements
                }
                scales[line * blocksPerLine + t] = scale
                for i in 0..<size { codes[index(line, t * size + i)] = UInt8(elements[i]) }
            }
        }
        elements = Tensor(type: type, shape: values.shape, storage: codes)
        lineScales = scales
        tensorScale = nvfp4.map { Double($0.tensorScale) } ?? 1
    }

    /// The scales as `BlockScaleInputs` holds them. For A (lines are its rows): [matrices, M,
    /// K/block], the order they were made in. For B (lines are its columns j of matrix e, line
    /// e·N + j, whether B is stored [K, N] or [N, K]): [matrices, K/block, N].
    func scalesOfA(m: Int, matrices: Int) -> Tensor {
        Tensor(type: .fp32, shape: [matrices, m, blocksPerLine], values: lineScales, overflow: .ieee)
    }

    func scalesOfB(n: Int, matrices: Int) -> Tensor {
        var out = [Double](repeating: 0, count: lineScales.count)
        for line in 0..<(matrices * n) {
            let matrix = line / n, j = line % n
            for t in 0..<blocksPerLine { out[(matrix * blocksPerLine + t) * n + j] = lineScales[line * blocksPerLine + t] }
        }
        return Tensor(type: .fp32, shape: [matrices, blocksPerLine, n], values: out, overflow: .ieee)
    }
}
