import Foundation
import SystolicTestSupport
import Testing
import SystolicData
import SystolicResults
import SystolicDevice
import SystolicSuite
@testable import SystolicHarness
@testable import SystolicProcess
import SystolicProtocol

/// The harness survives adapters that misbehave in every way the protocol allows for.
struct ProcessAdapterTests {
    static func adapterPath() throws -> String { try builtProduct("systolic-bench-reference-adapter") }

    /// Three small cases: the misbehaviour strikes the second.
    static let suiteText = suiteJSON(name: "adapter", cases: [
        gemmCaseJSON(name: "first", m: 4, n: 24, k: 40, types: "\"fp32\""),
        gemmCaseJSON(name: "second", m: 3, n: 17, k: 33, types: "\"bf16\""),
        gemmCaseJSON(name: "third", m: 5, n: 9, k: 70, types: "\"int8\""),
    ].joined(separator: ","))

    static func adapter(_ misbehaviour: String?, timeout: Double = 20) throws -> ProcessAdapter {
        let args = misbehaviour.map { ["--misbehave", $0, "--on-case", "2"] } ?? []
        return try ProcessAdapter(executable: try adapterPath(), arguments: args, caseTimeout: timeout,
                                  timing: TimingPlan(warmup: 0, minRepeats: 2, minSeconds: 0))
    }

    static func run(_ adapter: ProcessAdapter) throws -> (RunResults, String) {
        let dir = temporaryDirectory()
        let suite = try SuiteLoader.load(bytes: Array(suiteText.utf8), file: "adapter.json")
        let path = dir.appendingPathComponent("r.json").path
        let results = try Harness(device: adapter).run(Harness.Plan(suites: [suite], profile: "quick", resultsPath: path))
        adapter.shutdown()
        return (results, path)
    }

    @Test(arguments: [
        ("crash", "closed its reply channel"),
        ("hang", "did not answer within"),
        ("fork-and-exit", "(exited with status 3)"),
        ("left-running", "kept running (pid "),
        ("invalid-json", "garbage reply"),
        ("wrong-shape", "bytes; bf16 [1, 3, 17] needs 102"),
        ("huge-output", "bytes; bf16 [1, 3, 17] needs 102"),
        ("escape-dotdot", "not to the requested"),
        ("escape-symlink", "not a regular file"),
        ("lying", "then refused the case"),
        ("report-error", "device lost (simulated)"),
    ])
    func misbehavingCaseEndsInErrorAndTheRunGoesOn(misbehaviour: String, reason: String) throws {
        let adapter = try Self.adapter(misbehaviour, timeout: misbehaviour == "hang" ? 2 : 20)
        let (results, path) = try Self.run(adapter)
        #expect(results.cases.map(\.verdict) == [.pass, .error, .pass], "\(results.cases.map { $0.reason ?? "" })")
        #expect(results.cases[1].reason?.contains(reason) == true, "\(results.cases[1].reason ?? "")")
        #expect(results.complete)
        #expect(try RunResults.load(path).cases.count == 3)
        // Nothing the adapter started survives: every process group is gone.
        #expect(adapter.processGroups.allSatisfy { !AdapterProcess.groupAlive($0) }, "\(adapter.processGroups)")
    }

    @Test func printingToStdoutDoesNotCorruptTheProtocol() throws {
        let (results, _) = try Self.run(try Self.adapter("stdout"))
        #expect(results.cases.allSatisfy { $0.verdict == .pass })
    }

    @Test func wrongProtocolVersionIsRefusedAtTheHandshake() throws {
        #expect {
            try Self.adapter("wrong-version")
        } throws: { error in
            "\(error)".contains("speaks protocol 99")
        }
    }

    /// An adapter that floods its stdout and stderr (80 MiB) neither fills the disk nor the
    /// harness's memory: each log stops at its cap with a note, the results keep the last 4 KiB,
    /// and the case is still judged on its output (hardening #26, item 4).
    @Test func floodedOutputIsCapped() throws {
        let adapter = try Self.adapter("flood")
        defer { adapter.shutdown() }
        let suite = try SuiteLoader.load(bytes: Array(Self.suiteText.utf8), file: "adapter.json")
        let results = try Harness(device: adapter).run(
            Harness.Plan(suites: [suite], profile: "quick", resultsPath: temporaryDirectory().appendingPathComponent("r.json").path))
        #expect(results.cases.allSatisfy { $0.verdict == .pass })
        let stderrBytes = try FileManager.default.attributesOfItem(atPath: adapter.stderrPath)[.size] as? Int ?? -1
        #expect(stderrBytes > 0 && stderrBytes <= (8 << 20) + 200, "\(stderrBytes)")
        #expect(adapter.droppedLogBytes >= 64 << 20)  // 80 MiB written, 8 MiB kept per log
        let log = try #require(adapter.log)
        #expect(log.utf8.count <= 4096 && log.contains("last words before the answer"))
    }

    /// An adapter that puts symbolic links in place of its input files, and beside them, cannot
    /// make the harness overwrite their target (hardening #26, item 1): the harness writes only
    /// through descriptors of files it created (O_EXCL | O_NOFOLLOW), and makes a new file where
    /// the adapter replaced one (protocol v2, item 4: files are reused across cases of the same
    /// sizes). The victim stays as it was and every case still passes.
    @Test func plantedLinksAreNeverFollowed() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let victim = write("do not overwrite", to: "victim.txt", in: dir)
        let adapter = try ProcessAdapter(executable: try Self.adapterPath(), arguments: ["--misbehave", "plant-link", "--on-case", "1", "--victim", victim],
                                         caseTimeout: 20, timing: TimingPlan(warmup: 0, minRepeats: 1, minSeconds: 0))
        // Three cases of one size (so the second and third reuse the first's files), then one of another.
        let suite = try SuiteLoader.load(bytes: Array(suiteJSON(name: "links", cases: [
            gemmCaseJSON(name: "first", m: 4, n: 24, k: 40, types: "\"fp32\""),
            gemmCaseJSON(name: "second", m: 4, n: 24, k: 40, types: "\"fp32\""),
            gemmCaseJSON(name: "third", m: 4, n: 24, k: 40, types: "\"fp32\""),
            gemmCaseJSON(name: "fourth", m: 3, n: 17, k: 33, types: "\"bf16\""),
        ].joined(separator: ",")).utf8), file: "links.json")
        let results = try Harness(device: adapter).run(Harness.Plan(suites: [suite], profile: "quick", resultsPath: dir.appendingPathComponent("r.json").path))
        adapter.shutdown()
        #expect(results.cases.count == 4 && results.cases.allSatisfy { $0.verdict == .pass }, "\(results.cases.map { "\($0.verdict) \($0.reason ?? "")" })")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "do not overwrite")
    }

    /// An adapter's device name becomes part of the results' path: one that could climb out of
    /// results/ (`../../escaped`) is refused at the handshake (hardening #26, item 2).
    @Test func aDeviceNameThatIsNotAPathNameIsRefusedAtTheHandshake() throws {
        #expect {
            try Self.adapter("path-name")
        } throws: { error in
            "\(error)".contains("device name \"../../escaped\"")
        }
    }

    /// The quick profile of every suite through the reference adapter (protocol 2) gives the
    /// in-process emulator's verdicts and output digests for every case, none `not_supported`
    /// because of the protocol (epilogues, requantisation, scales, strides and grouped GEMMs
    /// travel), and the adapter's digest, features and timing are recorded.
    @Test func referenceAdapterMatchesTheInProcessEmulator() throws {
        let adapter = try ProcessAdapter(executable: try Self.adapterPath(), timing: TimingPlan(warmup: 0, minRepeats: 1, minSeconds: 0))
        #expect(adapter.protocolVersion == 2 && adapter.features == .all)
        let suites = try ["gemm", "attention", "networking"].map { try SuiteLoader.load(Repository.path("Suites/\($0).json")) }
        let dir = temporaryDirectory()
        let results = try Harness(device: adapter).run(
            Harness.Plan(suites: suites, profile: "quick", resultsPath: dir.appendingPathComponent("p.json").path))
        adapter.shutdown()
        let inProcess = try QuickRun.shared.get().cases
        #expect(results.cases.map(\.id) == inProcess.map(\.id))
        let workloads = Dictionary(uniqueKeysWithValues: suites.flatMap { $0.cases(inProfile: "quick") }.map { ($0.id, $0.workload) })
        #expect(workloads.values.contains { if case let .gemm(g) = $0 { !GemmFeature.used(by: g).isEmpty } else { false } })
        for (a, b) in zip(results.cases, inProcess) {
            #expect(a.verdict == b.verdict, "\(a.id): \(a.reason ?? "")")
            #expect(a.check?.outputDigest == b.check?.outputDigest, "\(a.id)")
        }
        #expect(results.device.adapter?.protocolVersion == 2)
        #expect(results.device.adapter?.features?["gemm"] == GemmFeature.allCases.map(\.rawValue))
        #expect(results.device.adapter?.digest.hasPrefix("sha256:") == true)
        #expect(results.cases.first?.metrics["time"]?.deterministic == false)
        // A measured time is one record: the median as its value, the repeats' spread as statistics.
        for c in results.cases where c.verdict == .pass {
            let time = try #require(c.metrics["time"], "\(c.id)")
            let stats = try #require(time.statistics, "\(c.id)")
            #expect(Set(stats.keys) == Set(Statistic.allCases.map(\.rawValue)), "\(c.id)")
            #expect(stats["median"] == time.value && stats["min"]! <= time.value && time.value <= stats["p90"]!, "\(c.id)")
            #expect(!c.metrics.keys.contains { $0.hasPrefix("time_") }, "\(c.id)")
            try Metric.validate(c.metrics, file: "adapter", place: c.id)
        }
        #expect(adapter.processGroups.allSatisfy { !AdapterProcess.groupAlive($0) })
    }

    /// A version-1 adapter (the reference adapter answering as one) still runs every case it was
    /// always sent, and gets the cases that need version 2 as `not_supported` with the reason.
    @Test func aVersion1AdapterStillRunsAndIsToldWhatItLacks() throws {
        let adapter = try ProcessAdapter(executable: try Self.adapterPath(), arguments: ["--protocol", "1"],
                                         timing: TimingPlan(warmup: 0, minRepeats: 1, minSeconds: 0))
        #expect(adapter.protocolVersion == 1)
        let suite = try SuiteLoader.load(Repository.path("Suites/gemm.json"))
        let results = try QuickRun.run(to: temporaryDirectory(), suites: ["gemm"], device: adapter)
        adapter.shutdown()
        let inProcess = Dictionary(uniqueKeysWithValues: try QuickRun.shared.get().cases.map { ($0.id, $0) })
        var refused = 0
        for (c, bc) in zip(results.cases, suite.cases(inProfile: "quick")) {
            guard case let .gemm(g) = bc.workload else { continue }
            let used = GemmFeature.used(by: g)
            if used.isEmpty {
                #expect(c.verdict == inProcess[c.id]?.verdict && c.check?.outputDigest == inProcess[c.id]?.check?.outputDigest, "\(c.id)")
            } else {
                refused += 1
                #expect(c.verdict == .notSupported, "\(c.id)")
                #expect(c.reason == "the adapter speaks protocol 1, which does not carry gemm feature\(used.count == 1 ? "" : "s") \(used.map(\.rawValue).joined(separator: ", ")) (protocol 2 does)", "\(c.reason ?? "")")
            }
        }
        #expect(refused >= 5)
        #expect(results.device.adapter?.protocolVersion == 1 && results.device.adapter?.features == nil)
    }

    @Test func statisticsOfRepeats() {
        let s = SampleStatistics([5, 1, 3, 2, 4])
        #expect(s.median == 3 && s.min == 1 && s.max == 5 && s.p90 == 5)
        #expect(abs(s.cv - (2.5).squareRoot() / 3) < 1e-12)
    }
}
