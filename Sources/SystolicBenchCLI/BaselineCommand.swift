import ArgumentParser
import Foundation
import SystolicCompare
import SystolicResults
import SystolicHarness
import SystolicJSON

extension SystolicBench {
    struct BaselineCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "baseline", abstract: "Record and show baselines.",
            subcommands: [Record.self, Update.self, Show.self])

        struct Record: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Write Baselines/<device>/<suite>.json for every suite in a results file.")

            @OptionGroup var source: BaselineSource

            func run() throws {
                let (r, results, dir) = (try source.load(), source.results, source.dir)
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

        struct Update: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Refresh baselines from a results file: its cases replace theirs, cases it lacks are kept.",
                discussion: "Refuses (exit 4) a baseline of another device; when the suite changed, only the results' cases are kept.")

            @OptionGroup var source: BaselineSource

            func run() throws {
                let (r, dir) = (try source.load(), source.dir)
                for suite in r.suites {
                    let path = Baseline.path(directory: dir, device: r.device.name, suite: suite.name)
                    var fresh = Baseline(results: r, suite: suite)
                    if FileManager.default.fileExists(atPath: path) {
                        let old: Baseline
                        do { old = try Baseline.load(path) } catch { throw badInput(error) }
                        guard old.device.name == r.device.name else {
                            printError("error: \(path) is a baseline of \(old.device.name), the results are of \(r.device.name)")
                            throw statusCode(.baselineUnusable)
                        }
                        if old.suite.digest == suite.digest {
                            let updated = Set(fresh.cases.map(\.id))
                            let kept = old.cases.filter { !updated.contains($0.id) }
                            let order = Dictionary(uniqueKeysWithValues: r.cases.map { ($0.id, $0.position) })
                            fresh.cases = (fresh.cases + kept).sorted { (order[$0.id] ?? .max, $0.id) < (order[$1.id] ?? .max, $1.id) }
                        }
                    }
                    try JSONFile.writeAtomically(try JSONFile.encoder().encode(fresh), to: path)
                    print("updated \(path) (\(fresh.cases.count) cases)")
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
                    let metrics = c.metrics.keys.sorted().map { "\($0)=\(c.metrics[$0]!.value)" }.joined(separator: " ")
                    print("\(c.verdict.rawValue)  \(c.id)  \(metrics)")
                }
            }
        }
    }
}

/// The results file a baseline is taken from, and where baselines live.
struct BaselineSource: ParsableArguments {
    @Argument(help: "A results file (complete for record; complete or a shard for update).")
    var results: String

    @Option(help: "Directory of baselines.")
    var dir: String = "Baselines"

    func load() throws -> RunResults {
        do { return try RunResults.load(results) } catch { throw badInput(error) }
    }
}
