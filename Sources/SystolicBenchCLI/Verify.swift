import ArgumentParser
import Foundation
import SystolicDevice
import SystolicHarness
import SystolicJSON
import SystolicResults
import SystolicSuite

extension SystolicBench {
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Judge GEMM tensors produced elsewhere (dump folders: manifest.json and .npy files) by the check a run makes.",
            discussion: """
                Each DIR is one case's folder as `run --dump-tensors` writes it, or a folder of them. The case \
                comes from the suites by the manifest's case id; the reference is recomputed from the dumped A and \
                B; the declared arithmetic is the manifest's, or the --arithmetic file's (docs/results.md). Exit 0 \
                when every case passes, 1 when one fails, 65 for a bad folder, manifest or tensor.
                """)

        @Argument(help: "Dump folders (a case's, or one holding cases').")
        var directories: [String]

        @Option(name: .customLong("suite"), help: "Suite files to find the cases in (default: Suites/*.json).")
        var suites: [String] = []

        @Option(help: "A JSON file holding the declared arithmetic to judge by (the `arithmetic` object of a device descriptor); default: the manifest's.")
        var arithmetic: String?

        @Option(help: "The seed the epilogue's parameters and the comparison with the suite's data use (default: the suite's).")
        var seed: UInt64?

        func run() throws {
            let loaded = try SuiteSelection.load(suites)
            var declared: DeclaredArithmetic?
            if let arithmetic {
                do { declared = try JSONFile.decode(DeclaredArithmetic.self, from: arithmetic) } catch { throw badInput(error) }
            }
            var verdicts: [Verdict] = []
            for directory in directories {
                let folders: [String]
                do { folders = try DumpVerifier.caseFolders(directory) } catch { throw badInput(error) }
                for folder in folders {
                    let outcome: DumpVerifier.Outcome
                    do { outcome = try DumpVerifier.verify(folder: folder, suites: loaded, arithmetic: declared, seed: seed) } catch { throw badInput(error) }
                    let r = outcome.result
                    print("\(r.verdict.rawValue): \(r.id)\(r.reason.map { ": \($0)" } ?? "")")
                    if let ratio = r.check?.maxRatioToBound, r.verdict == .pass { print("  largest ratio to the bound \(ratio)") }
                    if !outcome.digestMismatches.isEmpty {
                        print("  note: \(outcome.digestMismatches.joined(separator: ", ")) do not match the manifest's SHA-256 (judged as found)")
                    }
                    if !outcome.inputsDifferFromSuite.isEmpty {
                        print("  note: \(outcome.inputsDifferFromSuite.joined(separator: ", ")) differ from the suite's data for its seed (judged on the dumped inputs)")
                    }
                    verdicts.append(r.verdict)
                }
            }
            let counts = Dictionary(grouping: verdicts, by: { $0 }).mapValues(\.count)
            print(Verdict.allCases.map { "\($0.rawValue) \(counts[$0] ?? 0)" }.joined(separator: " · "))
            let status = ExitStatus.forVerdicts(verdicts)
            if status != .success { throw statusCode(status) }
        }
    }
}
