import ArgumentParser
import Foundation
import SystolicCertify
import SystolicDevice
import SystolicEmulation
import SystolicHarness
import SystolicJSON
import SystolicSuite

extension SystolicBench {
    struct Certify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the mandatory cases of capability profiles with a fresh seed and write a certification package.",
            discussion: """
                The package (DIR) holds the results, the device, the suites, profiles, release and waivers it was \
                judged by, a summary per profile, a sample of raw outputs chosen from the output digests, and a \
                manifest of every file's digest; `systolic-bench check-package DIR` re-derives all of it. Exits 0 \
                when every profile is certified, 1 when one is not.
                """)

        @OptionGroup var deviceOptions: DeviceOptions

        @Option(name: .customLong("profile"), help: "A capability profile: a name in Certification/profiles or a file (repeatable).")
        var profiles: [String] = []

        @Option(help: "Package directory to create.")
        var out: String

        @Option(name: .customLong("waiver"), help: "A waiver file (format systolic-bench.waiver/1) to apply (repeatable).")
        var waivers: [String] = []

        @Option(help: "The nonce the seed is derived from with the device's digest and the day (default: 128 bits drawn fresh; give one only to reproduce a package on its day).")
        var nonce: String?

        @Option(help: "The conformance release file.")
        var release: String = ConformanceRelease.repositoryPath

        func validate() throws {
            if let nonce, nonce.count != 32 || !nonce.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) {
                throw ValidationError("--nonce is 32 lower-case hexadecimal digits, found \(nonce)")
            }
            guard !profiles.isEmpty else { throw ValidationError("give at least one --profile (in Certification/profiles: \(Self.shippedProfiles().joined(separator: ", ")))") }
        }

        static func shippedProfiles() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: "Certification/profiles")) ?? []).filter { $0.hasSuffix(".json") }
                .map { String($0.dropLast(5)) }.sorted()
        }

        func run() throws {
            let rel: ConformanceRelease
            var loaded: [(profile: CapabilityProfile, path: String)] = []
            var applied: [(waiver: Waiver, path: String)] = []
            var suites: [Suite] = []
            do {
                rel = try ConformanceRelease.load(release)
                for p in profiles {
                    let path = p.hasSuffix(".json") ? p : "Certification/profiles/\(p).json"
                    guard FileManager.default.fileExists(atPath: path) else {
                        throw ValidationError("no profile \"\(p)\" (in Certification/profiles: \(Self.shippedProfiles().joined(separator: ", ")))")
                    }
                    loaded.append((try CapabilityProfile.load(path), path))
                }
                for w in waivers { applied.append((try Waiver.load(w), w)) }
                suites = try rel.suites.map { f throws(InputFileError) in try SuiteLoader.load(f.file) }
            } catch let error as InputFileError { throw badInput(error) }
            let device = try deviceOptions.makeDevice()
            defer { device.shutdown() }
            let certifier = Certifier(device: device, deviceConfig: try deviceOptions.emulatorConfig(), release: rel, releasePath: release,
                                      repositoryRoot: FileManager.default.currentDirectoryPath, suites: suites, profiles: loaded, waivers: applied)
            let summaries: [ProfileSummary], seed: UInt64
            do {
                (summaries, seed) = try certifier.certify(nonce: nonce ?? CertificationPackage.freshNonce(), into: out) { i, n, id in
                    FileHandle.standardError.write(Data("[\(i)/\(n)] \(id)\n".utf8))
                }
            } catch let error as InputFileError { throw badInput(error) }
            print("package: \(out) (release \(rel.version), division \(certifier.division()), seed \(seed))")
            for s in summaries {
                let passed = s.cases.filter { $0.status == "pass" }.count
                print("\(s.certified ? "certified" : "NOT certified")  \(s.profile): \(passed) of \(s.cases.count) mandatory cases passed"
                      + (s.waived.isEmpty ? "" : ", \(s.waived.count) waived"))
                for u in s.unmetRequirements { print("    requirement: the device \(u)") }
                for c in s.cases where c.status == "fail" { print("    \(c.id): \(c.reason ?? c.verdict.rawValue)") }
            }
            if !summaries.allSatisfy(\.certified) { throw statusCode(.conformanceFailure) }
        }
    }

    struct CheckPackage: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check-package",
            abstract: "Verify a certification package: digests, files, verdicts, figures, sampled outputs, and an emulator re-run.",
            discussion: "Exits 0 only when nothing is wrong; otherwise lists every problem and exits 1 (65 when the package cannot be read).")

        @Argument(help: "The package directory.")
        var package: String

        @Option(help: "The conformance release the division is judged against.")
        var release: String = ConformanceRelease.repositoryPath

        func run() throws {
            let rel: ConformanceRelease
            do { rel = try ConformanceRelease.load(release) } catch { throw badInput(error) }
            guard FileManager.default.fileExists(atPath: package) else {
                printError("error: \(package): no such package directory")
                throw statusCode(.badInput)
            }
            let report = PackageChecker(release: rel).check(package)
            guard report.accepted else {
                for p in report.problems { printError("problem: \(p)") }
                printError("REJECTED: \(package): \(report.problems.count) problem\(report.problems.count == 1 ? "" : "s")")
                throw statusCode(.conformanceFailure)
            }
            print("accepted: \(package) (division \(report.division ?? "?"), figures \(report.figures.replacingOccurrences(of: "_", with: "-")))")
            for s in report.summaries { print("  \(s.certified ? "certified" : "not certified")  \(s.profile)") }
        }
    }
}

extension SystolicBench {
    struct LeaderboardCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "leaderboard",
            abstract: "Rank certification packages that pass check-package; list the rejected ones with the reason.",
            discussion: """
                Scores are throughput relative to the reference emulator preset (geometric mean over each profile's \
                mandatory cases), per profile and division (closed: the release's suites unmodified; open: anything \
                else). Energy is ranked per source, and carbon is computed at --grid-intensity (default 475 gCO2e/kWh, \
                IEA 2019 world average).
                """)

        @Argument(help: "Package directories.")
        var packages: [String]

        @Option(help: "The leaderboard JSON file to write.")
        var out: String

        @Option(help: "Also write a static HTML page.")
        var html: String?

        @Option(help: "Grid carbon intensity in grams CO2e per kWh.")
        var gridIntensity: Double = Leaderboard.defaultGridIntensity

        @Option(help: "Where the grid intensity comes from (printed with it).")
        var gridSource: String?

        @Option(help: "The reference emulator preset scores are relative to.")
        var reference: String = DeviceConfig.defaultPresetName

        @Option(help: "The conformance release the division is judged against.")
        var release: String = ConformanceRelease.repositoryPath

        func validate() throws {
            guard !packages.isEmpty else { throw ValidationError("give at least one package directory") }
            guard gridIntensity >= 0, gridIntensity.isFinite else { throw ValidationError("--grid-intensity must be a non-negative number") }
            guard DeviceConfig.presetNames.contains(reference) else { throw ValidationError("unknown preset \"\(reference)\"") }
        }

        func run() throws {
            let rel: ConformanceRelease, config: DeviceConfig
            do { rel = try ConformanceRelease.load(release); config = try DeviceConfig.preset(reference) } catch { throw badInput(error) }
            let board = Leaderboard.build(packages: packages, checker: PackageChecker(release: rel), reference: config,
                                          gridIntensity: gridIntensity,
                                          gridSource: gridSource ?? (gridIntensity == Leaderboard.defaultGridIntensity ? Leaderboard.gridIntensitySource : "given on the command line"))
            try JSONFile.writeAtomically(try JSONFile.encoder().encode(board), to: out)
            if let html { try JSONFile.writeAtomically(Data(board.html().utf8), to: html) }
            for r in board.rankings {
                print("\(r.profile) (\(r.division))")
                for e in r.entries { print("  \(e.rank). \(e.device)  score \(String(format: "%.3f", e.score))  (\(e.figures))") }
            }
            for r in board.rejected { print("rejected: \(r.package): \(r.reasons.first ?? "")") }
            print("leaderboard: \(out)\(html.map { ", page: \($0)" } ?? "")")
        }
    }
}
