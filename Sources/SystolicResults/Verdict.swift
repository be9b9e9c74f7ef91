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
