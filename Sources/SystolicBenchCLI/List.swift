import ArgumentParser
import SystolicSuite

extension SystolicBench {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the case ids of suites, sweeps expanded.")

        @Argument(help: "Suite files (default: every Suites/*.json).")
        var suites: [String] = []

        @Option(help: "Only the cases of this profile.")
        var profile: ProfileName?

        func run() throws {
            for suite in try SuiteSelection.load(suites) {
                if let p = profile, suite.profiles[p.name] == nil {
                    throw ValidationError("suite \(suite.file) has no profile \"\(p)\"")
                }
                for c in suite.cases(inProfile: profile?.name) {
                    print("\(c.id)  [\(c.workload.summary)]")
                }
            }
        }
    }
}
