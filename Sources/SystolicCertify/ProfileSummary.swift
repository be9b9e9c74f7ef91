import SystolicDevice
import SystolicResults
import SystolicHarness
import SystolicSuite

/// Whether a device holds a profile, derived from its results alone, so a checker re-derives it.
public struct ProfileSummary: Codable, Sendable, Equatable {
    public struct CaseStatus: Codable, Sendable, Equatable {
        public var id: String
        public var verdict: Verdict
        /// `pass`, `waived` or `fail`.
        public var status: String
        public var reason: String?
    }

    public var profile: String
    public var version: String
    public var certified: Bool
    /// What the device's declaration lacks for this profile.
    public var unmetRequirements: [String]
    public var cases: [CaseStatus]
    /// The waivers applied (their reasons), by case id.
    public var waived: [String: String]

    enum CodingKeys: String, CodingKey {
        case profile, version, certified, cases, waived
        case unmetRequirements = "unmet_requirements"
    }

    /// A profile holds iff the declaration meets its requirements, every mandatory case passed (or
    /// is waived until after `day`), and at least one passed: a device that supports nothing
    /// certifies nothing, and `not_supported` never counts as a pass.
    public static func derive(_ profile: CapabilityProfile, mandatory: [BenchmarkCase], results: RunResults, waivers: [Waiver],
                              day: String) -> ProfileSummary {
        var statuses: [CaseStatus] = []
        var waived: [String: String] = [:]
        for c in mandatory {
            let result = results.cases.first { $0.id == c.id }
            let verdict = result?.verdict ?? .skipped
            if verdict == .pass {
                statuses.append(CaseStatus(id: c.id, verdict: verdict, status: "pass", reason: nil))
            } else if let w = waivers.first(where: { $0.covers(c, profile: profile.name, on: day) }) {
                waived[c.id] = w.reason
                statuses.append(CaseStatus(id: c.id, verdict: verdict, status: "waived", reason: w.reason))
            } else {
                let why = result == nil ? "not in the results" : "\(verdict.rawValue)\(result?.reason.map { ": \($0)" } ?? "")"
                statuses.append(CaseStatus(id: c.id, verdict: verdict, status: "fail", reason: why))
            }
        }
        let unmet = profile.requires.unmet(by: results.device) + profile.requires.unmet(by: results.fingerprint)
        let certified = unmet.isEmpty && statuses.allSatisfy { $0.status != "fail" } && statuses.contains { $0.status == "pass" }
        return ProfileSummary(profile: profile.name, version: profile.version, certified: certified, unmetRequirements: unmet,
                              cases: statuses, waived: waived)
    }
}
