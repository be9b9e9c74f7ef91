import Foundation
import SystolicHarness
import SystolicJSON

/// A conformance release (`Certification/release.json`, format `systolic-bench.release/1`): one
/// version number that freezes the suites, the tolerance rules, the profiles and the harness
/// version. Certificates name it; a package whose suites or profiles differ from it is in the
/// `open` division.
public struct ConformanceRelease: Codable, Sendable, Equatable {
    public static let formatTag = "systolic-bench.release/1"
    public static let repositoryPath = "Certification/release.json"

    public struct FrozenFile: Codable, Sendable, Equatable {
        public var file: String
        public var name: String
        public var digest: String
    }

    public var format: String
    public var version: String
    public var harness: String
    public var suites: [FrozenFile]
    public var profiles: [FrozenFile]
    public var tolerances: FrozenFile
    /// The waivers the release issues (`Certification/waivers/*.json`), by digest.
    public var waivers: [FrozenFile]

    public static func load(_ path: String) throws(InputFileError) -> ConformanceRelease {
        let r = try JSONFile.decode(ConformanceRelease.self, from: path)
        guard r.format == formatTag else {
            throw InputFileError(file: path, place: "format", message: "expected \"\(formatTag)\", found \"\(r.format)\"")
        }
        let frozen = r.suites.enumerated().map { ("suites[\($0.offset)]", $0.element) }
            + r.profiles.enumerated().map { ("profiles[\($0.offset)]", $0.element) } + [("tolerances", r.tolerances)]
            + r.waivers.enumerated().map { ("waivers[\($0.offset)]", $0.element) }
        for (place, f) in frozen where !StringFormats.isSHA256(f.digest) {
            throw InputFileError(file: path, place: "\(place).digest", message: "expected sha256: and 64 hexadecimal digits, found \"\(f.digest)\"")
        }
        return r
    }

    /// True when the release lists exactly these bytes as one of its waivers, issued for it.
    public func issued(_ waiver: Waiver, bytes: Data) -> Bool {
        waiver.release == version && waivers.contains { $0.digest == Digest.sha256(bytes) }
    }

    /// The frozen files whose bytes under `root` differ from the release (empty when the release holds).
    public func drift(under root: String) -> [String] {
        (suites + profiles + [tolerances] + waivers).compactMap { f in
            guard let data = FileManager.default.contents(atPath: (root as NSString).appendingPathComponent(f.file)) else { return "\(f.file) is missing" }
            return Digest.sha256(data) == f.digest ? nil : "\(f.file) differs from release \(version)"
        }
    }
}
