import SystolicResults


/// Everything one `compare` found, rendered for people (terminal, Markdown for a CI job summary),
/// for CI systems (JUnit XML, one test per case) and for programs (JSON).
public struct ComparisonReport: Sendable, Codable {
    public static let formatTag = "systolic-bench.comparison/2"

    public struct SuiteOutcome: Sendable, Codable {
        public var suite: String
        public var baseline: String
        /// Why no comparison was possible (missing or not comparable baseline); nil otherwise.
        public var problem: String?
        public var compared: [String]
        public var changes: [Comparison.Change]
        public var newCases: [String]

        enum CodingKeys: String, CodingKey {
            case suite, baseline, problem, compared, changes
            case newCases = "new_cases"
        }
    }

    public var format = ComparisonReport.formatTag
    public var device: String
    /// The worst outcome over the suites; a missing baseline is `not_comparable`.
    public var outcome: Comparison.Outcome
    public var suites: [SuiteOutcome]

    public init(device: String, comparisons: [Comparison], missing: [(suite: String, path: String)], failOnImprovement: Bool) {
        self.device = device
        var outcomes = comparisons.map {
            SuiteOutcome(suite: $0.suite, baseline: $0.baselinePath, problem: $0.notComparable.map { "not comparable: \($0)" },
                         compared: $0.comparedCases, changes: $0.changes, newCases: $0.newCases)
        }
        outcomes += missing.map { SuiteOutcome(suite: $0.suite, baseline: $0.path, problem: "no baseline at \($0.path)", compared: [], changes: [], newCases: []) }
        suites = outcomes
        var worst = Comparison.Outcome.clean
        for c in comparisons { worst = max(worst, c.outcome(failOnImprovement: failOnImprovement)) }
        if !missing.isEmpty { worst = .notComparable }
        outcome = worst
    }

    // MARK: Terminal

    public func terminal() -> String {
        var lines: [String] = []
        for o in suites {
            if let problem = o.problem { lines.append("\(o.suite): \(problem)"); continue }
            let regressions = o.changes.filter { $0.kind == .regression }, improvements = o.changes.filter { $0.kind == .improvement }
            if o.changes.isEmpty {
                lines.append("\(o.suite): \(o.compared.count) cases identical to \(o.baseline)")
            } else {
                lines.append("\(o.suite): \(o.compared.count) cases against \(o.baseline): \(regressions.count) regressions, \(improvements.count) improvements")
            }
            for c in o.changes { lines.append("  \(c.kind.rawValue): \(c)") }
            for id in o.newCases { lines.append("  new (not in the baseline): \(id)") }
        }
        return lines.joined(separator: "\n")
    }

    // MARK: Markdown

    public func markdown() -> String {
        var md = "## SystolicBench comparison: \(device)\n\n"
        md += "| suite | baseline | cases | regressions | improvements | new | result |\n|---|---|---:|---:|---:|---:|---|\n"
        for o in suites {
            let r = o.changes.filter { $0.kind == .regression }.count, i = o.changes.filter { $0.kind == .improvement }.count
            let result = o.problem ?? (r > 0 ? "regressed" : i > 0 ? "improved" : "identical")
            md += "| \(o.suite) | `\(o.baseline)` | \(o.compared.count) | \(r) | \(i) | \(o.newCases.count) | \(Self.cell(result)) |\n"
        }
        let changes = suites.flatMap(\.changes)
        if !changes.isEmpty {
            md += "\n| | case | what | baseline | now | change |\n|---|---|---|---|---|---:|\n"
            for c in changes {
                let change = c.relativeChange.map { ($0 >= 0 ? "+" : "") + Comparison.percent($0) } ?? ""
                md += "| \(c.kind.rawValue) | `\(c.caseId)` | \(c.subject) | \(Self.cell(c.baseline)) | \(Self.cell(c.now)) | \(change) |\n"
            }
        }
        let verdict = switch outcome {
        case .clean: "no regression"
        case .regressed: "regression"
        case .notComparable: "a baseline is missing or not comparable"
        }
        md += "\nOutcome: \(verdict).\n"
        return md
    }

    private static func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }

    // MARK: JUnit

    /// JUnit XML: a testsuite per suite and a testcase per baseline case; a regression is a
    /// `failure`, a missing or incomparable baseline an `error`, a new case `skipped`.
    public func junit() -> String {
        var body = ""
        var totals = (tests: 0, failures: 0, errors: 0, skipped: 0)
        for o in suites {
            var cases = ""
            var counts = (tests: 0, failures: 0, errors: 0, skipped: 0)
            if let problem = o.problem {
                counts.tests += 1; counts.errors += 1
                cases += "    <testcase classname=\"\(Self.xml(o.suite))\" name=\"\(Self.xml(o.suite)) baseline\">\n"
                cases += "      <error type=\"baseline\" message=\"\(Self.xml(problem))\"/>\n    </testcase>\n"
            }
            for id in o.compared {
                counts.tests += 1
                let failures = o.changes.filter { $0.caseId == id && $0.kind == .regression }
                cases += "    <testcase classname=\"\(Self.xml(o.suite))\" name=\"\(Self.xml(id))\""
                if failures.isEmpty {
                    cases += "/>\n"
                } else {
                    counts.failures += 1
                    let text = failures.map(\.description).joined(separator: "\n")
                    cases += ">\n      <failure type=\"regression\" message=\"\(Self.xml(failures[0].description))\">\(Self.xml(text))</failure>\n    </testcase>\n"
                }
            }
            for id in o.newCases {
                counts.tests += 1; counts.skipped += 1
                cases += "    <testcase classname=\"\(Self.xml(o.suite))\" name=\"\(Self.xml(id))\">\n      <skipped message=\"not in the baseline\"/>\n    </testcase>\n"
            }
            body += "  <testsuite name=\"\(Self.xml(o.suite))\" tests=\"\(counts.tests)\" failures=\"\(counts.failures)\" errors=\"\(counts.errors)\" skipped=\"\(counts.skipped)\">\n"
            body += cases + "  </testsuite>\n"
            totals.tests += counts.tests; totals.failures += counts.failures; totals.errors += counts.errors; totals.skipped += counts.skipped
        }
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            + "<testsuites name=\"systolic-bench compare \(Self.xml(device))\" tests=\"\(totals.tests)\" failures=\"\(totals.failures)\" errors=\"\(totals.errors)\" skipped=\"\(totals.skipped)\">\n"
            + body + "</testsuites>\n"
    }

    static func xml(_ s: String) -> String {
        var out = ""
        for ch in s.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\n": out += "&#10;"
            default:
                // XML 1.0 forbids most control characters even escaped.
                if ch.value < 0x20 && ch != "\t" { out += "?" } else { out.unicodeScalars.append(ch) }
            }
        }
        return out
    }
}
