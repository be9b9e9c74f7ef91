import ArgumentParser
import Foundation
import SystolicData
import SystolicCertify
import SystolicDevice
import SystolicEmulation
import SystolicHarness
import SystolicSuite

extension SystolicBench {
    struct Faults: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the emulator's named faults, or run the conformance cases once per fault (the mutation score).",
            discussion: """
                With --run, each fault's emulator runs the selected cases with the anti-cheat audit on, and a \
                table says how many cases caught the fault, which, and the worst ratio to the bound. Exits 1 \
                when some fault is caught by fewer than --min-catching cases (default 2: one change to a \
                single catching case must not lose a fault).
                """)

        @Flag(name: .customLong("run"), help: "Run the cases once per fault and print the catalogue's table.")
        var runCases = false

        @Argument(help: "Suite files (default: Suites/gemm.json, Suites/attention.json and Suites/networking.json).")
        var suites: [String] = []

        @Option(help: "Profile to run.")
        var profile: ProfileName = ProfileName("quick")

        @Option(help: "Emulator preset the faults are injected into.")
        var preset: String = DeviceConfig.defaultPresetName

        @Option(help: "Distinct suite cases that must catch each fault.")
        var minCatching: Int = 2

        func validate() throws {
            guard minCatching >= 1 else { throw ValidationError("--min-catching must be at least 1, found \(minCatching)") }
        }

        func run() throws {
            guard runCases else {
                let width = (EmulatorFault.catalogue.map(\.spelling.count).max() ?? 0) + 2
                for entry in EmulatorFault.catalogue { print("\(entry.spelling.padding(width))\(entry.summary)") }
                return
            }
            let loaded = try SuiteSelection.load(suites.isEmpty ? ["Suites/gemm.json", "Suites/attention.json", "Suites/networking.json"] : suites)
            for s in loaded where s.profiles[profile.name] == nil {
                throw ValidationError("suite \(s.file) has no profile \"\(profile)\" (it has: \(s.profiles.keys.sorted().joined(separator: ", ")))")
            }
            let config: DeviceConfig
            do { config = try DeviceConfig.preset(preset) } catch { throw badInput(error) }
            let cases = loaded.flatMap { suite in suite.cases(inProfile: profile.name).map { (suite: suite, benchmarkCase: $0) } }
            let score = MutationScore.run(cases, config: config)
            var rows: [[String]] = [["fault", "caught", "cases failed/run", "exact", "audit", "worst ratio", "caught first by"]]
            for e in score.entries {
                let names = e.caughtBy
                rows.append([e.fault, e.caught ? "yes" : "NO", "\(e.failed.count)/\(e.ran)", "\(e.exact)",
                             "\(e.byAudit)", e.worstRatio.map(Self.ratio) ?? "-",
                             names.prefix(3).joined(separator: ", ") + (names.count > 3 ? ", …" : "")])
            }
            let caught = score.caught
            let widths = (0..<rows[0].count).map { col in rows.map { $0[col].count }.max() ?? 0 }
            for row in rows {
                print(row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell.padding(widths[i]) }.joined(separator: "  "))
            }
            print("mutation score: \(caught) of \(EmulatorFault.catalogue.count) faults caught by \(cases.count) cases (profile \(profile), emulator \(preset))")
            // Distinct suite cases, not sweep points: two points of one sweep are one case to lose.
            let thin = score.entries.filter { $0.caughtBy.count < minCatching }
            if !thin.isEmpty {
                print("caught by fewer than \(minCatching) cases: " + thin.map { "\($0.fault) (\($0.caughtBy.count))" }.joined(separator: ", "))
                throw statusCode(.conformanceFailure)
            }
            print("every fault caught by at least \(minCatching) cases")
        }

        static func ratio(_ r: Double) -> String {
            r.isInfinite ? "∞" : String(format: "%.3g", r)
        }
    }
}
