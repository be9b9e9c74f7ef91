import Foundation
import Testing
import SystolicCheck
import SystolicData
import SystolicDevice
@testable import SystolicEmulation
@testable import SystolicHarness
import SystolicNumerics
import SystolicSuite
import SystolicTestSupport

/// MXINT8 (docs/formats.md, "MXINT8"): the value of the shipped cases from the definition, the
/// honest emulator passing them and the fraction bits dropped failing them.
struct MXINT8Tests {
    @Test func theShippedCasesHaveTheDefinitionsValueAndCatchTheFault() throws {
        let suite = try SuiteLoader.load(Repository.path("Suites/gemm.json"))
        let cases = suite.cases(inProfile: "quick").filter { c in
            if case let .gemm(g) = c.workload { return g.isMXINT8 }
            return false
        }
        #expect(cases.count >= 2)
        let config = try DeviceConfig.preset("hbm-inference")
        for c in cases {
            guard case let .gemm(g) = c.workload else { continue }
            let inputs = GemmInputs(g, caseId: c.id, generator: DataGenerator(seed: suite.seed))
            let scales = try #require(inputs.blockScales)
            let reference = GemmReference.judged(g, inputs)
            for (i, j) in [(0, 0), (g.m - 1, g.n / 2), (g.m / 2, g.n - 1)] {
                var exact = 0.0, magnitude = 0.0
                for t in 0..<(g.k / 32) {
                    var sum = 0.0
                    for k in (t * 32)..<((t + 1) * 32) {
                        let b = g.layoutB == .kn ? inputs.b.value(at: k * g.n + j) : inputs.b.value(at: j * g.k + k)
                        sum += (inputs.a.value(at: i * g.k + k) / 64) * (b / 64)
                    }
                    let term = scales.scaleA(batch: 0, row: i, kGroup: t) * scales.scaleB(batch: 0, kGroup: t, column: j) * sum
                    exact += term
                    magnitude += abs(term)
                }
                #expect(abs(reference.value[i * g.n + j] - exact) <= 1e-11 * max(magnitude, 1), "\(c.id) [\(i), \(j)]")
            }
            let honest = Harness(device: SystolicEmulator(config: config)).runCase(c, generator: DataGenerator(seed: suite.seed))
            #expect(honest.verdict == .pass, "\(c.id): \(honest.reason ?? "")")
            let faulty = Harness(device: SystolicEmulator(config: config, faults: [.mxint8AsInteger])).runCase(c, generator: DataGenerator(seed: suite.seed))
            #expect(faulty.verdict == .fail && (faulty.check?.maxRatioToBound ?? 0) >= 100, "\(c.id)")
        }
    }
}
