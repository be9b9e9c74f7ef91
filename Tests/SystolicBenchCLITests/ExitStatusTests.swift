import SystolicTestSupport
import Testing
@testable import SystolicBenchCLI
import SystolicCompare
import SystolicHarness

/// The exit codes are the tool's alone: verdicts and comparison outcomes map to them here.
struct ExitStatusTests {
    @Test func exitStatusFollowsTheTable() {
        #expect(ExitStatus.forVerdicts([.pass, .notSupported, .skipped]) == .success)
        #expect(ExitStatus.forVerdicts([.pass, .error, .fail]) == .conformanceFailure)
        #expect(ExitStatus.forVerdicts([.error, .pass]) == .deviceError)
        #expect(ExitStatus.regression.combined(with: .deviceError) == .regression)
        #expect(ExitStatus.success.combined(with: .baselineUnusable) == .baselineUnusable)
    }

    @Test func comparisonOutcomesMapToTheirCodes() {
        #expect(ExitStatus(Comparison.Outcome.clean) == .success)
        #expect(ExitStatus(Comparison.Outcome.regressed).rawValue == 2)
        #expect(ExitStatus(Comparison.Outcome.notComparable).rawValue == 4)
        #expect(max(Comparison.Outcome.regressed, .notComparable, .clean) == .notComparable)
    }
}
