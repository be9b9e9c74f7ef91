import SystolicDevice
import SystolicJSON
import SystolicNumerics
import SystolicResults
import SystolicSuite

/// A capability profile (`Certification/profiles/*.json`, format `systolic-bench.profile/1`):
/// the cases a device must pass and the arithmetic it must declare to hold the profile
/// (docs/certification.md). The mandatory cases are also the fixed set a leaderboard ranks on.
public struct CapabilityProfile: Codable, Sendable, Equatable {
    public static let formatTag = "systolic-bench.profile/1"

    /// The least a device must declare.
    public struct Requirements: Codable, Sendable, Equatable {
        public var ops: [String]
        public var inputTypes: [NumberType]
        /// Accumulators accepted (a narrower one does not hold the profile).
        public var accumulators: [NumberType]
        public var overflowModes: [OverflowMode]
        /// Largest exp error accepted, in ulps (attention profiles).
        public var maxExpUlps: Double?
        /// The device's matrix engines for the profile's float input types must be fingerprinted
        /// (docs/fingerprint.md) and measured no worse than declared.
        public var fingerprint: Bool?

        enum CodingKeys: String, CodingKey {
            case ops
            case inputTypes = "input_types"
            case accumulators
            case overflowModes = "overflow_modes"
            case maxExpUlps = "max_exp_ulps"
            case fingerprint
        }

        /// The float input types whose engines a required fingerprint covers (those the fingerprint
        /// has probes for: fp32, fp16, bf16 and fp8; fp6 and fp4 engines are not measured yet). A
        /// required fingerprint also measures the block scales' rounding where the device
        /// quantises MX or NVFP4 operands itself.
        public var fingerprintedTypes: [NumberType] {
            fingerprint == true ? inputTypes.filter { [.fp32, .fp16, .bf16, .fp8_e4m3, .fp8_e5m2].contains($0) } : []
        }

        /// What the results' fingerprint shows against this profile, one sentence each: missing,
        /// an engine not measured, a parameter worse than declared (naming its probe).
        public func unmet(by fingerprint: ArithmeticFingerprint?) -> [String] {
            let types = fingerprintedTypes
            guard !types.isEmpty else { return [] }
            guard let f = fingerprint else { return ["the profile requires a fingerprint of the matrix engines (\(types.map(\.rawValue).joined(separator: ", "))); the results hold none"] }
            var out: [String] = []
            for t in types {
                guard let e = f.engines.first(where: { $0.input == t && $0.accumulate == .fp32 }) else {
                    out.append("the fingerprint does not measure the \(t.rawValue) engine")
                    continue
                }
                for finding in e.findings where finding.status == .worse {
                    out.append("fingerprint: \(t.rawValue) \(finding.parameter.rawValue) measured \(finding.measured ?? "?"), declared \(finding.declared) (probe \(finding.probe))")
                }
                if e.reproduced == false {
                    out.append("fingerprint: the \(t.rawValue) engine is not what its measured parameters give on the block-FMA model (probe \(e.unreproducedProbe ?? "?"))")
                }
            }
            // Scales the device quantises rounded otherwise than declared (docs/formats.md).
            for f in f.undeclaredScaleRounding {
                out.append("fingerprint: \(f.scheme) scale rounding measured \(f.measured ?? "none of the known ones"), declared \(f.declared) (probe \(f.probe))")
            }
            return out
        }

        /// What `descriptor` fails to declare, one sentence each.
        public func unmet(by descriptor: DeviceDescriptor) -> [String] {
            var out: [String] = []
            let a = descriptor.arithmetic
            for op in ops where !descriptor.ops.contains(op) { out.append("does not declare op \(op)") }
            for t in inputTypes where !a.inputTypes.contains(t) { out.append("does not declare input type \(t.rawValue)") }
            if !accumulators.contains(a.accumulator) {
                out.append("declares a \(a.accumulator.rawValue) accumulator; the profile needs \(accumulators.map(\.rawValue).joined(separator: " or "))")
            }
            for m in overflowModes where !a.overflowModes.contains(m) { out.append("does not declare overflow mode \(m.rawValue)") }
            if let limit = maxExpUlps {
                if let e = a.expUlps { if e > limit { out.append("declares exp within \(e) ulps; the profile needs \(limit) or better") } }
                else { out.append("does not declare its exp accuracy (exp_ulps)") }
            }
            return out
        }
    }

    public var format: String
    public var name: String
    public var version: String
    /// `gemm`, `attention`, `networking` or `llm`: the leaderboard's family.
    public var family: String
    public var description: String
    /// Which profile of the suites the mandatory cases are drawn from.
    public var suiteProfile: String
    /// `suite/case-name`: every sweep point of that case in `suiteProfile` is mandatory.
    public var mandatory: [String]
    public var requires: Requirements

    enum CodingKeys: String, CodingKey {
        case format, name, version, family, description, mandatory, requires
        case suiteProfile = "suite_profile"
    }

    public static func load(_ path: String) throws(InputFileError) -> CapabilityProfile {
        let p = try JSONFile.decode(CapabilityProfile.self, from: path)
        guard p.format == formatTag else {
            throw InputFileError(file: path, place: "format", message: "expected \"\(formatTag)\", found \"\(p.format)\"")
        }
        guard !p.mandatory.isEmpty else { throw InputFileError(file: path, place: "mandatory", message: "a profile needs at least one mandatory case") }
        // The weakest declaration the profile accepts is stated, never left open: an accumulator
        // list without fp8 (whose bound is wider than its outputs' range), and for attention the
        // largest exp error (a device declaring 1e300 ulps would otherwise hold it).
        let r = p.requires
        guard !r.ops.isEmpty else { throw InputFileError(file: path, place: "requires.ops", message: "a profile requires at least one op") }
        guard !r.accumulators.isEmpty else {
            throw InputFileError(file: path, place: "requires.accumulators", message: "a profile states the accumulators it accepts")
        }
        for (i, t) in r.accumulators.enumerated() where ![.fp32, .fp16, .bf16, .int32].contains(t) {
            throw InputFileError(file: path, place: "requires.accumulators[\(i)]", message: "expected fp32, fp16, bf16 or int32, found \(t.rawValue)")
        }
        if r.ops.contains("attention"), r.maxExpUlps == nil {
            throw InputFileError(file: path, place: "requires.max_exp_ulps",
                                 message: "a profile with attention states the largest exp error it accepts (max_exp_ulps)")
        }
        if let limit = r.maxExpUlps, !(0...1e6).contains(limit) {
            throw InputFileError(file: path, place: "requires.max_exp_ulps", message: "expected a number of ulps in 0...1e6, found \(limit)")
        }
        var seen = Set<String>()
        for (i, entry) in p.mandatory.enumerated() where !seen.insert(entry).inserted {
            throw InputFileError(file: path, place: "mandatory[\(i)]", message: "\"\(entry)\" is listed twice")
        }
        // A profile's name names its directory in a certification package.
        guard PathName.isIdentifier(p.name) else {
            throw InputFileError(file: path, place: "name", message: "expected \(PathName.identifierRule), found \"\(p.name)\"")
        }
        return p
    }

    /// The mandatory cases in `suites`, in suite order; throws when an entry names no case.
    public func mandatoryCases(in suites: [Suite]) throws(InputFileError) -> [BenchmarkCase] {
        var out: [BenchmarkCase] = []
        for entry in mandatory {
            let parts = entry.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2, let suite = suites.first(where: { $0.name == parts[0] }) else {
                throw InputFileError(file: "profile \(name)", place: "mandatory", message: "no suite named in \"\(entry)\"")
            }
            let cases = suite.cases(inProfile: suiteProfile).filter { $0.name == parts[1] }
            guard !cases.isEmpty else {
                throw InputFileError(file: "profile \(name)", place: "mandatory", message: "suite \(parts[0]) has no case \"\(parts[1])\" in profile \(suiteProfile)")
            }
            out += cases
        }
        return out
    }
}

/// A known problem in one case of one profile, accepted until a date (format
/// `systolic-bench.waiver/1`). A waived case does not fail the profile; the certificate lists it.
/// Only a waiver the conformance release lists (`Certification/waivers/`, issued by the release's
/// maintainers and bound to its version) keeps a package in the closed division: one a vendor
/// writes itself makes the package open (hardening #26, item 5).
public struct Waiver: Codable, Sendable, Equatable {
    public static let formatTag = "systolic-bench.waiver/1"
    public var format: String
    /// Who granted it (the release's maintainers, for a closed-division waiver).
    public var issuer: String
    /// The conformance release it was issued for.
    public var release: String
    public var profile: String
    /// A case id, or `suite/case-name` for every sweep point.
    public var `case`: String
    public var reason: String
    /// The last day it applies, `YYYY-MM-DD` (UTC).
    public var expires: String

    public static func load(_ path: String) throws(InputFileError) -> Waiver {
        let w = try JSONFile.decode(Waiver.self, from: path)
        guard w.format == formatTag else {
            throw InputFileError(file: path, place: "format", message: "expected \"\(formatTag)\", found \"\(w.format)\"")
        }
        guard StringFormats.isDate(w.expires) else { throw InputFileError(file: path, place: "expires", message: "expected a date YYYY-MM-DD, found \"\(w.expires)\"") }
        guard !w.reason.isEmpty else { throw InputFileError(file: path, place: "reason", message: "a waiver needs a reason") }
        guard !w.issuer.isEmpty else { throw InputFileError(file: path, place: "issuer", message: "a waiver names who issued it") }
        guard !w.release.isEmpty else { throw InputFileError(file: path, place: "release", message: "a waiver names the release it was issued for") }
        return w
    }

    /// True when it covers `benchmarkCase` of `profile` on `day` (`YYYY-MM-DD`).
    public func covers(_ benchmarkCase: BenchmarkCase, profile: String, on day: String) -> Bool {
        profile == self.profile && day <= expires && (self.case == benchmarkCase.id || self.case == "\(benchmarkCase.suite)/\(benchmarkCase.name)")
    }
}
