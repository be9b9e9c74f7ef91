import ArgumentParser
import Foundation
import SystolicCompare
import SystolicResults
import SystolicHarness
import SystolicJSON

extension SystolicBench {
    struct Compare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare a results file with stored baselines under tolerance rules; name every difference.",
            discussion: """
                Exit 0 when nothing regressed, 2 on any regression, 4 when a baseline is missing or not \
                comparable. Tolerances: --tolerances FILE, else <baselines-dir>/tolerances.json when present, \
                else the built-in defaults (exact for modelled figures, 5% on the median for measured ones).
                """)

        @Argument(help: "A results file.")
        var results: String

        @Option(help: "Baseline files (default: <baselines-dir>/<device>/<suite>.json for each suite in the results).")
        var baseline: [String] = []

        @Option(help: "Directory of baselines.")
        var baselinesDir: String = "Baselines"

        @Option(help: "Tolerance rules (format systolic-bench.tolerances/1).")
        var tolerances: String?

        @Option(help: "Also write the comparison as Markdown (for a CI job summary) to this file.")
        var markdown: String?

        @Option(help: "Also write the comparison as JUnit XML (one test per case) to this file.")
        var junit: String?

        @Flag(help: "Print the comparison as JSON instead of the terminal summary.")
        var json = false

        @Flag(help: "Fail (exit 2) on improvements beyond tolerance too: the baseline is stale and should be updated.")
        var failOnImprovement = false

        func run() throws {
            let r: RunResults
            do { r = try RunResults.load(results) } catch { throw badInput(error) }
            let rules = try loadRules()
            var comparisons: [Comparison] = []
            var missing: [(suite: String, path: String)] = []
            var baselinePaths = baseline
            if baselinePaths.isEmpty {
                for suite in r.suites {
                    let path = Baseline.path(directory: baselinesDir, device: r.device.name, suite: suite.name)
                    if FileManager.default.fileExists(atPath: path) { baselinePaths.append(path) } else { missing.append((suite.name, path)) }
                }
            }
            for path in baselinePaths {
                guard FileManager.default.fileExists(atPath: path) else {
                    missing.append((suite: (path as NSString).lastPathComponent, path: path))
                    continue
                }
                let b: Baseline
                do { b = try Baseline.load(path) } catch { throw badInput(error) }
                comparisons.append(Comparison(results: r, baseline: b, baselinePath: path, rules: rules))
            }
            let report = ComparisonReport(device: r.device.name, comparisons: comparisons, missing: missing,
                                          failOnImprovement: failOnImprovement)
            if let markdown { try JSONFile.writeAtomically(Data(report.markdown().utf8), to: markdown) }
            if let junit { try JSONFile.writeAtomically(Data(report.junit().utf8), to: junit) }
            if json {
                print(String(decoding: try JSONFile.encoder().encode(report), as: UTF8.self))
            } else {
                print(report.terminal())
            }
            let status = ExitStatus(report.outcome)
            if status != .success { throw statusCode(status) }
        }

        private func loadRules() throws -> ToleranceRules {
            let path = tolerances ?? "\(baselinesDir)/tolerances.json"
            guard tolerances != nil || FileManager.default.fileExists(atPath: path) else { return .defaults }
            do { return try ToleranceRules.load(path) } catch { throw badInput(error) }
        }
    }
}
