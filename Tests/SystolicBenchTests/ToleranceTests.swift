import Foundation
import Testing
@testable import SystolicHarness
import SystolicJSON
@testable import SystolicCompare

struct ToleranceTests {
    static func results(_ metrics: [String: MetricValue], verdict: Verdict = .pass, digest: String = "sha256:" + String(repeating: "a", count: 64)) -> RunResults {
        let quick = try! HarnessTests.sharedQuick.get()
        let suite = SuiteRecord(name: "s", version: "1", digest: "sha256:" + String(repeating: "b", count: 64), file: "s.json", seed: 1, cases: 1)
        var check = quick.cases.first { $0.check != nil }!.check!
        check.outputDigest = digest
        let device = quick.device
        let c = CaseResult(id: "s/case/m=1", position: 0, suite: "s", op: "gemm", verdict: verdict, reason: nil, metrics: metrics,
                           check: check, hostSeconds: 0)
        return RunResults(harness: .current, device: device, profile: "quick", host: HostInfo(hostname: "h", os: "o", cpus: 1),
                          startedAt: "t", finishedAt: "t", complete: true, shard: nil, suites: [suite], summary: [:], cases: [c])
    }

    static func measured(_ median: Double) -> MetricValue {
        MetricValue(value: median, unit: "s", deterministic: false, statistics: ["median": median, "p90": median * 1.1])
    }

    static func modelled(_ v: Double, _ unit: String = "cycles") -> MetricValue { MetricValue(value: v, unit: unit, deterministic: true) }

    static func compare(_ before: [String: MetricValue], _ after: [String: MetricValue], rules: ToleranceRules = .defaults,
                        verdicts: (Verdict, Verdict) = (.pass, .pass)) -> Comparison {
        let baseline = Baseline(results: results(before, verdict: verdicts.0), suite: results(before).suites[0])
        return Comparison(results: results(after, verdict: verdicts.1), baseline: baseline, rules: rules)
    }

    /// Polarity per metric: lower-is-better and higher-is-better figures move the right way.
    @Test(arguments: [
        ("cycles", 1000.0, 1001.0, Comparison.Kind?.some(.regression)),
        ("cycles", 1000.0, 999.0, .improvement),
        ("energy", 1.0, 1.5, .regression),
        ("throughput", 100.0, 90.0, .regression),
        ("throughput", 100.0, 110.0, .improvement),
        ("utilisation", 0.5, 0.6, .improvement),
        ("macs", 10.0, 11.0, .regression),          // no polarity: any change is a regression
        ("cycles", 1000.0, 1000.0, nil),
    ])
    func deterministicFiguresAreExactWithPolarity(metric: String, before: Double, after: Double, expected: Comparison.Kind?) {
        let c = Self.compare([metric: Self.modelled(before)], [metric: Self.modelled(after)])
        #expect(c.changes.first?.kind == expected)
        #expect(c.changes.count == (expected == nil ? 0 : 1))
    }

    @Test func measuredFiguresTolerateNoiseOnTheirStatistic() {
        // 5% on the median by default; the p90 moving does not matter.
        #expect(Self.compare(["time": Self.measured(1.0)], ["time": Self.measured(1.04)]).changes.isEmpty)
        let slower = Self.compare(["time": Self.measured(1.0)], ["time": Self.measured(1.2)])
        #expect(slower.changes.first?.kind == .regression)
        #expect(slower.status() == .regression)
        let faster = Self.compare(["time": Self.measured(1.0)], ["time": Self.measured(0.8)])
        #expect(faster.changes.first?.kind == .improvement)
        #expect(faster.status() == .success)
        #expect(faster.status(failOnImprovement: true) == .regression)
    }

    @Test func overridesApplyByCasePattern() {
        var rules = ToleranceRules.defaults
        rules.overrides = [.init(cases: "s/case/*", metric: "cycles", rule: .init(relative: 0.01))]
        #expect(Self.compare(["cycles": Self.modelled(1000)], ["cycles": Self.modelled(1005)], rules: rules).changes.isEmpty)
        #expect(!Self.compare(["cycles": Self.modelled(1000)], ["cycles": Self.modelled(1020)], rules: rules).changes.isEmpty)
        #expect(ToleranceRules.matches("gemm/*/m=1*", "gemm/llama/m=16,n=4"))
        #expect(!ToleranceRules.matches("gemm/*/m=2*", "gemm/llama/m=16,n=4"))
        #expect(ToleranceRules.matches("*", "anything"))
    }

    @Test func verdictChangesHaveADirection() {
        let worse = Self.compare([:], [:], verdicts: (.pass, .fail))
        #expect(worse.changes.map(\.kind) == [.regression])
        let better = Self.compare([:], [:], verdicts: (.fail, .pass))
        #expect(better.changes.map(\.kind) == [.improvement])
        let unsupported = Self.compare([:], [:], verdicts: (.pass, .notSupported))
        #expect(unsupported.changes.map(\.kind) == [.regression])
    }

    @Test func shippedToleranceFileLoadsAndBadOnesAreRefused() throws {
        let shipped = try ToleranceRules.load(Repository.path("Baselines/tolerances.json"))
        #expect(shipped.metrics["cycles"]?.better == .lower)
        let text = try String(contentsOfFile: Repository.path("Baselines/tolerances.json"), encoding: .utf8)
            .replacingOccurrences(of: "\"relative\": 0.05", with: "\"relative\": -1")
        let bad = write(text, to: "tol.json", in: temporaryDirectory())
        #expect {
            try ToleranceRules.load(bad)
        } throws: { error in
            (error as? InputFileError)?.place == "measured.relative"
        }
    }
}
