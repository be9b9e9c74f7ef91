/// A case's outcome (docs/results.md).
public enum Verdict: String, Sendable, Codable, CaseIterable {
    /// Ran and every check held.
    case pass
    /// Ran and a check proved the output wrong.
    case fail
    /// The device declared it cannot run this case.
    case notSupported = "not_supported"
    /// The device or adapter broke (crash, hang, garbage, wrong shape).
    case error
    /// Filtered out or not run (an interrupted run).
    case skipped
}

/// The tool's exit codes, stable and documented in docs/results.md. When several apply the lowest
/// non-zero one wins.
public enum ExitStatus: Int32, Sendable, CaseIterable {
    case success = 0
    /// A case failed, or a mandatory case did not pass.
    case conformanceFailure = 1
    /// A result regressed against its baseline.
    case regression = 2
    /// The device or its adapter broke.
    case deviceError = 3
    /// The baseline is missing or not comparable.
    case baselineUnusable = 4
    /// Wrong command-line usage.
    case usage = 64
    /// A suite, results, baseline or config file that does not parse or validate.
    case badInput = 65

    /// The status a set of verdicts calls for.
    public static func forVerdicts<S: Sequence>(_ verdicts: S) -> ExitStatus where S.Element == Verdict {
        var worst = ExitStatus.success
        for v in verdicts {
            let s: ExitStatus = v == .fail ? .conformanceFailure : v == .error ? .deviceError : .success
            worst = worst.combined(with: s)
        }
        return worst
    }

    /// The lower non-zero of two statuses.
    public func combined(with other: ExitStatus) -> ExitStatus {
        if self == .success { return other }
        if other == .success { return self }
        return rawValue <= other.rawValue ? self : other
    }
}
