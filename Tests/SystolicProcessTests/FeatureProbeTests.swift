import Foundation
import SystolicTestSupport
import Testing
@testable import SystolicHarness
@testable import SystolicProcess
import SystolicProtocol

/// `check-adapter` probes every GEMM feature a protocol-2 adapter declares, and names the feature
/// a device declares and then gets wrong (the reference adapter with an emulator fault).
struct FeatureProbeTests {
    @Test(arguments: [
        ("ignores-bias", "bias"), ("activation-before-bias", "bias"), ("gelu-tanh-for-erf", "activation"),
        ("ignores-scales", "scales"), ("block-scales-first-group", "block_scales"), ("requant-ignores-zero-point", "requantization"),
        ("requant-per-tensor", "requantization"), ("ignores-leading-dimension", "leading_dimensions"), ("misrouted-groups", "groups"),
        ("ignores-c", "accumulate_c"), ("ignores-tensor-scale", "block_formats"), ("swapped-nibbles", "block_formats"),
        ("scale-rounding-undeclared", "quantizes_a"), ("int4-sign-extension", "int4_weights"),
    ])
    func aFeatureDeclaredAndIgnoredIsNamed(fault: String, feature: String) throws {
        let adapter = try ProcessAdapter(executable: try ProcessAdapterTests.adapterPath(), arguments: ["--fault", fault],
                                         timing: TimingPlan(warmup: 0, minRepeats: 1, minSeconds: 0))
        let harness = Harness(device: adapter)
        let findings = ConformanceKit(roundTrips: 1).run(adapter, judge: { harness.runCase($0, generator: $1) })
        let failed = findings.filter { !$0.passed }.map(\.text)
        // The feature is named; ignoring scales ignores block scales too (one fault, two features),
        // and MX, NVFP4 and int4-weight operands are block-scaled, whether the harness or the
        // device quantised A; fp4 and int4 elements are both nibbles.
        let blockFormats = ["block_formats", "quantizes_a"]
        let named = fault == "ignores-scales" ? [feature, "block_scales", "int4_weights"] + blockFormats
            : fault == "block-scales-first-group" ? [feature, "int4_weights"] + blockFormats
            : fault == "swapped-nibbles" ? blockFormats + ["int4_weights"]
            : blockFormats.contains(feature) ? blockFormats : [feature]
        #expect(failed.contains { $0.hasPrefix("gemm feature \(feature) (") }, "\(fault): \(failed)")
        #expect(failed.allSatisfy { f in named.contains { f.hasPrefix("gemm feature \($0) (") } }, "\(fault): \(failed)")
        if fault == "ignores-leading-dimension" {
            #expect(failed.contains { $0.contains("padding elements of C's stored rows changed") }, "\(failed)")
        }
    }

    /// The honest adapter passes every probe, one or more per feature.
    @Test func anHonestAdapterPassesEveryFeatureProbe() throws {
        let adapter = try ProcessAdapter(executable: try ProcessAdapterTests.adapterPath(), timing: TimingPlan(warmup: 0, minRepeats: 1, minSeconds: 0))
        let harness = Harness(device: adapter)
        let findings = ConformanceKit(roundTrips: 1).run(adapter, judge: { harness.runCase($0, generator: $1) })
        #expect(findings.allSatisfy { $0.passed }, "\(findings.filter { !$0.passed })")
        for feature in GemmFeature.allCases {
            #expect(findings.contains { $0.text.hasPrefix("gemm feature \(feature.rawValue) (") && $0.text.hasSuffix(": pass") }, "\(feature)")
        }
    }
}
