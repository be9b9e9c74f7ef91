import Foundation
import SystolicData
import SystolicResults
import SystolicHarness
import SystolicJSON
import SystolicNumerics
import SystolicSuite

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
        /// What the seed was derived from, so a checker can see it is fresh (`seed(for:)`).
        public var seedCommitment: SeedCommitment

        enum CodingKeys: String, CodingKey {
            case release, harness, division, seed, day, host, profiles
            case seedCommitment = "seed_commitment"
        }
    }

    /// A certification seed is not chosen: it is the SHA-256 of the device descriptor's digest (its
    /// adapter's executable digest included), the day, and a 128-bit nonce drawn at run time. A
    /// package run with a public seed (a suite's default, for which answers could be computed
    /// ahead) cannot show a commitment that hashes to it (hardening #26, item 5).
    public struct SeedCommitment: Codable, Sendable, Equatable {
        /// SHA-256 of `device.json` as written in the package.
        public var device: String
        /// 32 hexadecimal digits.
        public var nonce: String
    }

    /// The seed a commitment gives on `day`.
    public static func seed(for commitment: SeedCommitment, day: String) -> UInt64 {
        Digest.seed(from: Digest.sha256(Array("systolic-bench.seed/1\n\(commitment.device)\n\(day)\n\(commitment.nonce)".utf8)))
    }

    /// A fresh nonce from the system's generator.
    public static func freshNonce() -> String {
        String(format: "%016llx%016llx", UInt64.random(in: 0...UInt64.max), UInt64.random(in: 0...UInt64.max))
    }

    /// The files a package may hold: anything else (a script, a note, a second results file) is
    /// refused, so nothing unchecked travels under a package's name.
    public static func isMemberName(_ name: String) -> Bool {
        let fixed: Set<String> = ["environment.json", "results.json", "device.json", "device-config.json", "release.json", "summary.json",
                                  "outputs/index.json"]
        if fixed.contains(name) { return true }
        let parts = name.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 else { return false }
        let stem = parts[1].hasSuffix(".json") ? String(parts[1].dropLast(5)) : parts[1].hasSuffix(".bin") ? String(parts[1].dropLast(4)) : ""
        switch (parts[0], parts[1].hasSuffix(".json")) {
        case ("suites", true), ("profiles", true): return PathName.isIdentifier(stem)
        case ("waivers", true): return !stem.isEmpty && stem.allSatisfy(\.isNumber)
        case ("outputs", false): return parts[1].hasSuffix(".bin") && !stem.isEmpty && stem.allSatisfy(\.isNumber)
        default: return false
        }
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
    public static func listFiles(_ directory: String) throws -> [String] { inventory(directory).files }

    /// What is under `directory`, never following a link: regular files, and anything else
    /// (symbolic links, devices, sockets) that a package must not hold.
    public static func inventory(_ directory: String) -> (files: [String], strays: [String]) {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return ([], []) }
        var files: [String] = [], strays: [String] = []
        while let path = walker.nextObject() as? String {
            var info = stat()
            guard lstat((directory as NSString).appendingPathComponent(path), &info) == 0 else { strays.append(path); continue }
            switch info.st_mode & S_IFMT {
            case S_IFREG: files.append(path)
            case S_IFDIR: break
            default: strays.append(path)
            }
        }
        return (files.sorted(), strays.sorted())
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
