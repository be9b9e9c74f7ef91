import ArgumentParser
import Foundation
import SystolicCompare
import SystolicHarness
import SystolicJSON

extension SystolicBench {
    struct Compare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare a results file with stored baselines; name every difference.",
            discussion: "Exit 0 when identical, 2 on any regression, 4 when a baseline is missing or not comparable.")

        @Argument(help: "A results file.")
        var results: String

        @Option(help: "Baseline files (default: <baselines-dir>/<device>/<suite>.json for each suite in the results).")
        var baseline: [String] = []

        @Option(help: "Directory of baselines.")
        var baselinesDir: String = "Baselines"

        func run() throws {
            let r: RunResults
            do { r = try RunResults.load(results) } catch { throw badInput(error) }
            var status = ExitStatus.success
            var baselinePaths = baseline
            if baselinePaths.isEmpty {
                for suite in r.suites {
                    let path = Baseline.path(directory: baselinesDir, device: r.device.name, suite: suite.name)
                    if FileManager.default.fileExists(atPath: path) {
                        baselinePaths.append(path)
                    } else {
                        print("\(suite.name): no baseline at \(path)")
                        status = status.combined(with: .baselineUnusable)
                    }
                }
            }
            for path in baselinePaths {
                let b: Baseline
                do { b = try Baseline.load(path) } catch { throw badInput(error) }
                let comparison = Comparison(results: r, baseline: b)
                if let why = comparison.notComparable {
                    print("\(comparison.suite): not comparable with \(path): \(why)")
                } else if comparison.differences.isEmpty {
                    print("\(comparison.suite): \(comparison.comparedCases) cases identical to \(path)")
                } else {
                    print("\(comparison.suite): \(comparison.differences.count) differences from \(path):")
                    for d in comparison.differences { print("  regression: \(d)") }
                }
                for id in comparison.newCases { print("  new (not in the baseline): \(id)") }
                status = status.combined(with: comparison.status)
            }
            if status != .success { throw statusCode(status) }
        }
    }
}
