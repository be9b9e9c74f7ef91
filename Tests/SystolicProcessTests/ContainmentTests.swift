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
    }
}

/// A second reply to an answered case is matched to its request and discarded, not charged to the
/// next, innocent case (hardening #26, item 14).
struct StaleReplyTests {
    @Test(arguments: ["double-reply", "late-reply"])
    func aStaleReplyIsNotChargedToTheNextCase(misbehaviour: String) throws {
        let adapter = try ProcessAdapterTests.adapter(misbehaviour)
        let (results, _) = try ProcessAdapterTests.run(adapter)
        #expect(results.cases.map(\.verdict) == [.pass, .pass, .pass], "\(results.cases.map { $0.reason ?? "" })")
        #expect(adapter.notes.count == 1 && adapter.notes[0].contains("adapter/second"), "\(adapter.notes)")
        #expect(results.deviceLog?.contains("harness: discarded a") == true)
    }
}

/// `check-adapter` probes every GEMM feature a protocol-2 adapter declares, and names the feature
/// a device declares and then gets wrong (the reference adapter with an emulator fault).
struct FeatureProbeTests {
    @Test(arguments: [
        ("ignores-bias", "bias"), ("activation-before-bias", "bias"), ("gelu-tanh-for-erf", "activation"),
        ("ignores-scales", "scales"), ("block-scales-first-group", "block_scales"), ("requant-ignores-zero-point", "requantization"),
        ("requant-per-tensor", "requantization"), ("ignores-leading-dimension", "leading_dimensions"), ("misrouted-groups", "groups"),
    ])
    func aFeatureDeclaredAndIgnoredIsNamed(fault: String, feature: String) throws {
        let adapter = try ProcessAdapter(executable: try ProcessAdapterTests.adapterPath(), arguments: ["--fault", fault],
                                         timing: TimingPlan(warmup: 0, minRepeats: 1, minSeconds: 0))
        let harness = Harness(device: adapter)
        let findings = ConformanceKit(roundTrips: 1).run(adapter, judge: { harness.runCase($0, generator: $1) })
        let failed = findings.filter { !$0.passed }.map(\.text)
        // The feature is named; ignoring scales ignores block scales too (one fault, two features).
        let named = fault == "ignores-scales" ? [feature, "block_scales"] : [feature]
        #expect(failed.contains { $0.hasPrefix("gemm feature \(feature) (") }, "\(fault): \(failed)")
        #expect(failed.allSatisfy { f in named.contains { f.hasPrefix("gemm feature \($0) (") } }, "\(fault): \(failed)")
        if fault == "ignores-leading-dimension" {
            #expect(failed.contains { $0.contains("padding elements of C's stored rows changed") }, "\(failed)")
        }
    }

    /// The honest adapter passes every probe, one or more per feature.
    @Test func anHonestAdapterPassesEveryFeatureProbe() throws {
        let adapter = try ProcessAdapter(executable: try ProcessAdapterTests.adapterPath(), timing: TimingPlan(warmup: 0, minRepeats: 1, minSeconds: 0))
        let harness = Harness(device: adapter)
        let findings = ConformanceKit(roundTrips: 1).run(adapter, judge: { harness.runCase($0, generator: $1) })
        #expect(findings.allSatisfy { $0.passed }, "\(findings.filter { !$0.passed })")
        for feature in GemmFeature.allCases {
            #expect(findings.contains { $0.text.hasPrefix("gemm feature \(feature.rawValue) (") && $0.text.hasSuffix(": pass") }, "\(feature)")
        }
    }
}
