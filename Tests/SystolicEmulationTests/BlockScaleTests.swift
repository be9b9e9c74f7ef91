import SystolicTestSupport
import Testing
import SystolicCheck
import SystolicData
import SystolicNumerics
import SystolicSuite
@testable import SystolicDevice
@testable import SystolicEmulation
@testable import SystolicHarness

/// fp8 GEMMs with block scales (1×128 of A, 128×128 of B): the emulator's documented order, the
/// reference, the bound with other legal orders, the faults, the cost model and the presets.
struct BlockScaleTests {
    static func suiteCase(_ name: String) throws -> (BenchmarkCase, GemmCase) {
        let suite = try SuiteLoader.load(Repository.path("Suites/gemm.json"))
        let c = try #require(suite.cases.first { $0.name == name })
        guard case let .gemm(g) = c.workload else { throw CaseError() }
        return (c, g)
    }
    struct CaseError: Error {}

    /// A block-scaled case built here: fp32 output so that the bound, not the output rounding,
    /// decides; K of eight groups; scales over two decades.
    static func fp32OutCase() -> (BenchmarkCase, GemmCase) {
        let t = GemmCase.Types(a: .fp8_e4m3, b: .fp8_e4m3, accumulate: .fp32, output: .fp32)
        let scales = GemmCase.Scales(blockA: .init(rows: 1, cols: 128, low: 0.001, high: 0.1), blockB: .init(rows: 128, cols: 128, low: 0.001, high: 0.1))
        let g = GemmCase(m: 3, n: 256, k: 1024, types: t, layoutB: .nk, scales: scales, dataA: .normal(mean: 0, std: 64), dataB: .normal(mean: 0, std: 64))
        return (BenchmarkCase(id: "t/blocks-fp32-out", suite: "t", name: "blocks-fp32-out", profiles: [], workload: .gemm(g)), g)
    }

    /// The emulator's output is, bit for bit, the order its documentation gives, written here
    /// as a plain loop: per group an fp32 FMA chain, s = sa·sb in fp32, acc = p·s then acc + p·s,
    /// and the output scale as one multiply by fp32(1/scale_out). Partial blocks on every side.
    @Test func emulatorFollowsTheDocumentedOrder() throws {
        let (c, g) = try Self.suiteCase("fp8-blocks-partial-tiles")
        #expect(g.m == 5 && g.n == 200 && g.k == 300 && g.scales.output == 0.5)
        let inputs = GemmInputs(g, caseId: c.id, generator: DataGenerator(seed: 7))
        let scales = try #require(inputs.blockScales)
        #expect(scales.a?.shape == [1, 5, 3] && scales.b?.shape == [1, 3, 2])
        let out = try SystolicEmulator().run(c, inputs: .gemm(inputs)).tensors["c"]!
        let a = inputs.a.decoded(), b = inputs.b.decoded()
        for i in 0..<g.m {
            for j in 0..<g.n {
                var acc: Float = 0
                for (t, k0) in stride(from: 0, to: g.k, by: 128).enumerated() {
                    var p: Float = 0
                    for kk in k0..<min(k0 + 128, g.k) { p = p.addingProduct(Float(a[i * g.k + kk]), Float(b[kk * g.n + j])) }
                    let s = Float(scales.scaleA(batch: 0, row: i, kGroup: t)) * Float(scales.scaleB(batch: 0, kGroup: t, column: j))
                    acc = t == 0 ? p * s : acc + p * s
                }
                acc *= Float(1 / g.scales.output)
                #expect(out.bits(at: i * g.n + j) == acc.bitPattern, "element [\(i), \(j)]")
            }
        }
    }

    /// The judged reference is Σ (sa·a)(sb·b) computed plainly in binary64 from the scales, whose
    /// B scales follow B's logical [K, N] blocks although B is stored [N, K]; its S bounds Σ|sa·a·sb·b|.
    @Test func referenceIsTheSumOfScaledProducts() throws {
        let (c, g) = Self.fp32OutCase()
        let inputs = GemmInputs(g, caseId: c.id, generator: DataGenerator(seed: 3))
        let scales = try #require(inputs.blockScales)
        let reference = GemmReference.judged(g, inputs)
        let a = inputs.a.decoded(), b = inputs.b.decoded()
        for i in 0..<g.m {
            for j in 0..<g.n {
                var value = 0.0, absSum = 0.0
                for kk in 0..<g.k {
                    let x = a[i * g.k + kk] * scales.scaleA(batch: 0, row: i, kGroup: kk / 128)
                    let y = b[j * g.k + kk] * scales.scaleB(batch: 0, kGroup: kk / 128, column: j)
                    value += x * y
                    absSum += abs(x * y)
                }
                let idx = i * g.n + j
                // S is an upper bound, within K·2⁻²³ (the fp32 sum made one, on AVX-512) or the fp64 sum.
                #expect(abs(reference.value[idx] - value) <= 1e-12 * absSum)
                #expect(reference.absSum[idx] >= absSum * (1 - 1e-12) && reference.absSum[idx] <= absSum * (1 + Double(g.k) * 0x1p-23))
            }
        }
    }

    /// Dequantising each operand to fp32 first and summing in any of five orders is just as
    /// correct: it passes, inside the bound, although its bits differ from the emulator's.
    @Test(arguments: ReorderingDevice.Order.allCases)
    func dequantisingFirstInAnyOrderPasses(order: ReorderingDevice.Order) throws {
        for (c, g) in [Self.fp32OutCase(), try Self.suiteCase("fp8-blocks-partial-tiles")] {
            let r = Harness(device: ReorderingDevice(order: order)).runCase(c, generator: DataGenerator(seed: 11))
            #expect(r.verdict == .pass, "\(order) \(c.id): \(r.reason ?? "")")
            #expect((r.check?.maxRatioToBound ?? 2) < 1)
            let theirs = try ReorderingDevice(order: order).run(c, inputs: .gemm(GemmInputs(g, caseId: c.id, generator: DataGenerator(seed: 11))))
            let ours = try SystolicEmulator().run(c, inputs: .gemm(GemmInputs(g, caseId: c.id, generator: DataGenerator(seed: 11))))
            if c.name == "blocks-fp32-out" { #expect(theirs.tensors["c"]!.storage != ours.tensors["c"]!.storage) }
        }
    }

    /// A device that scales every group by the first group's scales, or ignores the scales,
    /// fails the shipped block-scaled cases; one element moved twice its bound fails alone.
    @Test func faultsFailTheShippedCases() throws {
        for name in ["deepseek-v3-decode-q-down-fp8-blocks", "fp8-blocks-partial-tiles", "deepseek-v3-moe-decode-fp8-blocks"] {
            let (c, _) = try Self.suiteCase(name)
            #expect(Harness(device: SystolicEmulator()).runCase(c, generator: DataGenerator(seed: 2)).verdict == .pass)
            for fault in [EmulatorFault.blockScalesFirstGroup, .ignoresScales] {
                let r = Harness(device: SystolicEmulator(faults: [fault])).runCase(c, generator: DataGenerator(seed: 2))
                #expect(r.verdict == .fail, "\(fault) \(c.id)")
                #expect((r.check?.maxRatioToBound ?? 0) > 10, "\(fault) \(c.id): \(r.check?.maxRatioToBound ?? 0)")
            }
        }
        let (c, g) = Self.fp32OutCase()
        let inputs = GemmInputs(g, caseId: c.id, generator: DataGenerator(seed: 4))
        let arithmetic = SystolicEmulator().descriptor.arithmetic
        var out = try SystolicEmulator().run(c, inputs: .gemm(inputs)).tensors["c"]!
        #expect(GemmCheck.verify(output: out, inputs: inputs, gemm: g, arithmetic: arithmetic).passed)
        let reference = GemmReference.judged(g, inputs)
        let e = GemmBound(k: g.k + 3, arithmetic: arithmetic).hard(reference.absSum[17])
        out.setValue(reference.value[17] + 2 * e, at: 17, overflow: .ieee)
        let report = GemmCheck.verify(output: out, inputs: inputs, gemm: g, arithmetic: arithmetic)
        #expect(report.mismatches == 1 && report.worst?.index == [0, 0, 17])
    }

    /// fp8 experts with block scales (DeepSeek-V3's MoE): each expert is a block-scaled GEMM of its
    /// own rows, its own weights and its own weight scales; the output is those GEMMs stacked, and
    /// an expert's rows scaled with another expert's weight scales fail at those rows.
    @Test func groupedExpertsTakeTheirOwnBlockScales() throws {
        let (c, g) = try Self.suiteCase("deepseek-v3-moe-decode-fp8-blocks")
        let inputs = GemmInputs(g, caseId: c.id, generator: DataGenerator(seed: 6))
        #expect(inputs.blockScales?.b?.shape == [8, 56, 2] && inputs.blockScales?.a?.shape == [1, 16, 56])
        let out = try SystolicEmulator().run(c, inputs: .gemm(inputs)).tensors["c"]!
        #expect(out.storage == (try GroupedGemmTests.expertsStacked(g, inputs)))
        let arithmetic = SystolicEmulator().descriptor.arithmetic
        #expect(GemmCheck.verify(output: out, inputs: inputs, gemm: g, arithmetic: arithmetic).passed)

        // Expert 3's rows (4 of them, from row 4) computed with expert 4's weight scales.
        let (_, first, sub) = g.groupCases.first { $0.expert == 3 }!
        var swapped = inputs.expert(3, firstRow: first, rows: sub.m, g)
        swapped.blockScales = try #require(inputs.expert(4, firstRow: first, rows: sub.m, g).blockScales)
        let one = BenchmarkCase(id: "t/w", suite: "t", name: "w", profiles: [], workload: .gemm(sub))
        let bad = try SystolicEmulator().run(one, inputs: .gemm(swapped)).tensors["c"]!
        var wrong = out
        for i in 0..<bad.count { wrong.setBits(bad.bits(at: i), at: first * g.n + i) }
        let report = GemmCheck.verify(output: wrong, inputs: inputs, gemm: g, arithmetic: arithmetic)
        #expect(!report.passed && report.worst.map { $0.index[1] >= first && $0.index[1] < first + sub.m } == true)
    }

    /// Each group is its own pass through a weight-stationary array (K-tile 128, not the 256 an fp8
    /// tile otherwise holds) and costs the vector unit three ops per output; the scales are read
    /// from HBM once.
    @Test func costModelCountsGroupsAndScales() throws {
        let (_, g) = try Self.suiteCase("deepseek-v3-decode-q-down-fp8-blocks")
        let config = try DeviceConfig.preset("hbm-inference")
        var plain = g
        plain.scales = GemmCase.Scales()
        let blocked = try #require(GemmCostModel.cost(g, on: config)), unscaled = try #require(GemmCostModel.cost(plain, on: config))
        #expect(blocked.folds == 2 * unscaled.folds)
        #expect(blocked.vectorOps == g.m * g.n * (1 + 3 * 56))
        #expect(blocked.hbmReadBytes - unscaled.hbmReadBytes == 4 * (4 * 56 + 56 * 12))

        // An output-stationary array runs each group as a GEMM of its own and counts the same
        // scaling work and scale reads; its energy is still the sum of its parts.
        let os = DeviceConfig.test(rows: 128, cols: 128, dataflow: .outputStationary)
        let osCost = try #require(GemmCostModel.cost(g, on: os)), osPlain = try #require(GemmCostModel.cost(plain, on: os))
        #expect(osCost.vectorOps == g.m * g.n * (1 + 3 * 56) && osCost.macs == g.macs)
        #expect(osCost.hbmReadBytes - osPlain.hbmReadBytes >= 4 * (4 * 56 + 56 * 12))
        let e = os.energy
        let expected = Double(g.macs) * e.macJoules[g.types.a.rawValue]! + Double(osCost.sramBytes) * e.sramByteJoules
            + Double(osCost.hbmReadBytes + osCost.hbmWriteBytes) * e.hbmByteJoules + Double(osCost.vectorOps) * e.vectorOpJoules
            + e.staticWatts * Double(osCost.cycles) / os.clockHz
        #expect(abs(osCost.joules - expected) <= 1e-9 * expected, "\(osCost.joules) vs \(expected)")
    }

    /// The presets without fp8 report the block-scaled cases not supported, with the reason.
    @Test(arguments: ["tpu-v1", "edge"])
    func presetsWithoutFP8DoNotSupportThem(preset: String) throws {
        let device = SystolicEmulator(config: try DeviceConfig.preset(preset))
        for name in ["deepseek-v3-decode-q-down-fp8-blocks", "fp8-blocks-partial-tiles", "deepseek-v3-moe-decode-fp8-blocks"] {
            let (c, _) = try Self.suiteCase(name)
            let r = Harness(device: device).runCase(c, generator: DataGenerator(seed: 1))
            #expect(r.verdict == .notSupported && r.reason?.contains("is not supported by \(preset)") == true, "\(r.reason ?? "")")
        }
    }
}
