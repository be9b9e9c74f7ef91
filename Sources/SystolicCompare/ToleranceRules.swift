import Foundation
import SystolicJSON

/// How much each metric may move before a comparison calls it a regression or an improvement
/// (format `systolic-bench.tolerances/1`, schema `schemas/tolerances.schema.json`).
///
/// Resolution for a metric of a case: the first override whose case pattern matches the case id
/// and whose metric matches; else the rule named for the metric in `metrics`; else `deterministic`
/// for deterministic figures (an exact match) or `measured` for the rest. A rule's `better` gives
/// the polarity; a change is within tolerance when |now − baseline| ≤ max(absolute,
/// relative·|baseline|); beyond it, a change in the `better` direction is an improvement and the
/// other a regression. Without a polarity every change beyond tolerance is a regression.
public struct ToleranceRules: Sendable, Codable, Equatable {
    public static let formatTag = "systolic-bench.tolerances/1"

    public enum Polarity: String, Sendable, Codable, CaseIterable {
        case lower, higher
    }

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
        let base = metrics[metric] ?? Rule()
        let fallback = isDeterministic ? deterministic : measured
        var rule = base.over(fallback)
        if isDeterministic, metrics[metric]?.relative == nil, metrics[metric]?.absolute == nil {
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

    /// The rules the tool uses when none are given: exact for modelled figures, 5 % (and an
    /// absolute floor) on the median for measured ones, with each known metric's polarity.
    public static let defaults = ToleranceRules(
        format: formatTag, version: "1.0.0",
        deterministic: Rule(statistic: "value", relative: 0, absolute: 0),
        measured: Rule(statistic: "median", relative: 0.05, absolute: 0),
        metrics: [
            "cycles": Rule(better: .lower), "compute_cycles": Rule(better: .lower), "stall_cycles": Rule(better: .lower),
            "time": Rule(better: .lower, absolute: 1e-6), "roofline_time": Rule(better: .lower),
            "throughput": Rule(better: .higher), "utilisation": Rule(better: .higher),
            "mapping_efficiency": Rule(better: .higher), "roofline_fraction": Rule(better: .higher),
            "energy": Rule(better: .lower), "efficiency": Rule(better: .higher),
            "hbm_read_bytes": Rule(better: .lower), "hbm_write_bytes": Rule(better: .lower), "sram_bytes": Rule(better: .lower),
            "arithmetic_intensity": Rule(better: .higher), "macs": Rule(),
        ],
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
        }
        try check(rules.deterministic, "deterministic")
        try check(rules.measured, "measured")
        for (name, rule) in rules.metrics.sorted(by: { $0.key < $1.key }) { try check(rule, "metrics.\(name)") }
        for (i, o) in rules.overrides.enumerated() { try check(o.rule, "overrides[\(i)].rule") }
        return rules
    }
}
