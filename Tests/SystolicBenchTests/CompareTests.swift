import Foundation
import Testing
import SystolicHarness
import SystolicJSON
@testable import SystolicCompare

struct CompareTests {
    static let baselinePath = Repository.path("Baselines/emulator-hbm-inference/gemm.json")

    @Test func quickRunMatchesTheCommittedBaseline() throws {
        let results = try HarnessTests.sharedQuick.get()
        let comparison = Comparison(results: results, baseline: try Baseline.load(Self.baselinePath))
        #expect(comparison.notComparable == nil, "\(comparison.notComparable ?? "")")
        #expect(comparison.differences.isEmpty, "\(comparison.differences)")
        #expect(comparison.comparedCases == 25)
        #expect(comparison.status == .success)
    }

    @Test func changedCycleCountIsARegressionNamingTheCase() throws {
        let results = try HarnessTests.sharedQuick.get()
        var baseline = try Baseline.load(Self.baselinePath)
        let victim = baseline.cases[3].id
        baseline.cases[3].metrics["cycles"]! += 1
        let comparison = Comparison(results: results, baseline: baseline)
        #expect(comparison.status == .regression)
        #expect(comparison.differences.count == 1)
        #expect(comparison.differences.first?.id == victim)
        #expect(comparison.differences.first?.description.contains("cycles") == true)
    }

    @Test func changedDigestAndVerdictAreRegressions() throws {
        let results = try HarnessTests.sharedQuick.get()
        var baseline = try Baseline.load(Self.baselinePath)
        baseline.cases[0].outputDigest = "sha256:" + String(repeating: "0", count: 64)
        baseline.cases[1].verdict = .fail
        let comparison = Comparison(results: results, baseline: baseline)
        #expect(comparison.status == .regression)
        #expect(Set(comparison.differences.map(\.id)) == [baseline.cases[0].id, baseline.cases[1].id])
    }

    @Test func baselineOfAnotherSeedOrSuiteIsNotComparable() throws {
        let results = try HarnessTests.sharedQuick.get()
        var seed = try Baseline.load(Self.baselinePath)
        seed.suite.seed += 1
        #expect(Comparison(results: results, baseline: seed).status == .baselineUnusable)
        var suite = try Baseline.load(Self.baselinePath)
        suite.suite.digest = "sha256:" + String(repeating: "1", count: 64)
        let c = Comparison(results: results, baseline: suite)
        #expect(c.status == .baselineUnusable)
        #expect(c.notComparable?.contains("changed since the baseline") == true)
    }

    @Test func missingCaseIsARegression() throws {
        var results = try HarnessTests.sharedQuick.get()
        let dropped = results.cases.remove(at: try #require(results.cases.lastIndex { $0.suite == "gemm" }))
        let comparison = Comparison(results: results, baseline: try Baseline.load(Self.baselinePath))
        #expect(comparison.differences == [.missing(id: dropped.id)])
    }
}
