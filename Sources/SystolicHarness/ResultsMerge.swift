import SystolicJSON
import SystolicResults

/// Joins the results files of one run's shards (`run --shard i/n`) into the results the whole run
/// would have written: same device, harness, profile, suites (name, version, digest, seed) and
/// shard count, distinct shards, no case twice. Anything else is refused, naming the file, the
/// place and the two values.
public enum ResultsMerge {
    public static func merge(_ parts: [(path: String, results: RunResults)]) throws(InputFileError) -> RunResults {
        guard let (firstPath, first) = parts.first else {
            throw InputFileError(file: "(none)", place: nil, message: "no results files to merge")
        }
        var seenShards = Set<Int>()
        var seenCases: [String: String] = [:]
        for (path, r) in parts {
            func refuse(_ place: String, _ mine: String, _ theirs: String) -> InputFileError {
                InputFileError(file: path, place: place, message: "is \(mine) but \(firstPath) has \(theirs); only shards of one run can be merged")
            }
            if r.device != first.device { throw refuse("device", "\"\(r.device.name)\" \(r.device.driverVersion)", "\"\(first.device.name)\" \(first.device.driverVersion)") }
            if r.harness != first.harness { throw refuse("harness.version", r.harness.version, first.harness.version) }
            if r.profile != first.profile { throw refuse("profile", r.profile ?? "none", first.profile ?? "none") }
            let mine = r.suites.map { "\($0.name) \($0.version) \($0.digest) seed \($0.seed)" }
            let theirs = first.suites.map { "\($0.name) \($0.version) \($0.digest) seed \($0.seed)" }
            if mine != theirs { throw refuse("suites", mine.joined(separator: ", "), theirs.joined(separator: ", ")) }
            if r.shard?.count != first.shard?.count {
                throw refuse("shard.count", r.shard.map { "\($0.count)" } ?? "unsharded", first.shard.map { "\($0.count)" } ?? "unsharded")
            }
            if let s = r.shard, !seenShards.insert(s.index).inserted {
                throw InputFileError(file: path, place: "shard.index", message: "shard \(s.index) of \(s.count) appears twice")
            }
            for c in r.cases {
                if let other = seenCases[c.id] {
                    throw InputFileError(file: path, place: "cases", message: "case \(c.id) is also in \(other)")
                }
                seenCases[c.id] = path
            }
        }
        var merged = first
        merged.cases = parts.flatMap(\.results.cases).sorted { $0.position < $1.position }
        merged.startedAt = parts.map(\.results.startedAt).min() ?? first.startedAt
        merged.finishedAt = parts.compactMap(\.results.finishedAt).max()
        let allShards = first.shard.map { seenShards.count == $0.count } ?? true
        merged.complete = allShards && parts.allSatisfy(\.results.complete)
        merged.shard = nil
        for i in merged.suites.indices {
            merged.suites[i].cases = parts.reduce(0) { $0 + $1.results.suites[i].cases }
        }
        merged.summary = RunResults.summarize(merged.cases)
        return merged
    }
}
