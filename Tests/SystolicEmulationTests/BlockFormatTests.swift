import Foundation
import Testing
import SystolicData
import SystolicDevice
@testable import SystolicEmulation
@testable import SystolicHarness
import SystolicJSON
import SystolicNumerics
import SystolicSuite
import SystolicTestSupport

/// MX and NVFP4 GEMMs (docs/formats.md, "Block-scaled GEMMs"): the shipped cases, the declared
/// scale rounding a device is judged by, the fast path's bits, and the loader's refusals.
struct BlockFormatTests {
    /// The shipped quick block-format cases `keep` selects (by default MX and NVFP4 with float
    /// elements: not int4 weights nor MXINT8, which have tests of their own).
    static func shippedCases(where keep: (GemmCase) -> Bool = { $0.blockFormat?.scheme != .int4 && !$0.isMXINT8 }) throws
        -> [(Suite, BenchmarkCase, GemmCase)] {
        let suite = try SuiteLoader.load(Repository.path("Suites/gemm.json"))
        return suite.cases(inProfile: "quick").compactMap { c in
            guard case let .gemm(g) = c.workload, g.blockFormat != nil, keep(g) else { return nil }
            return (suite, c, g)
        }
    }

    static func suite(_ cases: String) throws(InputFileError) -> Suite {
        let text = #"{"format": "systolic-bench.suite/1", "name": "blocks", "version": "1.0.0", "defaults": {"seed": 11}, "profiles": {"quick": "block formats"}, "cases": ["# + cases + "]}"
        return try SuiteLoader.load(bytes: Array(text.utf8), file: "blocks.json")
    }

    /// True when the loader refuses a one-case suite (a 4×8×64 GEMM with `body`) naming the file
    /// and `words`.
    static func isRefused(_ body: String, naming words: String) -> Bool {
        let text = #"{"name": "bad", "op": "gemm", "profiles": ["quick"], "shape": {"m": 4, "n": 8, "k": 64}, "# + body + "}"
        do {
            _ = try suite(text)
            return false
        } catch {
            return "\(error)".contains("blocks.json") && "\(error)".contains(words)
        }
    }

    static func emulator(_ rounding: ScaleRoundings?, faults: [EmulatorFault] = []) throws -> SystolicEmulator {
        var config = try DeviceConfig.preset("hbm-inference")
        config.arithmetic.scaleRounding = rounding
        return SystolicEmulator(config: config, faults: faults)
    }

    /// Every shipped block-format case passes on a device declaring each scale rounding it uses;
    /// where the device quantises A, the same device rounding the other way without declaring it
    /// fails every boundary case, by far.
    @Test func theDeclaredScaleRoundingIsWhatADeviceIsJudgedBy() throws {
        var failures = 0
        for (suite, c, g) in try Self.shippedCases() {
            for mx in MXScaleRounding.allCases {
                for nvfp4 in NVFP4ScaleRounding.allCases {
                    let declared = ScaleRoundings(mx: mx, nvfp4: nvfp4)
                    let honest = Harness(device: try Self.emulator(declared)).runCase(c, generator: DataGenerator(seed: suite.seed))
                    #expect(honest.verdict == .pass, "\(c.id) declaring \(mx) and \(nvfp4): \(honest.reason ?? "")")
                    guard g.blockFormat?.activationSource != nil else { continue }
                    let lying = Harness(device: try Self.emulator(declared, faults: [.undeclaredScaleRounding]))
                        .runCase(c, generator: DataGenerator(seed: suite.seed))
                    if c.name.hasPrefix("mx-scale-boundary") || c.name == "nvfp4-scale-rounding" {
                        #expect(lying.verdict == .fail && (lying.check?.maxRatioToBound ?? 0) >= 10, "\(c.id) \(mx) \(nvfp4)")
                    }
                    if lying.verdict == .fail { failures += 1 }
                }
            }
        }
        #expect(failures > 0)
    }

    /// The fast path (dequantised operands through the plain fp32 kernel) gives the group-by-group
    /// definition's bits: on every shipped case, and on random cases whose scales span 2⁻³⁸ to 2³⁸
    /// (every element type, both B layouts, experts).
    @Test func dequantisedOperandsGiveTheGroupByGroupBits() throws {
        var cases = try Self.shippedCases().map { ($0.1.id, $0.2, DataGenerator(seed: $0.0.seed)) }
        let types: [(NumberType, NumberType, String)] = [(.fp8_e4m3, .fp8_e5m2, "mx"), (.fp6_e2m3, .fp4_e2m1, "mx"), (.fp6_e3m2, .fp8_e4m3, "mx"),
                                                         (.fp4_e2m1, .fp4_e2m1, "nvfp4"), (.fp8_e5m2, .fp8_e5m2, "mx")]
        for (i, (a, b, scheme)) in types.enumerated() {
            let layout = i % 2 == 0 ? "kn" : "nk"
            let shape = i == 4 ? #"{"groups": [3, 0, 2], "n": 40, "k": 96}"# : #"{"m": 7, "n": 40, "k": 192}"#
            let text = """
                {"name": "random-\(i)", "op": "gemm", "profiles": ["quick"], "shape": \(shape), "layout": {"b": "\(layout)"},
                 "types": {"a": "\(a.rawValue)", "b": "\(b.rawValue)", "accumulate": "fp32", "output": "fp32"}, "block_format": {"scheme": "\(scheme)"},
                 "data": {"a": {"pattern": "log_uniform", "min_exponent": -30, "max_exponent": 30}, "b": {"pattern": "normal", "std": 1e-9}}}
                """
            let suite = try Self.suite(text)
            for c in suite.cases(inProfile: "quick") { if case let .gemm(g) = c.workload { cases.append((c.id, g, DataGenerator(seed: suite.seed))) } }
        }
        let config = try DeviceConfig.preset("hbm-inference")
        var fastCount = 0
        for (id, g, generator) in cases {
            let inputs = GemmInputs(g, caseId: id, generator: generator).quantisingA(g, rounding: ScaleRoundings())
            for (e, first, sub) in g.groupCases {
                let expert = g.groups == nil ? inputs : inputs.expert(e, firstRow: first, rows: sub.m, g)
                var behaviour = GemmKernel.Behaviour(kTile: config.array.rows * config.arithmetic.rate(g.types.a)!, cols: config.array.cols)
                if expert.dequantisedBlockFormat(sub) != nil { fastCount += 1 }
                let fast = GemmKernel.multiply(sub, expert, behaviour: behaviour)
                behaviour.dequantisesBlockFormats = false
                let groups = GemmKernel.multiply(sub, expert, behaviour: behaviour)
                #expect(fast.storage == groups.storage, "\(id) rows from \(first)")
            }
        }
        // Every GEMM but the NaN blocks' (a NaN scale takes the group-by-group path).
        #expect(fastCount >= cases.count - 2, "the fast path ran on \(fastCount) GEMMs of \(cases.count) cases")
    }
    /// Block-format cases the loader refuses, each naming the place.
    @Test(arguments: [
        (#""types": {"a": "fp4_e2m1", "b": "fp4_e2m1", "accumulate": "fp32", "output": "fp32"}, "block_format": {"scheme": "mx"}, "scales": {"a": 2}"#, "remove \"scales\""),
        (#""types": {"a": "bf16", "b": "fp4_e2m1", "accumulate": "fp32", "output": "fp32"}, "block_format": {"scheme": "mx"}"#, "mx takes"),
        (#""types": {"a": "fp8_e4m3", "b": "fp4_e2m1", "accumulate": "fp32", "output": "fp32"}, "block_format": {"scheme": "nvfp4"}"#, "nvfp4 takes"),
        (#""types": {"a": "fp4_e2m1", "b": "fp4_e2m1", "accumulate": "fp32", "output": "fp32"}, "block_format": {"scheme": "mx", "a_from": "int8"}"#, "a_from"),
        (#""types": {"a": "fp4_e2m1", "b": "fp4_e2m1", "accumulate": "fp32", "output": "fp32"}, "block_format": {"scheme": "mx", "scale_rounding": "up"}"#, "scale_rounding"),
        (#""types": {"a": "fp4_e2m1", "b": "fp4_e2m1", "accumulate": "fp32", "output": "fp32"}, "block_format": {"scheme": "nvfp4", "scale_rounding": "rceil"}"#, "scale_rounding"),
        (#""types": {"a": "fp4_e2m1", "b": "fp4_e2m1", "accumulate": "fp32", "output": "fp32"}, "block_format": {"scheme": "mxfp4"}"#, "scheme"),
        (#""types": {"a": "fp4_e2m1", "b": "fp4_e2m1", "accumulate": "fp32", "output": "fp32"}, "block_format": {"scheme": "mx", "block": 16}"#, "block"),
        (#""types": {"a": "fp4_e2m1", "b": "fp4_e2m1", "accumulate": "fp32", "output": "fp32"}, "block_format": {"scheme": "mx"}, "layout": {"lda": 200}"#, "packed rows"),
    ])
    func malformedBlockFormatsAreRefusedNamingThePlace(body: String, words: String) throws {
        #expect(Self.isRefused(body, naming: words))
        // K not a whole number of blocks.
        let k = #"{"name": "bad", "op": "gemm", "profiles": ["quick"], "shape": {"m": 4, "n": 8, "k": 40}, "types": {"a": "fp4_e2m1", "b": "fp4_e2m1", "accumulate": "fp32", "output": "fp32"}, "block_format": {"scheme": "mx"}}"#
        #expect { try Self.suite(k) } throws: { "\($0)".contains("cases[0].shape.k") && "\($0)".contains("multiple of its block of 32") }
    }
}
