import ArgumentParser
import SystolicCompare
import SystolicResults
import SystolicDevice
import SystolicEmulation
import SystolicHarness
import SystolicJSON
import SystolicSuite

extension SystolicBench {
    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check suite, results, baseline, device and tolerance files; name the file, place and value of every problem.")

        @Argument(help: "Files to check (suites, results or baselines, told apart by their format tag).")
        var files: [String]

        func run() throws {
            var bad = false
            for file in files {
                do {
                    print("ok \(file): \(try describe(file))")
                } catch {
                    printError("error: \(error)")
                    bad = true
                }
            }
            if bad { throw statusCode(.badInput) }
        }

        private func describe(_ file: String) throws(InputFileError) -> String {
            let root = try JSONFile.read(file)
            let format = try root.member("format")
            switch try format.string() {
            case Suite.formatTag:
                let suite = try SuiteLoader.load(file)
                let perProfile = suite.profiles.keys.sorted().map { "\($0) \(suite.cases(inProfile: $0).count)" }
                return "suite \(suite.name) \(suite.version), \(suite.cases.count) cases (\(perProfile.joined(separator: ", ")))"
            case RunResults.formatTag:
                let r = try RunResults.load(file)
                return "results of \(r.cases.count) cases on \(r.device.name)\(r.complete ? "" : " (incomplete)")"
            case Baseline.formatTag:
                let b = try Baseline.load(file)
                return "baseline of \(b.cases.count) cases of suite \(b.suite.name) on \(b.device.name)"
            case DeviceConfig.formatTag:
                let d = try DeviceConfig.load(file)
                return "emulator configuration \(d.name): \(d.array.count)× \(d.array.rows)×\(d.array.cols) \(d.array.dataflow.rawValue) at \(d.clockHz / 1e6) MHz"
            case ToleranceRules.formatTag:
                let t = try ToleranceRules.load(file)
                return "tolerance rules \(t.version): \(t.metrics.count) metrics, \(t.overrides.count) overrides"
            default:
                let tags = [Suite.formatTag, RunResults.formatTag, Baseline.formatTag, DeviceConfig.formatTag, ToleranceRules.formatTag]
                throw format.failure(expected: "one of " + tags.map { "\"\($0)\"" }.joined(separator: ", "))
            }
        }
    }
}
