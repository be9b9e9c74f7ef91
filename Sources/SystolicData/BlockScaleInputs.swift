import SystolicNumerics
import SystolicSuite

/// The fp32 block scales of a GEMM (docs/numerics.md, "int8 requantisation"): A's [batch, ⌈M/rows⌉, ⌈K/group⌉]
/// from stream "a/scale", B's [matrices, ⌈K/group⌉, ⌈N/cols⌉] from stream "b/scale" (in B's
/// logical [K, N] orientation whatever its stored layout; one matrix per expert of a grouped GEMM),
/// each uniform in the case's [low, high] and rounded to fp32 (equal ends: that scale). An operand
/// without blocks has its per-tensor scale.
public struct BlockScaleInputs: Sendable {
    public var a: Tensor?
    public var b: Tensor?
    /// The K extent of one quantisation group.
    public let group: Int
    /// NVFP4's fp32 tensor scales of A and B (1 for MX and for drawn scales): the sum of a
    /// block-scaled GEMM is multiplied by their product after the groups are summed.
    public var tensorA: Double = 1
    public var tensorB: Double = 1
    /// The zero points of int4 weights with them: uint4 [matrices, K/group, N], B's grid.
    public var zeroB: Tensor?
    let perTensorA: Double
    let perTensorB: Double
    let blockA: GemmCase.ScaleBlocks?
    let blockB: GemmCase.ScaleBlocks?
    let gridA: (rows: Int, cols: Int)
    let gridB: (rows: Int, cols: Int)

    init?(_ g: GemmCase, caseId: String, generator: DataGenerator) {
        guard let group = g.scales.group, g.blockFormat == nil else { return nil }
        self.group = group
        perTensorA = g.scales.a; perTensorB = g.scales.b
        blockA = g.scales.blockA; blockB = g.scales.blockB
        gridA = blockA?.grid(g.m, g.k) ?? (1, 1)
        gridB = blockB?.grid(g.k, g.n) ?? (1, 1)
        func draw(_ operand: String, _ blocks: GemmCase.ScaleBlocks, _ shape: [Int]) -> Tensor {
            if blocks.low == blocks.high {
                return Tensor(type: .fp32, shape: shape, values: [Double](repeating: blocks.low, count: shape.reduce(1, *)), overflow: .saturate)
            }
            return generator.tensor(caseId: caseId, operand: operand, pattern: .uniform(low: blocks.low, high: blocks.high.nextUp), type: .fp32, shape: shape)
        }
        a = blockA.map { draw("a/scale", $0, [g.batch, gridA.rows, gridA.cols]) }
        b = blockB.map { draw("b/scale", $0, [g.groups?.count ?? g.batch, gridB.rows, gridB.cols]) }
    }

    /// Block scales received as tensors (an adapter's side of the protocol): `a` [batch, ⌈M/rows⌉,
    /// ⌈K/cols⌉] and `b` [matrices of B, ⌈K/rows⌉, ⌈N/cols⌉], fp32, for `g`'s block shapes, and
    /// NVFP4's tensor scales (1 when absent), and int4 weights' zero points.
    public init?(_ g: GemmCase, a: Tensor?, b: Tensor?, tensorA: Double = 1, tensorB: Double = 1, zeroB: Tensor? = nil) {
        guard let group = g.scales.group else { return nil }
        self.init(a: a, b: b, group: group, perTensorA: g.scales.a, perTensorB: g.scales.b, blockA: g.scales.blockA,
                  blockB: g.scales.blockB, gridA: g.scales.blockA?.grid(g.m, g.k) ?? (1, 1), gridB: g.scales.blockB?.grid(g.k, g.n) ?? (1, 1))
        self.tensorA = tensorA
        self.tensorB = tensorB
        self.zeroB = zeroB
    }

    private init(a: Tensor?, b: Tensor?, group: Int, perTensorA: Double, perTensorB: Double, blockA: GemmCase.ScaleBlocks?,
                 blockB: GemmCase.ScaleBlocks?, gridA: (rows: Int, cols: Int), gridB: (rows: Int, cols: Int)) {
        self.a = a; self.b = b; self.group = group; self.perTensorA = perTensorA; self.perTensorB = perTensorB
        self.blockA = blockA; self.blockB = blockB; self.gridA = gridA; self.gridB = gridB
    }

    /// One expert of a grouped GEMM: its rows' A scales (blocks of one row, which the loader
    /// requires there) and its own matrix of B scales.
    public func expert(_ e: Int, firstRow: Int, rows: Int) -> BlockScaleInputs {
        let rowsA = blockA == nil ? gridA : (rows: rows, cols: gridA.cols)
        var out = BlockScaleInputs(a: a?.rows(firstRow, firstRow + rows), b: b.map { matrix($0, e) }, group: group, perTensorA: perTensorA,
                                   perTensorB: perTensorB, blockA: blockA, blockB: blockB, gridA: rowsA, gridB: gridB)
        out.tensorA = tensorA
        out.tensorB = tensorB
        out.zeroB = zeroB.map { matrix($0, e) }
        return out
    }

    /// The product of the tensor scales, as the device's epilogue multiplies by it (1 unless NVFP4).
    public var tensorProduct: Double { tensorA * tensorB }

    /// Matrix `e` of a [matrices, rows, cols] tensor, as a [1, rows, cols] one.
    private func matrix(_ t: Tensor, _ e: Int) -> Tensor {
        let size = t.shape[1] * t.shape[2] * t.type.byteWidth
        return Tensor(type: t.type, shape: [1, t.shape[1], t.shape[2]], storage: Array(t.storage[(e * size)..<((e + 1) * size)]))
    }

    /// The scale of A's row `row` in quantisation group `kGroup` of matrix `batch`.
    public func scaleA(batch: Int, row: Int, kGroup: Int) -> Double {
        guard let a, let blockA else { return perTensorA }
        return a.value(at: (batch * gridA.rows + row / blockA.rows) * gridA.cols + kGroup)
    }

    /// The scale of B's column `column` in quantisation group `kGroup` of matrix `batch`.
    public func scaleB(batch: Int, kGroup: Int, column: Int) -> Double {
        guard let b, let blockB else { return perTensorB }
        return b.value(at: (batch * gridB.rows + kGroup) * gridB.cols + column / blockB.cols)
    }

    /// The quantisation groups along K in order, [k0, k1) each (not the experts of a grouped GEMM).
    public func kGroups(k: Int) -> [Range<Int>] {
        stride(from: 0, to: k, by: group).map { $0..<min($0 + group, k) }
    }
}
