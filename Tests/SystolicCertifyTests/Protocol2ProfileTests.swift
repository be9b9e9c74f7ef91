import Foundation
import SystolicTestSupport
import Testing
@testable import SystolicCertify
import SystolicResults
import SystolicDevice
@testable import SystolicEmulation
import SystolicJSON
@testable import SystolicHarness

/// The profiles that need protocol 2 (fp8 with scales, quantised int8, mixture of experts, MX and NVFP4): the
/// emulator holds each, and a device with the matching fault does not.
struct Protocol2ProfileTests {
    @Test(arguments: [("gemm-fp8-v1", "block-scales-first-group"), ("gemm-int8-quantized-v1", "requant-per-tensor"),
                      ("moe-inference-v1", "misrouted-groups"), ("gemm-fp4-v1", "ignores-tensor-scale"),
                      ("gemm-fp4-v1", "scale-rounding-undeclared"), ("gemm-fp4-v1", "swapped-nibbles")])
    func theEmulatorHoldsTheProfileAndItsFaultDoesNot(profile name: String, fault: String) throws {
        let path = Repository.path("Certification/profiles/\(name).json")
        let profile = (try CapabilityProfile.load(path), path)
        let config = try DeviceConfig.preset("hbm-inference")
        let (honest, held) = try CertificationTests.certify(device: SystolicEmulator(config: config), config: config, profiles: [profile])
        #expect(held[0].certified, "\(held[0].cases.filter { $0.status != "pass" })")
        let report = try CertificationTests.check(honest)
        #expect(report.accepted && report.division == "closed", "\(report.problems)")
        let faulty = SystolicEmulator(config: config, faults: [try #require(EmulatorFault(fault))])
        let (_, failed) = try CertificationTests.certify(device: faulty, config: config, profiles: [profile])
        #expect(!failed[0].certified)
        #expect(failed[0].cases.contains { $0.status == "fail" && $0.verdict == .fail })
    }
}
