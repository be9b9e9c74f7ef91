import Foundation
import SystolicDevice
import SystolicResults
import SystolicEmulation
import SystolicHarness
import SystolicJSON
import SystolicSuite

/// `systolic-bench leaderboard`: ranks certification packages that pass `check-package`
/// (format `systolic-bench.leaderboard/1`, schema `schemas/leaderboard.schema.json`).
///
/// - **Rankings** per capability profile and division (`closed`: the release's suites and
///   profiles unmodified; `open`: anything else, shown apart), certified profiles only.
/// - **Score**: the geometric mean, over the profile's mandatory cases, of the device's
///   throughput (op/s for GEMM and attention, bus bandwidth for collectives) over the reference
///   emulator preset's modelled figure for the same case: 1.0 is the reference chip.
/// - **Energy**: operations per joule over the profile's cases, with its source; modelled and
///   measured energy are ranked in separate tables, never together.
/// - **Carbon**: grams of CO2e per million inferences, an inference being one run of every
///   mandatory case, at a grid intensity (default 475 gCO2e/kWh, the IEA's 2019 world average
///   for electricity generation; `--grid-intensity` overrides it).
/// - Each entry says whether its figures were reproduced (an emulator re-run) or self-reported,
///   and carries the SHA-256 of its package's manifest (which lists every file's digest).
public struct Leaderboard: Codable, Sendable, Equatable {
    public static let formatTag = "systolic-bench.leaderboard/1"
    public static let defaultGridIntensity = 475.0
    public static let gridIntensitySource = "IEA, Global Energy & CO2 Status Report 2019: world average carbon intensity of electricity generation, 475 gCO2/kWh"

    public struct Entry: Codable, Sendable, Equatable {
        public var rank: Int
        public var device: String
        public var vendor: String
        public var product: String
        public var kind: String
        /// `reproduced` or `self_reported`.
        public var figures: String
        public var score: Double
        public var cases: Int
        public var energySource: String?
        public var opsPerJoule: Double?
        public var gramsCO2ePerMillionInferences: Double?
        public var package: String
        public var packageDigest: String

        enum CodingKeys: String, CodingKey {
            case rank, device, vendor, product, kind, figures, score, cases, package
            case energySource = "energy_source"
            case opsPerJoule = "ops_per_joule"
            case gramsCO2ePerMillionInferences = "grams_co2e_per_million_inferences"
            case packageDigest = "package_digest"
        }
    }

    public struct Ranking: Codable, Sendable, Equatable {
        public var profile: String
        public var family: String
        public var division: String
        public var entries: [Entry]
    }

    public struct Rejected: Codable, Sendable, Equatable {
        public var package: String
        public var reasons: [String]
    }

    /// A point for the roofline chart: one case of one device.
    public struct Point: Codable, Sendable, Equatable {
        public var device: String
        public var caseID: String
        public var opsPerByte: Double
        public var opsPerSecond: Double
        enum CodingKeys: String, CodingKey {
            case device
            case caseID = "case"
            case opsPerByte = "ops_per_byte"
            case opsPerSecond = "ops_per_second"
        }
    }

    /// A device's roofs: its declared peak and, when known, its memory bandwidth.
    public struct Roof: Codable, Sendable, Equatable {
        public var device: String
        public var peakOpsPerSecond: Double
        public var bytesPerSecond: Double?
        enum CodingKeys: String, CodingKey {
            case device
            case peakOpsPerSecond = "peak_ops_per_second"
            case bytesPerSecond = "bytes_per_second"
        }
    }

    public var format: String
    public var release: String
    public var referenceDevice: String
    public var gridIntensityGramsPerKWh: Double
    public var gridIntensitySource: String
    public var rankings: [Ranking]
    public var rejected: [Rejected]
    public var roofs: [Roof]
    public var points: [Point]

    enum CodingKeys: String, CodingKey {
        case format, release, rankings, rejected, roofs, points
        case referenceDevice = "reference_device"
        case gridIntensityGramsPerKWh = "grid_intensity_g_per_kwh"
        case gridIntensitySource = "grid_intensity_source"
    }

    /// Checks every package and ranks the accepted ones against `reference` (an emulator preset).
    public static func build(packages: [String], checker: PackageChecker, reference: DeviceConfig,
                             gridIntensity: Double = defaultGridIntensity, gridSource: String = gridIntensitySource) -> Leaderboard {
        var rejected: [Rejected] = []
        var rows: [(profile: CapabilityProfile, division: String, entry: Entry)] = []
        var roofs: [Roof] = [], points: [Point] = []
        // A run is ranked once, however many times or under whatever names its package is given.
        var runs: [String: String] = [:]
        for path in packages {
            let report = checker.check(path)
            guard report.accepted else { rejected.append(Rejected(package: path, reasons: Array(report.problems.prefix(5)))); continue }
            let run = Digest.sha256((try? Data(contentsOf: URL(fileURLWithPath: (path as NSString).appendingPathComponent("results.json")))) ?? Data())
            if let first = runs[run] {
                rejected.append(Rejected(package: path, reasons: ["the same run as package \(first) (results.json \(run)): a run is ranked once"]))
                continue
            }
            runs[run] = path
            func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
            guard let results = try? RunResults.load(file("results.json")),
                  let manifest = try? Data(contentsOf: URL(fileURLWithPath: file("manifest.json"))) else { continue }
            let suites = ((try? CertificationPackage.listFiles(path)) ?? []).filter { $0.hasPrefix("suites/") }.compactMap { try? SuiteLoader.load(file($0)) }
            let byID = Dictionary(suites.flatMap(\.cases).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            let d = results.device
            let config = try? DeviceConfig.load(file("device-config.json"))
            roofs.append(Roof(device: d.name, peakOpsPerSecond: d.peakOpsPerSecond.values.max() ?? 0,
                              bytesPerSecond: config.map(\.memory.hbmBytesPerSecond)))
            for c in results.cases {
                if let ai = c.metrics["arithmetic_intensity"]?.value, let t = c.metrics["throughput"]?.value {
                    points.append(Point(device: d.name, caseID: c.id, opsPerByte: ai, opsPerSecond: t))
                }
            }
            for summary in report.summaries where summary.certified {
                guard let profile = ((try? CertificationPackage.listFiles(path)) ?? []).filter({ $0.hasPrefix("profiles/") })
                    .compactMap({ try? CapabilityProfile.load(file($0)) }).first(where: { $0.name == summary.profile }) else { continue }
                var logRatio = 0.0, counted = 0, ops = 0.0, joules = 0.0
                var sources = Set<String>()
                for status in summary.cases where status.status == "pass" {
                    guard let c = results.cases.first(where: { $0.id == status.id }), let bc = byID[c.id],
                          let mine = figure(c), let theirs = referenceFigure(bc.workload, reference), theirs > 0, mine > 0 else { continue }
                    logRatio += log(mine / theirs)
                    counted += 1
                    if let e = c.metrics["energy"], let o = operations(bc.workload) {
                        joules += e.value; ops += o
                        sources.insert(e.source ?? "unknown")
                    }
                }
                guard counted > 0 else { continue }
                let source = sources.count == 1 ? sources.first : nil
                let entry = Entry(rank: 0, device: d.name, vendor: d.vendor, product: d.product, kind: d.kind, figures: report.figures,
                                  score: exp(logRatio / Double(counted)), cases: counted, energySource: source,
                                  opsPerJoule: source != nil && joules > 0 ? ops / joules : nil,
                                  gramsCO2ePerMillionInferences: source != nil && joules > 0 ? joules * 1e6 / 3.6e6 * gridIntensity : nil,
                                  package: path, packageDigest: Digest.sha256(manifest))
                rows.append((profile, report.division ?? "open", entry))
            }
        }
        var rankings: [Ranking] = []
        for key in Set(rows.map { "\($0.profile.name)|\($0.division)" }).sorted() {
            let group = rows.filter { "\($0.profile.name)|\($0.division)" == key }
            var entries = group.map(\.entry).sorted { $0.score > $1.score || ($0.score == $1.score && $0.device < $1.device) }
            for i in entries.indices { entries[i].rank = i + 1 }
            rankings.append(Ranking(profile: group[0].profile.name, family: group[0].profile.family, division: group[0].division, entries: entries))
        }
        let release = (try? ConformanceRelease.load(ConformanceRelease.repositoryPath))?.version ?? checker.release.version
        return Leaderboard(format: formatTag, release: release, referenceDevice: "emulator-\(reference.name)",
                           gridIntensityGramsPerKWh: gridIntensity, gridIntensitySource: gridSource, rankings: rankings,
                           rejected: rejected, roofs: roofs, points: points)
    }

    /// The figure a case is ranked on: throughput, or bus bandwidth for collectives.
    static func figure(_ c: CaseResult) -> Double? {
        c.op == "collective" ? c.metrics["busbw"]?.value : c.metrics["throughput"]?.value
    }

    /// Operations of a case (its work count), for energy efficiency; nil for collectives (bytes, not ops).
    static func operations(_ w: Workload) -> Double? { w.work?.count }

    /// The reference chip's modelled figure for a case (its cost models; no data is moved).
    static func referenceFigure(_ w: Workload, _ config: DeviceConfig) -> Double? {
        switch w {
        case let .gemm(g): return GemmCostModel.cost(g, on: config).map { g.work.count / $0.seconds }
        case let .attention(a): return AttentionCostModel.cost(a, on: config).map { a.work.count / $0.seconds }
        case let .collective(c):
            guard c.ranks <= config.chips.count else { return nil }
            let seconds = CollectivePlan(c).cost(on: Interconnect(ranks: c.ranks, chips: config.chips), width: c.type.byteWidth).seconds
            return c.bandwidths(seconds: seconds).busbw
        }
    }
}
