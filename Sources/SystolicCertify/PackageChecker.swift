import Foundation
import SystolicCheck
import SystolicResults
import SystolicData
import SystolicDevice
import SystolicEmulation
import SystolicHarness
import SystolicJSON
import SystolicNumerics
import SystolicSuite

/// `systolic-bench check-package`: trusts nothing in a package that it can re-derive. Every
/// problem found is listed; the package is accepted only when there is none.
///
/// It checks, in order: the manifest (every file present, none unlisted, every digest); that every
/// file parses; that the suites are the ones the results name; the division against this
/// repository's release; every profile verdict, re-derived from the results; that each verdict
/// agrees with its check; that each figure follows from the others (throughput from time and
/// shape, algbw and busbw from time and size) and no time is below what the declared peak allows;
/// that the sampled outputs are the ones the output digests choose, have those digests, and pass
/// (or fail) the reference check on inputs regenerated from the seed; and for an emulator, every
/// output digest and deterministic figure again by re-running the emulator. A device's measured
/// figures cannot be re-derived and are reported as self-reported.
public struct PackageChecker {
    public struct Report: Sendable {
        public var problems: [String] = []
        public var division: String?
        public var summaries: [ProfileSummary] = []
        /// `reproduced` (an emulator re-run gave every figure) or `self_reported`.
        public var figures: String = "self_reported"
        public var accepted: Bool { problems.isEmpty }
    }

    /// This repository's release, against which the division is judged.
    public var release: ConformanceRelease

    public init(release: ConformanceRelease) { self.release = release }

    public func check(_ directory: String) -> Report {
        var report = Report()
        func problem(_ s: String) { report.problems.append(s) }
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

        // 1. The manifest.
        guard let manifest = try? JSONFile.decode(CertificationPackage.Manifest.self, from: path("manifest.json")),
              manifest.format == CertificationPackage.formatTag else {
            problem("manifest.json is missing or is not a \(CertificationPackage.formatTag) manifest")
            return report
        }
        // Nothing but regular files, each one a package may hold: a link (results.json pointing
        // outside the package) or an extra file, listed or not, is refused before anything is read.
        let inventory = CertificationPackage.inventory(directory)
        for name in inventory.strays { problem("\(name) is not a regular file (a symbolic link or other): a package holds regular files only") }
        guard inventory.strays.isEmpty else { return report }
        let present = Set(inventory.files).subtracting(["manifest.json"])
        for name in Set(manifest.files.keys).subtracting(present).sorted() { problem("\(name) is listed in the manifest but missing") }
        for name in present.subtracting(manifest.files.keys).sorted() { problem("\(name) is not in the manifest") }
        for name in Set(manifest.files.keys).union(present).sorted() where !CertificationPackage.isMemberName(name) {
            problem("\(name) is not a file a package holds (see docs/certification.md)")
        }
        for (name, digest) in manifest.files.sorted(by: { $0.key < $1.key }) where present.contains(name) {
            let actual = Digest.sha256((try? Data(contentsOf: URL(fileURLWithPath: path(name)))) ?? Data())
            if actual != digest { problem("\(name): digest \(actual) differs from the manifest's \(digest)") }
        }

        // 2. Every file parses.
        let results: RunResults, environment: CertificationPackage.Environment, claimed: [ProfileSummary]
        let samples: [CertificationPackage.Sample], device: DeviceDescriptor, packagedRelease: ConformanceRelease
        do {
            results = try RunResults.load(path("results.json"))
            packagedRelease = try ConformanceRelease.load(path("release.json"))
            environment = try JSONFile.decode(CertificationPackage.Environment.self, from: path("environment.json"))
            claimed = try JSONFile.decode([ProfileSummary].self, from: path("summary.json"))
            samples = try JSONFile.decode([CertificationPackage.Sample].self, from: path("outputs/index.json"))
            device = try JSONFile.decode(DeviceDescriptor.self, from: path("device.json"))
        } catch {
            problem("\(error)")
            return report
        }
        var suites: [Suite] = [], profiles: [(CapabilityProfile, Data)] = [], waivers: [(Waiver, Data)] = []
        for name in present.sorted() {
            do {
                if name.hasPrefix("suites/") { suites.append(try SuiteLoader.load(path(name))) }
                if name.hasPrefix("profiles/") { profiles.append((try CapabilityProfile.load(path(name)), try Data(contentsOf: URL(fileURLWithPath: path(name))))) }
                if name.hasPrefix("waivers/") { waivers.append((try Waiver.load(path(name)), try Data(contentsOf: URL(fileURLWithPath: path(name))))) }
            } catch { problem("\(error)") }
        }
        if device != results.device { problem("device.json differs from the results' device") }
        if packagedRelease.version != environment.release || packagedRelease.harness != environment.harness {
            problem("release.json is release \(packagedRelease.version) for harness \(packagedRelease.harness), the package says \(environment.release) for \(environment.harness)")
        }

        // 2b. The seed was fresh: derived from a commitment to this device, the day and a nonce,
        // and none of the suites' public seeds.
        let deviceDigest = Digest.sha256((try? Data(contentsOf: URL(fileURLWithPath: path("device.json")))) ?? Data())
        if environment.seedCommitment.device != deviceDigest {
            problem("the seed commitment names device \(environment.seedCommitment.device), not this package's device.json (\(deviceDigest))")
        } else if CertificationPackage.seed(for: environment.seedCommitment, day: environment.day) != environment.seed {
            problem("seed \(environment.seed) is not the one its commitment gives (\(CertificationPackage.seed(for: environment.seedCommitment, day: environment.day))): a certification seed is derived, never chosen")
        }
        if let s = suites.first(where: { $0.seed == environment.seed }) {
            problem("seed \(environment.seed) is suite \(s.name)'s public default: answers to it could be computed ahead")
        }

        // 2c. An emulator is re-run, so it cannot pass as hardware: every sign of one (no adapter,
        // an emulator's name, its configuration) must agree with its kind.
        let emulatorSigns = [device.adapter == nil ? "no adapter" : nil, device.name.hasPrefix("emulator-") ? "an emulator's name" : nil,
                             present.contains("device-config.json") ? "device-config.json" : nil].compactMap { $0 }
        if device.kind != "emulator", !emulatorSigns.isEmpty {
            problem("device.json says kind \(device.kind), but the package is an emulator's (\(emulatorSigns.joined(separator: ", "))): an emulator's figures are re-run, never self-reported")
        }

        // 3. The suites are the ones the results name, run with the package's seed.
        for record in results.suites {
            guard let s = suites.first(where: { $0.name == record.name }) else { problem("suite \(record.name) of the results is not in the package"); continue }
            if Digest.sha256(s.bytes) != record.digest { problem("suites/\(record.name).json is not the suite the results were run with") }
            if record.seed != environment.seed { problem("suite \(record.name) was run with seed \(record.seed), the package says \(environment.seed)") }
        }

        // 4. The division, judged by this repository's release.
        // A waiver counts in the closed division only when the release issued it (listed there by
        // digest, bound to its version): one the vendor wrote itself makes the package open.
        let closed = environment.release == release.version && environment.harness == release.harness && results.harness.version == release.harness
            && suites.allSatisfy { s in release.suites.contains { $0.name == s.name && $0.digest == Digest.sha256(s.bytes) } }
            && profiles.allSatisfy { p, data in release.profiles.contains { $0.name == p.name && $0.digest == Digest.sha256(data) } }
            && waivers.allSatisfy { w, data in release.issued(w, bytes: data) }
        report.division = closed ? "closed" : "open"
        if environment.division != report.division! { problem("the package claims the \(environment.division) division; its files make it \(report.division!)") }

        // 5. Every profile verdict, re-derived.
        var derived: [ProfileSummary] = []
        for name in environment.profiles {
            guard let (profile, _) = profiles.first(where: { $0.0.name == name }) else { problem("profile \(name) is not in the package"); continue }
            do {
                derived.append(ProfileSummary.derive(profile, mandatory: try profile.mandatoryCases(in: suites), results: results, waivers: waivers.map(\.0),
                                                     day: environment.day))
            } catch { problem("\(error)") }
        }
        if derived != claimed {
            for (d, c) in zip(derived, claimed) where d != c {
                problem("summary for \(d.profile) does not follow from the results (re-derived: \(d.certified ? "certified" : "not certified"), claimed: \(c.certified ? "certified" : "not certified"))")
            }
            if derived.count != claimed.count { problem("summary.json lists \(claimed.count) profiles, the package \(derived.count)") }
        }
        report.summaries = derived

        // 6. Each verdict agrees with its check, and the counts add up.
        let byID = Dictionary(suites.flatMap(\.cases).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for c in results.cases {
            switch c.verdict {
            case .pass:
                if let check = c.check { if !check.passed { problem("\(c.id): verdict pass, but its check records \(check.mismatches) mismatches") } }
                else if !(c.reason ?? "").hasPrefix("timing only") { problem("\(c.id): verdict pass without a check") }
            case .fail:
                if let check = c.check, check.passed { problem("\(c.id): verdict fail, but its check passed") }
            default: break
            }
            if byID[c.id] == nil { problem("\(c.id) is not a case of the package's suites") }
        }
        if RunResults.summarize(results.cases) != results.summary { problem("the results' summary counts do not match its cases") }

        // 7. Figures that must follow from each other.
        for c in results.cases {
            guard let workload = byID[c.id]?.workload, let time = c.metrics["time"]?.value, time > 0 else { continue }
            func near(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-9 * max(abs(a), abs(b)) }
            if let work = workload.work {
                if let t = c.metrics["throughput"]?.value, !near(t, work.count / time) {
                    problem("\(c.id): throughput \(t) does not follow from its time \(time) s and shape (\(work.count / time))")
                }
                if let type = workload.rateType, let peak = device.peakOpsPerSecond[type.rawValue], work.count / time > peak * (1 + 1e-9) {
                    problem("\(c.id): time \(time) s is below what the declared peak allows (\(work.count / peak) s)")
                }
            }
            if case let .collective(col) = workload {
                let (algbw, busbw) = col.bandwidths(seconds: time)
                if let a = c.metrics["algbw"]?.value, !near(a, algbw) { problem("\(c.id): algbw \(a) does not follow from its time and size") }
                if let b = c.metrics["busbw"]?.value, !near(b, busbw) { problem("\(c.id): busbw \(b) does not follow from algbw") }
            }
        }

        // 8. The sampled outputs: chosen by the digests, with those digests, and judged again.
        let expected = CertificationPackage.sampledCaseIDs(results)
        if samples.map(\.id) != expected { problem("the sampled outputs are not the ones the output digests choose (\(expected))") }
        for s in samples {
            guard let result = results.cases.first(where: { $0.id == s.id }), let bc = byID[s.id] else { continue }
            guard let data = try? Data(contentsOf: URL(fileURLWithPath: path(s.file))) else { problem("\(s.file) cannot be read"); continue }
            let digest = Digest.sha256(data)
            if digest != s.digest || digest != result.check?.outputDigest { problem("\(s.file): digest \(digest) is not the output digest recorded for \(s.id)") }
            guard data.count == s.shape.reduce(1, *) * s.type.byteWidth else { problem("\(s.file) does not hold \(s.type.rawValue) \(s.shape)"); continue }
            let output = Tensor(type: s.type, shape: s.shape, storage: Array(data))
            let passed = Self.reverify(bc, output: output, seed: environment.seed, digest: digest, device: device)
            if passed != (result.verdict == .pass) {
                problem("\(s.id): the sampled output \(passed ? "passes" : "fails") the reference check on inputs regenerated from seed \(environment.seed), but its verdict is \(result.verdict.rawValue)")
            }
        }

        // 9. An emulator is run again: every figure and digest must repeat.
        if device.kind == "emulator" {
            do {
                let config = try DeviceConfig.load(path("device-config.json"))
                let emulator = SystolicEmulator(config: config)
                if emulator.descriptor != device { problem("device-config.json does not describe the device of the results") }
                let harness = Harness(device: emulator)
                for c in results.cases {
                    guard let bc = byID[c.id] else { continue }
                    let again = harness.runCase(bc, generator: DataGenerator(seed: environment.seed))
                    if again.verdict != c.verdict { problem("\(c.id): the emulator re-run gives \(again.verdict.rawValue), the package \(c.verdict.rawValue)") }
                    if again.check?.outputDigest != c.check?.outputDigest { problem("\(c.id): the emulator re-run gives another output digest") }
                    for (name, value) in again.metrics where value.deterministic {
                        if c.metrics[name]?.value != value.value {
                            problem("\(c.id): \(name) \(c.metrics[name].map { "\($0.value)" } ?? "missing") differs from the re-run's \(value.value)")
                        }
                    }
                }
                report.figures = "reproduced"
            } catch { problem("\(error)") }
        }
        return report
    }

    /// Judges one output against the reference on inputs regenerated from the seed, as the
    /// harness judged it (`CaseCheck`).
    static func reverify(_ bc: BenchmarkCase, output: Tensor, seed: UInt64, digest: String, device: DeviceDescriptor) -> Bool {
        guard let spec = bc.workload.output, spec.problem(in: [spec.role: output]) == nil,
              CaseCheck.unjudgeable(bc.workload, arithmetic: device.arithmetic) == nil else { return false }
        let inputs = CaseCheck.inputs(bc.workload, caseId: bc.id, generator: DataGenerator(seed: seed))
        return CaseCheck.verify(bc.workload, output: output, inputs: inputs, arithmetic: device.arithmetic,
                                sampleSeed: Digest.seed(from: digest)).passed
    }
}
