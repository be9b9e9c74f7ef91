import SystolicHarness

/// The outcome of comparing a results file with one baseline.
///
/// Semantics (first version): the baseline must describe the same device, the same suite bytes
/// (digest) and the same seed, or it is not comparable. Then, for every baseline case, the result
/// must have the same verdict, the same output digest, and every deterministic metric equal to
/// the last bit. Cases in the results but not in the baseline are reported as new, not failed.
public struct Comparison: Sendable {
    public enum Difference: Sendable, Equatable, CustomStringConvertible {
        case missing(id: String)
        case verdict(id: String, baseline: Verdict, now: Verdict)
        case digest(id: String, baseline: String?, now: String?)
        case metric(id: String, name: String, baseline: Double, now: Double?)

        public var id: String {
            switch self {
            case let .missing(id), let .verdict(id, _, _), let .digest(id, _, _), let .metric(id, _, _, _): return id
            }
        }

        public var description: String {
            switch self {
            case let .missing(id): return "\(id): in the baseline but not in the results"
            case let .verdict(id, b, n): return "\(id): verdict \(b.rawValue) → \(n.rawValue)"
            case let .digest(id, b, n): return "\(id): output digest \(b ?? "none") → \(n ?? "none")"
            case let .metric(id, name, b, n):
                return "\(id): \(name) \(Comparison.format(b)) → \(n.map(Comparison.format) ?? "missing")"
            }
        }
    }

    public var suite: String
    /// Why the baseline cannot be compared at all; nil when it can.
    public var notComparable: String?
    public var differences: [Difference]
    /// Result case ids absent from the baseline.
    public var newCases: [String]
    public var comparedCases: Int

    public var status: ExitStatus {
        if notComparable != nil { return .baselineUnusable }
        return differences.isEmpty ? .success : .regression
    }

    public init(results: RunResults, baseline: Baseline) {
        suite = baseline.suite.name
        differences = []
        newCases = []
        comparedCases = 0
        guard let record = results.suites.first(where: { $0.name == baseline.suite.name }) else {
            notComparable = "the results contain no suite \"\(baseline.suite.name)\""
            return
        }
        if results.device.name != baseline.device.name {
            notComparable = "the baseline is for device \"\(baseline.device.name)\", the results for \"\(results.device.name)\""
        } else if record.digest != baseline.suite.digest {
            notComparable = "suite \"\(record.name)\" changed since the baseline was recorded (digest \(baseline.suite.digest), now \(record.digest)); record the baseline again"
        } else if record.seed != baseline.suite.seed {
            notComparable = "the baseline was recorded with seed \(baseline.suite.seed), the results used \(record.seed)"
        } else {
            notComparable = nil
        }
        guard notComparable == nil else { return }

        let current = Dictionary(results.cases.filter { $0.suite == suite }.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let known = Set(baseline.cases.map(\.id))
        newCases = results.cases.filter { $0.suite == suite && !known.contains($0.id) && $0.verdict != .skipped }.map(\.id)
        for b in baseline.cases {
            guard let now = current[b.id], now.verdict != .skipped || b.verdict == .skipped else {
                differences.append(.missing(id: b.id))
                continue
            }
            comparedCases += 1
            if now.verdict != b.verdict { differences.append(.verdict(id: b.id, baseline: b.verdict, now: now.verdict)) }
            if now.check?.outputDigest != b.outputDigest {
                differences.append(.digest(id: b.id, baseline: b.outputDigest, now: now.check?.outputDigest))
            }
            for name in b.metrics.keys.sorted() {
                let was = b.metrics[name]!
                let value = now.metrics[name]?.value
                if value != was { differences.append(.metric(id: b.id, name: name, baseline: was, now: value)) }
            }
        }
    }

    static func format(_ x: Double) -> String {
        if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
        return "\(x)"
    }
}
