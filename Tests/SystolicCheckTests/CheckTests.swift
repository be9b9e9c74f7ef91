import SystolicTestSupport
import Testing
@testable import SystolicCheck
import SystolicData
import SystolicDevice
@testable import SystolicEmulation
import SystolicNumerics
import SystolicSuite
@testable import SystolicHarness

struct CheckTests {
    static func quickGemmCases() throws -> [BenchmarkCase] {
        try SuiteLoader.load(Repository.path("Suites/gemm.json")).cases(inProfile: "quick")
    }

    static let generator = DataGenerator(seed: 20_261_127)

    /// Negative control: a device that accumulates in bf16 while declaring fp32 fails every
    /// floating-point case whose sums are not exact, and the failure names the case and element.
    @Test func bf16AccumulatorDeclaringFp32Fails() throws {
        let harness = Harness(device: SystolicEmulator(faults: [.narrowAccumulator(.bf16)]))
        var failed = 0
        for c in try Self.quickGemmCases() {
            // Two directed cases are computed exactly even in bf16 (E4M3 integers and single E4M3
            // products need at most 8 significant bits): passing them is correct.
            guard case let .gemm(g) = c.workload, !g.types.a.isInteger,
                  !["ties-fp8-out", "overflow-e4m3-k1-saturate"].contains(c.name) else { continue }
            let r = harness.runCase(c, generator: Self.generator)
            #expect(r.verdict == .fail, "\(c.id) passed with a bf16 accumulator")
            if r.verdict == .fail {
                failed += 1
                #expect(r.reason?.contains("worst element [") == true)
                let ratio = r.check?.maxRatioToBound ?? 0
                // Far outside, not at the edge. (Coarse fp8 products lose fewer bits in a bf16
                // accumulator, and a bf16 output's own rounding hides part of the error, so the
                // margin differs per case; directed wide-range data widens it further.)
                // The engine-window cases hold few bits by design (a first product at a power of
                // two, then odd products below 10): a bf16 accumulator fails them nearer the edge.
                if !c.name.hasPrefix("engine-window") { #expect(ratio >= 2, "\(c.id): worst ratio \(ratio)") }
            }
        }
        #expect(failed >= 6)
    }

    /// Negative control: one element moved twice its bound away is caught, alone, at its index.
    @Test(arguments: [("gemm/gpt2-decode-attn-out/m=4,n=768,k=768", 1234), ("gemm/odd-shape-tails/m=3,n=130,k=257", 300)])
    func oneElementTwiceTheBoundAwayFails(caseId: String, flatIndex: Int) throws {
        let c = try #require(try Self.quickGemmCases().first { $0.id == caseId })
        guard case let .gemm(g) = c.workload else { return }
        let device = PerturbingDevice(inner: SystolicEmulator(), flatIndex: flatIndex) { exact, bound, _ in exact + 2 * bound }
        let r = Harness(device: device).runCase(c, generator: Self.generator)
        #expect(r.verdict == .fail)
        #expect(r.check?.mismatches == 1)
        let index = [flatIndex / (g.m * g.n), (flatIndex / g.n) % g.m, flatIndex % g.n]
        #expect(r.check?.worst?.index == index)
        #expect(r.reason?.contains("element \(index)") == true, "\(r.reason ?? "")")
        let ratio = r.check?.worst?.ratio ?? 0
        #expect(ratio > 1.5 && ratio < 2.5, "ratio \(ratio)")
    }

    /// The same element moved to just inside its bound passes: the rule is not stricter than stated.
    @Test func oneElementJustInsideTheBoundPasses() throws {
        let c = try #require(try Self.quickGemmCases().first { $0.id == "gemm/odd-shape-tails/m=3,n=130,k=257" })
        let device = PerturbingDevice(inner: SystolicEmulator(), flatIndex: 77) { exact, bound, _ in
            NumberType.fp32.round(exact + 0.9 * bound, overflow: .ieee).nextDown
        }
        let r = Harness(device: device).runCase(c, generator: Self.generator)
        #expect(r.verdict == .pass, "\(r.reason ?? "")")
    }

    @Test func integerOutputsAreComparedExactly() throws {
        let c = try #require(try Self.quickGemmCases().first { $0.name == "lenet5-conv2-int8" })
        let device = PerturbingDevice(inner: SystolicEmulator(), flatIndex: 5) { _, _, current in current + 1 }
        let r = Harness(device: device).runCase(c, generator: Self.generator)
        #expect(r.verdict == .fail)
        #expect(r.check?.rule == "exact")
        #expect(r.check?.mismatches == 1)
        #expect(r.check?.worst?.index == [0, 0, 5])
    }

    @Test func intervalHandlesSaturationAndSpecials() {
        // Saturating bf16 output of a huge value: the whole top cell is allowed.
        #expect(GemmCheck.roundingCell(NumberType.bf16.maxFinite, .bf16, .saturate).upperBound == .infinity)
        #expect(GemmCheck.ratioToBound(device: .nan, exact: 1, bound: 1, type: .fp32, overflow: .ieee) == .infinity)
        #expect(GemmCheck.ratioToBound(device: 1, exact: 1, bound: 0, type: .fp32, overflow: .ieee) == 0)
        // fp8 E4M3: 448's cell under saturation reaches infinity; under ieee it ends half a step up.
        #expect(GemmCheck.roundingCell(448, .fp8_e4m3, .ieee).upperBound == 464)
    }

    @Test func brokenDevicesEndInErrorAndTheRunGoesOn() throws {
        for breakage in [BrokenDevice.Breakage.throwsBroken, .wrongShape, .noOutput] {
            let harness = Harness(device: BrokenDevice(breakage: breakage))
            for c in try Self.quickGemmCases().prefix(2) {
                let r = harness.runCase(c, generator: Self.generator)
                #expect(r.verdict == .error, "\(breakage)")
                #expect(r.reason != nil)
            }
        }
    }
}
