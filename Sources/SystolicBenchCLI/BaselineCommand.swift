import ArgumentParser
import SystolicCompare
import SystolicHarness
import SystolicJSON

extension SystolicBench {
    struct BaselineCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "baseline", abstract: "Record and show baselines.",
            subcommands: [Record.self, Show.self])

        struct Record: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Write Baselines/<device>/<suite>.json for every suite in a results file.")

            @Argument(help: "A complete results file.")
            var results: String

            @Option(help: "Directory of baselines.")
            var dir: String = "Baselines"

            func run() throws {
                let r: RunResults
                do { r = try RunResults.load(results) } catch { throw badInput(error) }
                guard r.complete else {
                    printError("error: \(results): the run was interrupted; record a baseline from a complete run")
                    throw statusCode(.badInput)
                }
                for suite in r.suites {
                    let path = Baseline.path(directory: dir, device: r.device.name, suite: suite.name)
                    let baseline = Baseline(results: r, suite: suite)
                    try JSONFile.writeAtomically(try JSONFile.encoder().encode(baseline), to: path)
                    print("wrote \(path) (\(baseline.cases.count) cases)")
                }
            }
        }

        struct Show: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Print a baseline's cases and figures.")

            @Argument(help: "A baseline file.")
            var file: String

            func run() throws {
                let b: Baseline
                do { b = try Baseline.load(file) } catch { throw badInput(error) }
                print("suite \(b.suite.name) \(b.suite.version) (\(b.suite.digest)), seed \(b.suite.seed), device \(b.device.name), harness \(b.harnessVersion)")
                for c in b.cases {
                    let metrics = c.metrics.keys.sorted().map { "\($0)=\(c.metrics[$0]!)" }.joined(separator: " ")
                    print("\(c.verdict.rawValue)  \(c.id)  \(metrics)")
                }
            }
        }
    }
}
