#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Crypto
import Foundation
import SystolicData
import SystolicDevice
import SystolicJSON
import SystolicNumerics
import SystolicProtocol
import SystolicSuite

/// A device in another process, driven through the adapter protocol (`docs/protocol.md`).
///
/// Every way an adapter can misbehave ends that case as `error` with the reason, and the run goes
/// on: a crash or hang (the whole process group is killed and the adapter restarted for the next
/// case), garbage or out-of-protocol replies, outputs missing, of the wrong size, or outside the
/// scratch directory (symbolic links included), and capabilities claimed in the handshake then
/// refused. The harness owns the scratch directory and its tensor files (`ScratchFiles`).
public final class ProcessAdapter: DeviceAdapter, @unchecked Sendable {
    public let executable: String
    public let arguments: [String]
    public let caseTimeout: Double
    public let timing: TimingPlan
    public private(set) var descriptor: DeviceDescriptor
    private let scratch: URL
    /// The session's tensor files, reused across cases.
    private let scratchFiles: ScratchFiles
    /// True when the harness made the scratch directory (and so removes it at shutdown).
    private let ownsScratch: Bool
    private let lock = NSLock()
    private var process: AdapterProcess?
    /// Every process group started, so callers (and tests) can check none is left behind.
    public private(set) var processGroups: [pid_t] = []
    public private(set) var restarts = 0
    /// The protocol version the adapter answered with, and the features it declared (a
    /// version-1 adapter: the attention it was always sent, no GEMM feature).
    public private(set) var protocolVersion = 1
    public private(set) var features = Features.version1

    /// Starts the adapter and performs the handshake.
    /// - Throws: `AdapterStartError` when the adapter cannot be started or its handshake is wrong.
    public init(executable: String, arguments: [String] = [], scratch: URL? = nil, caseTimeout: Double = 60,
                timing: TimingPlan = TimingPlan(warmup: 1, minRepeats: 3, minSeconds: 0)) throws {
        self.executable = executable
        self.arguments = arguments
        self.caseTimeout = caseTimeout
        self.timing = timing
        // Tensor files live in memory (/dev/shm) where the system offers it: disk-backed files cost
        // a GB/s of throughput on large tensors.
        let dir = scratch ?? URL(fileURLWithPath: TensorFileIO.defaultScratchParent()).appendingPathComponent("systolic-bench-adapter-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        self.scratch = dir
        self.scratchFiles = try ScratchFiles(directory: dir.path)
        self.ownsScratch = scratch == nil
        stdoutLog = OutputLog(path: dir.appendingPathComponent("adapter.stdout").path)
        stderrLog = OutputLog(path: dir.appendingPathComponent("adapter.stderr").path)
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw AdapterStartError(message: "\(executable) is not an executable file")
        }
        let digest = Self.digest(of: executable)
        descriptor = DeviceDescriptor(name: "process", vendor: "", product: "", driverVersion: "", kind: "hardware",
                                      arithmetic: DeclaredArithmetic(accumulator: .fp32, subnormals: .preserve, overflowModes: [], inputTypes: []),
                                      ops: [], array: nil, peakOpsPerSecond: [:])
        do {
            let hello = try start()
            // The device's name becomes part of the results' and baselines' paths.
            guard PathName.isDeviceName(hello.device.name) else {
                throw AdapterFailure("hello declares device name \"\(hello.device.name)\"; a device name is \(PathName.deviceNameRule)")
            }
            descriptor = hello.device
            protocolVersion = hello.protocolVersion
            features = hello.protocolVersion >= 2 ? hello.features ?? Features() : .version1
            descriptor.adapter = AdapterInfo(executable: executable, arguments: arguments, digest: digest, protocolVersion: hello.protocolVersion,
                                             timer: hello.timer, energySource: hello.energySource,
                                             features: hello.protocolVersion >= 2
                                                ? ["gemm": features.gemm.map(\.rawValue), "attention": features.attention.map(\.rawValue)] : nil)
        } catch {
            throw AdapterStartError(message: "\(error)\(stderrTail())")
        }
    }

    deinit { shutdown() }

    /// Sends `shutdown`, then kills the adapter's process group.
    public func shutdown() {
        lock.lock()
        defer { lock.unlock() }
        if let p = process {
            p.shutdown(message: Self.line(ShutdownRequest()))
            process = nil
        }
        // The scratch directory lives in memory: leave nothing behind once the adapter is gone.
        scratchFiles.removeAll()
        if ownsScratch { try? FileManager.default.removeItem(at: scratch) }
    }

    /// Kills every adapter process group this process started that is still running.
    public static func terminateAllAdapters() { AdapterProcess.terminateAll() }

    /// The harness's notes on the adapter's protocol conduct (at most the first 20), then the last
    /// 4 KiB the adapter wrote to stderr.
    public var log: String? {
        stderrLog.settle(timeout: 0.5)
        let text = notes.map { "harness: \($0)\n" }.joined() + stderrLog.tailText
        return text.isEmpty ? nil : text
    }

    /// What the harness noticed and forgave (stale replies), for the results' device log.
    public private(set) var notes: [String] = []

    private func note(_ text: String) {
        if notes.count < 20 { notes.append(text) }
    }

    /// The adapter's stdout and stderr, each in a capped log file in the scratch directory with
    /// its end kept in memory (`OutputLog`).
    private let stdoutLog: OutputLog
    private let stderrLog: OutputLog

    /// Bytes of the adapter's stdout and stderr dropped past their logs' caps.
    public var droppedLogBytes: Int { stdoutLog.droppedBytes + stderrLog.droppedBytes }

    /// The process groups this adapter started that still have a live process.
    public var survivingProcessGroups: [pid_t] { processGroups.filter(AdapterProcess.groupAlive) }

    /// Path of the adapter's stderr log in the scratch directory.
    public var stderrPath: String { scratch.appendingPathComponent("adapter.stderr").path }

    // MARK: Running cases

    /// Why the adapter is not sent a case that uses features it did not declare, or nil.
    public func undeclared(_ workload: Workload) -> String? {
        let missing: [String]
        switch workload {
        case let .gemm(g): missing = GemmFeature.used(by: g).filter { !features.gemm.contains($0) }.map(\.rawValue)
        case let .attention(a): missing = AttentionFeature.used(by: a).filter { !features.attention.contains($0) }.map(\.rawValue)
        case .collective: missing = []
        }
        guard !missing.isEmpty else { return nil }
        let what = "\(workload.op) feature\(missing.count == 1 ? "" : "s") \(missing.joined(separator: ", "))"
        return protocolVersion == 1
            ? "the adapter speaks protocol 1, which does not carry \(what) (protocol 2 does)"
            : "the adapter does not declare \(what)"
    }

    /// What the harness can refuse before generating inputs: ops, input types and protocol
    /// features the adapter did not declare (`run` refuses the same, with the same reasons).
    public func unsupported(_ benchmarkCase: BenchmarkCase) -> String? {
        let workload = benchmarkCase.workload
        guard descriptor.ops.contains(workload.op) else { return "the device does not declare op \(workload.op)" }
        if let why = undeclared(workload) { return why }
        let declared = descriptor.arithmetic.inputTypes(for: workload.op)
        return Self.declaredTypes(workload, descriptor.arithmetic).first { !declared.contains($0) }
            .map { "the device does not declare input type \($0.rawValue) for \(workload.op)" }
    }

    /// The types a case is checked against the declaration with: the matrix engine's for GEMMs and
    /// attention; a collective's data type only when the device lists types for collectives.
    static func declaredTypes(_ workload: Workload, _ arithmetic: DeclaredArithmetic) -> [NumberType] {
        if case let .collective(c) = workload, arithmetic.inputTypesByOp?["collective"] != nil { return [c.type] }
        return engineTypes(workload)
    }

    /// The matrix engine's input types a case uses. A collective moves data: its type is not one
    /// (int32 sums are collectives too), and the adapter refuses what it cannot move.
    static func engineTypes(_ workload: Workload) -> [NumberType] {
        switch workload {
        case let .gemm(g): [g.types.a, g.types.b]
        case let .attention(a): [a.inputType, a.kvType]
        case .collective: []
        }
    }

    /// The request's tensors of a GEMM, by role (docs/protocol.md, "run"): the operands as stored,
    /// C's initial rows, the epilogue's vectors, the block scales and the experts' row counts.
    static func gemmTensors(_ g: GemmCase, _ t: GemmInputs) -> [(role: String, tensor: Tensor)] {
        var out: [(role: String, tensor: Tensor)] = [("a", t.a), ("b", t.b)]
        if let c = t.c { out.append(("c", c)) }
        if let e = t.epilogue {
            for (role, tensor) in [("bias", e.bias), ("scale", e.scale), ("zero_point", e.zeroPoint), ("multiplier", e.multiplier), ("shift", e.shift)] {
                if let tensor { out.append((role, tensor)) }
            }
        }
        if let s = t.blockScales {
            if let a = s.a { out.append(("scale_a", a)) }
            if let b = s.b { out.append(("scale_b", b)) }
            if let zero = s.zeroB { out.append(("zero_b", zero)) }
            if g.blockFormat?.scheme == .nvfp4 {
                // NVFP4's fp32 tensor scales, A's only where the harness quantised A.
                if !t.awaitsQuantisedA(g) { out.append(("tensor_scale_a", Tensor(type: .fp32, shape: [1], values: [s.tensorA], overflow: .ieee))) }
                out.append(("tensor_scale_b", Tensor(type: .fp32, shape: [1], values: [s.tensorB], overflow: .ieee)))
            }
        }
        if let groups = g.groups {
            out.append(("group_sizes", Tensor(type: .int32, shape: [groups.count], values: groups.map(Double.init), overflow: .saturate)))
        }
        return out
    }

    public func run(_ benchmarkCase: BenchmarkCase, inputs: CaseInputs) throws(DeviceError) -> DeviceOutput {
        lock.lock()
        defer { lock.unlock() }
        // The harness asked already (`unsupported`); a direct caller gets the same answer here.
        if let why = unsupported(benchmarkCase) { throw .notSupported(why) }
        // What to send: the op's spec, its input tensors by role, and the one output it writes.
        let op = benchmarkCase.workload.op
        var gemmSpec: GemmSpec?, attentionSpec: AttentionSpec?, collectiveSpec: CollectiveSpec?
        var tensorsByRole: [(role: String, tensor: Tensor)]
        var outputRole: String?
        let outputType: NumberType, outputShape: [Int], work: WorkCount?
        switch (benchmarkCase.workload, inputs) {
        case let (.gemm(g), .gemm(tensors)):
            gemmSpec = GemmSpec(g)
            tensorsByRole = Self.gemmTensors(g, tensors)
            // C as stored: [batch, M, ldc], its padding as the input `c` holds it.
            (outputRole, outputType, outputShape) = (g.output.role, g.output.type, g.output.shape)
            work = g.work
        case let (.attention(a), .attention(tensors)):
            attentionSpec = AttentionSpec(a)
            tensorsByRole = tensors.byRole
            (outputRole, outputType, outputShape) = (a.output.role, a.output.type, a.output.shape)
            work = a.work
        case let (.collective(c), .collective(tensors)):
            collectiveSpec = CollectiveSpec(c)
            tensorsByRole = [("in", tensors.buffers)]
            let spec = c.output!
            (outputRole, outputType, outputShape) = (spec.role, spec.type, spec.shape)
            work = nil
        case let (.collective(c), .none) where c.timingOnly:
            collectiveSpec = CollectiveSpec(c)
            tensorsByRole = []
            (outputRole, outputType, outputShape) = (nil, c.type, [])
            work = nil
        default:
            throw .notSupported("the adapter protocol does not carry op \(op) in this version")
        }
        // Files are reused across cases of the same sizes and written through the harness's own
        // descriptors (`ScratchFiles`); an input with the output's role (C's initial rows) has a
        // file of its own.
        var needed: [String: Int] = [:]
        for t in tensorsByRole { needed[ScratchFiles.inputSlot(t.role)] = t.tensor.type.fileBytes(t.tensor.count) }
        let output = outputRole.map { (role: $0, slot: ScratchFiles.outputSlot($0), byteCount: outputShape.reduce(1, *) * outputType.byteWidth) }
        if let output { needed[output.slot] = output.byteCount }
        scratchFiles.beginCase(needed)
        let remadeBefore = scratchFiles.remade
        defer {
            if scratchFiles.remade > remadeBefore {
                note("the scratch directory \(scratch.path) was removed by another process before case \(benchmarkCase.id); made again")
            }
        }
        do {
            var inputFiles: [String: TensorFile] = [:]
            for t in tensorsByRole {
                let path = try scratchFiles.writeInput(slot: ScratchFiles.inputSlot(t.role), stem: t.role == outputRole ? "\(t.role).initial" : t.role,
                                                       bytes: t.tensor.fileBytes)
                inputFiles[t.role] = TensorFile(path: path, type: t.tensor.type, shape: t.tensor.shape)
            }
            var outputFiles: [String: TensorFile] = [:]
            if let output {
                let path = try scratchFiles.prepareOutput(slot: output.slot, stem: output.role, byteCount: output.byteCount)
                outputFiles[output.role] = TensorFile(path: path, type: outputType, shape: outputShape)
            }
            let request = RunRequest(id: benchmarkCase.id, op: op, gemm: gemmSpec, attention: attentionSpec, collective: collectiveSpec,
                                     inputs: inputFiles, outputs: outputFiles, timing: timing)
            let started = DispatchTime.now().uptimeNanoseconds
            let reply = try exchange(request)
            let roundTrip = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            switch reply.type {
            case "result":
                guard let output, let expected = outputFiles[output.role] else {
                    return DeviceOutput(tensors: [:], metrics: metrics(reply, work: work, roundTrip: roundTrip))
                }
                let tensor = try readOutput(reply, role: output.role, slot: output.slot, expected: expected)
                return DeviceOutput(tensors: [output.role: tensor], metrics: metrics(reply, work: work, roundTrip: roundTrip))
            case "not_supported":
                // Nothing of a collective is declared beyond the op: refusing a data type is honest.
                if collectiveSpec != nil { throw DeviceError.notSupported(reply.reason ?? "the adapter gave no reason") }
                let types = Self.engineTypes(benchmarkCase.workload).map(\.rawValue).joined(separator: " × ")
                throw AdapterFailure("the device declared \(op) with \(types) in its handshake, then refused the case: \(reply.reason ?? "no reason")")
            case "error":
                throw DeviceError.broken("the adapter reported an error: \(reply.reason ?? "no reason")\(stderrTail())")
            default:
                throw AdapterFailure("unknown reply type \"\(reply.type)\"")
            }
        } catch let error as DeviceError {
            throw error
        } catch {
            // The adapter is in an unknown state: kill it (and all it started); the next case restarts it.
            process?.terminate()
            process = nil
            throw .broken("\(error)\(stderrTail())")
        }
    }

    /// Sends one raw request line and returns the reply line, for the conformance kit's probes of
    /// the protocol itself (unknown messages and the like).
    public func probe(_ json: String) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        do {
            if process == nil { restarts += 1; _ = try start() }
            guard let p = process else { throw AdapterFailure("the adapter is not running") }
            try p.send(Array((json + "\n").utf8))
            return String(decoding: try p.receiveLine(timeout: caseTimeout), as: UTF8.self)
        } catch {
            process?.terminate()
            process = nil
            throw error
        }
    }

    /// Sends a request and reads its reply, starting (or restarting) the adapter first if needed.
    private func exchange(_ request: RunRequest) throws -> RunReply {
        if process == nil {
            restarts += 1
            _ = try start()
        }
        guard let p = process else { throw AdapterFailure("the adapter is not running") }
        // Replies are matched to requests (hardening #26, item 14): a second reply to an answered
        // case, sent at once or late, is discarded with a note, never charged to the case asked.
        for stale in p.unsolicitedLines() {
            note("discarded a message sent with no request outstanding, before case \(request.id): \(Self.excerpt(stale))")
        }
        try p.send(request.line())
        let deadline = Date().addingTimeInterval(caseTimeout)
        var reply: RunReply
        while true {
            let line = try p.receiveLine(timeout: max(0, deadline.timeIntervalSinceNow))
            do {
                reply = try RunReply(line: line)
            } catch {
                throw AdapterFailure("garbage reply (not a protocol message): \(error); the line: \(Self.excerpt(line))")
            }
            guard reply.id != request.id, p.answeredIDs.contains(reply.id) else { break }
            note("discarded a stale second reply to case \(reply.id), answered already, while case \(request.id) was asked")
        }
        guard reply.id == request.id else { throw AdapterFailure("reply for case \"\(reply.id)\" while \"\(request.id)\" was asked") }
        p.answeredIDs.insert(request.id)
        // A process started for the case must end before the case is answered: one still running
        // is work the answer does not cover, or an attempt to outlive the adapter.
        if let now = p.descendants() {
            let left = now.subtracting(p.startupProcesses).sorted()
            if !left.isEmpty {
                throw AdapterFailure("the adapter answered while \(left.count) process\(left.count == 1 ? "" : "es") it started for the case kept running (pid \(left.map(String.init).joined(separator: ", ")))")
            }
        }
        return reply
    }

    /// Starts the adapter and checks its handshake.
    private func start() throws -> HelloReply {
        let p = try AdapterProcess(executable: executable, arguments: arguments, stdout: stdoutLog, stderr: stderrLog,
                                   scratch: ownsScratch ? scratch.path : nil)
        processGroups.append(p.pid)
        do {
            try p.send(Self.line(HelloRequest(harness: "systolic-bench")))
            let line = try p.receiveLine(timeout: caseTimeout)
            guard let object = try? JSONParser.parse(line), object["type"]?.stringValue == "hello" else {
                throw AdapterFailure("garbage handshake: \(Self.excerpt(line))")
            }
            guard let version = object["protocol"]?.intValue, AdapterProtocol.versions.contains(version) else {
                throw AdapterFailure("the adapter speaks protocol \(object["protocol"]?.excerpt ?? "none"), this harness speaks \(AdapterProtocol.versions.map(String.init).joined(separator: " and "))")
            }
            let hello: HelloReply
            // As strict as a file: the place and the value at fault are named (an unknown feature,
            // a misspelt field), and the descriptor recorded is exactly what the adapter sent.
            do { hello = try JSONFile.decode(HelloReply.self, bytes: line, file: "the adapter's hello reply") } catch {
                throw AdapterFailure("malformed handshake: \(error)")
            }
            // Helpers the adapter starts before it answers the handshake may live until shutdown.
            p.startupProcesses = p.descendants() ?? []
            process = p
            return hello
        } catch {
            p.terminate()
            throw error
        }
    }

    /// Reads an output after checking it was written where requested: a regular file, never a
    /// link followed, of exactly the expected size (`ScratchFiles.readOutput`).
    private func readOutput(_ reply: RunReply, role: String, slot: String, expected: TensorFile) throws -> Tensor {
        guard let path = reply.outputs?[role] else { throw AdapterFailure("the reply names no output \"\(role)\"") }
        guard path == expected.path else { throw AdapterFailure("output written to \(path), not to the requested \(expected.path)") }
        do {
            return Tensor(type: expected.type, shape: expected.shape, storage: try scratchFiles.readOutput(slot: slot))
        } catch {
            throw AdapterFailure("\(error); \(expected.type.rawValue) \(expected.shape) needs \(expected.byteCount) bytes")
        }
    }

    /// The measured figures; `work` is the case's work count (nil for collectives).
    private func metrics(_ reply: RunReply, work: WorkCount?, roundTrip: Double) -> [Metric: MetricValue] {
        var out: [Metric: MetricValue] = [.hostRoundTrip: .measured(roundTrip, "s")]
        if let samples = reply.samplesSeconds, !samples.isEmpty, samples.allSatisfy({ $0.isFinite && $0 >= 0 }) {
            // One record: the median as the value, the spread of the repeats as its statistics.
            let stats = SampleStatistics(samples)
            out[.time] = MetricValue(value: stats.median, unit: "s", deterministic: false, source: descriptor.adapter?.timer,
                                     statistics: stats.record)
            out[.repeats] = .measured(Double(samples.count), "count")
            if stats.median > 0, let work, work.count > 0 {
                out[.throughput] = .measured(work.count / stats.median, "\(work.unit)/s")
            }
        }
        if let joules = reply.energyJoules, joules.isFinite, joules >= 0, let source = descriptor.adapter?.energySource, source != "none" {
            out[.energy] = .measured(joules, "J", source: source)
        }
        return out
    }

    // MARK: Helpers

    /// A message other than `run` (hello, shutdown: once a session) as a JSON line; `run`
    /// requests are written by `RunRequest.line()`, in the same bytes and far faster.
    static func line<T: Encodable>(_ message: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var bytes = Array((try? encoder.encode(message)) ?? Data("{}".utf8))
        bytes.append(0x0A)
        return bytes
    }

    static func excerpt(_ line: [UInt8]) -> String {
        let text = String(decoding: line.prefix(120), as: UTF8.self)
        return "\"\(text)\(line.count > 120 ? "…" : "")\""
    }

    static func digest(of path: String) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "sha256:unreadable" }
        return "sha256:" + SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    /// The last lines the adapter wrote to stderr, for error reasons.
    private func stderrTail() -> String {
        stderrLog.settle(timeout: 0.5)
        let text = String(decoding: Array(stderrLog.tailText.utf8).suffix(400), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "" : "; adapter stderr: \(text)"
    }
}

/// The adapter could not be started or its handshake failed: the whole run cannot use it.
public struct AdapterStartError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { "the adapter could not be used: \(message)" }
}

/// Summary statistics of timed repeats (nearest-rank percentiles).
public struct SampleStatistics: Sendable, Equatable {
    public let median: Double, p90: Double, p99: Double, min: Double, max: Double, mean: Double, cv: Double

    public init(_ samples: [Double]) {
        let s = samples.sorted()
        func rank(_ q: Double) -> Double { s[Swift.min(s.count - 1, Swift.max(0, Int((q * Double(s.count)).rounded(.up)) - 1))] }
        median = s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        p90 = rank(0.9); p99 = rank(0.99); min = s.first ?? 0; max = s.last ?? 0
        let average = s.reduce(0, +) / Double(s.count)
        let variance = s.reduce(0) { $0 + ($1 - average) * ($1 - average) } / Double(Swift.max(s.count - 1, 1))
        mean = average
        cv = average > 0 ? variance.squareRoot() / average : 0
    }

    /// The statistics as `MetricValue.statistics` records them, by `Statistic` name.
    public var record: [String: Double] {
        var out: [String: Double] = [:]
        for s in Statistic.allCases {
            switch s {
            case .median: out[s.rawValue] = median
            case .mean: out[s.rawValue] = mean
            case .p90: out[s.rawValue] = p90
            case .p99: out[s.rawValue] = p99
            case .min: out[s.rawValue] = min
            case .max: out[s.rawValue] = max
            case .cv: out[s.rawValue] = cv
            }
        }
        return out
    }
}
