import SystolicDevice
import SystolicResults

import SystolicJSON
import SystolicSuite

/// A stored baseline for one suite on one device (`Baselines/<device>/<suite>.json`, format
/// `systolic-bench.baseline/1`, schema `schemas/baseline.schema.json`).
public struct Baseline: Sendable, Codable, Equatable {
    public static let formatTag = "systolic-bench.baseline/1"

    public var format: String = Baseline.formatTag
    public var device: DeviceDescriptor
    public var suite: SuiteRecord
    public var harnessVersion: String
    public var profile: String?
    public var cases: [BaselineCase]

    enum CodingKeys: String, CodingKey {
        case format, device, suite, profile, cases
        case harnessVersion = "harness_version"
    }

    /// The baseline of one suite taken from a results file: verdicts, output digests and every
    /// metric with its unit (skipped cases are not recorded).
    public init(results: RunResults, suite: SuiteRecord) {
        device = results.device
        self.suite = suite
        harnessVersion = results.harness.version
        profile = results.profile
        cases = results.cases.filter { $0.suite == suite.name && $0.verdict != .skipped }.map { c in
            BaselineCase(id: c.id, verdict: c.verdict, outputDigest: c.check?.outputDigest, metrics: c.metrics)
        }
    }

    /// The conventional path of a baseline under `directory`.
    public static func path(directory: String, device: String, suite: String) -> String {
        "\(directory)/\(device)/\(suite).json"
    }

    /// Reads and validates a baseline file.
    public static func load(_ path: String) throws(InputFileError) -> Baseline {
        let b = try JSONFile.decode(Baseline.self, from: path)
        guard b.format == formatTag else {
            throw InputFileError(file: path, place: "format", message: "expected \"\(formatTag)\", found \"\(b.format)\"")
        }
        try PathName.checkDevice(b.device.name, file: path, place: "device.name")
        try PathName.checkIdentifier(b.suite.name, file: path, place: "suite.name")
        // A figure the catalogue does not know would have no direction and no unit to compare by.
        var ids = Set<String>()
        for (i, c) in b.cases.enumerated() {
            try Metric.validate(c.metrics, file: path, place: "cases[\(i)].metrics")
            guard ids.insert(c.id).inserted else { throw InputFileError(file: path, place: "cases[\(i)].id", message: "case \"\(c.id)\" appears twice") }
            if let digest = c.outputDigest, !StringFormats.isSHA256(digest) {
                throw InputFileError(file: path, place: "cases[\(i)].output_digest", message: "expected sha256: and 64 hexadecimal digits, found \"\(digest)\"")
            }
        }
        guard StringFormats.isSHA256(b.suite.digest) else {
            throw InputFileError(file: path, place: "suite.digest", message: "expected sha256: and 64 hexadecimal digits, found \"\(b.suite.digest)\"")
        }
        return b
    }
}

public struct BaselineCase: Sendable, Codable, Equatable {
    public var id: String
    public var verdict: Verdict
    public var outputDigest: String?
    /// Metrics as recorded; compared under the tolerance rules.
    public var metrics: [String: MetricValue]

    enum CodingKeys: String, CodingKey {
        case id, verdict, metrics
        case outputDigest = "output_digest"
    }
}
