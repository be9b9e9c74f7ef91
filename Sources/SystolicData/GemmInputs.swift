import SystolicNumerics
import SystolicSuite

/// The input tensors of a GEMM case: A [batch, M, K] and B [batch, K, N] or [batch, N, K].
public struct GemmInputs: Sendable {
    public var a: Tensor
    public var b: Tensor

    public init(a: Tensor, b: Tensor) { self.a = a; self.b = b }

    /// Generates both operands (streams "a" and "b") of `gemm` for case `caseId`.
    public init(_ gemm: GemmCase, caseId: String, generator: DataGenerator) {
        let bShape = gemm.layoutB == .kn ? [gemm.batch, gemm.k, gemm.n] : [gemm.batch, gemm.n, gemm.k]
        a = generator.tensor(caseId: caseId, operand: "a", pattern: gemm.dataA, type: gemm.types.a, shape: [gemm.batch, gemm.m, gemm.k])
        b = generator.tensor(caseId: caseId, operand: "b", pattern: gemm.dataB, type: gemm.types.b, shape: bShape)
    }
}
