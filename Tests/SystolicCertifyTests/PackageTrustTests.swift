import Foundation
import SystolicTestSupport
import Testing
@testable import SystolicCertify
import SystolicResults
import SystolicDevice
@testable import SystolicEmulation
import SystolicJSON
@testable import SystolicHarness

/// What a package could lie about beyond its figures (hardening #26, item 5): its device's kind,
/// its waivers' issuer, its seed, its files, and being given twice.
struct PackageTrustTests {
    typealias C = CertificationTests

    @Test(arguments: ["relabelled kind", "public seed", "garbage release", "extra listed file", "results linked outside"])
    func anUntrustworthyPackageIsRejected(kind: String) throws {
        let dir = try C.copyOfHonest()
        func file(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }
        let expected: String
        switch kind {
        case "relabelled kind":
            // An emulator's package passed off as hardware would skip the re-run of its figures.
            try C.edit(dir, "device.json", as: DeviceDescriptor.self) { $0.kind = "hardware" }
            try C.edit(dir, "results.json", as: RunResults.self) { $0.device.kind = "hardware" }
            try FileManager.default.removeItem(atPath: file("device-config.json"))
            expected = "says kind hardware, but the package is an emulator's (no adapter, an emulator's name)"
        case "public seed":
            let seed: UInt64 = 20261127  // the suites' default
            try C.edit(dir, "environment.json", as: CertificationPackage.Environment.self) { $0.seed = seed }
            try C.edit(dir, "results.json", as: RunResults.self) { r in for i in r.suites.indices { r.suites[i].seed = seed } }
            expected = "is suite attention's public default"
        case "garbage release":
            try Data("{\"format\": \"garbage\"}".utf8).write(to: URL(fileURLWithPath: file("release.json")))
            expected = "release.json"
        case "extra listed file":
            try Data("#!/bin/sh\n".utf8).write(to: URL(fileURLWithPath: file("install.sh")))
            expected = "install.sh is not a file a package holds"
        default:
            let outside = temporaryDirectory().appendingPathComponent("results.json").path
            try FileManager.default.moveItem(atPath: file("results.json"), toPath: outside)
            try FileManager.default.createSymbolicLink(atPath: file("results.json"), withDestinationPath: outside)
            expected = "results.json is not a regular file"
        }
        try C.expectRejected(dir, naming: expected, kind)
    }

    /// The same package twice (or a copy under another name) is ranked once.
    @Test func aPackageGivenTwiceIsRankedOnce() throws {
        let honest = try C.honest.get()
        let copy = try C.copyOfHonest()
        let board = Leaderboard.build(packages: [honest, copy, honest], checker: PackageChecker(release: try C.release.get()),
                                      reference: try DeviceConfig.preset("hbm-inference"))
        #expect(board.rankings.flatMap(\.entries).count == 1)
        #expect(board.rejected.map(\.package) == [copy, honest])
        #expect(board.rejected.allSatisfy { $0.reasons.count == 1 && $0.reasons[0].hasPrefix("the same run as package \(honest) (results.json sha256:")
            && $0.reasons[0].hasSuffix("): a run is ranked once") }, "\(board.rejected)")
    }

    /// A release that freezes the test's small profile (so its packages can be closed), and, when
    /// given, issues a waiver.
    static func releaseFreezing(_ profilePath: String, waiver: String? = nil) throws -> ConformanceRelease {
        var rel = try C.release.get()
        // Frozen files are named relative to the repository.
        let depth = Repository.root.standardizedFileURL.pathComponents.count - 1
        func relative(_ path: String) -> String { String(repeating: "../", count: depth) + path.dropFirst() }
        func frozen(_ path: String, _ name: String) throws -> ConformanceRelease.FrozenFile {
            .init(file: relative(path), name: name, digest: Digest.sha256(try Data(contentsOf: URL(fileURLWithPath: path))))
        }
        rel.profiles.append(try frozen(profilePath, "small-v1"))
        if let waiver { rel.waivers.append(try frozen(waiver, "w")) }
        return rel
    }

    /// A waiver the vendor wrote itself keeps a failing device out of the closed division; one the
    /// release issues (listed by digest, bound to its version) does not.
    @Test func aSelfIssuedWaiverMakesThePackageOpen() throws {
        var noChips = try DeviceConfig.preset("hbm-inference")
        noChips.chips.count = 1
        let profile = try C.smallProfile()
        let waiverPath = temporaryDirectory().appendingPathComponent("w.json").path
        try """
            {"format": "systolic-bench.waiver/1", "issuer": "the vendor itself", "release": "\(try C.release.get().version)", "profile": "small-v1",
             "case": "networking/send-recv-fp32", "reason": "no chip-to-chip links on this board", "expires": "2027-01-31"}
            """.write(toFile: waiverPath, atomically: true, encoding: .utf8)
        let waiver = (try Waiver.load(waiverPath), waiverPath)

        let plain = try Self.releaseFreezing(profile.1)
        let (selfIssued, summaries) = try C.certify(device: SystolicEmulator(config: noChips), config: noChips, profiles: [profile],
                                                    waivers: [waiver], release: plain)
        #expect(summaries[0].certified && summaries[0].waived.count == 1)
        let open = PackageChecker(release: plain).check(selfIssued)
        #expect(open.accepted, "\(open.problems)")
        #expect(open.division == "open")
        // Claiming the closed division with it is refused.
        try C.edit(selfIssued, "environment.json", as: CertificationPackage.Environment.self) { $0.division = "closed" }
        try CertificationPackage.writeManifest(selfIssued)
        #expect(PackageChecker(release: plain).check(selfIssued).problems.contains { $0.contains("claims the closed division; its files make it open") })

        let issuing = try Self.releaseFreezing(profile.1, waiver: waiverPath)
        let (issued, _) = try C.certify(device: SystolicEmulator(config: noChips), config: noChips, profiles: [profile],
                                        waivers: [waiver], release: issuing)
        let closed = PackageChecker(release: issuing).check(issued)
        #expect(closed.accepted, "\(closed.problems)")
        #expect(closed.division == "closed")
    }
}
