import Foundation
import Testing
import SystolicCertify
import SystolicDevice
import SystolicEmulation
import SystolicHarness
import SystolicJSON
import SystolicResults
import SystolicSuite
import SystolicTestSupport

/// A profile may require a fingerprint (docs/fingerprint.md): certification measures the engines
/// of its input types, a device measured worse than it declares fails naming the probe, and the
/// checker re-derives that from the package and refuses a fingerprint that restates the declaration.
@Suite struct FingerprintCertificationTests {
    static func profile() throws -> (CapabilityProfile, String) {
        let path = temporaryDirectory().appendingPathComponent("small-fingerprinted-v1.json").path
        let text = """
            {"format": "systolic-bench.profile/1", "name": "small-fingerprinted-v1", "version": "1", "family": "gemm", "description": "test",
             "suite_profile": "quick", "mandatory": ["gemm/odd-shape-tails", "gemm/gpt2-decode-attn-out-nk"],
             "requires": {"ops": ["gemm"], "input_types": ["bf16"], "accumulators": ["fp32"], "overflow_modes": ["saturate"], "fingerprint": true}}
            """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return (try CapabilityProfile.load(path), path)
    }

    static func engine(fractionBits: Int) throws -> (SystolicEmulator, DeviceConfig) {
        var config = try DeviceConfig.preset("hbm-inference")
        config.name = "fingerprinted"
        config.arithmetic.matrixEngine = [MatrixArithmetic(inputTypes: [.bf16], blockSize: 8, alignment: .extraBits(1),
                                                           fractionBits: fractionBits, blockRounding: .towardZero)]
        return (SystolicEmulator(config: config), config)
    }

    @Test func anHonestDeviceHoldsAProfileThatRequiresAFingerprint() throws {
        let (device, config) = try Self.engine(fractionBits: 23)
        let (dir, summaries) = try CertificationTests.certify(device: device, config: config, profiles: [try Self.profile()])
        #expect(summaries.first?.certified == true, "\(summaries)")
        let results = try RunResults.load((dir as NSString).appendingPathComponent("results.json"))
        #expect(results.fingerprint?.engines.map(\.input) == [.bf16])
        let report = try CertificationTests.check(dir)
        #expect(report.accepted, "\(report.problems)")
    }

    @Test func aDeviceWorseThanItDeclaresFailsNamingTheProbe() throws {
        // The bf16 engine keeps 13 fraction bits; the device declares 23.
        let (inner, _) = try Self.engine(fractionBits: 13)
        var claimed = try #require(inner.descriptor.arithmetic.matrixEngine?.first)
        claimed.fractionBits = 23
        let device = DeclaringDevice(inner: inner, declared: [claimed])
        let (dir, summaries) = try CertificationTests.certify(device: device, config: nil, profiles: [try Self.profile()])
        let s = try #require(summaries.first)
        #expect(!s.certified)
        #expect(s.unmetRequirements.contains("fingerprint: bf16 fraction_bits measured 13, declared 23 (probe fraction-13)"), "\(s.unmetRequirements)")
        _ = dir
    }

    /// gemm-fp4-v1 requires a fingerprint: a device that rounds the scales of the activations it
    /// quantises otherwise than it declares fails it, the sentence naming the probe.
    @Test func anUndeclaredScaleRoundingFailsTheFp4Profile() throws {
        let path = Repository.path("Certification/profiles/gemm-fp4-v1.json")
        let config = try DeviceConfig.preset("hbm-inference")
        let (_, held) = try CertificationTests.certify(device: SystolicEmulator(config: config), config: config,
                                                       profiles: [(try CapabilityProfile.load(path), path)])
        #expect(held.first?.certified == true, "\(held)")
        let lying = SystolicEmulator(config: config, faults: [.undeclaredScaleRounding])
        let (_, failed) = try CertificationTests.certify(device: lying, config: config, profiles: [(try CapabilityProfile.load(path), path)])
        let s = try #require(failed.first)
        #expect(!s.certified)
        #expect(s.unmetRequirements.contains("fingerprint: mx scale rounding measured rceil, declared floor (probe scale-rounding-mx)"), "\(s.unmetRequirements)")
        #expect(s.unmetRequirements.contains("fingerprint: nvfp4 scale rounding measured up, declared nearest (probe scale-rounding-nvfp4)"), "\(s.unmetRequirements)")
    }

    /// A package whose fingerprint says the device declared less than it does is refused.
    @Test func aFingerprintThatRestatesTheDeclarationIsRefused() throws {
        let (device, config) = try Self.engine(fractionBits: 23)
        let (dir, _) = try CertificationTests.certify(device: device, config: config, profiles: [try Self.profile()])
        let path = (dir as NSString).appendingPathComponent("results.json")
        var results = try JSONFile.decode(RunResults.self, from: path)
        results.fingerprint?.engines[0].findings[0].declared = "13"
        try JSONFile.writeAtomically(try JSONFile.encoder().encode(results), to: path)
        #expect(throws: InputFileError.self) { try RunResults.load(path) }
        #expect(try !CertificationTests.check(dir).accepted)
    }

    /// Each way of doing worse than declared is an unmet requirement of a profile that requires a
    /// fingerprint, and the sentence names the probe that showed it.
    @Test(arguments: ["fraction_bits", "block_size", "subnormal_inputs", "subnormal_outputs", "rounding", "extra_alignment_bits",
                      "promote_every", "c_position", "products"])
    func eachLieFailsTheProfileNamingItsProbe(parameter: String) throws {
        let (actual, declared) = engineLie(parameter)
        var config = try DeviceConfig.preset("hbm-inference")
        config.arithmetic.matrixEngine = [actual]
        let device = DeclaringDevice(inner: SystolicEmulator(config: config), declared: [declared])
        let fingerprint = try Fingerprinter(device: device).run(only: [.bf16])
        let (profile, _) = try Self.profile()
        let unmet = profile.requires.unmet(by: fingerprint)
        #expect(unmet.count == 1 && unmet[0].hasPrefix("fingerprint: bf16 \(parameter) measured") && unmet[0].contains("(probe "), "\(unmet)")
        // Without a fingerprint the profile is not held either.
        #expect(profile.requires.unmet(by: nil).count == 1)
    }
}
