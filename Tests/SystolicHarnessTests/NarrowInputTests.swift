import Foundation
import Testing
import SystolicData
import SystolicEmulation
import SystolicHarness
import SystolicJSON
import SystolicNumerics
import SystolicResults
import SystolicSuite
import SystolicTestSupport

/// fp6 and fp4 (docs/formats.md) as GEMM input types: a suite names them, data generation rounds
/// to them, the emulator runs them where its configuration gives them a rate, the check judges
/// them, and the loader keeps them out of every other place a type is named.
struct NarrowInputTests {
    static func suite(_ cases: String) throws(InputFileError) -> Suite {
        let text = #"{"format": "systolic-bench.suite/1", "name": "narrow", "version": "1.0.0", "defaults": {"seed": 7}, "profiles": {"quick": "the narrow inputs"}, "cases": ["# + cases + "]}"
        return try SuiteLoader.load(bytes: Array(text.utf8), file: "narrow.json")
    }

    static let gemms = """
        {"name": "fp4-into-bf16", "op": "gemm", "profiles": ["quick"], "shape": {"m": 8, "n": 96, "k": 256},
         "types": {"a": "fp4_e2m1", "b": "fp4_e2m1", "accumulate": "fp32", "output": "bf16"}},
        {"name": "fp6-e2m3-by-e3m2-into-fp32", "op": "gemm", "profiles": ["quick"], "shape": {"m": 4, "n": 64, "k": 96},
         "types": {"a": "fp6_e2m3", "b": "fp6_e3m2", "accumulate": "fp32", "output": "fp32"}},
        {"name": "fp4-k1-ties", "op": "gemm", "profiles": ["quick"], "shape": {"m": 16, "n": 16, "k": 1},
         "types": {"a": "fp4_e2m1", "b": "fp6_e3m2", "accumulate": "fp32", "output": "fp8_e4m3"},
         "data": {"a": {"pattern": "uniform", "low": -6, "high": 6}, "b": {"pattern": "uniform", "low": -28, "high": 28}}}
        """

    /// The Blackwell-class preset runs fp6 and fp4 (on its fp8 engine, at fp8's and twice fp8's
    /// rate): every case passes, its inputs are values of their formats, and a preset without
    /// them reports them not supported by name.
    @Test func narrowGemmsRunOnAConfigurationThatHasThem() throws {
        let config = try DeviceConfig.preset("b200-tensor-core")
        #expect(config.arithmetic.rate(.fp4_e2m1) == 2 * (config.arithmetic.rate(.fp8_e4m3) ?? 0))
        #expect(config.arithmetic.rate(.fp6_e2m3) == config.arithmetic.rate(.fp8_e4m3))
        let suite = try Self.suite(Self.gemms)
        let harness = Harness(device: SystolicEmulator(config: config))
        for c in suite.cases(inProfile: "quick") {
            let r = harness.runCase(c, generator: DataGenerator(seed: suite.seed))
            #expect(r.verdict == Verdict.pass, "\(c.id): \(r.reason ?? "")")
        }
        // The cases ran on the declared fp8 engine (blocks of 32, two extra bits, toward zero).
        #expect(config.arithmetic.matrixEngine?.first { $0.inputTypes.contains(.fp4_e2m1) }?.blockSize == 32)
        // The generated inputs are values of their formats (saturated to their range).
        let a = DataGenerator(seed: 7).tensor(caseId: "x", operand: "a", pattern: .normal(mean: 0, std: 3), type: .fp4_e2m1, shape: [1, 64])
        let values = Set((0..<64).map { a.value(at: $0) })
        #expect(values.isSubset(of: Set([0, 0.5, 1, 1.5, 2, 3, 4, 6].flatMap { [$0, -$0] })))
        #expect(values.contains(6) || values.contains(-6), "normal(0, 3) saturates at ±6 somewhere in 64 draws")
        let plain = Harness(device: SystolicEmulator(config: try DeviceConfig.preset("h100-tensor-core")))
        let refused = plain.runCase(suite.cases(inProfile: "quick")[0], generator: DataGenerator(seed: 7))
        #expect(refused.verdict == Verdict.notSupported && (refused.reason ?? "").contains("fp4_e2m1"), "\(refused.reason ?? "")")
    }

    /// Inputs only: never an accumulator, an output, a shorthand, attention's or a collective's type.
    @Test(arguments: [
        (#"{"name": "x", "profiles": ["quick"], "op": "gemm", "shape": {"m": 1, "n": 1, "k": 1}, "types": "fp4_e2m1"}"#, "is an input format"),
        (#"{"name": "x", "profiles": ["quick"], "op": "gemm", "shape": {"m": 1, "n": 1, "k": 1}, "types": {"a": "fp4_e2m1", "b": "fp4_e2m1", "output": "fp6_e2m3"}}"#, "is an input format"),
        (#"{"name": "x", "profiles": ["quick"], "op": "gemm", "shape": {"m": 1, "n": 1, "k": 1}, "types": {"a": "fp4_e2m1", "b": "fp4_e2m1", "accumulate": "fp6_e3m2", "output": "fp32"}}"#, "accumulator"),
        (#"{"name": "x", "profiles": ["quick"], "op": "attention", "shape": {"batch": 1, "heads": 1, "head_dim": 64, "q_len": 1, "kv_len": 8}, "types": "fp4_e2m1"}"#, "fp8 or wider"),
        (#"{"name": "x", "profiles": ["quick"], "op": "collective", "collective": "all_gather", "ranks": 2, "bytes": 64, "type": "fp6_e2m3"}"#, "not a collective's type"),
    ])
    func theLoaderKeepsThemToGemmInputs(caseText: String, message: String) {
        do {
            _ = try Self.suite(caseText)
            Issue.record("accepted \(caseText)")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }
}
