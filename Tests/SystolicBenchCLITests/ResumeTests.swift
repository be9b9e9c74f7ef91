import Foundation
import SystolicTestSupport
import Testing
import SystolicHarness
import SystolicJSON
import SystolicResults

/// `run --resume` (hardening #26, item 10): a run killed with SIGKILL and resumed ends with the
/// results of a run never interrupted.
struct ResumeTests {
    /// What must not change between a clean run and a resumed one: everything but timings.
    static func essentials(_ r: RunResults) -> [String] {
        r.cases.map { c in
            let figures = c.metrics.filter { $0.value.deterministic }.sorted { $0.key < $1.key }
                .map { "\($0.key)=\($0.value.value)\($0.value.unit)" }.joined(separator: ",")
            return "\(c.position) \(c.id) \(c.verdict.rawValue) \(c.reason ?? "-") \(c.check?.outputDigest ?? "-") " +
                "\(c.check?.mismatches ?? -1) [\(figures)]"
        }
    }

    /// Starts `run`, SIGKILLs it once its journal holds `lines` lines, and reports whether it was
    /// still running then.
    static func killed(_ arguments: [String], journal: String, atLines lines: Int) throws -> Bool {
        let process = try CLITests.started(arguments, untilJournal: journal, holds: lines)
        let wasRunning = process.isRunning
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return wasRunning
    }

    @Test func aRunKilledThreeTimesAndResumedEqualsACleanRun() throws {
        let dir = temporaryDirectory()
        let clean = dir.appendingPathComponent("clean.json").path
        let c = try CLITests.run(["run", "--out", clean])
        #expect(c.status == 0, "\(c.stderr)")
        let cleanResults = try RunResults.load(clean)

        let resumed = dir.appendingPathComponent("resumed.json").path
        let journal = ResultsJournal.path(for: resumed)
        var kills = 0
        // Kill points in journal lines (the header is line 1): early, in the middle, near the end.
        for (i, lines) in [6, 30, 60].enumerated() {
            let arguments = ["run", "--out", resumed] + (i == 0 ? [] : ["--resume"])
            if try Self.killed(arguments, journal: journal, atLines: lines) { kills += 1 }
        }
        #expect(kills == 3, "the run finished before it could be killed three times")
        // A kill can cut a line short; the resumed run drops it and runs that case again.
        let r = try CLITests.run(["run", "--out", resumed, "--resume"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: journal))
        let resumedResults = try RunResults.load(resumed)
        #expect(resumedResults.complete)
        #expect(resumedResults.cases.count == cleanResults.cases.count)
        #expect(Self.essentials(resumedResults) == Self.essentials(cleanResults))
        #expect(resumedResults.summary == cleanResults.summary)
        #expect(resumedResults.startedAt <= resumedResults.finishedAt ?? "")
    }

    @Test func aResumeOfAnotherRunIsRefusedNamingWhatDiffers() throws {
        let dir = temporaryDirectory()
        let out = dir.appendingPathComponent("r.json").path
        let journal = ResultsJournal.path(for: out)
        #expect(try Self.killed(["run", "Suites/gemm.json", "--out", out], journal: journal, atLines: 4))
        let seed = try CLITests.run(["run", "Suites/gemm.json", "--out", out, "--resume", "--seed", "7"])
        #expect(seed.status == 65)
        #expect(seed.stderr.contains("\(journal): suites[0]: the stopped run had suite gemm"), "\(seed.stderr)")
        #expect(seed.stderr.contains("seed 7"))
        let profile = try CLITests.run(["run", "Suites/gemm.json", "--out", out, "--resume", "--profile", "full"])
        #expect(profile.status == 65)
        #expect(profile.stderr.contains("profile: the stopped run had profile \"quick\""), "\(profile.stderr)")
        let nothing = try CLITests.run(["run", "Suites/gemm.json", "--out", dir.appendingPathComponent("none.json").path, "--resume"])
        #expect(nothing.status == 65)
        #expect(nothing.stderr.contains("nothing to resume"), "\(nothing.stderr)")
        // A damaged line that is not the last is an error naming the line, never skipped in silence.
        var text = try String(contentsOfFile: journal, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        text = ([lines[0], "{\"id\": 1}"] + lines.dropFirst()).joined(separator: "\n")
        try Data(text.utf8).write(to: URL(fileURLWithPath: journal))
        let damaged = try CLITests.run(["run", "Suites/gemm.json", "--out", out, "--resume"])
        #expect(damaged.status == 65)
        #expect(damaged.stderr.contains("\(journal): line 2"), "\(damaged.stderr)")
    }

    /// The last line of a killed run's journal may be cut short: it is dropped, not an error.
    @Test func aJournalCutShortKeepsItsCompleteLines() throws {
        let dir = temporaryDirectory()
        _ = try QuickRun.run(to: dir, name: "r.json")
        // Rebuild what a killed run leaves: header, 5 cases, and half of the 6th line.
        let results = try RunResults.load(dir.appendingPathComponent("r.json").path)
        var header = results
        header.cases = []
        let journal = try ResultsJournal(resultsPath: dir.appendingPathComponent("k.json").path, header: header,
                                         finished: Array(results.cases.prefix(6)))
        _ = journal
        let path = ResultsJournal.path(for: dir.appendingPathComponent("k.json").path)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes.removeLast(40)
        try bytes.write(to: URL(fileURLWithPath: path))
        let read = try ResultsJournal.read(path)
        #expect(read.cases.map(\.id) == results.cases.prefix(5).map(\.id))
        #expect(read.cases == Array(results.cases.prefix(5)))
        #expect(read.header.startedAt == results.startedAt)
    }
}
