import Foundation
import SystolicTestSupport
import Testing
@testable import SystolicCertify
import SystolicResults
import SystolicData
import SystolicNumerics
import SystolicDevice
@testable import SystolicEmulation
import SystolicJSON
import SystolicProcess
import SystolicProtocol
import SystolicSuite
@testable import SystolicHarness

/// Certification packages prove themselves: a checker accepts an honest one and rejects every
/// tampered one, even when the tamperer recomputes every digest.
struct CertificationTests {
    /// An output that cannot be kept (here its directory is a file) fails the certification with
    /// the write's own error, after the run, instead of a missing file when the sample is moved.
    @Test func anOutputThatCannotBeKeptIsReported() throws {
        let notADirectory = temporaryDirectory().appendingPathComponent("file")
        try Data([1]).write(to: notADirectory)
        let store = OutputStore(directory: notADirectory.path)
        store.keep("gemm/x/1", Tensor(type: .fp32, shape: [2]))
        #expect(store.file(for: "gemm/x/1") == nil)
        #expect(throws: (any Error).self) { try store.checkWritten() }
        let fine = OutputStore(directory: temporaryDirectory().path)
        fine.keep("gemm/x/1", Tensor(type: .fp32, shape: [2]))
        #expect(fine.file(for: "gemm/x/1") != nil)
        try fine.checkWritten()
    }

    static let release = Result { try ConformanceRelease.load(Repository.path(ConformanceRelease.repositoryPath)) }

    /// A small profile (cheap cases of all three families) written to a temporary file.
    static func smallProfile() throws -> (CapabilityProfile, String) {
        let path = temporaryDirectory().appendingPathComponent("small-v1.json").path
        let text = """
            {"format": "systolic-bench.profile/1", "name": "small-v1", "version": "1", "family": "gemm", "description": "test",
             "suite_profile": "quick", "mandatory": ["gemm/odd-shape-tails", "gemm/gpt2-decode-attn-out-nk", "attention/directed-single-kv",
             "networking/send-recv-fp32"],
             "requires": {"ops": ["gemm"], "input_types": ["bf16"], "accumulators": ["fp32"], "overflow_modes": ["saturate"]}}
            """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return (try CapabilityProfile.load(path), path)
    }

    static func certify(device: any DeviceAdapter, config: DeviceConfig?, profiles: [(CapabilityProfile, String)],
                        waivers: [(Waiver, String)] = [], release given: ConformanceRelease? = nil) throws -> (String, [ProfileSummary]) {
        let rel = try given ?? release.get()
        let suites = try rel.suites.map { try SuiteLoader.load(Repository.path($0.file)) }
        let dir = temporaryDirectory().appendingPathComponent("package").path
        let certifier = Certifier(device: device, deviceConfig: config, release: rel, releasePath: Repository.path(ConformanceRelease.repositoryPath),
                                  repositoryRoot: Repository.path("."), suites: suites, profiles: profiles.map { ($0.0, $0.1) },
                                  waivers: waivers.map { ($0.0, $0.1) })
        let summaries = try certifier.certify(nonce: String(repeating: "7", count: 32), day: "2026-11-27", into: dir).summaries
        return (dir, summaries)
    }

    static func check(_ dir: String) throws -> PackageChecker.Report { PackageChecker(release: try release.get()).check(dir) }

    static let honest = Result { () throws -> String in
        let config = try DeviceConfig.preset("hbm-inference")
        return try certify(device: SystolicEmulator(config: config), config: config, profiles: [try smallProfile()]).0
    }

    /// A copy of the honest package to tamper with.
    static func copyOfHonest() throws -> String {
        let dir = temporaryDirectory().appendingPathComponent("tampered").path
        try FileManager.default.copyItem(atPath: try honest.get(), toPath: dir)
        return dir
    }

    static func edit<T: Codable>(_ dir: String, _ name: String, as type: T.Type, _ change: (inout T) -> Void) throws {
        let path = (dir as NSString).appendingPathComponent(name)
        var value = try JSONFile.decode(T.self, from: path)
        change(&value)
        try JSONFile.writeAtomically(try JSONFile.encoder().encode(value), to: path)
    }

    /// The index of the first GEMM case of a package's results.
    static func gemm(_ r: RunResults) -> Int { r.cases.firstIndex { $0.op == "gemm" }! }

    @Test func theReleaseFreezesTheRepository() throws {
        let rel = try Self.release.get()
        #expect(rel.drift(under: Repository.path(".")) == [], "run scripts/freeze-release.sh when cutting a release")
        #expect(rel.harness == HarnessInfo.current.version)
        for f in rel.profiles { _ = try CapabilityProfile.load(Repository.path(f.file)) }
    }

    @Test func anHonestPackageIsAcceptedWithItsFiguresReproduced() throws {
        let report = try Self.check(try Self.honest.get())
        #expect(report.accepted, "\(report.problems)")
        #expect(report.figures == "reproduced")
        #expect(report.division == "open")  // the test's own profile is not in the release
        #expect(report.summaries.first?.certified == true)
    }

    /// Each tampering is found, with the digests recomputed afterwards.
    @Test(arguments: ["flipped verdict", "removed file", "wrong output", "other seed", "throughput", "time below peak", "cycles"])
    func tamperedPackagesAreRejected(kind: String) throws {
        let dir = try Self.copyOfHonest()
        var expected = ""
        switch kind {
        case "flipped verdict":
            try Self.edit(dir, "results.json", as: RunResults.self) { r in
                r.cases[0].verdict = .fail
                r.summary = RunResults.summarize(r.cases)
            }
            expected = "verdict fail, but its check passed"
        case "removed file":
            try FileManager.default.removeItem(atPath: (dir as NSString).appendingPathComponent("suites/gemm.json"))
            expected = "suite gemm of the results is not in the package"
        case "wrong output":
            let index = try JSONFile.decode([CertificationPackage.Sample].self, from: (dir as NSString).appendingPathComponent("outputs/index.json"))
            let file = (dir as NSString).appendingPathComponent(index[0].file)
            var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            bytes[bytes.count / 2] ^= 0x40
            try bytes.write(to: URL(fileURLWithPath: file))
            let digest = Digest.sha256(bytes)
            try Self.edit(dir, "outputs/index.json", as: [CertificationPackage.Sample].self) { $0[0].digest = digest }
            try Self.edit(dir, "results.json", as: RunResults.self) { r in
                if let i = r.cases.firstIndex(where: { $0.id == index[0].id }) { r.cases[i].check?.outputDigest = digest }
            }
            expected = "another output digest"
        case "other seed":
            try Self.edit(dir, "environment.json", as: CertificationPackage.Environment.self) { $0.seed = 78 }
            try Self.edit(dir, "results.json", as: RunResults.self) { r in for i in r.suites.indices { r.suites[i].seed = 78 } }
            expected = "is not the one its commitment gives"
        case "throughput":
            try Self.edit(dir, "results.json", as: RunResults.self) { r in r.cases[Self.gemm(r)].metrics["throughput"]!.value *= 1.5 }
            expected = "does not follow from its time"
        case "time below peak":
            // Time and throughput consistent with each other, but faster than the declared peak.
            try Self.edit(dir, "results.json", as: RunResults.self) { r in
                let i = Self.gemm(r)
                let t = r.cases[i].metrics["time"]!.value / 1e6
                r.cases[i].metrics["time"]!.value = t
                r.cases[i].metrics["throughput"]!.value = r.cases[i].metrics["macs"]!.value * 2 / t
            }
            expected = "below what the declared peak allows"
        default:
            try Self.edit(dir, "results.json", as: RunResults.self) { r in r.cases[Self.gemm(r)].metrics["cycles"]!.value += 1 }
            expected = "differs from the re-run"
        }
        try Self.expectRejected(dir, naming: expected, kind)
    }

    /// Recomputes the manifest of a tampered package (so digests alone cannot give it away) and
    /// expects the checker to reject it with a problem containing `expected`.
    static func expectRejected(_ dir: String, naming expected: String, _ kind: String) throws {
        try CertificationPackage.writeManifest(dir)
        let report = try check(dir)
        #expect(!report.accepted)
        #expect(report.problems.contains { $0.contains(expected) }, "\(kind): \(report.problems)")
    }

    /// Without recomputing the manifest, any edit is a digest mismatch.
    @Test func anEditedFileBreaksTheManifest() throws {
        let dir = try Self.copyOfHonest()
        try Self.edit(dir, "summary.json", as: [ProfileSummary].self) { $0[0].certified = false }
        let report = try Self.check(dir)
        #expect(report.problems.contains { $0.hasPrefix("summary.json: digest") })
        #expect(report.problems.contains { $0.contains("does not follow from the results") })
    }

    /// A device that supports nothing certifies nothing; a mandatory case not supported fails the
    /// profile, and a waiver (until its expiry) lets it through.
    @Test func notSupportedNeverCertifies() throws {
        let config = try DeviceConfig.preset("tpu-v1")  // int8 only, one chip
        let (dir, summaries) = try Self.certify(device: SystolicEmulator(config: config), config: config, profiles: [try Self.smallProfile()])
        #expect(summaries[0].certified == false)
        #expect(summaries[0].unmetRequirements.contains("does not declare input type bf16"))
        #expect(try Self.check(dir).accepted)  // an honest package that certifies nothing

        // The hbm-inference emulator without collectives: one mandatory case not supported.
        var noChips = try DeviceConfig.preset("hbm-inference")
        noChips.chips.count = 1
        let profile = try Self.smallProfile()
        let (_, failed) = try Self.certify(device: SystolicEmulator(config: noChips), config: noChips, profiles: [profile])
        #expect(failed[0].certified == false)
        #expect(failed[0].cases.contains { $0.status == "fail" && $0.verdict == .notSupported })
        let waiverPath = temporaryDirectory().appendingPathComponent("w.json").path
        try """
            {"format": "systolic-bench.waiver/1", "issuer": "the vendor", "release": "\(try Self.release.get().version)", "profile": "small-v1", "case": "networking/send-recv-fp32",
             "reason": "no chip-to-chip links on this board", "expires": "2027-01-31"}
            """.write(toFile: waiverPath, atomically: true, encoding: .utf8)
        let (waivedDir, waived) = try Self.certify(device: SystolicEmulator(config: noChips), config: noChips, profiles: [profile],
                                                   waivers: [(try Waiver.load(waiverPath), waiverPath)])
        #expect(waived[0].certified == true && waived[0].waived.count == 1)
        #expect(try Self.check(waivedDir).accepted)
    }

    /// Measured figures of real hardware cannot be re-derived: they are reported as self-reported.
    @Test func hardwareFiguresAreSelfReported() throws {
        let adapter = try ProcessAdapter(executable: try builtProduct("systolic-bench-example-c-adapter"), arguments: [], caseTimeout: 60,
                                         timing: TimingPlan(warmup: 0, minRepeats: 1, minSeconds: 0))
        defer { adapter.shutdown() }
        let (dir, summaries) = try Self.certify(device: adapter, config: nil, profiles: [try Self.smallProfile()])
        #expect(summaries[0].certified)
        let report = try Self.check(dir)
        #expect(report.accepted, "\(report.problems)")
        #expect(report.figures == "self_reported")
    }

    /// The leaderboard ranks only accepted packages (the reference chip scores exactly 1), lists the
    /// rejected with the reason, and renders a static page with a roofline per device.
    @Test func leaderboardRanksOnlyAcceptedPackages() throws {
        let honest = try Self.honest.get()
        var fast = try DeviceConfig.preset("hbm-inference")
        fast.name = "hbm-inference-2x"
        fast.clockHz *= 2
        fast.memory.hbmBytesPerSecond *= 2
        let (quick, _) = try Self.certify(device: SystolicEmulator(config: fast), config: fast, profiles: [try Self.smallProfile()])
        let tampered = try Self.copyOfHonest()
        try Self.edit(tampered, "results.json", as: RunResults.self) { r in r.cases[Self.gemm(r)].metrics["cycles"]!.value -= 1 }
        try CertificationPackage.writeManifest(tampered)
        let board = Leaderboard.build(packages: [honest, quick, tampered], checker: PackageChecker(release: try Self.release.get()),
                                      reference: try DeviceConfig.preset("hbm-inference"))
        #expect(board.rankings.count == 1)
        let entries = try #require(board.rankings.first).entries
        #expect(entries.map(\.device) == ["emulator-hbm-inference-2x", "emulator-hbm-inference"])
        #expect(entries[1].score == 1)  // the reference itself: every ratio is exactly 1
        #expect(entries[0].score > 1.5 && entries[0].score <= 2)
        #expect(entries.allSatisfy { $0.figures == "reproduced" && $0.energySource == "modelled" && ($0.gramsCO2ePerMillionInferences ?? 0) > 0 })
        #expect(entries[1].packageDigest == Digest.sha256(try Data(contentsOf: URL(fileURLWithPath: (honest as NSString).appendingPathComponent("manifest.json")))))
        #expect(board.rejected.map(\.package) == [tampered])
        #expect(board.rejected[0].reasons.contains { $0.contains("differs from the re-run") })
        let page = board.html()
        #expect(page.contains("<svg") && page.contains("Rejected packages") && !page.contains("<script"))
    }

    /// A profile's name names its directory in a package: `../../../x` is refused where the profile
    /// is read (hardening #26, item 2).
    @Test func aProfileNamedLikeAPathIsRefused() throws {
        let shipped = try String(contentsOfFile: Repository.path("Certification/profiles/gemm-bf16-v1.json"), encoding: .utf8)
        let bad = shipped.replacingOccurrences(of: "\"name\": \"gemm-bf16-v1\"", with: "\"name\": \"../../../x\"")
        #expect(bad != shipped)
        let path = write(bad, to: "p.json", in: temporaryDirectory())
        do {
            _ = try CapabilityProfile.load(path)
            Issue.record("accepted a profile named ../../../x")
        } catch {
            #expect(error.place == "name", "\(error)")
        }
        _ = try CapabilityProfile.load(Repository.path("Certification/profiles/gemm-bf16-v1.json"))
    }
}
