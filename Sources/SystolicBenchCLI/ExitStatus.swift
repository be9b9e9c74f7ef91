import SystolicCompare
import SystolicResults
import SystolicHarness

/// The tool's exit codes, stable and documented in docs/results.md; only the command-line tool
/// knows them (the libraries report outcomes). When several apply the lowest
/// non-zero one wins.
enum ExitStatus: Int32, Sendable, CaseIterable {
    case success = 0
    /// A case failed, or a mandatory case did not pass.
    case conformanceFailure = 1
    /// A result regressed against its baseline.
    case regression = 2
    /// The device or its adapter broke.
    case deviceError = 3
    /// The baseline is missing or not comparable.
    case baselineUnusable = 4
    /// The run was interrupted (SIGINT or SIGTERM) and its results are incomplete: a CI job
    /// stopped by its timeout must not report success.
    case interrupted = 5
    /// A file the tool had to write (results, journal, baseline, report, package) could not be
    /// written; the message names it.
    case cannotWrite = 6
    /// Wrong command-line usage.
    case usage = 64
    /// A suite, results, baseline or config file that does not parse or validate.
    case badInput = 65

    /// The status a set of verdicts calls for.
    static func forVerdicts<S: Sequence>(_ verdicts: S) -> ExitStatus where S.Element == Verdict {
        var worst = ExitStatus.success
        for v in verdicts {
            let s: ExitStatus = v == .fail ? .conformanceFailure : v == .error ? .deviceError : .success
            worst = worst.combined(with: s)
        }
        return worst
    }

    /// The lower non-zero of two statuses.
    func combined(with other: ExitStatus) -> ExitStatus {
        if self == .success { return other }
        if other == .success { return self }
        return rawValue <= other.rawValue ? self : other
    }
}

extension ExitStatus {
    /// The status a comparison's outcome calls for.
    init(_ outcome: Comparison.Outcome) {
        switch outcome {
        case .clean: self = .success
        case .regressed: self = .regression
        case .notComparable: self = .baselineUnusable
        }
    }
}
