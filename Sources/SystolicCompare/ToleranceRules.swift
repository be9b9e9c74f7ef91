import SystolicResults
import Foundation
import SystolicDevice
import SystolicJSON

/// How much each metric may move before a comparison calls it a regression or an improvement
/// (format `systolic-bench.tolerances/1`, schema `schemas/tolerances.schema.json`).
///
/// The defaults come from the metric catalogue (`Metric`): which way is better, and the noise
/// floor of a measured figure. A tolerance file only overrides them. Resolution for a metric of a
/// case: the first override whose case pattern matches the case id and whose metric matches; over
/// the file's rule for the metric in `metrics`; over the catalogue's; over `deterministic` for
/// deterministic figures (exact unless the file's rule for the metric says otherwise) or
/// `measured` for the rest. A change is within tolerance when |now − baseline| ≤ max(absolute,
/// relative·|baseline|); beyond it, a change in the `better` direction is an improvement and the
/// other a regression. Without a direction (counts of work such as `macs`) every change beyond
/// tolerance is a regression.
public struct ToleranceRules: Sendable, Codable, Equatable {
    public static let formatTag = "systolic-bench.tolerances/1"

    /// The file's name for a metric's direction (`better`): the catalogue's.
    public typealias Polarity = Metric.Better

    public struct Rule: Sendable, Codable, Equatable {
        public var better: Polarity?
        /// Which statistic of a measured metric to compare (`value`, `median`, `p90`, …).
        public var statistic: String?
        public var relative: Double?
        public var absolute: Double?

        public init(better: Polarity? = nil, statistic: String? = nil, relative: Double? = nil, absolute: Double? = nil) {
            self.better = better; self.statistic = statistic; self.relative = relative; self.absolute = absolute
        }

        /// A rule with this one's fields where set, else `base`'s.
        func over(_ base: Rule) -> Rule {
            Rule(better: better ?? base.better, statistic: statistic ?? base.statistic,
                 relative: relative ?? base.relative, absolute: absolute ?? base.absolute)
        }

        /// The largest change that is not a difference.
        public func allowance(baseline: Double) -> Double {
            max(absolute ?? 0, (relative ?? 0) * abs(baseline))
        }
    }

    public struct Override: Sendable, Codable, Equatable {
        /// A case-id pattern: `*` matches any run of characters.
        public var cases: String
        /// A metric name, or nil for every metric.
        public var metric: String?
        public var rule: Rule
    }

    public var format: String
    public var version: String
    /// Rules for deterministic figures without a rule of their own: exact by default.
    public var deterministic: Rule
    /// Rules for measured figures without a rule of their own: noise-tolerant by default.
    public var measured: Rule
    /// Rules by metric name.
    public var metrics: [String: Rule]
    public var overrides: [Override]

    /// The rule for `metric` of case `caseId`.
    public func rule(for metric: String, caseId: String, deterministic isDeterministic: Bool) -> Rule {
        let catalogued = Metric.named(metric)
        var fromCatalogue = Rule(better: catalogued?.better)
        if !isDeterministic, let floor = catalogued?.measuredFloor, floor > 0 { fromCatalogue.absolute = floor }
        let own = metrics[metric] ?? Rule()
        var rule = own.over(fromCatalogue).over(isDeterministic ? deterministic : measured)
        if isDeterministic, own.relative == nil, own.absolute == nil {
            // Modelled figures repeat to the last bit: any change is a change.
            rule.relative = deterministic.relative
            rule.absolute = deterministic.absolute
        }
        if let o = overrides.first(where: { Self.matches($0.cases, caseId) && ($0.metric == nil || $0.metric == metric) }) {
            rule = o.rule.over(rule)
        }
        return rule
    }

    /// Glob matching with `*` only, over whole ids.
    static func matches(_ pattern: String, _ text: String) -> Bool {
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 1 { return pattern == text }
        guard text.hasPrefix(parts[0]), text.hasSuffix(parts[parts.count - 1]),
              text.count >= parts[0].count + parts[parts.count - 1].count else { return false }
        var rest = Substring(text.dropFirst(parts[0].count).dropLast(parts[parts.count - 1].count))
        for middle in parts.dropFirst().dropLast() where !middle.isEmpty {
            guard let r = rest.range(of: middle) else { return false }
            rest = rest[r.upperBound...]
        }
        return true
    }

    /// The rules the tool uses when none are given: exact for modelled figures, 5 % on the median
    /// for measured ones, and the catalogue's direction and noise floor for each metric.
    public static let defaults = ToleranceRules(
        format: formatTag, version: "2.0.0",
        deterministic: Rule(statistic: "value", relative: 0, absolute: 0),
        measured: Rule(statistic: "median", relative: 0.05, absolute: 0),
        metrics: [:],
        overrides: [])

    /// Reads and validates a tolerance file; errors name the file, the place and the value.
    public static func load(_ path: String) throws(InputFileError) -> ToleranceRules {
        let rules = try JSONFile.decode(ToleranceRules.self, from: path)
        guard rules.format == formatTag else {
            throw InputFileError(file: path, place: "format", message: "expected \"\(formatTag)\", found \"\(rules.format)\"")
        }
        func check(_ rule: Rule, _ place: String) throws(InputFileError) {
            for (name, v) in [("relative", rule.relative), ("absolute", rule.absolute)] {
                if let v, !(v >= 0 && v.isFinite) {
                    throw InputFileError(file: path, place: "\(place).\(name)", message: "expected a non-negative number, found \(v)")
                }
            }
            if let statistic = rule.statistic, statistic != "value", Statistic(rawValue: statistic) == nil {
                throw InputFileError(file: path, place: "\(place).statistic",
                                     message: "expected value or one of \(Statistic.allCases.map(\.rawValue).joined(separator: ", ")), found \"\(statistic)\"")
            }
        }
        func known(_ metric: String, _ place: String) throws(InputFileError) {
            guard Metric.named(metric) == nil else { return }
            throw InputFileError(file: path, place: place, message: "unknown metric \"\(metric)\" (not in the metric catalogue)")
        }
        try check(rules.deterministic, "deterministic")
        try check(rules.measured, "measured")
        for (name, rule) in rules.metrics.sorted(by: { $0.key < $1.key }) {
            try known(name, "metrics.\(name)")
            try check(rule, "metrics.\(name)")
        }
        for (i, o) in rules.overrides.enumerated() {
            if let metric = o.metric { try known(metric, "overrides[\(i)].metric") }
            try check(o.rule, "overrides[\(i)].rule")
        }
        return rules
    }
}
