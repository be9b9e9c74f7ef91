import Foundation
import SystolicTestSupport
import Testing
import SystolicDevice
import SystolicJSON
import SystolicNumerics
import SystolicSuite
@testable import SystolicHarness
@testable import SystolicProcess
import SystolicProtocol

/// Input types are declared per op (#28, item 5): a device that moves int32 in its collectives is
/// not sent a GEMM with int32 inputs, which no document defines.
struct TypesByOpTests {
    static func exampleAdapter() throws -> ProcessAdapter {
        try ProcessAdapter(executable: try builtProduct("systolic-bench-example-c-adapter"), timing: TimingPlan(warmup: 0, minRepeats: 1, minSeconds: 0))
    }

    static func gemm(_ t: NumberType) -> BenchmarkCase {
        let g = GemmCase(m: 2, n: 8, k: 8, types: .init(a: t, b: t, accumulate: t.isInteger ? .int32 : .fp32, output: t.isInteger ? .int32 : .fp32),
                         dataA: .constant(1), dataB: .constant(1))
        return BenchmarkCase(id: "types/gemm-\(t.rawValue)", suite: "types", name: "gemm", profiles: [], workload: .gemm(g))
    }

    static func allReduce(_ t: NumberType) -> BenchmarkCase {
        let c = CollectiveCase(operation: .allReduce, ranks: 4, bytes: 4096, type: t)
        return BenchmarkCase(id: "types/all-reduce-\(t.rawValue)", suite: "types", name: "all-reduce", profiles: [], workload: .collective(c))
    }

    @Test func eachOpIsSentOnlyItsOwnTypes() throws {
        let adapter = try Self.exampleAdapter()
        defer { adapter.shutdown() }
        let arithmetic = adapter.descriptor.arithmetic
        #expect(arithmetic.inputTypes.contains(.int32) && !arithmetic.inputTypes(for: "gemm").contains(.int32))
        #expect(adapter.unsupported(Self.gemm(.int32)) == "the device does not declare input type int32 for gemm")
        #expect(adapter.unsupported(Self.gemm(.int8)) == nil)
        #expect(adapter.unsupported(Self.allReduce(.int32)) == nil)
        #expect(adapter.unsupported(Self.allReduce(.fp8_e4m3)) == "the device does not declare input type fp8_e4m3 for collective")
        // And the int32 collective runs and passes.
        let r = Harness(device: adapter).runCase(Self.allReduce(.int32), generator: .init(seed: 5))
        #expect(r.verdict == .pass, "\(r.reason ?? "")")
    }

    /// check-adapter sends a small GEMM per type declared for GEMMs: not one for int32 (nor for
    /// int4 and uint4, weights the int4_weights feature probes).
    @Test func theKitProbesGemmsInGemmTypesOnly() throws {
        let adapter = try Self.exampleAdapter()
        let harness = Harness(device: adapter)
        let findings = ConformanceKit(roundTrips: 1).run(adapter, judge: { harness.runCase($0, generator: $1) })
        let gemms = findings.map(\.text).filter { $0.hasPrefix("gemm 3×17×33 ") }
        let declared = adapter.descriptor.arithmetic.inputTypes(for: "gemm").filter { !$0.isNibble }
        #expect(gemms.count == declared.count && !gemms.contains { $0.contains("int32") }, "\(gemms)")
        #expect(findings.allSatisfy { $0.passed }, "\(findings.filter { !$0.passed })")
        #expect(findings.first?.text.contains("collective [\"fp32\", \"fp16\", \"bf16\", \"int8\", \"int32\"]") == true, "\(findings.first?.text ?? "")")
    }

    /// As strict as the schema: an op the declaration does not know is named, not ignored.
    @Test func anUnknownOpInTheDeclarationIsRefused() {
        let text = #"{"accumulator": "fp32", "subnormals": "preserve", "overflow_modes": ["saturate"], "input_types": ["bf16"], "input_types_by_op": {"gemmm": ["bf16"]}}"#
        do {
            _ = try JSONFile.decode(DeclaredArithmetic.self, bytes: Array(text.utf8), file: "hello")
            Issue.record("accepted an unknown op")
        } catch {
            #expect("\(error)".contains("input_types_by_op") && "\(error)".contains("gemmm"), "\(error)")
        }
    }
}
