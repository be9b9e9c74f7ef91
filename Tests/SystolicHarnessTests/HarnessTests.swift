import Foundation
import SystolicTestSupport
import Testing
import SystolicData
import SystolicResults
import SystolicDevice
@testable import SystolicEmulation
import SystolicJSON
import SystolicSuite
@testable import SystolicHarness

struct HarnessTests {

    /// The quick profile passes on the emulator, and a second run gives the same output digests
    /// and cycles.
    @Test func quickProfilePassesAndRepeatsBitForBit() throws {
        let dir = temporaryDirectory()
        let first = try QuickRun.shared.get()
        let second = try QuickRun.run(to: dir, name: "2.json")
        #expect(first.complete)
        for c in first.cases {
            #expect(c.verdict == .pass, "\(c.id): \(c.reason ?? "")")
        }
        #expect(first.cases.map(\.id) == second.cases.map(\.id))
        for (a, b) in zip(first.cases, second.cases) {
            #expect(a.check?.outputDigest == b.check?.outputDigest)
            #expect(a.metrics["cycles"] == b.metrics["cycles"])
        }
        #expect(first.cases.filter { $0.check?.outputDigest != nil }.count == 72 + 14 + 20)
        // The journal is gone once the results file is written.
        #expect(!FileManager.default.fileExists(atPath: ResultsJournal.path(for: dir.appendingPathComponent("2.json").path)))
    }

    @Test func resultsFileReadsBackIdentically() throws {
        let dir = temporaryDirectory()
        let results = try QuickRun.run(to: dir)
        let loaded = try RunResults.load(dir.appendingPathComponent("r.json").path)
        #expect(loaded == results)
        #expect(loaded.suites.map(\.name) == ["gemm", "attention", "networking"])
        #expect(loaded.suites[0].digest.hasPrefix("sha256:") && loaded.suites[0].digest.count == 71)
    }

    /// Stopping between cases leaves a complete, readable results file marking the rest skipped.
    @Test func interruptedRunLeavesReadableResults() throws {
        let dir = temporaryDirectory()
        var polls = 0
        let results = try QuickRun.run(to: dir, shouldStop: { polls += 1; return polls > 3 })
        #expect(!results.complete)
        #expect(results.cases.prefix(3).allSatisfy { $0.verdict != .skipped })
        #expect(results.cases.dropFirst(3).allSatisfy { $0.verdict == .skipped })
        let loaded = try RunResults.load(dir.appendingPathComponent("r.json").path)
        #expect(loaded.summary["skipped"] == results.cases.count - 3)
    }

    /// Each finished case is in the journal before the next starts, so a killed run loses nothing
    /// that finished.
    @Test func journalHoldsEveryFinishedCaseWhileRunning() throws {
        let dir = temporaryDirectory()
        let journal = ResultsJournal.path(for: dir.appendingPathComponent("r.json").path)
        let seen = LinesSeen()
        _ = try QuickRun.run(to: dir, device: JournalWatchingDevice(journalPath: journal, seen: seen))
        // The header, then one line per case already finished: 1, 2, 3, …
        #expect(seen.counts == Array(1...106))
        let text = try String(contentsOfFile: journal + ".copy", encoding: .utf8)
        let firstCase = try JSONFile.parse(Array(text.split(separator: "\n")[1].utf8), file: "journal")
        #expect(try firstCase.member("verdict").string() == "pass")
    }

    @Test func malformedResultsFileNamesThePlace() throws {
        let dir = temporaryDirectory()
        _ = try QuickRun.run(to: dir)
        let path = dir.appendingPathComponent("r.json").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
            .replacingOccurrences(of: "\"verdict\" : \"pass\"", with: "\"verdict\" : \"passed\"")
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        do {
            _ = try RunResults.load(path)
            Issue.record("accepted a bad verdict")
        } catch {
            #expect(error.place?.hasPrefix("cases[") == true && error.place?.hasSuffix("].verdict") == true, "\(error)")
            #expect(error.description.contains("\"passed\""), "\(error)")
        }
    }
}

final class LinesSeen: @unchecked Sendable {
    private let lock = NSLock()
    private var _counts: [Int] = []
    var counts: [Int] { lock.withLock { _counts } }
    func add(_ n: Int) { lock.withLock { _counts.append(n) } }
}

/// The emulator, counting the journal's lines each time a case reaches the device.
struct JournalWatchingDevice: DeviceAdapter {
    let journalPath: String
    let seen: LinesSeen
    var descriptor: DeviceDescriptor { SystolicEmulator().descriptor }

    func run(_ benchmarkCase: BenchmarkCase, inputs: CaseInputs) throws(DeviceError) -> DeviceOutput {
        let text = (try? String(contentsOfFile: journalPath, encoding: .utf8)) ?? ""
        seen.add(text.split(separator: "\n").count)
        try? FileManager.default.removeItem(atPath: journalPath + ".copy")
        try? FileManager.default.copyItem(atPath: journalPath, toPath: journalPath + ".copy")
        return try SystolicEmulator().run(benchmarkCase, inputs: inputs)
    }

}

/// Names that become paths (hardening #26, item 2).
struct PathNameTests {
    /// Names read from a results file become paths (`baseline record` writes
    /// Baselines/<device>/<suite>.json): a device or suite name that is not a path name is refused
    /// with its place, and so is one of 65 characters.
    @Test func resultsWhoseNamesWouldEscapeTheirDirectoryAreRefused() throws {
        let dir = temporaryDirectory()
        let good = try QuickRun.shared.get()
        for (edit, place) in [({ (r: inout RunResults) in r.device.name = "../../x" }, "device.name"),
                              ({ (r: inout RunResults) in r.device.name = ".hidden" }, "device.name"),
                              ({ (r: inout RunResults) in r.device.name = String(repeating: "d", count: 65) }, "device.name"),
                              ({ (r: inout RunResults) in r.suites[0].name = "../gemm" }, "suites[0].name")] {
            var r = good
            edit(&r)
            let path = dir.appendingPathComponent("r.json").path
            try JSONFile.writeAtomically(try JSONFile.encoder().encode(r), to: path)
            do {
                _ = try RunResults.load(path)
                Issue.record("accepted \(place)")
            } catch {
                #expect(error.place == place, "\(error)")
            }
        }
        let path = dir.appendingPathComponent("ok.json").path
        try JSONFile.writeAtomically(try JSONFile.encoder().encode(good), to: path)
        #expect(try RunResults.load(path).device.name == good.device.name)
        #expect(PathName.isDeviceName(String(repeating: "d", count: 64)) && !PathName.isDeviceName(".."))
        #expect(!PathName.isIdentifier(String(repeating: "s", count: 65)) && !PathName.isIdentifier("-x") && PathName.isIdentifier("gemm-bf16_v1"))
    }
}
