import ArgumentParser
import Dispatch
import Foundation
import SystolicDevice
import SystolicResults
import SystolicHarness
import SystolicJSON
import SystolicProcess
import SystolicSuite

extension SystolicBench {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run suites on a device, check every case and write a results file.",
            discussion: "With no arguments: every suite in Suites/ at the quick profile on the default emulator.")

        @Argument(help: "Suite files (default: every Suites/*.json).")
        var suites: [String] = []

        @OptionGroup var deviceOptions: DeviceOptions

        @Option(help: "Profile to run.")
        var profile: ProfileName = ProfileName("quick")

        @Flag(help: "Run every case of every profile.")
        var allProfiles = false

        @Option(help: "Data seed for every suite (default: each suite's own).")
        var seed: UInt64?

        @Option(help: "Results file (default: results/<device>-<profile>.json).")
        var out: String?

        @Flag(help: "Print the results JSON on stdout instead of the table.")
        var json = false

        @Flag(help: "Re-run every passing case on fresh data drawn from the seed; a failure there fails the case (catches remembered results).")
        var audit = false

        @Option(help: "Write each GEMM case's inputs, output and reference as .npy files with a manifest.json under this directory.")
        var dumpTensors: String?

        @Option(help: "Run shard i of n (every n-th case, starting at the i-th); join the shards with merge.")
        var shard: Shard?

        @Option(help: "Host memory a case may hold with its working copies and reference (bytes, or with MiB/GiB); a case above it is skipped with the reason. At most the loader's 16GiB.")
        var maxCaseMemory = ByteCount(bytes: SuiteLoader.Limits.caseBytes)

        @Flag(help: "Continue a stopped or killed run with the same arguments: the cases in its journal (or incomplete results file) are kept, the rest run.")
        var resume = false

        @Flag(help: "Measure the device's matrix engines first (as `systolic-bench fingerprint` does) and keep the report in the results.")
        var fingerprint = false

        @Option(help: "Cap the host's kernels (the emulator's and the check's) at avx512, avx2 or portable, to time another machine's path here; every path gives the same bits.")
        var kernelPath: String?

        func validate() throws {
            if let kernelPath {
                guard let level = GemmSpeed.pathKeys.firstIndex(of: kernelPath) else {
                    throw ValidationError("--kernel-path is one of \(GemmSpeed.pathKeys.joined(separator: ", ")), found \(kernelPath)")
                }
                guard level <= GemmSpeed.bestPath else {
                    throw ValidationError("this CPU has no \(GemmSpeed.pathNames[level]) path (its best is \(GemmSpeed.kernelPath))")
                }
            }
            guard maxCaseMemory.bytes <= SuiteLoader.Limits.caseBytes else {
                throw ValidationError("--max-case-memory is at most \(SuiteLoader.Limits.caseBytes) bytes (the loader's limit), found \(maxCaseMemory.bytes)")
            }
        }

        func run() throws {
            // Every case on the best kernel path, or all of them under the cap asked for.
            guard let kernelPath, let level = GemmSpeed.pathKeys.firstIndex(of: kernelPath) else { return try runCases() }
            try GemmSpeed.onPath(level) { try runCases() }
        }

        func runCases() throws {
            let loaded = try SuiteSelection.load(suites)
            let selectedProfile: String? = allProfiles ? nil : profile.name
            if let p = selectedProfile {
                for s in loaded where s.profiles[p] == nil {
                    throw ValidationError("suite \(s.file) has no profile \"\(p)\" (it has: \(s.profiles.keys.sorted().joined(separator: ", ")))")
                }
            }
            // The device last: an adapter process starts only once the inputs are known to be good.
            let device = try deviceOptions.makeDevice()
            let shardPart = shard
            let suffix = shardPart.map { "-shard\($0.index)of\($0.count)" } ?? ""
            let path = out ?? "results/\(device.descriptor.name)-\(selectedProfile ?? "all")\(suffix).json"
            let stop = InterruptFlag()
            let progress = ProgressLine(enabled: showsProgress)
            let results: RunResults
            var measured: ArithmeticFingerprint?
            if fingerprint {
                do { measured = try Fingerprinter(device: device).run() } catch {
                    device.shutdown()
                    printError("error: \(error)")
                    throw statusCode(.deviceError)
                }
            }
            do {
                results = try Harness(device: device, audit: audit, dumpDirectory: dumpTensors, maxCaseBytes: maxCaseMemory.bytes).run(
                    Harness.Plan(suites: loaded, profile: selectedProfile, seed: seed, resultsPath: path, shard: shardPart, resume: resume,
                                 fingerprint: measured),
                    progress: progress.update,
                    shouldStop: { stop.isSet })
            } catch {
                device.shutdown()
                throw error
            }
            device.shutdown()
            progress.finish()
            if json {
                print(String(decoding: try JSONFile.encoder().encode(results), as: UTF8.self))
            } else {
                print(ResultsTable.render(results))
                print("results: \(path)")
            }
            var status = ExitStatus.forVerdicts(results.cases.map(\.verdict))
            if let f = results.fingerprint {
                let worse = f.shortfalls
                if !json {
                    print("fingerprint: \(f.engines.count) engines in \(f.gemms) GEMMs; " + (worse.isEmpty ? "nothing worse than declared" : worse.joined(separator: "; ")))
                }
                // A device measured worse than it declares fails, as a failing case does.
                if !worse.isEmpty { status = status.combined(with: .conformanceFailure) }
            }
            if !results.complete {
                printError("interrupted: results are incomplete, the cases not run are marked skipped (exit \(ExitStatus.interrupted.rawValue) unless a case failed)")
                status = status.combined(with: .interrupted)
            }
            if status != .success { throw statusCode(status) }
        }
    }
}

/// Set by the first SIGINT or SIGTERM so the run stops between cases and still writes its results;
/// a second signal ends the process at once (the journal keeps every finished case).
final class InterruptFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var set = false
    private var sources: [any DispatchSourceSignal] = []

    init() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in
                guard let self else { return }
                self.lock.lock()
                let already = self.set
                self.set = true
                self.lock.unlock()
                if already {
                    // Adapters run in their own process groups, out of the terminal's reach.
                    ProcessAdapter.terminateAllAdapters()
                    Foundation.exit(130)
                }
                printError("stopping after the current case (again to stop now)")
            }
            source.resume()
            sources.append(source)
        }
    }

    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return set
    }
}
