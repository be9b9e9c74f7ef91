import Foundation
import SystolicData
import SystolicResults
import SystolicHarness
import SystolicJSON
import SystolicNumerics

/// The files of a certification package (a directory) and the manifest that lists them.
///
/// ```
/// manifest.json        every other file's SHA-256
/// environment.json     release, harness, division, seed, day, host
/// results.json         the run (format systolic-bench.results/1)
/// device.json          the device descriptor; device-config.json too for an emulator
/// release.json, profiles/*.json, suites/*.json, waivers/*.json   what the run was judged by
/// summary.json         one ProfileSummary per profile
/// outputs/index.json, outputs/<n>.bin   the sampled raw outputs
/// ```
public enum CertificationPackage {
    public static let formatTag = "systolic-bench.package/1"

    public struct Manifest: Codable, Sendable, Equatable {
        public var format: String
        /// Relative path → `sha256:<hex>`.
        public var files: [String: String]
    }

    public struct Environment: Codable, Sendable, Equatable {
        public var release: String
        public var harness: String
        /// `closed` (the release's suites and profiles, unmodified) or `open`.
        public var division: String
        public var seed: UInt64
        /// The certification day (UTC, `YYYY-MM-DD`): waivers are judged on it.
        public var day: String
        public var host: HostInfo
        public var profiles: [String]
    }

    /// One sampled output.
    public struct Sample: Codable, Sendable, Equatable {
        public var id: String
        public var file: String
        public var type: NumberType
        public var shape: [Int]
        public var digest: String
    }

    /// How many outputs a package carries.
    public static let sampleCount = 4

    /// The cases whose outputs are sampled: drawn with a SplitMix64 stream seeded by the SHA-256 of
    /// every case's output digest in results order, so the choice follows from outputs already
    /// committed and a checker recomputes it.
    public static func sampledCaseIDs(_ results: RunResults) -> [String] {
        let candidates = results.cases.compactMap { c in c.check?.outputDigest.map { (c.id, $0) } }
        guard !candidates.isEmpty else { return [] }
        var state = Digest.seed(from: Digest.sha256(Array(candidates.map(\.1).joined(separator: "\n").utf8)))
        var chosen: [Int] = []
        while chosen.count < min(sampleCount, candidates.count) {
            state = state &+ 0x9E37_79B9_7F4A_7C15
            let i = Int(DataGenerator.mix64(state) % UInt64(candidates.count))
            if !chosen.contains(i) { chosen.append(i) }
        }
        return chosen.sorted().map { candidates[$0].0 }
    }

    /// Writes the manifest of every file under `directory`.
    public static func writeManifest(_ directory: String) throws {
        var files: [String: String] = [:]
        for path in try listFiles(directory) where path != "manifest.json" {
            files[path] = Digest.sha256(try Data(contentsOf: URL(fileURLWithPath: directory).appendingPathComponent(path)))
        }
        try JSONFile.writeAtomically(try JSONFile.encoder().encode(Manifest(format: formatTag, files: files)),
                                     to: (directory as NSString).appendingPathComponent("manifest.json"))
    }

    /// Every regular file under `directory`, as sorted relative paths.
    public static func listFiles(_ directory: String) throws -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return [] }
        var out: [String] = []
        while let path = walker.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent(path), isDirectory: &isDirectory), !isDirectory.boolValue {
                out.append(path)
            }
        }
        return out.sorted()
    }

    static func write<T: Encodable>(_ value: T, to directory: String, _ name: String) throws {
        let path = (directory as NSString).appendingPathComponent(name)
        try JSONFile.writeAtomically(try JSONFile.encoder().encode(value), to: path)
    }

    static func copy(_ source: String, to directory: String, _ name: String) throws {
        let path = (directory as NSString).appendingPathComponent(name)
        try JSONFile.writeAtomically(try Data(contentsOf: URL(fileURLWithPath: source)), to: path)
    }
}
