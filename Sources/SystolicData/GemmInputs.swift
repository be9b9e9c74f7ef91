import SystolicNumerics
import SystolicSuite

/// The input tensors of a GEMM case: A [batch, M, K] and B [batch, K, N] or [batch, N, K].
public struct GemmInputs: Sendable {
    public var a: Tensor
    public var b: Tensor

    public init(a: Tensor, b: Tensor) { self.a = a; self.b = b }

    /// Generates both operands (streams "a" and "b") of `gemm` for case `caseId`.
    ///
    /// The `cancelling` pattern is defined on logical coordinates, with h = ⌊K/2⌋ and z(·) the
    /// normal(0, std) stream of the operand at the storage index of the element named:
    /// A[b,m,k] = z(A[b,m,k−h]) for h ≤ k < 2h, else z(A[b,m,k]);
    /// B[b,k,n] = −z(B[b,k−h,n]) + 2⁻¹⁰ · w(B[b,k,n]) for h ≤ k < 2h, else z(B[b,k,n]),
    /// where w is the normal(0, std) stream of operand "b/perturbation".
    public init(_ gemm: GemmCase, caseId: String, generator: DataGenerator) {
        let bShape = gemm.layoutB == .kn ? [gemm.batch, gemm.k, gemm.n] : [gemm.batch, gemm.n, gemm.k]
        if case let .cancelling(stdA) = gemm.dataA, case let .cancelling(stdB) = gemm.dataB {
            self = Self.cancelling(gemm, stdA: stdA, stdB: stdB, caseId: caseId, generator: generator)
            return
        }
        a = generator.tensor(caseId: caseId, operand: "a", pattern: gemm.dataA, type: gemm.types.a, shape: [gemm.batch, gemm.m, gemm.k])
        b = generator.tensor(caseId: caseId, operand: "b", pattern: gemm.dataB, type: gemm.types.b, shape: bShape)
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
