import ArgumentParser
import Foundation
import SystolicData
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
                table says whether any case caught the fault, which, and the worst ratio to the bound. Exits 1 \
                when some fault is not caught.
                """)

        @Flag(name: .customLong("run"), help: "Run the cases once per fault and print the catalogue's table.")
        var runCases = false

        @Argument(help: "Suite files (default: Suites/gemm.json, Suites/attention.json and Suites/networking.json).")
        var suites: [String] = []

        @Option(help: "Profile to run.")
        var profile: ProfileName = ProfileName("quick")

        @Option(help: "Emulator preset the faults are injected into.")
        var preset: String = DeviceConfig.defaultPresetName

        func run() throws {
            guard runCases else {
                for entry in EmulatorFault.catalogue { print("\(entry.spelling.padding(26))\(entry.summary)") }
                return
            }
            let loaded = try SuiteSelection.load(suites.isEmpty ? ["Suites/gemm.json", "Suites/attention.json", "Suites/networking.json"] : suites)
            for s in loaded where s.profiles[profile.name] == nil {
                throw ValidationError("suite \(s.file) has no profile \"\(profile)\" (it has: \(s.profiles.keys.sorted().joined(separator: ", ")))")
            }
            let config: DeviceConfig
            do { config = try DeviceConfig.preset(preset) } catch { throw badInput(error) }
            let cases = loaded.flatMap { suite in suite.cases(inProfile: profile.name).map { (suite, $0) } }
            var caught = 0
            var rows: [[String]] = [["fault", "caught", "cases failed", "exact", "audit", "worst ratio", "caught first by"]]
            for entry in EmulatorFault.catalogue {
                let harness = Harness(device: SystolicEmulator(config: config, faults: [entry.fault]), audit: true)
                var failed: [CaseResult] = []
                for (suite, c) in cases {
                    let r = harness.runCase(c, generator: DataGenerator(seed: suite.seed))
                    if r.verdict == .fail || r.verdict == .error { failed.append(r) }
                }
                if !failed.isEmpty { caught += 1 }
                // Exact-rule cases allow no error, so their ratio is infinite; the worst finite
                // ratio comes from the interval-rule cases.
                let byAudit = failed.filter { $0.audit?.passed == false }
                let exact = failed.filter { $0.audit == nil && $0.check?.rule == "exact" }
                let worst = failed.filter { $0.audit == nil && $0.check?.rule == "interval" }.compactMap { $0.check?.maxRatioToBound }.max()
                var names: [String] = []
                for r in failed {
                    let name = r.id.split(separator: "/").dropFirst().first.map(String.init) ?? r.id
                    if !names.contains(name) { names.append(name) }
                }
                rows.append([entry.spelling, failed.isEmpty ? "NO" : "yes", "\(failed.count)/\(cases.count)", "\(exact.count)",
                             "\(byAudit.count)", worst.map(Self.ratio) ?? "-",
                             names.prefix(3).joined(separator: ", ") + (names.count > 3 ? ", …" : "")])
            }
            let widths = (0..<rows[0].count).map { col in rows.map { $0[col].count }.max() ?? 0 }
            for row in rows {
                print(row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell.padding(widths[i]) }.joined(separator: "  "))
            }
            print("mutation score: \(caught) of \(EmulatorFault.catalogue.count) faults caught by \(cases.count) cases (profile \(profile), emulator \(preset))")
            if caught < EmulatorFault.catalogue.count { throw statusCode(.conformanceFailure) }
        }

        static func ratio(_ r: Double) -> String {
            r.isInfinite ? "∞" : String(format: "%.3g", r)
        }
    }
}
