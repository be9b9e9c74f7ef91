import Foundation
import SystolicTestSupport
import Testing
@testable import SystolicHarness
import SystolicResults
import SystolicDevice
import SystolicJSON
@testable import SystolicCompare

struct ToleranceTests {
    static func results(_ metrics: [String: MetricValue], verdict: Verdict = .pass, digest: String = "sha256:" + String(repeating: "a", count: 64)) -> RunResults {
        let quick = try! QuickRun.shared.get()
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
        #expect(slower.outcome() == .regressed)
        let faster = Self.compare(["time": Self.measured(1.0)], ["time": Self.measured(0.8)])
        #expect(faster.changes.first?.kind == .improvement)
        #expect(faster.outcome() == .clean)
        #expect(faster.outcome(failOnImprovement: true) == .regressed)
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

    /// Every catalogued metric, measured and modelled: a 10 % move in its `better` direction is an
    /// improvement, the other way a regression; a count of work (no direction) regresses both ways.
    @Test(arguments: Metric.catalogue)
    func everyCataloguedMetricHasItsDirection(metric: Metric) {
        let unit = metric.units[0]
        for deterministic in [false, true] {
            func figure(_ v: Double) -> MetricValue {
                MetricValue(value: v, unit: unit, deterministic: deterministic, statistics: deterministic ? nil : ["median": v])
            }
            let up = Self.compare([metric.name: figure(100)], [metric.name: figure(110)])
            let down = Self.compare([metric.name: figure(100)], [metric.name: figure(90)])
            let same = Self.compare([metric.name: figure(100)], [metric.name: figure(100)])
            #expect(same.changes.isEmpty)
            switch metric.better {
            case .higher?:
                #expect(up.changes.map(\.kind) == [.improvement], "\(metric) up, deterministic \(deterministic)")
                #expect(down.changes.map(\.kind) == [.regression], "\(metric) down, deterministic \(deterministic)")
            case .lower?:
                #expect(up.changes.map(\.kind) == [.regression], "\(metric) up, deterministic \(deterministic)")
                #expect(down.changes.map(\.kind) == [.improvement], "\(metric) down, deterministic \(deterministic)")
            case nil:
                #expect(up.changes.map(\.kind) == [.regression], "\(metric) up, deterministic \(deterministic)")
                #expect(down.changes.map(\.kind) == [.regression], "\(metric) down, deterministic \(deterministic)")
            }
            #expect(down.outcome() == .regressed || metric.better == .lower)
        }
    }

    /// The case the catalogue was made for: on a measured device, more bus bandwidth is better.
    @Test func aMeasuredBusBandwidthGainIsAnImprovement() {
        func busbw(_ v: Double) -> MetricValue { MetricValue(value: v, unit: "B/s", deterministic: false, statistics: ["median": v]) }
        let gain = Self.compare(["busbw": busbw(100e9)], ["busbw": busbw(110e9)])
        #expect(gain.changes.map(\.kind) == [.improvement])
        #expect(gain.outcome() == .clean)
        let drop = Self.compare(["busbw": busbw(100e9)], ["busbw": busbw(90e9)])
        #expect(drop.changes.map(\.kind) == [.regression])
        #expect(drop.outcome() == .regressed)
    }

    @Test func theCatalogueHasOneEntryPerNameAndAUnitEach() {
        #expect(Set(Metric.catalogue.map(\.name)).count == Metric.catalogue.count)
        for m in Metric.catalogue {
            #expect(!m.units.isEmpty)
            #expect(Metric.named(m.name) == m)
        }
        #expect(Metric.named("time_p90") == nil)
    }

    /// Every figure the emulator reports on the quick profile is catalogued, in one of its units,
    /// and a modelled-only metric is never reported as measured (nor the reverse).
    @Test func theEmulatorReportsCataloguedFiguresOnly() throws {
        let quick = try QuickRun.shared.get()
        var seen = Set<String>()
        for (i, c) in quick.cases.enumerated() {
            try Metric.validate(c.metrics, file: "quick", place: "cases[\(i)].metrics")
            for (name, value) in c.metrics {
                seen.insert(name)
                let metric = try #require(Metric.named(name))
                #expect(metric.origin != .measured || !value.deterministic, "\(name)")
                #expect(metric.origin != .modelled || value.deterministic, "\(name)")
            }
        }
        // GEMM, attention and collective figures all appear.
        #expect(seen.isSuperset(of: ["cycles", "macs", "flops", "tokens_per_second", "busbw", "algbw", "link_bytes"]))
    }

    /// The schemas list the same names as the catalogue, so `validate` and the loaders agree.
    @Test func theSchemasNameEveryCataloguedMetric() throws {
        let text = try String(contentsOfFile: Repository.path("schemas/results.schema.json"), encoding: .utf8)
        let data = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        let defs = data["$defs"] as! [String: Any]
        let names = (defs["metricName"] as! [String: Any])["enum"] as! [String]
        #expect(names.sorted() == Metric.catalogue.map(\.name).sorted())
    }

    /// docs/metrics.md has one row per catalogued metric, with its direction.
    @Test func theDocsListEveryCataloguedMetric() throws {
        let text = try String(contentsOfFile: Repository.path("docs/metrics.md"), encoding: .utf8)
        let rows = text.split(separator: "\n").filter { $0.hasPrefix("| `") }
        #expect(rows.count == Metric.catalogue.count)
        for m in Metric.catalogue {
            let row = rows.first { $0.hasPrefix("| `\(m.name)` |") }
            let cells = row?.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(cells?[2].hasPrefix(m.better?.rawValue ?? "—") == true, "\(m)")
            #expect(cells?[3] == m.origin.rawValue, "\(m)")
        }
    }

    @Test func anUnknownMetricInABaselineIsRefusedByName() throws {
        let dir = temporaryDirectory()
        var baseline = Baseline(results: Self.results(["cycles": Self.modelled(1)]), suite: Self.results([:]).suites[0])
        let good = dir.appendingPathComponent("good.json")
        try JSONFile.encoder().encode(baseline).write(to: good)
        _ = try Baseline.load(good.path)
        baseline.cases[0].metrics["cylces"] = Self.modelled(1)
        let bad = dir.appendingPathComponent("bad.json")
        try JSONFile.encoder().encode(baseline).write(to: bad)
        #expect {
            try Baseline.load(bad.path)
        } throws: { error in
            let e = error as? InputFileError
            return e?.place == "cases[0].metrics.cylces" && e?.message.contains("unknown metric \"cylces\"") == true
        }
        baseline.cases[0].metrics["cylces"] = nil
        baseline.cases[0].metrics["cycles"] = Self.modelled(1, "s")
        try JSONFile.encoder().encode(baseline).write(to: bad)
        #expect(throws: InputFileError.self) { try Baseline.load(bad.path) }
    }

    @Test func shippedToleranceFileLoadsAndBadOnesAreRefused() throws {
        let shipped = try ToleranceRules.load(Repository.path("Baselines/tolerances.json"))
        // Directions come from the catalogue; the shipped file overrides nothing.
        #expect(shipped == .defaults)
        #expect(shipped.rule(for: "cycles", caseId: "x", deterministic: true).better == .lower)
        #expect(shipped.rule(for: "busbw", caseId: "x", deterministic: false).better == .higher)
        let dir = temporaryDirectory()
        for (edit, place) in [("\"metrics\": {}", "metrics.cylces"), ("\"overrides\": []", "overrides[0].metric"),
                              ("\"statistic\": \"median\"", "measured.statistic")] {
            let replacement = switch place {
            case "metrics.cylces": "\"metrics\": {\"cylces\": {\"relative\": 0.1}}"
            case "overrides[0].metric": "\"overrides\": [{\"cases\": \"*\", \"metric\": \"time_p90\", \"rule\": {}}]"
            default: "\"statistic\": \"p42\""
            }
            let text = try String(contentsOfFile: Repository.path("Baselines/tolerances.json"), encoding: .utf8)
                .replacingOccurrences(of: edit, with: replacement)
            let path = write(text, to: "tol.json", in: dir)
            #expect(throws: InputFileError.self, "\(place)") { try ToleranceRules.load(path) }
            #expect((try? ToleranceRules.load(path)) == nil)
            do { _ = try ToleranceRules.load(path) } catch { #expect(error.place == place) }
        }
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
