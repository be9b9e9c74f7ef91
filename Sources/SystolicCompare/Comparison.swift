import SystolicDevice
import SystolicResults


/// The outcome of comparing a results file with one baseline under tolerance rules.
///
/// The baseline must describe the same device, the same suite (version and bytes) and the same
/// seed, or it is not comparable (exit 4). Then, per baseline case: a case missing from the
/// results, a verdict that leaves `pass` and a changed output digest are regressions; a verdict
/// that reaches `pass` is an improvement; each metric is classified by its rule (see
/// `ToleranceRules`). Cases in the results but not in the baseline are listed as new.
public struct Comparison: Sendable {
    public enum Kind: String, Sendable, Codable {
        case regression, improvement
    }

    /// One difference beyond tolerance.
    public struct Change: Sendable, Codable, Equatable, CustomStringConvertible {
        public var caseId: String
        /// `presence`, `verdict`, `output_digest`, or a metric name.
        public var subject: String
        public var baseline: String
        public var now: String
        public var kind: Kind
        /// (now − baseline) / |baseline| for metrics.
        public var relativeChange: Double?
        /// The tolerance the change exceeded, in the metric's unit.
        public var allowance: Double?

        enum CodingKeys: String, CodingKey {
            case subject, baseline, now, kind, allowance
            case caseId = "case"
            case relativeChange = "relative_change"
        }

        public var description: String {
            var s = "\(caseId): \(subject) \(baseline) → \(now)"
            if let r = relativeChange, r.isFinite { s += " (\(r >= 0 ? "+" : "")\(Comparison.percent(r)))" }
            return s
        }
    }

    public var suite: String
    public var baselinePath: String
    /// Why the baseline cannot be compared at all; nil when it can.
    public var notComparable: String?
    public var changes: [Change]
    /// Result case ids absent from the baseline.
    public var newCases: [String]
    /// Baseline case ids, in order: one JUnit test each.
    public var comparedCases: [String]

    public var regressions: [Change] { changes.filter { $0.kind == .regression } }
    public var improvements: [Change] { changes.filter { $0.kind == .improvement } }

    /// What a comparison amounts to, worst last: the tool turns it into its exit status.
    public enum Outcome: String, Sendable, Codable, Comparable {
        /// No regression (improvements allowed unless asked otherwise).
        case clean
        /// A regression, or with `failOnImprovement` an improvement too (the baseline is stale).
        case regressed = "regression"
        /// The baseline is missing or describes another device, suite or seed.
        case notComparable = "not_comparable"

        public static func < (a: Outcome, b: Outcome) -> Bool { a.rank < b.rank }
        private var rank: Int { self == .clean ? 0 : self == .regressed ? 1 : 2 }
    }

    /// Not comparable when the baseline cannot be used; regressed on a regression (or, with
    /// `failOnImprovement`, on an improvement too); else clean.
    public func outcome(failOnImprovement: Bool = false) -> Outcome {
        if notComparable != nil { return .notComparable }
        if !regressions.isEmpty || (failOnImprovement && !improvements.isEmpty) { return .regressed }
        return .clean
    }

    public init(results: RunResults, baseline: Baseline, baselinePath: String = "", rules: ToleranceRules = .defaults) {
        suite = baseline.suite.name
        self.baselinePath = baselinePath
        changes = []
        newCases = []
        comparedCases = []
        notComparable = Self.whyNotComparable(results, baseline)
        guard notComparable == nil else { return }

        let current = Dictionary(results.cases.filter { $0.suite == suite }.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let known = Set(baseline.cases.map(\.id))
        newCases = results.cases.filter { $0.suite == suite && !known.contains($0.id) && $0.verdict != .skipped }.map(\.id)
        for b in baseline.cases {
            comparedCases.append(b.id)
            guard let now = current[b.id], now.verdict != .skipped else {
                changes.append(Change(caseId: b.id, subject: "presence", baseline: "present", now: "missing", kind: .regression))
                continue
            }
            if now.verdict != b.verdict {
                // Leaving pass is always a regression; reaching pass an improvement; any other move a regression.
                let kind: Kind = now.verdict == .pass ? .improvement : .regression
                changes.append(Change(caseId: b.id, subject: "verdict", baseline: b.verdict.rawValue, now: now.verdict.rawValue, kind: kind))
            }
            if b.outputDigest != nil, now.check?.outputDigest != b.outputDigest, now.verdict == b.verdict {
                changes.append(Change(caseId: b.id, subject: "output_digest", baseline: b.outputDigest ?? "none",
                                      now: now.check?.outputDigest ?? "none", kind: .regression))
            }
            for name in b.metrics.keys.sorted() {
                let was = b.metrics[name]!
                let rule = rules.rule(for: name, caseId: b.id, deterministic: was.deterministic)
                guard let value = Self.statistic(rule.statistic, of: was) else { continue }
                guard let nowMetric = now.metrics[name], let current = Self.statistic(rule.statistic, of: nowMetric) else {
                    if now.verdict == b.verdict {
                        changes.append(Change(caseId: b.id, subject: name, baseline: Self.format(value, was.unit, name), now: "missing",
                                              kind: .regression))
                    }
                    continue
                }
                let allowance = rule.allowance(baseline: value)
                let delta = current - value
                guard abs(delta) > allowance || (current.isNaN != value.isNaN) else { continue }
                let kind: Kind
                switch rule.better {
                case .lower?: kind = delta < 0 ? .improvement : .regression
                case .higher?: kind = delta > 0 ? .improvement : .regression
                case nil: kind = .regression
                }
                changes.append(Change(caseId: b.id, subject: name, baseline: Self.format(value, was.unit, name), now: Self.format(current, nowMetric.unit, name),
                                      kind: kind, relativeChange: value != 0 ? delta / abs(value) : nil, allowance: allowance))
            }
        }
    }

    static func whyNotComparable(_ results: RunResults, _ baseline: Baseline) -> String? {
        guard let record = results.suites.first(where: { $0.name == baseline.suite.name }) else {
            return "the results contain no suite \"\(baseline.suite.name)\""
        }
        if results.device.name != baseline.device.name {
            return "the baseline is for device \"\(baseline.device.name)\", the results for \"\(results.device.name)\""
        }
        if record.version != baseline.suite.version {
            return "the baseline is for suite \(record.name) \(baseline.suite.version), the results ran \(record.version); record the baseline again"
        }
        if record.digest != baseline.suite.digest {
            return "suite \"\(record.name)\" changed since the baseline was recorded (digest \(baseline.suite.digest), now \(record.digest)); record the baseline again"
        }
        if record.seed != baseline.suite.seed {
            return "the baseline was recorded with seed \(baseline.suite.seed), the results used \(record.seed)"
        }
        return nil
    }

    /// The named statistic of a metric: its value, or one of its recorded statistics.
    static func statistic(_ name: String?, of metric: MetricValue) -> Double? {
        guard let name, name != "value" else { return metric.value }
        return metric.statistics?[name] ?? metric.value
    }

    /// A figure with its unit, unless the unit only repeats the metric's name (`cycles`) or is a ratio.
    static func format(_ x: Double, _ unit: String, _ name: String) -> String {
        let number: String
        if x == x.rounded(), abs(x) < 1e15 { number = String(Int64(x)) } else { number = "\(x)" }
        return unit == "ratio" || unit.isEmpty || unit == name ? number : "\(number) \(unit)"
    }

    static func percent(_ r: Double) -> String {
        "\(Double(Int((r * 10000).rounded())) / 100)%"
    }
}
