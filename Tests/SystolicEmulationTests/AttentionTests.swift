import Foundation
import SystolicTestSupport
import Testing
import SystolicCheck
import SystolicData
import SystolicNumerics
import SystolicSuite
@testable import SystolicDevice
@testable import SystolicEmulation
@testable import SystolicHarness

/// Attention on the emulator and its check: correct alternatives pass, the model's roofline
/// claims hold, and the bound is tight enough to fail an element moved twice its width.
struct AttentionTests {
    static func quickCases() throws -> [(Suite, BenchmarkCase)] {
        let suite = try SuiteLoader.load(Repository.path("Suites/attention.json"))
        return suite.cases(inProfile: "quick").map { (suite, $0) }
    }

    /// Full softmax in fp32, flash blocks of 64 and of 128, P kept in fp32 where bf16 is allowed,
    /// and heads in another order all pass every quick case, on two seeds.
    @Test(arguments: [
        SystolicEmulator.AttentionVariant(kvBlock: .fullSoftmax),
        SystolicEmulator.AttentionVariant(kvBlock: .keys(64)),
        SystolicEmulator.AttentionVariant(kvBlock: .keys(128)),
        SystolicEmulator.AttentionVariant(kvBlock: .keys(16), keepProbabilitiesInFP32: true),
        SystolicEmulator.AttentionVariant(kvBlock: .arrayWidth, reverseHeads: true),
    ])
    func correctAlternativesPassEveryCase(variant: SystolicEmulator.AttentionVariant) throws {
        var device = SystolicEmulator()
        device.attentionVariant = variant
        let harness = Harness(device: device)
        for seed: UInt64 in [1, 2] {
            for (_, c) in try Self.quickCases() {
                let r = harness.runCase(c, generator: DataGenerator(seed: seed))
                #expect(r.verdict == .pass, "\(variant) seed \(seed) \(c.id): \(r.reason ?? "")")
                #expect((r.check?.maxRatioToBound ?? 2) < 1)
            }
        }
    }

    /// The alternatives really compute differently (otherwise the test above proves nothing).
    @Test func alternativesGiveDifferentBits() throws {
        let (suite, c) = try #require(try Self.quickCases().first { $0.1.name == "llama3-8b-gqa-prefill" })
        var digests = Set<String>()
        for variant in [SystolicEmulator.AttentionVariant(), .init(kvBlock: .fullSoftmax), .init(kvBlock: .keys(64))] {
            var device = SystolicEmulator()
            device.attentionVariant = variant
            let r = Harness(device: device).runCase(c, generator: DataGenerator(seed: suite.seed))
            digests.insert(try #require(r.check?.outputDigest))
        }
        #expect(digests.count == 3)
    }

    /// One thread or two: the same bits.
    @Test func outputsDoNotDependOnThreads() throws {
        for (suite, c) in try Self.quickCases() {
            let one = Harness(device: SystolicEmulator(config: try DeviceConfig.preset("hbm-inference"), threads: 1))
                .runCase(c, generator: DataGenerator(seed: suite.seed))
            let two = Harness(device: SystolicEmulator(config: try DeviceConfig.preset("hbm-inference"), threads: 2))
                .runCase(c, generator: DataGenerator(seed: suite.seed))
            #expect(one.check?.outputDigest != nil && one.check?.outputDigest == two.check?.outputDigest, "\(c.id)")
        }
    }

    /// The same logical case in every KV layout gives the same output bits, and the padding and
    /// spare pages really hold NaN.
    @Test func layoutsHoldTheSameCache() throws {
        var digests = Set<String>()
        for layout in AttentionCase.KVLayout.allCases {
            let a = AttentionCase(batch: 3, heads: 4, kvHeads: 2, headDim: 32, queryLength: 2, kvLengths: [5, 40, 17], causal: true,
                                  inputType: .bf16, layout: layout, pageSize: 8)
            let c = BenchmarkCase(id: "t/layout/x", suite: "t", name: "layout", profiles: [], workload: .attention(a))
            let r = Harness(device: SystolicEmulator()).runCase(c, generator: DataGenerator(seed: 7))
            #expect(r.verdict == .pass, "\(layout): \(r.reason ?? "")")
            digests.insert(try #require(r.check?.outputDigest))
            let inputs = AttentionInputs(a, caseId: c.id, generator: DataGenerator(seed: 7))
            let nans = (0..<inputs.k.count).filter { inputs.k.value(at: $0).isNaN }.count
            let slots = inputs.k.count / 32, used = 2 * (5 + 40 + 17)
            #expect(nans == (slots - used) * 32, "\(layout)")
        }
        #expect(digests.count == 1)
    }

    /// An output element moved twice its bound fails alone at its index; moved 0.9× it passes.
    @Test func boundIsTightEnoughToFailOneElement() throws {
        let (suite, c) = try #require(try Self.quickCases().first { $0.1.name == "directed-fp32-noncausal" })
        guard case let .attention(a) = c.workload else { return }
        let inputs = AttentionInputs(a, caseId: c.id, generator: DataGenerator(seed: suite.seed))
        let device = SystolicEmulator()
        let out = try device.run(c, inputs: .attention(inputs)).tensors["o"]!
        let reference = AttentionReference.compute(a, inputs)
        let bound = AttentionBound(a, arithmetic: device.descriptor.arithmetic, expUlps: 2)
        let index = 1234, row = index / a.headDim, column = index % a.headDim
        let e = bound.hard(visible: reference.visible[row], scoreAbsMax: reference.scoreAbsMax[row],
                           weightedAbsSum: reference.weightedAbsSum[index],
                           maxAbsValue: reference.maxAbsValue[((row / (a.heads * a.queryLength)) * a.kvHeads + (row / a.queryLength % a.heads) / a.groupSize) * a.headDim + column])
        #expect(e > 0 && e < 1e-4)
        for (factor, passes) in [(0.9, true), (2.0, false)] {
            var moved = out
            moved.setValue(reference.value[index] + factor * e, at: index, overflow: .saturate)
            let report = AttentionCheck.verify(output: moved, inputs: inputs, attention: a, arithmetic: device.descriptor.arithmetic, expUlps: 2)
            #expect(report.passed == passes, "factor \(factor)")
            if !passes {
                #expect(report.mismatches == 1)
                #expect(report.worst?.index == [row / (a.heads * a.queryLength), row / a.queryLength % a.heads, row % a.queryLength, column])
            }
        }
    }

    /// On the HBM preset, decode is memory-bound (the array waits for a 16-bit cache and is nearly idle; HBM
    /// above 85 % of its peak once the cache holds 2048 positions or more) and a long prefill
    /// compute-bound (no stalls, the array busy, HBM at a third of its peak or less).
    @Test func decodeIsMemoryBoundAndLongPrefillComputeBound() throws {
        let config = try DeviceConfig.preset("hbm-inference")
        let full = try SuiteLoader.load(Repository.path("Suites/attention.json")).cases(inProfile: "full")
        func figures(_ a: AttentionCase) throws -> (array: Double, hbm: Double, stall: Int) {
            let cost = try #require(AttentionCostModel.cost(a, on: config))
            let peak = try #require(config.peakOpsPerSecond(a.inputType))
            let hbm = Double(cost.hbmReadBytes + cost.hbmWriteBytes) / cost.seconds / config.memory.hbmBytesPerSecond
            return (Double(4 * a.visiblePairs * a.headDim) / cost.seconds / peak, hbm, cost.stallCycles)
        }
        var decodes = 0, prefills = 0
        for c in full {
            guard case let .attention(a) = c.workload else { continue }
            let f = try figures(a)
            if a.queryLength <= 4 && a.kvLength >= 256 {
                decodes += 1
                #expect(f.array < 0.1 && f.hbm > (a.kvLength >= 2048 ? 0.85 : 0.6), "\(c.id): hbm \(f.hbm), array \(f.array)")
                // A 16-bit cache starves the array; an fp8 cache halves the bytes and the model
                // finds HBM and the array's streaming rate nearly balanced.
                if a.kvType.byteWidth >= 2 { #expect(f.stall > 0, "\(c.id)") }
            }
            if a.queryLength >= 2048 && a.queryLength == a.kvLength {
                prefills += 1
                #expect(f.stall == 0 && f.array > 0.4 && f.hbm < 0.35, "\(c.id): hbm \(f.hbm), array \(f.array)")
                if a.queryLength == 8192 { #expect(f.array > 0.9) }
            }
        }
        #expect(decodes >= 10 && prefills >= 3)
    }

    /// The vector unit's exp is within its declared 2 ulps (in fact half an ulp) of the true value.
    @Test func vectorExpIsWithinItsDeclaredAccuracy() {
        var worst = 0.0
        var x: Float = -103
        while x < 88.7 {
            let mine = Double(VectorMath.exp(x)), exact = Foundation.exp(Double(x))
            let ulp = Double(Float(exact).ulp)
            worst = max(worst, abs(mine - exact) / ulp)
            x += 0.0137
        }
        #expect(worst <= 0.5 + 1e-6)
        #expect(VectorMath.exp(0) == 1 && VectorMath.exp(89.5) == .infinity && VectorMath.exp(-105) == 0 && VectorMath.exp(.nan).isNaN)
    }
}
