import SystolicNumerics
import SystolicSuite

/// The input tensors of a GEMM case: A [batch, M, K] and B [batch, K, N] or [batch, N, K], each
/// stored in rows of its leading dimension when the case sets one (`GemmCase.storedShapeA`…).
public struct GemmInputs: Sendable {
    public var a: Tensor
    public var b: Tensor
    /// The epilogue's and the requantisation's parameters, when the case has them.
    public var epilogue: EpilogueInputs?
    /// fp32 block scales of A and B, when the case has them.
    public var blockScales: BlockScaleInputs?
    /// C's stored rows [batch, M, ldc] before the GEMM, when the case sets ldc: the device writes
    /// the M×N matrix into them and must leave every padding element as it was. When the case
    /// accumulates into C (`GemmCase.addend`), the addend [batch, M, N].
    public var c: Tensor?

    public init(a: Tensor, b: Tensor, epilogue: EpilogueInputs? = nil, blockScales: BlockScaleInputs? = nil, c: Tensor? = nil) {
        self.a = a; self.b = b; self.epilogue = epilogue; self.blockScales = blockScales; self.c = c
    }

    /// Generates both operands (streams "a" and "b") of `gemm` for case `caseId`.
    ///
    /// The `cancelling` pattern is defined on logical coordinates, with h = ⌊K/2⌋ and z(·) the
    /// normal(0, std) stream of the operand at the storage index of the element named:
    /// A[b,m,k] = z(A[b,m,k−h]) for h ≤ k < 2h, else z(A[b,m,k]);
    /// B[b,k,n] = −z(B[b,k−h,n]) + 2⁻¹⁰ · w(B[b,k,n]) for h ≤ k < 2h, else z(B[b,k,n]),
    /// where w is the normal(0, std) stream of operand "b/perturbation".
    ///
    /// Values are drawn at their packed (logical) index whatever the leading dimensions, so a case
    /// with padded rows holds the same matrices as without. Padding of A and B holds NaN (floating
    /// types) or integers uniform in [−128, 127] from stream "a/padding" or "b/padding" (int8), so
    /// a device that reads it goes wrong; C's initial rows hold values uniform in [−1, 1]
    /// (integers in [−128, 127]) from stream "c", so one that writes padding is seen.
    public init(_ gemm: GemmCase, caseId: String, generator: DataGenerator) {
        let bMatrices = gemm.groups?.count ?? gemm.batch
        let bShape = gemm.layoutB == .kn ? [bMatrices, gemm.k, gemm.n] : [bMatrices, gemm.n, gemm.k]
        if let format = gemm.blockFormat, let int4 = format.int4 {
            self = Self.int4Weights(gemm, int4, caseId: caseId, generator: generator)
            epilogue = EpilogueInputs(gemm, caseId: caseId, generator: generator)
            return
        }
        if let format = gemm.blockFormat {
            // Block-scaled operands: drawn unquantised and quantised by the scheme (packed rows,
            // no addend: the loader allows nothing else).
            self = Self.blockScaled(gemm, format, caseId: caseId, generator: generator)
            epilogue = EpilogueInputs(gemm, caseId: caseId, generator: generator)
            return
        }
        if case let .cancelling(stdA) = gemm.dataA, case let .cancelling(stdB) = gemm.dataB {
            self = Self.cancelling(gemm, stdA: stdA, stdB: stdB, caseId: caseId, generator: generator)
        } else {
            a = generator.tensor(caseId: caseId, operand: "a", pattern: gemm.dataA, type: gemm.types.a, shape: [gemm.batch, gemm.m, gemm.k])
            b = generator.tensor(caseId: caseId, operand: "b", pattern: gemm.dataB, type: gemm.types.b, shape: bShape)
            if case let .dominantFirst(first, _, _) = gemm.dataA {
                let bits = gemm.types.a.encode(first, overflow: .saturate)
                for row in 0..<(gemm.batch * gemm.m) where gemm.k > 0 { a.setBits(bits, at: row * gemm.k) }
            }
            if case let .dominantFirst(first, _, _) = gemm.dataB, gemm.k > 0 {
                let bits = gemm.types.b.encode(first, overflow: .saturate)
                for matrix in 0..<bMatrices {
                    for j in 0..<gemm.n { b.setBits(bits, at: gemm.layoutB == .kn ? matrix * gemm.k * gemm.n + j : (matrix * gemm.n + j) * gemm.k) }
                }
            }
        }
        if let addend = gemm.addend {
            // D = A·B + C: C [batch, M, N] from stream "c" (the addend; such a case has no ldc).
            c = generator.tensor(caseId: caseId, operand: "c", pattern: gemm.dataC, type: addend, shape: [gemm.batch, gemm.m, gemm.n])
        }
        epilogue = EpilogueInputs(gemm, caseId: caseId, generator: generator)
        blockScales = BlockScaleInputs(gemm, caseId: caseId, generator: generator)
        guard !gemm.leading.isPacked else { return }
        func background(_ operand: String, _ type: NumberType, _ shape: [Int], float: DataPattern) -> Tensor {
            generator.tensor(caseId: caseId, operand: operand, pattern: type.isInteger ? .integer(low: -128, high: 127) : float, type: type, shape: shape)
        }
        a = a.placedInRows(of: background("a/padding", gemm.types.a, gemm.storedShapeA, float: .constant(.nan)))
        b = b.placedInRows(of: background("b/padding", gemm.types.b, gemm.storedShapeB, float: .constant(.nan)))
        if gemm.leading.c != nil {
            c = background("c", gemm.types.output, gemm.storedShapeC, float: .uniform(low: -1, high: 1))
        }
    }

    /// The operands as packed matrices, read row by row at their leading dimensions: what the
    /// arithmetic works on. The same inputs when the case's rows are packed.
    public func packed(_ g: GemmCase) -> GemmInputs {
        guard !g.leading.isPacked else { return self }
        return GemmInputs(a: a.packedRows(length: g.k), b: b.packedRows(length: g.layoutB == .kn ? g.n : g.k), epilogue: epilogue,
                          blockScales: blockScales, c: g.addend != nil ? c : nil)
    }

    /// Packed operands restricted to K in [k0, k1): A [batch, M, k1 − k0] and B's matching rows
    /// (kn) or columns (nk); one quantisation group of a block-scaled GEMM.
    public func kSlice(_ k0: Int, _ k1: Int, _ g: GemmCase) -> GemmInputs {
        let sliceB = g.layoutB == .kn ? b.rows(k0, k1) : b.columns(k0, k1)
        return GemmInputs(a: a.columns(k0, k1), b: sliceB)
    }

    /// One expert of a grouped GEMM as a plain GEMM's inputs: its rows of A and its own B (and
    /// their block scales).
    public func expert(_ e: Int, firstRow: Int, rows: Int, _ g: GemmCase) -> GemmInputs {
        let aw = a.type.byteWidth, bw = b.type.byteWidth
        let aBytes = Array(a.storage[(firstRow * g.k * aw)..<((firstRow + rows) * g.k * aw)])
        let bBytes = Array(b.storage[(e * g.k * g.n * bw)..<((e + 1) * g.k * g.n * bw)])
        let bShape = g.layoutB == .kn ? [1, g.k, g.n] : [1, g.n, g.k]
        return GemmInputs(a: Tensor(type: a.type, shape: [1, rows, g.k], storage: aBytes), b: Tensor(type: b.type, shape: bShape, storage: bBytes),
                          blockScales: blockScales?.expert(e, firstRow: firstRow, rows: rows))
    }

    private static func cancelling(_ g: GemmCase, stdA: Double, stdB: Double, caseId: String, generator: DataGenerator) -> GemmInputs {
        let normal = DataPattern.normal(mean: 0, std: stdA)
        let normalB = DataPattern.normal(mean: 0, std: stdB)
        let h = g.k / 2
        let keyA = generator.key(caseId: caseId, operand: "a")
        let keyB = generator.key(caseId: caseId, operand: "b")
        let keyW = generator.key(caseId: caseId, operand: "b/perturbation")
        func bIndex(_ batch: Int, _ k: Int, _ n: Int) -> Int {
            g.layoutB == .kn ? (batch * g.k + k) * g.n + n : (batch * g.n + n) * g.k + k
        }
        var aValues = [Double](repeating: 0, count: g.batch * g.m * g.k)
        var bValues = [Double](repeating: 0, count: g.batch * g.k * g.n)
        for batch in 0..<g.batch {
            for m in 0..<g.m {
                for k in 0..<g.k {
                    let source = k >= h && k < 2 * h ? k - h : k
                    aValues[(batch * g.m + m) * g.k + k] = DataGenerator.value(normal, key: keyA, index: (batch * g.m + m) * g.k + source)
                }
            }
            for k in 0..<g.k {
                for n in 0..<g.n {
                    let index = bIndex(batch, k, n)
                    if k >= h && k < 2 * h {
                        let mirror = DataGenerator.value(normalB, key: keyB, index: bIndex(batch, k - h, n))
                        bValues[index] = -mirror + 0x1p-10 * DataGenerator.value(normalB, key: keyW, index: index)
                    } else {
                        bValues[index] = DataGenerator.value(normalB, key: keyB, index: index)
                    }
                }
            }
        }
        let bShape = g.layoutB == .kn ? [g.batch, g.k, g.n] : [g.batch, g.n, g.k]
        return GemmInputs(a: Tensor(type: g.types.a, shape: [g.batch, g.m, g.k], values: aValues, overflow: .saturate),
                          b: Tensor(type: g.types.b, shape: bShape, values: bValues, overflow: .saturate))
    }
}

/// The per-channel parameters of a GEMM's epilogue:
/// - `bias`: int32 [N] for int8 GEMMs (int32 accumulator), element n of stream "bias", uniform integers in [−2¹⁶, 2¹⁶];
///   fp32 [N], normal(0, 1), for floating-point GEMMs (when the case has a bias);
/// - `scale`: fp32 [C] (C = N per channel, else 1), uniform in [scale low, scale high] from stream "scale", rounded to fp32;
/// - `zeroPoint`: int32 [C], uniform integers in [zero point low, high] from stream "zero_point";
/// - `multiplier`, `shift`: int32 [C], `Requantizer.quantizeMultiplier` of each scale (fixed-point scheme).
public struct EpilogueInputs: Sendable {
    public var bias: Tensor?
    public var scale: Tensor?
    public var zeroPoint: Tensor?
    public var multiplier: Tensor?
    public var shift: Tensor?

    public init(bias: Tensor?, scale: Tensor?, zeroPoint: Tensor?, multiplier: Tensor?, shift: Tensor?) {
        self.bias = bias; self.scale = scale; self.zeroPoint = zeroPoint; self.multiplier = multiplier; self.shift = shift
    }

    init?(_ g: GemmCase, caseId: String, generator: DataGenerator) {
        guard g.bias || g.requantization != nil else { return nil }
        if g.types.accumulate == .int32 {
            bias = g.bias ? generator.tensor(caseId: caseId, operand: "bias", pattern: .integer(low: -(1 << 16), high: 1 << 16), type: .int32, shape: [g.n]) : nil
        } else {
            // A floating-point GEMM's bias: fp32 [N], normal(0, 1) from stream "bias".
            bias = generator.tensor(caseId: caseId, operand: "bias", pattern: .normal(mean: 0, std: 1), type: .fp32, shape: [g.n])
        }
        guard let r = g.requantization else { scale = nil; zeroPoint = nil; multiplier = nil; shift = nil; return }
        let channels = r.perChannel ? g.n : 1
        let scales = generator.tensor(caseId: caseId, operand: "scale", pattern: .uniform(low: r.scaleLow, high: r.scaleHigh.nextUp), type: .fp32,
                                      shape: [channels])
        scale = r.scaleLow == r.scaleHigh ? Tensor(type: .fp32, shape: [channels], values: [Double](repeating: r.scaleLow, count: channels), overflow: .saturate) : scales
        zeroPoint = generator.tensor(caseId: caseId, operand: "zero_point", pattern: .integer(low: r.zeroPointLow, high: r.zeroPointHigh),
                                     type: .int32, shape: [channels])
        if r.scheme == .fixedPoint {
            let pairs = (0..<channels).map { Requantizer.quantizeMultiplier(scale!.value(at: $0)) }
            multiplier = Tensor(type: .int32, shape: [channels], values: pairs.map { Double($0.multiplier) }, overflow: .saturate)
            shift = Tensor(type: .int32, shape: [channels], values: pairs.map { Double($0.shift) }, overflow: .saturate)
        } else {
            multiplier = nil; shift = nil
        }
    }

    /// The requantised int8 output of one int32 sum for output column `n`, by the case's scheme.
    public func requantize(_ acc: Int32, column n: Int, _ r: GemmCase.Requantization) -> Int8 {
        let c = r.perChannel ? n : 0
        let zp = Int32(truncatingIfNeeded: Int64(zeroPoint!.value(at: c)))
        switch r.scheme {
        case .fp32Scale: return Requantizer.fp32Scale(acc, scale: Float(scale!.value(at: c)), zeroPoint: zp)
        case .fixedPoint:
            return Requantizer.fixedPoint(acc, multiplier: Int32(multiplier!.value(at: c)), shift: Int32(shift!.value(at: c)), zeroPoint: zp)
        }
    }

    /// The requantised value of one sum before saturation, zero point included (what a wrapping
    /// datapath would truncate to 8 bits).
    public func unsaturated(_ acc: Int32, column n: Int, _ r: GemmCase.Requantization) -> Double {
        let c = r.perChannel ? n : 0
        let zp = zeroPoint!.value(at: c)
        switch r.scheme {
        case .fp32Scale: return Requantizer.fp32ScaleUnsaturated(acc, scale: Float(scale!.value(at: c))) + zp
        case .fixedPoint: return Requantizer.fixedPointUnsaturated(acc, multiplier: Int32(multiplier!.value(at: c)), shift: Int32(shift!.value(at: c))) + zp
        }
    }

    /// The int32 bias of column `n` (0 without a bias).
    public func biasValue(column n: Int) -> Int32 { bias.map { Int32($0.value(at: n)) } ?? 0 }
}
