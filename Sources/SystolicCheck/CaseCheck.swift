import Foundation
import SystolicData
import SystolicResults
import SystolicDevice
import SystolicNumerics
import SystolicSuite

/// The one entry point that judges a case, for every family: whether the device's declared
/// arithmetic can judge it at all, the inputs it is given, and the check of its output. The
/// harness judges runs with it and the package checker re-judges sampled outputs with it, so the
/// two can never disagree on what a family's check is.
public enum CaseCheck {
    /// Why the declared arithmetic cannot judge this case (it is then `not_supported`, never a
    /// failure); nil when it can.
    public static func unjudgeable(_ workload: Workload, arithmetic: DeclaredArithmetic) -> String? {
        // A sum of n terms in an accumulator of unit roundoff u is within n·u·S of exact, and the
        // exact value is at most S: once n·u ≥ 1 the allowed interval holds 0 and every value of
        // the output's sign range, so any output (all zeros included) would pass. Such a
        // declaration cannot be judged: not_supported, never pass.
        let u = arithmetic.accumulator.unitRoundoff ?? 0
        func meaningless(terms: Int, what: String) -> String? {
            Double(terms) * u >= 1
                ? "the declared \(arithmetic.accumulator.rawValue) accumulator (u = \(u)) makes the bound of \(what) meaningless (\(terms)·u ≥ 1): the case cannot be judged"
                : nil
        }
        switch workload {
        case let .gemm(g):
            if !arithmetic.overflowModes.contains(g.overflow) { return "the device does not declare overflow mode \(g.overflow.rawValue)" }
            if g.types.a.isInteger { return nil }
            let engine = arithmetic.judgedEngine(for: g)
            if engine.isPlain { return meaningless(terms: g.k, what: "a sum of K = \(g.k) products") }
            // A block engine's bound is relative·S: at 1 or more it holds 0 and every value of
            // the output's sign range (docs/arithmetic.md).
            let relative = GemmBound(k: g.k, engine: engine).relative
            return relative >= 1
                ? "the declared matrix engine for \(g.types.a.rawValue) (blocks of \(engine.blockSize), \(engine.fractionBits) fraction bits) makes the bound of a sum of K = \(g.k) products meaningless (E = \(String(format: "%.3g", relative))·S ≥ S): the case cannot be judged"
                : nil
        case let .attention(a):
            guard let expUlps = arithmetic.expUlps else { return "the device declares op attention but not the accuracy of its exp (exp_ulps)" }
            if !arithmetic.overflowModes.contains(a.overflow) { return "the device does not declare overflow mode \(a.overflow.rawValue)" }
            if expUlps * 0x1p-23 >= 1 {
                return "the declared exp_ulps \(expUlps) allows a relative error of 100 % or more in every probability: the case cannot be judged"
            }
            if let why = meaningless(terms: max(a.headDim, a.kvLengths.max() ?? 0), what: "attention's sums over head_dim \(a.headDim) and the KV length") {
                return why
            }
            // A declared engine's bound of either product at 1 or more (as for GEMM above).
            let bound = AttentionBound(a, arithmetic: arithmetic, expUlps: expUlps)
            let keys = a.kvLengths.max() ?? 0
            let score = bound.scoreEngine.map { GemmBound(k: a.headDim, engine: $0).relative } ?? 0
            let value = bound.valueBound(visible: keys)?.relative ?? 0
            if score >= 1 || value >= 1 {
                return "the declared matrix engine for attention makes the bound of \(score >= 1 ? "its scores (head_dim \(a.headDim) products)" : "P·V (\(keys) keys)") meaningless (E ≥ S): the case cannot be judged"
            }
            return nil
        case .collective:
            return nil
        }
    }

    /// The case's inputs from its seeded data streams; none for a timing-only collective.
    public static func inputs(_ workload: Workload, caseId: String, generator: DataGenerator) -> CaseInputs {
        switch workload {
        case let .gemm(g): return .gemm(GemmInputs(g, caseId: caseId, generator: generator))
        case let .attention(a): return .attention(AttentionInputs(a, caseId: caseId, generator: generator))
        case let .collective(c): return c.timingOnly ? .none : .collective(CollectiveInputs(c, caseId: caseId, generator: generator))
        }
    }

    /// Judges `output` (already of the case's `OutputSpec`) against the reference on `inputs`,
    /// the inputs the device was given. `sampleSeed` chooses the elements an at-scale GEMM check
    /// samples: the harness derives it from the output's digest, so a device cannot know them in
    /// advance. The arithmetic must judge the case (`unjudgeable` is nil) and the inputs be the
    /// case's own.
    public static func verify(_ workload: Workload, output: Tensor, inputs: CaseInputs, arithmetic: DeclaredArithmetic,
                              sampleSeed: UInt64) -> CheckReport {
        switch (workload, inputs) {
        case let (.gemm(g), .gemm(i)):
            return GemmCheck.verify(output: output, inputs: i, gemm: g, arithmetic: arithmetic, options: .init(sampleSeed: sampleSeed))
        case let (.attention(a), .attention(i)):
            return AttentionCheck.verify(output: output, inputs: i, attention: a, arithmetic: arithmetic, expUlps: arithmetic.expUlps!)
        case let (.collective(c), .collective(i)):
            return CollectiveCheck.verify(output: output, inputs: i, collective: c)
        default:
            preconditionFailure("CaseCheck.verify: inputs of another family than the case's \(workload.op)")
        }
    }
}
