
import SystolicJSON
import SystolicDevice

/// A results file (format `systolic-bench.results/1`, schema `schemas/results.schema.json`).
public struct RunResults: Sendable, Codable, Equatable {
    public static let formatTag = "systolic-bench.results/1"

    public var format: String = RunResults.formatTag
    public var harness: HarnessInfo
    public var device: DeviceDescriptor
    /// The profile run, or nil when every case was selected.
    public var profile: String?
    public var host: HostInfo
    public var startedAt: String
    public var finishedAt: String?
    /// False when the run was interrupted; the cases not run are `skipped`.
    public var complete: Bool
    /// The part of the selection this file holds, for a sharded run (`run --shard i/n`).
    public var shard: Shard?
    public var suites: [SuiteRecord]
    public var summary: [String: Int]
    public var cases: [CaseResult]
    /// The end of what the device's adapter wrote to stderr during the run, when it has one.
    public var deviceLog: String?
    /// True when every passing case was re-run on fresh data (`run --audit`); absent otherwise.
    public var audit: Bool?
    /// What the device's matrix engines were measured to do (`run --fingerprint`, and certification
    /// for profiles that require it): docs/fingerprint.md.
    public var fingerprint: ArithmeticFingerprint?

    enum CodingKeys: String, CodingKey {
        case format, harness, device, profile, host, complete, shard, suites, summary, cases, audit, fingerprint
        case deviceLog = "device_log"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
    }

    /// Verdict counts, every verdict present (zeros included).
    public static func summarize(_ cases: [CaseResult]) -> [String: Int] {
        var counts = Dictionary(uniqueKeysWithValues: Verdict.allCases.map { ($0.rawValue, 0) })
        for c in cases { counts[c.verdict.rawValue, default: 0] += 1 }
        return counts
    }

    public init(format: String = RunResults.formatTag, harness: HarnessInfo, device: DeviceDescriptor, profile: String? = nil, host: HostInfo, startedAt: String, finishedAt: String? = nil, complete: Bool, shard: Shard? = nil, suites: [SuiteRecord], summary: [String: Int], cases: [CaseResult], deviceLog: String? = nil, audit: Bool? = nil) {
        self.audit = audit
        self.format = format; self.harness = harness; self.device = device; self.profile = profile; self.host = host; self.startedAt = startedAt; self.finishedAt = finishedAt; self.complete = complete; self.shard = shard; self.suites = suites; self.summary = summary; self.cases = cases; self.deviceLog = deviceLog
    }
}

/// Shard `index` of `count` (1-based): the cases whose position in the full selection is
/// `index − 1` modulo `count`.
public struct Shard: Sendable, Codable, Equatable {
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) {
        precondition(count >= 1 && (1...count).contains(index), "invalid shard")
        self.index = index; self.count = count
    }

    public func contains(position: Int) -> Bool { position % count == index - 1 }
}

public struct HarnessInfo: Sendable, Codable, Equatable {
    public var name: String
    public var version: String
    public static let current = HarnessInfo(name: "systolic-bench", version: "0.10.0")

    public init(name: String, version: String) {
        self.name = name; self.version = version
    }
}

public struct HostInfo: Sendable, Codable, Equatable {
    public var hostname: String
    public var os: String
    public var cpus: Int

    public init(hostname: String, os: String, cpus: Int) {
        self.hostname = hostname; self.os = os; self.cpus = cpus
    }
}

/// A suite as it was run: enough to tell whether two runs are comparable.
public struct SuiteRecord: Sendable, Codable, Equatable {
    public var name: String
    public var version: String
    /// SHA-256 of the suite file's bytes, `sha256:<hex>`.
    public var digest: String
    public var file: String
    /// The data seed every case of this suite was generated from.
    public var seed: UInt64
    /// Cases selected from this suite.
    public var cases: Int

    public init(name: String, version: String, digest: String, file: String, seed: UInt64, cases: Int) {
        self.name = name; self.version = version; self.digest = digest; self.file = file; self.seed = seed; self.cases = cases
    }

    enum CodingKeys: String, CodingKey { case name, version, digest, file, seed, cases }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        version = try c.decode(String.self, forKey: .version)
        digest = try c.decode(String.self, forKey: .digest)
        file = try c.decode(String.self, forKey: .file)
        seed = try c.decodeSeed(forKey: .seed)
        cases = try c.decode(Int.self, forKey: .cases)
    }
}

/// One case's outcome.
public struct CaseResult: Sendable, Codable, Equatable {
    public var id: String
    /// Position in the full selection of the run (all suites, before sharding); orders merges.
    public var position: Int
    public var suite: String
    public var op: String
    public var verdict: Verdict
    /// Why the verdict is not `pass`: the failing element, the device's message, …
    public var reason: String?
    /// Figures by name, each with its unit.
    public var metrics: [String: MetricValue]
    public var check: CheckReport?
    /// Host wall time for the whole case (generation, device, check); never compared.
    public var hostSeconds: Double
    /// The anti-cheat re-run with fresh data, when the run asked for it (`run --audit`).
    public var audit: AuditRecord?

    enum CodingKeys: String, CodingKey {
        case id, position, suite, op, verdict, reason, metrics, check, audit
        case hostSeconds = "host_seconds"
    }

    public init(id: String, position: Int, suite: String, op: String, verdict: Verdict, reason: String? = nil, metrics: [String: MetricValue], check: CheckReport? = nil, hostSeconds: Double, audit: AuditRecord? = nil) {
        self.id = id; self.position = position; self.suite = suite; self.op = op; self.verdict = verdict; self.reason = reason; self.metrics = metrics; self.check = check; self.hostSeconds = hostSeconds; self.audit = audit
    }
}

/// A case re-run on data drawn from a seed the device could not have seen (after MLPerf's TEST04):
/// a device that returns remembered results fails it.
public struct AuditRecord: Sendable, Codable, Equatable {
    public var seed: UInt64
    public var passed: Bool
    public var outputDigest: String?

    enum CodingKeys: String, CodingKey {
        case seed, passed
        case outputDigest = "output_digest"
    }

    public init(seed: UInt64, passed: Bool, outputDigest: String? = nil) {
        self.seed = seed; self.passed = passed; self.outputDigest = outputDigest
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        seed = try c.decodeSeed(forKey: .seed)
        passed = try c.decode(Bool.self, forKey: .passed)
        outputDigest = try c.decodeIfPresent(String.self, forKey: .outputDigest)
    }
}
