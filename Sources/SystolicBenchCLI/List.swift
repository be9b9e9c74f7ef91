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
                    print("\(c.id)  [\(describe(c.workload))]")
                }
            }
        }

        private func describe(_ w: Workload) -> String {
            switch w {
            case let .gemm(g): return "gemm \(g.types.label)\(g.layoutB == .nk ? " b:nk" : "")"
            case let .attention(a): return "attention \(a.inputType.rawValue)\(a.causal ? " causal" : "")"
            case let .collective(c): return "\(c.operation.rawValue) \(c.type.rawValue) \(c.reduction.rawValue)"
            }
        }
    }
}
