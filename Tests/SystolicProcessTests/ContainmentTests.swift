import Foundation
import SystolicTestSupport
import Testing
import SystolicResults
import SystolicSuite
@testable import SystolicHarness
@testable import SystolicProcess
import SystolicProtocol

/// Nothing an adapter starts outlives its case, its adapter or the harness (hardening #26, item 3):
/// not a child left running, not one that left the process group and session (setsid and a second
/// fork), not after the harness is killed with SIGKILL.
struct ContainmentTests {
    /// True while `pid` runs (a zombie waiting to be reaped runs nothing).
    static func running(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].split(separator: " ").first
        return state != "Z" && state != "X"
    }

    static func pid(in file: String, within seconds: Double = 20) -> pid_t? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: file, encoding: .utf8), text.hasSuffix("\n"),
               let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) { return pid }
            usleep(10_000)
        }
        return nil
    }

    static func gone(_ pid: pid_t, within seconds: Double = 5) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if !running(pid) { return true }
            usleep(10_000)
        }
        return false
    }

    @Test func aProcessThatLeftTheSessionEndsTheCaseAndDies() throws {
        let pidFile = temporaryDirectory().appendingPathComponent("escapee.pid").path
        let adapter = try ProcessAdapter(executable: try ProcessAdapterTests.adapterPath(),
                                         arguments: ["--misbehave", "escape", "--on-case", "2", "--victim", pidFile],
                                         caseTimeout: 20, timing: TimingPlan(warmup: 0, minRepeats: 1, minSeconds: 0))
        let (results, _) = try ProcessAdapterTests.run(adapter)
        #expect(results.cases.map(\.verdict) == [.pass, .error, .pass], "\(results.cases.map { $0.reason ?? "" })")
        #expect(results.cases[1].reason?.contains("kept running (pid ") == true, "\(results.cases[1].reason ?? "")")
        let escapee = try #require(Self.pid(in: pidFile, within: 1))
        // It had left the adapter's process group and session: only the supervisor could find it.
        #expect(Self.gone(escapee), "process \(escapee) survived its adapter")
    }

    @Test func killingTheHarnessWithSIGKILLEndsTheAdapterAndWhatItStarted() throws {
        let dir = temporaryDirectory()
        let pidFile = dir.appendingPathComponent("escapee.pid").path
        let adapterPath = try ProcessAdapterTests.adapterPath()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try builtProduct("systolic-bench"))
        process.arguments = ["run", "Suites/gemm.json", "--out", dir.appendingPathComponent("r.json").path,
                             "--device", "process:\(adapterPath) --misbehave escape-and-hang --on-case 1 --victim \(pidFile)"]
        process.currentDirectoryURL = Repository.root
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let escapee = Self.pid(in: pidFile)
        let adapter = Self.pid(in: pidFile + ".adapter")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let e = try #require(escapee, "the adapter never started its escapee")
        let a = try #require(adapter, "the adapter never wrote its pid")
        #expect(Self.gone(a), "the hung adapter \(a) outlived the harness")
        #expect(Self.gone(e), "the escaped process \(e) outlived the harness")
        // The killed harness could not remove its scratch directory: the supervisor did (#28, item 7).
        let scratch = try #require(try? String(contentsOfFile: pidFile + ".scratch", encoding: .utf8), "the adapter never wrote the scratch directory")
        for _ in 0..<100 where FileManager.default.fileExists(atPath: scratch) { usleep(20_000) }
        #expect(!FileManager.default.fileExists(atPath: scratch), "the killed harness's scratch directory \(scratch) was left behind")
        try? FileManager.default.removeItem(at: dir)
    }
}
