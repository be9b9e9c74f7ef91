import Foundation
import SystolicCheck
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

        public init(suites: [Suite], profile: String?, seed: UInt64? = nil, resultsPath: String, shard: Shard? = nil,
                    caseIDs: Set<String>? = nil) {
            self.suites = suites; self.profile = profile; self.seed = seed; self.resultsPath = resultsPath; self.shard = shard
            self.caseIDs = caseIDs
        }
    }

    public let device: any DeviceAdapter
    /// Re-run every passing case on fresh data and require that to pass too (`run --audit`).
    public let audit: Bool
    /// Where to write each GEMM case's tensors as `.npy` files (`run --dump-tensors DIR`).
    public let dumpDirectory: String?

    /// Receives every case's output tensor once its digest is fixed (certification keeps a sample).
    public let outputSink: (@Sendable (String, Tensor) -> Void)?

    public init(device: any DeviceAdapter, audit: Bool = false, dumpDirectory: String? = nil,
                outputSink: (@Sendable (String, Tensor) -> Void)? = nil) {
        self.device = device
        self.audit = audit
        self.dumpDirectory = dumpDirectory
        self.outputSink = outputSink
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
    /// - Throws: only when the journal or results file cannot be written.
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
            summary: [:], cases: [])
        let journal = try ResultsJournal(resultsPath: plan.resultsPath, header: results)
        let total = selected.reduce(0) { $0 + $1.1.count }
        var done = 0
        var interrupted = false
        for (suite, cases) in selected {
            let generator = DataGenerator(seed: plan.seed ?? suite.seed)
            for (position, benchmarkCase) in cases {
                done += 1
                if !interrupted && shouldStop() { interrupted = true }
                var result: CaseResult
                if interrupted {
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
        let what = benchmarkCase.workload.op
        if !device.descriptor.ops.contains(what) {
            return finish(.notSupported, "the device does not declare op \(what)")
        }
        if case let .attention(attention) = benchmarkCase.workload {
            return runAttention(benchmarkCase, attention, generator: generator, finish: finish)
        }
        if case let .collective(collective) = benchmarkCase.workload {
            return runCollective(benchmarkCase, collective, generator: generator, finish: finish)
        }
        guard case let .gemm(gemm) = benchmarkCase.workload else {
            return finish(.notSupported, "this harness version has no reference for op \(what)")
        }
        let arithmetic = device.descriptor.arithmetic
        if !arithmetic.overflowModes.contains(gemm.overflow) {
            return finish(.notSupported, "the device does not declare overflow mode \(gemm.overflow.rawValue)")
        }
        let inputs = GemmInputs(gemm, caseId: benchmarkCase.id, generator: generator)
        let output: DeviceOutput
        do {
            output = try device.run(benchmarkCase, inputs: .gemm(inputs))
        } catch {
            let (verdict, reason) = Self.outcome(error)
            return finish(verdict, reason)
        }
        if let problem = gemm.output.problem(in: output.tensors) { return finish(.error, problem, output.metrics) }
        let c = output.tensors[gemm.output.role]!
        // The digest is fixed before any sample is drawn: the at-scale check chooses its elements
        // from it, so a device cannot know in advance which ones will be checked.
        let digest = Digest.sha256(c.storage)
        outputSink?(benchmarkCase.id, c)
        if let dumpDirectory {
            do {
                try TensorDump.write(caseId: benchmarkCase.id, gemm: gemm, inputs: inputs, output: c, device: device.descriptor, to: dumpDirectory)
            } catch {
                return finish(.error, "could not write the tensor dump: \(error)", output.metrics)
            }
        }
        var check = GemmCheck.verify(output: c, inputs: inputs, gemm: gemm, arithmetic: arithmetic,
                                     options: .init(sampleSeed: Digest.seed(from: digest)))
        check.outputDigest = digest
        guard check.passed else { return finish(.fail, Self.failureReason(check), output.metrics, check) }
        let note = check.suspect
            ? "suspect: \(check.suspectElements) elements beyond the probabilistic bound (a correct but poor accumulator)" : nil
        var result = finish(.pass, note, output.metrics, check)
        if audit { applyAudit(&result, benchmarkCase, gemm, generator) }
        return result
    }

    /// Runs and judges one attention case (see `AttentionCheck`).
    private func runAttention(_ benchmarkCase: BenchmarkCase, _ a: AttentionCase, generator: DataGenerator,
                              finish: (Verdict, String?, [Metric: MetricValue], CheckReport?) -> CaseResult) -> CaseResult {
        let arithmetic = device.descriptor.arithmetic
        guard let expUlps = arithmetic.expUlps else {
            return finish(.notSupported, "the device declares op attention but not the accuracy of its exp (exp_ulps)", [:], nil)
        }
        if !arithmetic.overflowModes.contains(a.overflow) {
            return finish(.notSupported, "the device does not declare overflow mode \(a.overflow.rawValue)", [:], nil)
        }
        let inputs = AttentionInputs(a, caseId: benchmarkCase.id, generator: generator)
        let output: DeviceOutput
        do {
            output = try device.run(benchmarkCase, inputs: .attention(inputs))
        } catch {
            let (verdict, reason) = Self.outcome(error)
            return finish(verdict, reason, [:], nil)
        }
        if let problem = a.output.problem(in: output.tensors) { return finish(.error, problem, output.metrics, nil) }
        let o = output.tensors[a.output.role]!
        outputSink?(benchmarkCase.id, o)
        var check = AttentionCheck.verify(output: o, inputs: inputs, attention: a, arithmetic: arithmetic, expUlps: expUlps)
        check.outputDigest = Digest.sha256(o.storage)
        guard check.passed else { return finish(.fail, Self.failureReason(check), output.metrics, check) }
        var result = finish(.pass, nil, output.metrics, check)
        if audit {
            // Fresh data must pass too: a device returning remembered results fails here.
            let seed = Self.auditSeed(generator.seed)
            let fresh = AttentionInputs(a, caseId: benchmarkCase.id, generator: DataGenerator(seed: seed))
            var record = AuditRecord(seed: seed, passed: false, outputDigest: nil)
            if let again = try? device.run(benchmarkCase, inputs: .attention(fresh)), a.output.problem(in: again.tensors) == nil,
               let o2 = again.tensors[a.output.role] {
                record.outputDigest = Digest.sha256(o2.storage)
                record.passed = AttentionCheck.verify(output: o2, inputs: fresh, attention: a, arithmetic: arithmetic, expUlps: expUlps).passed
            }
            result.audit = record
            if !record.passed {
                result.verdict = .fail
                result.reason = "audit: the case passed but failed on fresh data (seed \(seed))"
            }
        }
        return result
    }

    /// Runs and judges one collective (see `CollectiveCheck`); a timing-only case is run without
    /// data and passes on its figures alone.
    private func runCollective(_ benchmarkCase: BenchmarkCase, _ c: CollectiveCase, generator: DataGenerator,
                               finish: (Verdict, String?, [Metric: MetricValue], CheckReport?) -> CaseResult) -> CaseResult {
        func run(_ inputs: CaseInputs) -> Result<DeviceOutput, DeviceError> {
            do { return .success(try device.run(benchmarkCase, inputs: inputs)) } catch { return .failure(error) }
        }
        func withBandwidths(_ metrics: [Metric: MetricValue]) -> [Metric: MetricValue] {
            // nccl-tests' algbw and busbw from the device's time, when it does not report them.
            guard metrics[.algbw] == nil, let time = metrics[.time], time.value > 0 else { return metrics }
            let (algbw, busbw) = c.bandwidths(seconds: time.value)
            var out = metrics
            out[.algbw] = MetricValue(value: algbw, unit: "B/s", deterministic: time.deterministic)
            out[.busbw] = MetricValue(value: busbw, unit: "B/s", deterministic: time.deterministic)
            return out
        }
        if c.timingOnly {
            switch run(.none) {
            case let .success(output): return finish(.pass, "timing only (declared in the suite): no data moved or checked", withBandwidths(output.metrics), nil)
            case let .failure(error):
                let (verdict, reason) = Self.outcome(error)
                return finish(verdict, reason, [:], nil)
            }
        }
        let inputs = CollectiveInputs(c, caseId: benchmarkCase.id, generator: generator)
        let output: DeviceOutput
        switch run(.collective(inputs)) {
        case let .success(o): output = o
        case let .failure(error):
            let (verdict, reason) = Self.outcome(error)
            return finish(verdict, reason, [:], nil)
        }
        let metrics = withBandwidths(output.metrics)
        let spec = c.output!
        if let problem = spec.problem(in: output.tensors) { return finish(.error, problem, metrics, nil) }
        let out = output.tensors[spec.role]!
        outputSink?(benchmarkCase.id, out)
        var check = CollectiveCheck.verify(output: out, inputs: inputs, collective: c)
        check.outputDigest = Digest.sha256(out.storage)
        guard check.passed else {
            var parts: [String] = []
            if check.mismatches > 0 { parts.append(Self.failureReason(check)) }
            if let d = check.rankDisagreements, d > 0 { parts.append("\(d) elements differ between ranks that must hold identical results") }
            return finish(.fail, parts.joined(separator: "; "), metrics, check)
        }
        return finish(.pass, nil, metrics, check)
    }

    /// Runs the case again on fresh data; a failure there fails the case.
    private func applyAudit(_ result: inout CaseResult, _ benchmarkCase: BenchmarkCase, _ gemm: GemmCase, _ generator: DataGenerator) {
        let seed = Self.auditSeed(generator.seed)
        let inputs = GemmInputs(gemm, caseId: benchmarkCase.id, generator: DataGenerator(seed: seed))
        var record = AuditRecord(seed: seed, passed: false, outputDigest: nil)
        let why: String
        do {
            let output = try device.run(benchmarkCase, inputs: .gemm(inputs))
            if gemm.output.problem(in: output.tensors) == nil, let c = output.tensors[gemm.output.role] {
                let digest = Digest.sha256(c.storage)
                record.outputDigest = digest
                let check = GemmCheck.verify(output: c, inputs: inputs, gemm: gemm, arithmetic: device.descriptor.arithmetic,
                                             options: .init(sampleSeed: Digest.seed(from: digest)))
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
