import Foundation
import SystolicJSON
import SystolicResults

/// What `run --resume` keeps of a stopped run: the cases it finished, once the run it describes is
/// shown to be this one (same harness, device, profile, shard, audit, suites' bytes and seeds), so
/// the resumed results equal an uninterrupted run's.
enum RunResumption {
    struct Prior {
        var cases: [String: CaseResult]
        var startedAt: String
    }

    /// - Parameters:
    ///   - run: this run's header (its cases empty).
    ///   - positions: every selected case's id with its position, in order.
    /// - Throws: `InputFileError` naming the journal or results file when there is nothing to
    ///   resume, it cannot be read, or it describes another run.
    static func finishedCases(of run: RunResults, resultsPath: String, positions: [(String, Int)]) throws(InputFileError) -> Prior {
        let journalPath = ResultsJournal.path(for: resultsPath)
        let file: String
        let header: RunResults
        var cases: [CaseResult]
        if FileManager.default.fileExists(atPath: journalPath) {
            // A journal is newer than any results file beside it: it is what a killed run leaves.
            let journal = try ResultsJournal.read(journalPath)
            (file, header, cases) = (journalPath, journal.header, journal.cases)
        } else if FileManager.default.fileExists(atPath: resultsPath) {
            let results = try RunResults.load(resultsPath)
            guard !results.complete else {
                throw InputFileError(file: resultsPath, place: "complete", message: "the run is complete: nothing to resume")
            }
            (file, header, cases) = (resultsPath, results, results.cases.filter { $0.verdict != .skipped })
        } else {
            throw InputFileError(file: journalPath, place: nil,
                                 message: "nothing to resume: neither this journal nor the results file \(resultsPath) exists")
        }
        try sameRun(header, run, file: file)
        let expected = Dictionary(uniqueKeysWithValues: positions)
        var kept: [String: CaseResult] = [:]
        for (i, c) in cases.enumerated() {
            let place = file == journalPath ? "line \(i + 2)" : "cases[\(i)]"
            guard let position = expected[c.id] else {
                throw InputFileError(file: file, place: "\(place).id", message: "case \"\(c.id)\" is not in this run's selection")
            }
            guard position == c.position else {
                throw InputFileError(file: file, place: "\(place).position",
                                     message: "case \"\(c.id)\" is at position \(c.position), but at \(position) in this run")
            }
            guard kept[c.id] == nil else {
                throw InputFileError(file: file, place: "\(place).id", message: "case \"\(c.id)\" is recorded twice")
            }
            // A skipped case (a memory limit, an interruption) runs again.
            if c.verdict != .skipped { kept[c.id] = c }
        }
        return Prior(cases: kept, startedAt: header.startedAt)
    }

    /// Refuses a prior run that is not this one, naming the first field that differs.
    static func sameRun(_ prior: RunResults, _ run: RunResults, file: String) throws(InputFileError) {
        func differs<T: Equatable>(_ place: String, _ a: T, _ b: T, _ show: (T) -> String) throws(InputFileError) {
            guard a != b else { return }
            throw InputFileError(file: file, place: place,
                                 message: "the stopped run had \(show(a)), this one has \(show(b)): resume with the same suites, device and options")
        }
        try differs("harness.version", prior.harness, run.harness) { $0.version }
        try differs("device", prior.device, run.device) { "device \"\($0.name)\" (\($0.kind)\($0.adapter.map { ", adapter \($0.digest.prefix(19))…" } ?? ""))" }
        try differs("profile", prior.profile, run.profile) { $0.map { "profile \"\($0)\"" } ?? "every profile" }
        try differs("shard", prior.shard, run.shard) { $0.map { "shard \($0.index)/\($0.count)" } ?? "no shard" }
        try differs("audit", prior.audit ?? false, run.audit ?? false) { $0 ? "--audit" : "no --audit" }
        try differs("suites", prior.suites.count, run.suites.count) { "\($0) suites" }
        for (i, (a, b)) in zip(prior.suites, run.suites).enumerated() {
            try differs("suites[\(i)]", [a.name, a.version, a.digest, "\(a.seed)", "\(a.cases)"], [b.name, b.version, b.digest, "\(b.seed)", "\(b.cases)"]) {
                "suite \($0[0]) \($0[1]) (\($0[2].prefix(19))…, seed \($0[3]), \($0[4]) cases)"
            }
        }
    }
}
