import Foundation
import SystolicTestSupport
import Testing
import SystolicHarness
import SystolicJSON
@testable import SystolicCompare

struct CompareTests {
    static let baselinePath = Repository.path("Baselines/emulator-hbm-inference/gemm.json")

    @Test func quickRunMatchesTheCommittedBaseline() throws {
        let results = try QuickRun.shared.get()
        let comparison = Comparison(results: results, baseline: try Baseline.load(Self.baselinePath))
        #expect(comparison.notComparable == nil, "\(comparison.notComparable ?? "")")
        #expect(comparison.changes.isEmpty, "\(comparison.changes)")
        #expect(comparison.comparedCases.count == 72)
        #expect(comparison.outcome() == .clean)
    }

    @Test func changedCycleCountIsARegressionNamingTheCase() throws {
        let results = try QuickRun.shared.get()
        var baseline = try Baseline.load(Self.baselinePath)
        let victim = baseline.cases[3].id
        baseline.cases[3].metrics["cycles"]!.value -= 1
        let comparison = Comparison(results: results, baseline: baseline)
        #expect(comparison.outcome() == .regressed)
        #expect(comparison.changes.count == 1)
        #expect(comparison.changes.first?.caseId == victim)
        #expect(comparison.changes.first?.subject == "cycles")
    }

    @Test func changedDigestAndVerdictAreRegressions() throws {
        let results = try QuickRun.shared.get()
        var baseline = try Baseline.load(Self.baselinePath)
        baseline.cases[0].outputDigest = "sha256:" + String(repeating: "0", count: 64)
        baseline.cases[1].verdict = .fail
        let comparison = Comparison(results: results, baseline: baseline)
        // Reaching pass from fail is an improvement; the changed digest a regression.
        #expect(comparison.outcome() == .regressed)
        #expect(comparison.regressions.map(\.caseId) == [baseline.cases[0].id])
        #expect(comparison.improvements.map(\.caseId) == [baseline.cases[1].id])
    }

    @Test func baselineOfAnotherSeedSuiteOrDeviceIsNotComparable() throws {
        let results = try QuickRun.shared.get()
        var seed = try Baseline.load(Self.baselinePath)
        seed.suite.seed += 1
        #expect(Comparison(results: results, baseline: seed).outcome() == .notComparable)
        var suite = try Baseline.load(Self.baselinePath)
        suite.suite.digest = "sha256:" + String(repeating: "1", count: 64)
        #expect(Comparison(results: results, baseline: suite).notComparable?.contains("changed since the baseline") == true)
        var version = try Baseline.load(Self.baselinePath)
        version.suite.version = "0.9"
        #expect(Comparison(results: results, baseline: version).notComparable?.contains("0.9") == true)
        var device = try Baseline.load(Self.baselinePath)
        device.device.name = "emulator-other"
        #expect(Comparison(results: results, baseline: device).notComparable?.contains("emulator-other") == true)
    }

    @Test func missingCaseIsARegression() throws {
        var results = try QuickRun.shared.get()
        let dropped = results.cases.remove(at: try #require(results.cases.lastIndex { $0.suite == "gemm" }))
        let comparison = Comparison(results: results, baseline: try Baseline.load(Self.baselinePath))
        #expect(comparison.changes.map(\.caseId) == [dropped.id])
        #expect(comparison.changes.first?.subject == "presence")
    }

    /// The JUnit rendering is well-formed XML with one testcase per baseline case and a failure
    /// per regressed case.
    @Test func junitIsWellFormedWithOneTestPerCase() throws {
        let results = try QuickRun.shared.get()
        var baseline = try Baseline.load(Self.baselinePath)
        baseline.cases[2].metrics["cycles"]!.value -= 1
        let comparison = Comparison(results: results, baseline: baseline, baselinePath: "b.json")
        let report = ComparisonReport(device: "emulator-hbm-inference", comparisons: [comparison], missing: [("other", "x/other.json")],
                                      failOnImprovement: false)
        #expect(report.outcome == .notComparable)
        let counter = XMLCounter()
        let parser = XMLParser(data: Data(report.junit().utf8))
        parser.delegate = counter
        #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
        #expect(counter.counts["testcase"] == 73)
        #expect(counter.counts["failure"] == 1)
        #expect(counter.counts["error"] == 1)
        #expect(report.markdown().contains("| improvement |") == false)
        #expect(report.markdown().contains("| regression | `\(baseline.cases[2].id)` | cycles |"))
    }
}

#if canImport(FoundationXML)
import FoundationXML
#endif

final class XMLCounter: NSObject, XMLParserDelegate {
    var counts: [String: Int] = [:]
    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName qName: String?,
                attributes attributeDict: [String: String] = [:]) {
        counts[elementName, default: 0] += 1
    }
}
