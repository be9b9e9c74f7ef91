import Foundation
import SystolicDevice
import SystolicResults
import SystolicEmulation
import SystolicHarness
import SystolicJSON
import SystolicNumerics
import SystolicSuite

/// `systolic-bench certify`: runs a device on the mandatory cases of its claimed profiles with a
/// seed drawn at run time, and writes a package that proves itself (see `CertificationPackage`).
public struct Certifier {
    public var device: any DeviceAdapter
    /// The emulator's configuration, when the device is the emulator (the checker re-runs it).
    public var deviceConfig: DeviceConfig?
    public var release: ConformanceRelease
    public var releasePath: String
    /// Where the release's files are (the repository), to tell closed from open.
    public var repositoryRoot: String
    public var suites: [Suite]
    public var profiles: [(profile: CapabilityProfile, path: String)]
    public var waivers: [(waiver: Waiver, path: String)]

    public init(device: any DeviceAdapter, deviceConfig: DeviceConfig?, release: ConformanceRelease, releasePath: String,
                repositoryRoot: String, suites: [Suite], profiles: [(profile: CapabilityProfile, path: String)],
                waivers: [(waiver: Waiver, path: String)]) {
        self.device = device; self.deviceConfig = deviceConfig; self.release = release; self.releasePath = releasePath
        self.repositoryRoot = repositoryRoot; self.suites = suites; self.profiles = profiles; self.waivers = waivers
    }


    /// Today, UTC, `YYYY-MM-DD`.
    public static func today() -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd"
        return f.string(from: Date())
    }

    /// closed when the suites and profiles are the release's, unmodified, under this harness, and
    /// every waiver is one the release issues.
    public func division() -> String {
        let waiversIssued = waivers.allSatisfy { w in release.issued(w.waiver, bytes: (try? Data(contentsOf: URL(fileURLWithPath: w.path))) ?? Data()) }
        let profilesFrozen = profiles.allSatisfy { p in
            release.profiles.contains { $0.name == p.profile.name && Digest.sha256((try? Data(contentsOf: URL(fileURLWithPath: p.path))) ?? Data()) == $0.digest }
        }
        let suitesFrozen = suites.allSatisfy { s in release.suites.contains { $0.name == s.name && $0.digest == Digest.sha256(s.bytes) } }
        return release.drift(under: repositoryRoot).isEmpty && profilesFrozen && suitesFrozen && waiversIssued
            && release.harness == HarnessInfo.current.version ? "closed" : "open"
    }

    /// Runs the mandatory cases with the seed committed to by the device, the day and `nonce`
    /// (`CertificationPackage.seed(for:day:)`) and writes the package into `directory` (created;
    /// must not hold files). Returns the profiles' summaries and the seed.
    public func certify(nonce: String = CertificationPackage.freshNonce(), day: String = Certifier.today(), into directory: String,
                        progress: (Int, Int, String) -> Void = { _, _, _ in }) throws -> (summaries: [ProfileSummary], seed: UInt64) {
        let deviceBytes = try JSONFile.encoder().encode(device.descriptor)
        let commitment = CertificationPackage.SeedCommitment(device: Digest.sha256(deviceBytes), nonce: nonce)
        let seed = CertificationPackage.seed(for: commitment, day: day)
        let fm = FileManager.default
        if fm.fileExists(atPath: directory), !(try fm.contentsOfDirectory(atPath: directory)).isEmpty {
            throw InputFileError(file: directory, place: nil, message: "the package directory exists and is not empty")
        }
        try OutputFileError.writing(directory) { try fm.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        var mandatory: [String: [BenchmarkCase]] = [:]
        var ids = Set<String>()
        for (p, _) in profiles {
            let cases = try p.mandatoryCases(in: suites)
            mandatory[p.name] = cases
            ids.formUnion(cases.map(\.id))
        }
        let used = suites.filter { s in s.cases.contains { ids.contains($0.id) } }
        let staging = (directory as NSString).appendingPathComponent(".outputs")
        try OutputFileError.writing(staging) { try fm.createDirectory(atPath: staging, withIntermediateDirectories: true) }
        let store = OutputStore(directory: staging)
        let harness = Harness(device: device, outputSink: { id, tensor in store.keep(id, tensor) })
        // Profiles that require a fingerprint have the device's engines measured first.
        let fingerprinted = Array(Set(profiles.flatMap { $0.0.requires.fingerprintedTypes }))
        let fingerprint = fingerprinted.isEmpty ? nil : try Fingerprinter(device: device).run(only: fingerprinted, scaleRoundings: true)
        let results = try harness.run(
            Harness.Plan(suites: used, profile: nil, seed: seed, resultsPath: (directory as NSString).appendingPathComponent("results.json"),
                         caseIDs: ids, fingerprint: fingerprint),
            progress: progress)
        try store.checkWritten()

        // The sample, chosen from the committed output digests.
        var samples: [CertificationPackage.Sample] = []
        for (n, id) in CertificationPackage.sampledCaseIDs(results).enumerated() {
            guard let kept = store.file(for: id), let c = results.cases.first(where: { $0.id == id }), let digest = c.check?.outputDigest else { continue }
            let name = "outputs/\(n).bin"
            let target = (directory as NSString).appendingPathComponent(name)
            try OutputFileError.writing(target) {
                try fm.createDirectory(atPath: (directory as NSString).appendingPathComponent("outputs"), withIntermediateDirectories: true)
                try fm.moveItem(atPath: kept.path, toPath: target)
            }
            samples.append(.init(id: id, file: name, type: kept.type, shape: kept.shape, digest: digest))
        }
        try fm.removeItem(atPath: staging)
        try CertificationPackage.write(samples, to: directory, "outputs/index.json")

        guard results.device == device.descriptor else {
            throw InputFileError(file: directory, place: nil, message: "the device's descriptor changed during the run")
        }
        try JSONFile.writeAtomically(deviceBytes, to: (directory as NSString).appendingPathComponent("device.json"))
        if let deviceConfig { try CertificationPackage.write(deviceConfig, to: directory, "device-config.json") }
        try CertificationPackage.copy(releasePath, to: directory, "release.json")
        for (p, path) in profiles { try CertificationPackage.copy(path, to: directory, "profiles/\(p.name).json") }
        for s in used {
            let path = (directory as NSString).appendingPathComponent("suites/\(s.name).json")
            try JSONFile.writeAtomically(Data(s.bytes), to: path)
        }
        let summaries = profiles.map { p in
            ProfileSummary.derive(p.profile, mandatory: mandatory[p.profile.name] ?? [], results: results, waivers: waivers.map(\.waiver), day: day)
        }
        // Only the waivers that excused a case go into the package.
        let applied = waivers.filter { w in
            summaries.contains { s in
                s.profile == w.waiver.profile
                    && s.waived.keys.contains { id in id == w.waiver.case || id.hasPrefix(w.waiver.case + "/") }
            }
        }
        for (n, w) in applied.enumerated() { try CertificationPackage.copy(w.path, to: directory, "waivers/\(n).json") }
        try CertificationPackage.write(summaries, to: directory, "summary.json")
        let environment = CertificationPackage.Environment(release: release.version, harness: HarnessInfo.current.version, division: division(),
                                                           seed: seed, day: day, host: results.host, profiles: profiles.map(\.profile.name),
                                                           seedCommitment: commitment)
        try CertificationPackage.write(environment, to: directory, "environment.json")
        try CertificationPackage.writeManifest(directory)
        return (summaries, seed)
    }
}

/// Every output of the run, kept on disk until the sample is drawn.
final class OutputStore: @unchecked Sendable {
    struct Kept { let path: String; let type: NumberType; let shape: [Int] }
    private let lock = NSLock()
    private let directory: String
    private var files: [String: Kept] = [:]

    init(directory: String) { self.directory = directory }

    /// The first write that failed (a full disk, say): the run goes on, and `checkWritten` says so.
    private var failure: Error?

    func keep(_ id: String, _ tensor: Tensor) {
        lock.withLock {
            let path = (directory as NSString).appendingPathComponent("\(files.count).bin")
            do {
                try OutputFileError.writing(path) { try Data(tensor.storage).write(to: URL(fileURLWithPath: path)) }
                files[id] = Kept(path: path, type: tensor.type, shape: tensor.shape)
            } catch {
                if failure == nil { failure = error }
            }
        }
    }

    /// Throws the first failed write, naming its file.
    func checkWritten() throws {
        if let failure = lock.withLock({ failure }) { throw failure }
    }

    func file(for id: String) -> Kept? { lock.withLock { files[id] } }
}
