import ArgumentParser
import Foundation
import SystolicHarness
import SystolicResults
import SystolicJSON

extension SystolicBench {
    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Join the results files of a sharded run (run --shard i/n) into one.",
            discussion: "Refuses (exit 65) files of another device, harness, profile, suite or seed, repeated shards and repeated cases.")

        @Argument(help: "Results files of the shards.")
        var files: [String]

        @Option(help: "The merged results file.")
        var out: String

        func run() throws {
            var parts: [(path: String, results: RunResults)] = []
            for f in files {
                do { parts.append((f, try RunResults.load(f))) } catch { throw badInput(error) }
            }
            let merged: RunResults
            do { merged = try ResultsMerge.merge(parts) } catch { throw badInput(error) }
            try JSONFile.writeAtomically(try JSONFile.encoder().encode(merged), to: out)
            print("merged \(files.count) files, \(merged.cases.count) cases\(merged.complete ? "" : " (incomplete: shards or cases missing)") into \(out)")
        }
    }
}
