import Foundation
import SystolicTestSupport
import Testing
import SystolicCompare
import SystolicJSON
import SystolicResults

/// The built `systolic-bench` binary, run end to end: output and exit codes as a user sees them.
struct CLITests {
    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func binary() throws -> URL { URL(fileURLWithPath: try builtProduct("systolic-bench")) }

    static func run(_ arguments: [String], in directory: URL = Repository.root) throws -> Outcome {
        let process = Process()
        process.executableURL = try binary()
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                       stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Starts `systolic-bench` with `arguments` (output discarded) and returns once the journal at
    /// `journal` holds `lines` lines, or the process has ended, or two minutes have passed.
    static func started(_ arguments: [String], untilJournal journal: String, holds lines: Int) throws -> Process {
        let process = Process()
        process.executableURL = try binary()
        process.arguments = arguments
        process.currentDirectoryURL = Repository.root
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, process.isRunning {
            let count = (try? Data(contentsOf: URL(fileURLWithPath: journal)))?.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) } ?? 0
            if count >= lines { break }
            usleep(2_000)
        }
        return process
    }

    /// A run stopped by SIGTERM (a CI job's timeout) writes its incomplete results and exits 5,
    /// not 0 (hardening #26, item 9).
    @Test func anInterruptedRunExitsWithItsOwnCode() throws {
        let dir = temporaryDirectory()
        let results = dir.appendingPathComponent("r.json").path
        // Once the journal holds a finished case, the run is under way.
        let process = try Self.started(["run", "Suites/gemm.json", "--profile", "full", "--out", results],
                                       untilJournal: results + ".journal", holds: 2)
        try #require(process.isRunning, "the full gemm profile finished before it could be interrupted")
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 5)
        let written = try RunResults.load(results)
        #expect(!written.complete)
        #expect(written.cases.contains { $0.verdict == .skipped } && written.cases.contains { $0.verdict == .pass })
    }

    /// `fingerprint --types` naming a type the device does not run is a usage error (64) that says
    /// what it runs, not a silently shorter report; a type it runs gives the report and exit 0.
    @Test func fingerprintRefusesATypeTheDeviceDoesNotRun() throws {
        let refused = try Self.run(["fingerprint", "--device", "emulator:tpu-v1", "--types", "bf16"])
        #expect(refused.status == 64)
        #expect(refused.stderr.contains("runs no bf16 GEMM with fp32 accumulation"), "\(refused.stderr)")
        let report = try Self.run(["fingerprint", "--device", "emulator:ada-tensor-core", "--types", "fp8_e4m3"])
        #expect(report.status == 0)
        #expect(report.stdout.contains("fp8_e4m3 inputs, fp32 accumulation") && !report.stdout.contains("fp16 inputs"))
    }

    /// `run --kernel-path` takes the bench's path names and refuses others with 64; a capped run
    /// gives the same results (the bits are the same on every path).
    @Test func runCapsTheKernelPathOnRequest() throws {
        let refused = try Self.run(["run", "Suites/gemm.json", "--kernel-path", "avx1024"])
        #expect(refused.status == 64 && refused.stderr.contains("--kernel-path is one of portable, avx2, avx512"))
        let dir = temporaryDirectory()
        let best = dir.appendingPathComponent("best.json").path, portable = dir.appendingPathComponent("portable.json").path
        #expect(try Self.run(["run", "Suites/attention.json", "--out", best]).status == 0)
        #expect(try Self.run(["run", "Suites/attention.json", "--kernel-path", "portable", "--out", portable]).status == 0)
        let digests = { (path: String) in try RunResults.load(path).cases.map { $0.check?.outputDigest } }
        #expect(try digests(best) == digests(portable))
    }

    @Test func validateAcceptsShippedSuitesAndRejectsBadOnesWithCode65() throws {
        let ok = try Self.run(["validate", "Suites/gemm.json", "Suites/attention.json", "Suites/networking.json",
                               "Baselines/tolerances.json", "Baselines/emulator-hbm-inference/gemm.json"])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("ok Suites/gemm.json: suite gemm"))

        let dir = temporaryDirectory()
        let bad = write(suiteJSON(cases: gemmCaseJSON(name: "neg", m: 1, n: 4, k: -4, types: "\"fp32\"")), to: "bad.json", in: dir)
        let r = try Self.run(["validate", bad])
        #expect(r.status == 65)
        #expect(r.stderr.contains("\(bad): cases[0].shape.k: expected a positive integer"), "\(r.stderr)")
        #expect(r.stderr.contains("found -4"))

        let broken = write("{\"format\": ", to: "broken.json", in: dir)
        let b = try Self.run(["run", broken, "--out", dir.appendingPathComponent("x.json").path])
        #expect(b.status == 65)
        #expect(b.stderr.contains("\(broken): line 1, column 12: invalid JSON"), "\(b.stderr)")
    }

    @Test func runThenCompareAgainstCommittedBaselinesAndATamperedCopy() throws {
        let dir = temporaryDirectory()
        let results = dir.appendingPathComponent("quick.json").path
        let run = try Self.run(["run", "Suites/gemm.json", "--out", results])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("pass 72 · fail 0"), "\(run.stdout)")

        let same = try Self.run(["compare", results])
        #expect(same.status == 0, "\(same.stdout)")
        #expect(same.stdout.contains("gemm: 72 cases identical"))

        // One cycle count changed in a copy of the baseline: the regression code, naming the case.
        var baseline = try Baseline.load(Repository.path("Baselines/emulator-hbm-inference/gemm.json"))
        let index = try #require(baseline.cases.firstIndex { $0.id == "gemm/lenet5-conv2-int8/m=100,n=16,k=150" })
        #expect(baseline.cases[index].metrics["cycles"]?.value == 483)
        baseline.cases[index].metrics["cycles"]?.value = 482
        let tampered = write(String(decoding: try JSONFile.encoder().encode(baseline), as: UTF8.self), to: "tampered.json", in: dir)
        let diff = try Self.run(["compare", results, "--baseline", tampered])
        #expect(diff.status == 2)
        #expect(diff.stdout.contains("regression: gemm/lenet5-conv2-int8/m=100,n=16,k=150: cycles 482 → 483"), "\(diff.stdout)")

        let missing = try Self.run(["compare", results, "--baselines-dir", dir.path])
        #expect(missing.status == 4)
    }

    @Test func faultyDeviceFailsWithCode1AndNamesCaseAndElement() throws {
        let dir = temporaryDirectory()
        let r = try Self.run(["run", "Suites/gemm.json", "--fault", "narrow-accumulator:bf16", "--out", dir.appendingPathComponent("f.json").path])
        #expect(r.status == 1)
        #expect(r.stdout.contains("fail: gemm/gpt2-decode-attn-out/m=1,n=768,k=768: "), "\(r.stdout)")
        #expect(r.stdout.contains("worst element [0, 0, "))
    }

    /// `verify` on a dump: 0 when every case passes, 1 when one fails (a faulty emulator's dump),
    /// 65 for a folder that is not a dump.
    @Test func verifyJudgesDumpsWithTheRunsExitCodes() throws {
        let dir = temporaryDirectory()
        let good = dir.appendingPathComponent("good").path, bad = dir.appendingPathComponent("bad").path
        _ = try Self.run(["run", "Suites/gemm.json", "--device", "emulator:h100-tensor-core", "--dump-tensors", good,
                          "--out", dir.appendingPathComponent("g.json").path])
        let passing = try Self.run(["verify", good])
        // h100-tensor-core has no fp6, fp4 or int4: the twelve cases that use them were not run, nor dumped.
        #expect(passing.status == 0 && passing.stdout.contains("pass 60 · fail 0 · not_supported 0"), "\(passing.stdout)\(passing.stderr)")
        _ = try Self.run(["run", "Suites/gemm.json", "--fault", "narrow-accumulator:bf16", "--dump-tensors", bad,
                          "--out", dir.appendingPathComponent("b.json").path])
        let failing = try Self.run(["verify", bad])
        #expect(failing.status == 1 && failing.stdout.contains("fail: gemm/gpt2-decode-attn-out/m=1,n=768,k=768: "), "\(failing.stdout)")
        let missing = try Self.run(["verify", dir.appendingPathComponent("absent").path])
        #expect(missing.status == 65 && missing.stderr.contains("not a directory"), "\(missing.stderr)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("empty"), withIntermediateDirectories: true)
        let empty = try Self.run(["verify", dir.appendingPathComponent("empty").path])
        #expect(empty.status == 65 && empty.stderr.contains("holds no manifest.json"), "\(empty.stderr)")
    }

    @Test func usageErrorsExitWith64() throws {
        #expect(try Self.run(["run", "--device", "gpu"]).status == 64)
        #expect(try Self.run(["run", "--device", "emulator:nonexistent"]).status == 64)
        #expect(try Self.run(["frobnicate"]).status == 64)
        #expect(try Self.run(["run", "--profile", "nightly"]).status == 64)
        #expect(try Self.run(["run", "--case-timeout", "-1"]).status == 64)
        #expect(try Self.run(["run", "--repeats", "0"]).status == 64)
        #expect(try Self.run(["faults", "--run", "--profile", "nightly"]).status == 64)
        #expect(try Self.run(["check-adapter", "--device", "process:/bin/true", "--round-trips", "0"]).status == 64)
        #expect(try Self.run(["bench", "--shapes", "8x8"]).status == 64)
        // Shapes no machine can hold are refused before anything is allocated (hardening #26, item 7).
        #expect(try Self.run(["bench", "--shapes", "1000000x1000000x1000000"]).status == 64)
        #expect(try Self.run(["bench", "--shapes", "0x8x8"]).status == 64)
        // A results file that cannot be written: its own code and the file named, not 1
        // (hardening #26, item 11).
        let unwritable = try Self.run(["run", "Suites/gemm.json", "--out", "/dev/null/r.json"])
        #expect(unwritable.status == 6 && unwritable.stderr.contains("cannot write /dev/null/r.json"), "\(unwritable.stderr)")
        let package = try Self.run(["certify", "--profile", "gemm-bf16-v1", "--out", "/dev/null/pkg"])
        #expect(package.status == 6 && package.stderr.contains("cannot write /dev/null/pkg"), "\(package.stderr)")
        // The shared argument types refuse malformed values before any command runs.
        for shard in ["3/2", "0/4", "1/0", "x/2", "1/2/3"] {
            let r = try Self.run(["run", "--shard", shard])
            #expect(r.status == 64 && r.stderr.contains("--shard"), "\(shard)")
        }
        for profile in ["../x", "a/b", "", ".hidden", String(repeating: "p", count: 65)] {
            #expect(try Self.run(["run", "--profile", profile]).status == 64, "\(profile)")
            #expect(try Self.run(["list", "--profile", profile]).status == 64, "\(profile)")
        }
        #expect(try Self.run(["check-adapter", "--device", "emulator"]).status == 64)
        #expect(try Self.run(["check-adapter", "--device", "process:"]).status == 64)
    }

    @Test func listShowsExpandedIds() throws {
        let r = try Self.run(["list", "Suites/gemm.json", "--profile", "quick"])
        #expect(r.status == 0)
        #expect(r.stdout.split(separator: "\n").count == 72)
        #expect(r.stdout.contains("gemm/gpt2-decode-attn-out/m=4,n=768,k=768  [gemm fp32]"))
    }

    @Test func deviceConfigFilesRunAndBadOnesExitWith65() throws {
        let dir = temporaryDirectory()
        let printed = try Self.run(["devices", "tpu-v1"])
        #expect(printed.status == 0)
        let config = write(printed.stdout, to: "tpu.json", in: dir)
        let r = try Self.run(["run", "Suites/gemm.json", "--device-config", config, "--out", dir.appendingPathComponent("t.json").path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("(device emulator-tpu-v1)"))
        #expect(r.stdout.contains("cases): input type bf16 is not supported by tpu-v1"))
        let bad = write(printed.stdout.replacingOccurrences(of: "\"clock_hz\" : 700000000", with: "\"clock_hz\" : -1"), to: "bad.json", in: dir)
        let b = try Self.run(["run", "Suites/gemm.json", "--device-config", bad, "--out", dir.appendingPathComponent("b.json").path])
        #expect(b.status == 65)
        #expect(b.stderr.contains("\(bad): clock_hz: expected a clock in 1e3...1e11 Hz, found -1"), "\(b.stderr)")
    }
}

extension CLITests {
    /// Exit 3: a device that returns outputs of the wrong shape breaks the case, not the run.
    @Test func brokenDeviceExitsWith3AndTheRunGoesOn() throws {
        let dir = temporaryDirectory()
        let path = dir.appendingPathComponent("e.json").path
        let r = try Self.run(["run", "Suites/gemm.json", "--fault", "wrong-output-shape", "--out", path])
        #expect(r.status == 3)
        #expect(r.stdout.contains("error: gemm/gpt2-decode-attn-out/m=1,n=768,k=768: the device returned c as fp32 [1, 768]"), "\(r.stdout)")
        #expect(r.stdout.contains("error 72"))
        #expect(try Self.run(["validate", path]).status == 0)
    }

    /// CI outputs: Markdown and JUnit files, and a sharded run merged back.
    @Test func compareWritesMarkdownAndJUnitAndShardsMerge() throws {
        let dir = temporaryDirectory()
        var shards: [String] = []
        for i in 1...2 {
            let path = dir.appendingPathComponent("s\(i).json").path
            let r = try Self.run(["run", "Suites/gemm.json", "--shard", "\(i)/2", "--out", path])
            #expect(r.status == 0, "\(r.stderr)")
            shards.append(path)
        }
        let merged = dir.appendingPathComponent("merged.json").path
        let m = try Self.run(["merge"] + shards + ["--out", merged])
        #expect(m.status == 0, "\(m.stderr)")
        let md = dir.appendingPathComponent("compare.md").path, xml = dir.appendingPathComponent("junit.xml").path
        let c = try Self.run(["compare", merged, "--baseline", "Baselines/emulator-hbm-inference/gemm.json", "--markdown", md, "--junit", xml])
        #expect(c.status == 0, "\(c.stdout)")
        let markdown = try String(contentsOfFile: md, encoding: .utf8)
        #expect(markdown.contains("| gemm | `Baselines/emulator-hbm-inference/gemm.json` | 72 | 0 | 0 | 0 | identical |"), "\(markdown)")
        let junit = try String(contentsOfFile: xml, encoding: .utf8)
        #expect(junit.components(separatedBy: "<testcase ").count - 1 == 72)
        #expect(junit.contains("failures=\"0\""))
        #expect(try Self.run(["run", "--shard", "3/2"]).status == 64)
        #expect(try Self.run(["merge", shards[0], shards[0], "--out", merged]).status == 65)
    }
}
