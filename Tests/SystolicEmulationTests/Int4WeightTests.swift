import Foundation
import Testing
import SystolicCheck
import SystolicData
import SystolicDevice
@testable import SystolicEmulation
@testable import SystolicHarness
import SystolicJSON
import SystolicNumerics
import SystolicSuite
import SystolicTestSupport

/// int4 weights (docs/formats.md, "int4 weights"): the stored form, the value of the GEMM, the
/// shipped cases with the sign-extension and nibble-order faults, and the loader's refusals.
struct Int4WeightTests {
    static func shippedCases() throws -> [(Suite, BenchmarkCase, GemmCase)] {
        try BlockFormatTests.shippedCases { $0.blockFormat?.scheme == .int4 }
    }

    /// Nibbles travel two per byte, element 2i in the low half of byte i: the layout
    /// `PackedInt4` states, and back again; an odd count leaves the last high nibble zero.
    @Test func nibblesArePackedTwoPerByteLowFirst() throws {
        let values = [-8, 7, -1, 0, 5, -3, 2]
        let t = Tensor(type: .int4, shape: [1, 7], values: values.map(Double.init), overflow: .saturate)
        #expect(t.fileBytes == PackedInt4.pack(values))
        #expect(t.fileBytes == [0x78, 0x0F, 0xD5, 0x02])
        let back = try #require(Tensor(type: .int4, shape: [1, 7], fileBytes: t.fileBytes))
        #expect((0..<7).map { Int(back.value(at: $0)) } == values)
        #expect(Tensor(type: .int4, shape: [1, 7], fileBytes: [0x78, 0x0F, 0xD5]) == nil)
        let u = Tensor(type: .uint4, shape: [2], values: [15, 8], overflow: .saturate)
        #expect(u.fileBytes == [0x8F] && (0..<2).map { u.value(at: $0) } == [15, 8])
        #expect(NumberType.int4.encode(9, overflow: .saturate) == 7 && NumberType.int4.encode(-12, overflow: .saturate) == 8)
    }

    /// The value the check judges against, computed here from the raw inputs and the
    /// definition C = Σ_groups sa·sb·Σ a·(q − z), equals the reference of the widened case on
    /// every shipped case (a second derivation of `widenedInt4`, not a call of it).
    @Test func theWidenedCaseHasTheDefinitionsValue() throws {
        for (suite, c, g) in try Self.shippedCases() {
            let inputs = GemmInputs(g, caseId: c.id, generator: DataGenerator(seed: suite.seed))
            let scales = try #require(inputs.blockScales)
            let (wide, wideInputs) = try #require(inputs.widenedInt4(g))
            let reference = GemmReference.judged(wide, wideInputs)
            let group = try #require(g.blockFormat?.int4?.group), groups = g.k / group
            let rows = min(g.m, 3), columns = [0, g.n / 2, g.n - 1]
            for i in 0..<rows {
                for j in columns {
                    var exact = 0.0, magnitude = 0.0
                    for t in 0..<groups {
                        let z = scales.zeroB.map { $0.value(at: t * g.n + j) } ?? 0
                        var sum = 0.0
                        for k in (t * group)..<((t + 1) * group) {
                            let index = g.layoutB == .kn ? k * g.n + j : j * g.k + k
                            let code = inputs.b.storage[index]
                            let q = g.types.b == .int4 ? Double(Int(code) - (code >= 8 ? 16 : 0)) : Double(code)
                            sum += inputs.a.value(at: i * g.k + k) * (q - z)
                        }
                        let scale = scales.scaleA(batch: 0, row: i, kGroup: t) * scales.scaleB(batch: 0, kGroup: t, column: j)
                        exact += scale * sum
                        magnitude += abs(scale * sum)
                    }
                    let got = reference.value[i * g.n + j]
                    // Both are fp64 sums of the same terms in different orders: within K·2⁻⁵² of the
                    // terms' magnitudes (the groups' own sums included), far below any output ulp.
                    #expect(abs(got - exact) <= 1e-11 * max(magnitude, 1), "\(c.id) [\(i), \(j)]: \(got) vs \(exact)")
                }
            }
        }
    }

    /// Every shipped int4 case passes on the honest emulator; reading the nibbles with the other
    /// signedness or in the other order fails each of them, by far.
    @Test func signAndNibbleFaultsFailEveryShippedCase() throws {
        let cases = try Self.shippedCases()
        #expect(cases.count >= 4)
        let config = try DeviceConfig.preset("hbm-inference")
        for (suite, c, _) in cases {
            let honest = Harness(device: SystolicEmulator(config: config)).runCase(c, generator: DataGenerator(seed: suite.seed))
            #expect(honest.verdict == .pass, "\(c.id): \(honest.reason ?? "")")
            for fault in [EmulatorFault.int4SignExtension, .swappedNibbles] {
                let faulty = Harness(device: SystolicEmulator(config: config, faults: [fault])).runCase(c, generator: DataGenerator(seed: suite.seed))
                #expect(faulty.verdict == .fail && (faulty.check?.maxRatioToBound ?? 0) >= 10, "\(c.id) with \(fault)")
            }
        }
    }

    /// The cost model moves int4 weights at half a byte each: a decode GEMM (weights dominate)
    /// reads about half the bytes of its int8-weight twin.
    @Test func int4WeightsMoveHalfAByteEach() throws {
        let config = try DeviceConfig.preset("hbm-inference")
        var g = GemmCase(m: 1, n: 4096, k: 4096, types: .init(a: .int8, b: .int4, accumulate: .fp32, output: .bf16), dataA: .constant(0), dataB: .constant(0))
        g.blockFormat = .init(scheme: .int4, int4: .init(group: 128, scaleType: .bf16, zeroPoint: false))
        g.scales = g.blockFormat!.scales(a: .int8)
        var twin = g
        twin.types.b = .int8
        let (int4, int8) = (try #require(GemmCostModel.cost(g, on: config)), try #require(GemmCostModel.cost(twin, on: config)))
        let ratio = Double(int4.hbmReadBytes) / Double(int8.hbmReadBytes)
        #expect(ratio > 0.5 && ratio < 0.55, "\(int4.hbmReadBytes) vs \(int8.hbmReadBytes)")
    }

    @Test(arguments: [
        (#""types": {"a": "bf16", "b": "uint4", "output": "bf16"}, "block_format": {"scheme": "int4", "group": 48, "scale_type": "fp16", "zero_point": true}"#,
         "group of 32, 64 or 128"),
        (#""types": {"a": "bf16", "b": "int4", "output": "bf16"}, "block_format": {"scheme": "int4", "group": 32, "scale_type": "fp32"}"#, "fp16"),
        (#""types": {"a": "bf16", "b": "uint4", "output": "bf16"}, "block_format": {"scheme": "int4", "group": 32, "scale_type": "bf16"}"#,
         "without zero points are int4"),
        (#""types": {"a": "bf16", "b": "int4", "output": "bf16"}, "block_format": {"scheme": "int4", "group": 32, "scale_type": "bf16", "zero_point": true}"#,
         "with zero points are uint4"),
        (#""types": {"a": "fp8_e4m3", "b": "int4", "output": "bf16"}, "block_format": {"scheme": "int4", "group": 32, "scale_type": "bf16"}"#,
         "int4 takes bf16, fp16, int8 for a"),
        (#""types": {"a": "int4", "b": "int4", "output": "bf16"}, "block_format": {"scheme": "int4", "group": 32, "scale_type": "bf16"}"#,
         "weight format"),
        (#""types": {"a": "bf16", "b": "int4", "output": "bf16"}"#, "add \"block_format\""),
        (#""types": {"a": "bf16", "b": "int4", "output": "bf16"}, "block_format": {"scheme": "int4", "group": 32, "scale_type": "bf16", "a_from": "bf16"}"#,
         "a_from"),
        (#""types": "int4""#, "input format"),
        (#""types": {"a": "int8", "b": "int8", "accumulate": "fp32", "output": "fp32"}"#, "fp32 accumulator is MXINT8's"),
        (#""types": {"a": "int8", "b": "int8", "accumulate": "int32", "output": "fp32"}, "block_format": {"scheme": "mx"}"#, "accumulates in fp32"),
    ])
    func malformedInt4CasesAreRefusedNamingThePlace(body: String, words: String) throws {
        #expect(BlockFormatTests.isRefused(body, naming: words), "\(body)")
    }
}
