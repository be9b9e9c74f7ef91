import Foundation
import SystolicCheck
import SystolicResults
import SystolicData
import SystolicDevice
import SystolicJSON
import SystolicNumerics
import SystolicSuite

/// Runs suites on a device: generates each case's inputs, hands them to the device, checks the
/// outputs against the host's own reference, and records a verdict and the device's figures.
public struct Harness: Sendable {
    public struct Plan: Sendable {
        public var suites: [Suite]
        /// Profile to select; nil runs every case.
        public var profile: String?
        /// Replaces every suite's default seed when set.
        public var seed: UInt64?
        /// Where the results file goes; its journal sits beside it.
        public var resultsPath: String
        /// Runs only this shard of the selection.
        public var shard: Shard?
        /// Runs only the cases with these ids (certification's mandatory cases); nil runs all.
        public var caseIDs: Set<String>?
        /// Continue the stopped or killed run whose journal (or incomplete results file) is at
        /// `resultsPath`: its finished cases are kept, the rest run (`run --resume`).
        public var resume: Bool
        /// The device's fingerprint, taken before the cases, to keep in the results.
        public var fingerprint: ArithmeticFingerprint?

        public init(suites: [Suite], profile: String?, seed: UInt64? = nil, resultsPath: String, shard: Shard? = nil,
                    caseIDs: Set<String>? = nil, resume: Bool = false, fingerprint: ArithmeticFingerprint? = nil) {
            self.suites = suites; self.profile = profile; self.seed = seed; self.resultsPath = resultsPath; self.shard = shard
            self.caseIDs = caseIDs; self.resume = resume; self.fingerprint = fingerprint
        }
    }

    public let device: any DeviceAdapter
    /// Re-run every passing case on fresh data and require that to pass too (`run --audit`).
    public let audit: Bool
    /// Where to write each GEMM case's tensors as `.npy` files (`run --dump-tensors DIR`).
    public let dumpDirectory: String?

    /// Receives every case's output tensor once its digest is fixed (certification keeps a sample).
    public let outputSink: (@Sendable (String, Tensor) -> Void)?

    /// Host memory a case may hold (`Workload.hostBytes`); a case above it is `skipped` with the
    /// reason, before anything is allocated (`run --max-case-memory`).
    public let maxCaseBytes: Int

    public init(device: any DeviceAdapter, audit: Bool = false, dumpDirectory: String? = nil,
                outputSink: (@Sendable (String, Tensor) -> Void)? = nil, maxCaseBytes: Int = SuiteLoader.Limits.caseBytes) {
        self.device = device
        self.audit = audit
        self.dumpDirectory = dumpDirectory
        self.outputSink = outputSink
        self.maxCaseBytes = maxCaseBytes
    }

    /// The seed of the audit data: derived from the run's seed, so any checker can regenerate it,
    /// but never the seed a device was given first.
    public static func auditSeed(_ seed: UInt64) -> UInt64 { DataGenerator.mix64(seed ^ 0x4155_4449_545F_5345) }

    /// Runs the plan and writes the results file atomically.
    ///
    /// - Parameters:
    ///   - progress: called before each case with its position, the total and its id.
    ///   - shouldStop: polled between cases; once true the remaining cases are `skipped` and the
    ///     results are marked incomplete.
    /// - Throws: `OutputFileError` when the journal or results file cannot be written;
    ///   `InputFileError` when a run to resume cannot be read or is not this run.
    public func run(_ plan: Plan, progress: (Int, Int, String) -> Void = { _, _, _ in },
                    shouldStop: () -> Bool = { false }) throws -> RunResults {
        // Positions count the full selection, so shards partition it and merge restores its order.
        var position = 0
        let selected = plan.suites.map { suite in
            (suite, suite.cases(inProfile: plan.profile).filter { plan.caseIDs?.contains($0.id) ?? true }.compactMap { c -> (Int, BenchmarkCase)? in
                defer { position += 1 }
                return plan.shard.map { $0.contains(position: position) } ?? true ? (position, c) : nil
            })
        }
        var results = RunResults(
            harness: .current, device: device.descriptor, profile: plan.profile, host: Self.host(),
            startedAt: Self.timestamp(), finishedAt: nil, complete: false, shard: plan.shard,
            suites: selected.map { suite, cases in
                SuiteRecord(name: suite.name, version: suite.version, digest: Digest.sha256(suite.bytes), file: suite.file,
                            seed: plan.seed ?? suite.seed, cases: cases.count)
            },
            summary: [:], cases: [], audit: audit ? true : nil)
        results.fingerprint = plan.fingerprint
        var finished: [String: CaseResult] = [:]
        if plan.resume {
            let prior = try RunResumption.finishedCases(of: results, resultsPath: plan.resultsPath,
                                                        positions: selected.flatMap { $0.1.map { ($0.1.id, $0.0) } })
            finished = prior.cases
            results.startedAt = prior.startedAt
        }
        let journal = try ResultsJournal(resultsPath: plan.resultsPath, header: results,
                                         finished: selected.flatMap { $0.1.compactMap { finished[$0.1.id] } })
        let total = selected.reduce(0) { $0 + $1.1.count }
        var done = 0
        var interrupted = false
        for (suite, cases) in selected {
            let generator = DataGenerator(seed: plan.seed ?? suite.seed)
            for (position, benchmarkCase) in cases {
                done += 1
                if !interrupted && shouldStop() { interrupted = true }
                var result: CaseResult
                if let kept = finished[benchmarkCase.id] {
                    results.cases.append(kept)  // already in the journal
                    continue
                } else if interrupted {
                    result = CaseResult(id: benchmarkCase.id, position: position, suite: suite.name, op: benchmarkCase.workload.op,
                                        verdict: .skipped, reason: "the run was interrupted before this case", metrics: [:], check: nil,
                                        hostSeconds: 0)
                } else {
                    progress(done, total, benchmarkCase.id)
                    result = runCase(benchmarkCase, generator: generator)
                    result.position = position
                }
                results.cases.append(result)
                try journal.append(result)
            }
        }
        results.complete = !interrupted
        results.finishedAt = Self.timestamp()
        results.summary = RunResults.summarize(results.cases)
        results.deviceLog = device.log
        try JSONFile.writeAtomically(try JSONFile.encoder().encode(results), to: plan.resultsPath)
        journal.finish()
        return results
    }

    /// Runs and judges one case. Never throws: every outcome is a verdict.
    public func runCase(_ benchmarkCase: BenchmarkCase, generator: DataGenerator) -> CaseResult {
        let start = DispatchTime.now().uptimeNanoseconds
        func finish(_ verdict: Verdict, _ reason: String?, _ metrics: [Metric: MetricValue] = [:], _ check: CheckReport? = nil) -> CaseResult {
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let byName = Dictionary(uniqueKeysWithValues: metrics.map { ($0.key.name, $0.value) })
            return CaseResult(id: benchmarkCase.id, position: 0, suite: benchmarkCase.suite, op: benchmarkCase.workload.op, verdict: verdict,
                              reason: reason, metrics: byName, check: check, hostSeconds: seconds)
        }
        let workload = benchmarkCase.workload
        if !device.descriptor.ops.contains(workload.op) {
            return finish(.notSupported, "the device does not declare op \(workload.op)")
        }
        if workload.hostBytes > maxCaseBytes {
            return finish(.skipped, "the case holds \(workload.hostBytes) bytes of host memory with its working copies and reference, more than the \(maxCaseBytes) allowed (--max-case-memory)")
        }
        let arithmetic = device.descriptor.arithmetic
        if let why = CaseCheck.unjudgeable(workload, arithmetic: arithmetic) { return finish(.notSupported, why) }
        if let why = device.unsupported(benchmarkCase) { return finish(.notSupported, why) }
        let inputs = CaseCheck.inputs(workload, caseId: benchmarkCase.id, generator: generator)
        let output: DeviceOutput
        do {
            output = try device.run(benchmarkCase, inputs: inputs)
        } catch {
            let (verdict, reason) = Self.outcome(error)
            return finish(verdict, reason)
        }
        var metrics = output.metrics
        if case let .collective(c) = workload { metrics = Self.withBandwidths(metrics, c) }
        guard let spec = workload.output else {
            return finish(.pass, "timing only (declared in the suite): no data moved or checked", metrics)
        }
        if let problem = spec.problem(in: output.tensors) { return finish(.error, problem, metrics) }
        let tensor = output.tensors[spec.role]!
        // The digest is fixed before any sample is drawn: the at-scale check chooses its elements
        // from it, so a device cannot know in advance which ones will be checked.
        let digest = Digest.sha256(tensor.storage)
        outputSink?(benchmarkCase.id, tensor)
        if let dumpDirectory, case let .gemm(gemm) = workload, case let .gemm(gemmInputs) = inputs {
            do {
                try TensorDump.write(caseId: benchmarkCase.id, gemm: gemm, inputs: gemmInputs, output: tensor, device: device.descriptor, to: dumpDirectory)
            } catch {
                return finish(.error, "could not write the tensor dump: \(error)", metrics)
            }
        }
        var check = CaseCheck.verify(workload, output: tensor, inputs: inputs, arithmetic: arithmetic, sampleSeed: Digest.seed(from: digest))
        check.outputDigest = digest
        guard check.passed else { return finish(.fail, Self.failureReason(check), metrics, check) }
        let note = check.suspect
            ? "suspect: \(check.suspectElements) elements beyond the probabilistic bound (a correct but poor accumulator)" : nil
        var result = finish(.pass, note, metrics, check)
        switch workload {
        case .collective: break  // crafted exact data, which no device can usefully remember: no audit
        case .gemm, .attention: if audit { applyAudit(&result, benchmarkCase, generator) }
        }
        return result
    }

    /// nccl-tests' algbw and busbw from the device's time, when it does not report them.
    static func withBandwidths(_ metrics: [Metric: MetricValue], _ c: CollectiveCase) -> [Metric: MetricValue] {
        guard metrics[.algbw] == nil, let time = metrics[.time], time.value > 0 else { return metrics }
        let (algbw, busbw) = c.bandwidths(seconds: time.value)
        var out = metrics
        out[.algbw] = MetricValue(value: algbw, unit: "B/s", deterministic: time.deterministic)
        out[.busbw] = MetricValue(value: busbw, unit: "B/s", deterministic: time.deterministic)
        return out
    }

    /// Runs the case again on fresh data drawn from a seed the device could not have seen; a
    /// failure there fails the case (a device returning remembered results).
    private func applyAudit(_ result: inout CaseResult, _ benchmarkCase: BenchmarkCase, _ generator: DataGenerator) {
        let workload = benchmarkCase.workload
        let seed = Self.auditSeed(generator.seed)
        let inputs = CaseCheck.inputs(workload, caseId: benchmarkCase.id, generator: DataGenerator(seed: seed))
        var record = AuditRecord(seed: seed, passed: false, outputDigest: nil)
        let why: String
        do {
            let output = try device.run(benchmarkCase, inputs: inputs)
            if let spec = workload.output, spec.problem(in: output.tensors) == nil, let tensor = output.tensors[spec.role] {
                let digest = Digest.sha256(tensor.storage)
                record.outputDigest = digest
                let check = CaseCheck.verify(workload, output: tensor, inputs: inputs, arithmetic: device.descriptor.arithmetic,
                                             sampleSeed: Digest.seed(from: digest))
                record.passed = check.passed
                why = Self.failureReason(check)
            } else {
                why = "the device returned no output of the right shape"
            }
        } catch {
            why = "the device did not run it: \(error)"
        }
        result.audit = record
        if !record.passed {
            result.verdict = .fail
            result.reason = "audit: the case passed but failed on fresh data (seed \(seed); a device returning remembered results?): \(why)"
        }
    }

    /// What a device's refusal or breakage makes of a case: `not_supported` (never a failure) or
    /// `error`, with the device's reason.
    static func outcome(_ error: DeviceError) -> (Verdict, String) {
        switch error {
        case let .notSupported(reason): return (.notSupported, reason)
        case let .broken(reason): return (.error, reason)
        }
    }

    static func failureReason(_ check: CheckReport) -> String {
        var parts: [String] = []
        if let f = check.freivalds, f.failedRows > 0 {
            let row = f.worstRow.map { " (worst row \($0), ratio \(ElementReport.short(f.worstRatio)) to its bound)" } ?? ""
            parts.append("\(f.failedRows) row projections of \(f.vectors) Freivalds vectors outside their bound\(row)")
        }
        if check.mismatches > 0 {
            let sampled = check.mode == "at_scale" ? " sampled" : ""
            var s = "\(check.mismatches) of \(check.elements)\(sampled) elements outside the allowed interval"
            if let worst = check.worst { s += "; worst \(worst.sentence)" }
            parts.append(s)
        }
        if let writes = check.paddingWrites, writes > 0 {
            parts.append("\(writes) padding elements of C's stored rows changed (the device must write the M×N matrix only)")
        }
        if let d = check.rankDisagreements, d > 0 { parts.append("\(d) elements differ between ranks that must hold identical results") }
        return parts.joined(separator: "; ")
    }

    static func host() -> HostInfo {
        let p = ProcessInfo.processInfo
        return HostInfo(hostname: p.hostName, os: p.operatingSystemVersionString, cpus: p.activeProcessorCount)
    }

    static func timestamp() -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: Date())
    }
}
