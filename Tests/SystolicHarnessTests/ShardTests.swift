import Foundation
import SystolicTestSupport
import Testing
import SystolicDevice
import SystolicResults
@testable import SystolicEmulation
import SystolicJSON
import SystolicSuite
@testable import SystolicHarness

struct ShardTests {
    static func run(_ dir: URL, _ name: String, shard: Shard?, seed: UInt64? = nil) throws -> RunResults {
        let suites = try ["gemm", "attention", "networking"].map { try SuiteLoader.load(Repository.path("Suites/\($0).json")) }
        return try Harness(device: SystolicEmulator()).run(
            Harness.Plan(suites: suites, profile: "quick", seed: seed, resultsPath: dir.appendingPathComponent(name).path, shard: shard))
    }

    /// The comparable content of a run: everything but timestamps and host timings.
    static func normalised(_ r: RunResults) -> RunResults {
        var r = r
        r.startedAt = ""; r.finishedAt = nil
        r.cases = r.cases.map { c in
            var c = c
            c.hostSeconds = 0
            c.check?.seconds = 0
            return c
        }
        return r
    }

    @Test func mergedShardsEqualTheUnshardedRun() throws {
        let dir = temporaryDirectory()
        let whole = try QuickRun.shared.get()
        let one = try Self.run(dir, "1.json", shard: Shard(index: 1, count: 2))
        let two = try Self.run(dir, "2.json", shard: Shard(index: 2, count: 2))
        #expect(one.cases.count + two.cases.count == whole.cases.count)
        #expect(Set(one.cases.map(\.id)).isDisjoint(with: two.cases.map(\.id)))
        let merged = try ResultsMerge.merge([("2.json", two), ("1.json", one)])
        #expect(merged.complete && merged.shard == nil)
        var expected = Self.normalised(whole)
        expected.host = merged.host
        #expect(Self.normalised(merged) == expected)
    }

    @Test func mergeRefusesMismatches() throws {
        let dir = temporaryDirectory()
        let one = try Self.run(dir, "1.json", shard: Shard(index: 1, count: 2))
        let otherSeed = try Self.run(dir, "2.json", shard: Shard(index: 2, count: 2), seed: 99)
        #expect { try ResultsMerge.merge([("1.json", one), ("2.json", otherSeed)]) } throws: { e in
            (e as? InputFileError)?.place == "suites" && (e as? InputFileError)?.file == "2.json"
        }
        #expect { try ResultsMerge.merge([("1.json", one), ("again.json", one)]) } throws: { e in
            (e as? InputFileError)?.place == "shard.index"
        }
        let partial = try ResultsMerge.merge([("1.json", one)])
        #expect(!partial.complete)
    }
}
