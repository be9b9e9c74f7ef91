import SystolicTestSupport
import Testing
import SystolicData
import SystolicDevice
@testable import SystolicEmulation
import SystolicNumerics
import SystolicSuite
@testable import SystolicCheck
@testable import SystolicHarness

/// Verification at scale reaches the full check's verdict on correct and faulty devices.
struct AtScaleTests {
    /// The projections' rounding-cell half-widths from the bits (fp32, bf16) equal those from
    /// `roundingCell` on every bf16 pattern and on 65536 fp32 patterns, edges included, in both
    /// overflow modes.
    @Test(arguments: [OverflowMode.saturate, .ieee])
    func cellHalfWidthsFromTheBitsEqualTheRoundingCells(overflow: OverflowMode) {
        func general(_ v: Double, _ t: NumberType) -> Double? {
            guard v.isFinite else { return nil }
            let cell = GemmCheck.roundingCell(v, t, overflow)
            guard cell.lowerBound.isFinite, cell.upperBound.isFinite else { return nil }
            return max(v - cell.lowerBound, cell.upperBound - v)
        }
        var fp32: [UInt32] = [0, 1, 0x007F_FFFF, 0x0080_0000, 0x3F80_0000, 0x7F7F_FFFE, 0x7F7F_FFFF, 0x7F80_0000, 0x7FC0_0000]
        fp32 += (0..<65536).map { UInt32(truncatingIfNeeded: $0 &* 0x9E37_79B9 ^ ($0 << 7)) }
        for bits in fp32 + fp32.map({ $0 | 0x8000_0000 }) {
            let v = Double(Float(bitPattern: bits))
            #expect(GemmCheck.cellHalfWidth(v, .fp32, overflow) == general(v, .fp32), "fp32 \(bits)")
        }
        for bits in 0..<UInt32(65536) {
            let v = Double(Float(bitPattern: bits << 16))
            #expect(GemmCheck.cellHalfWidth(v, .bf16, overflow) == general(v, .bf16), "bf16 \(bits)")
        }
    }

    static func gemm(_ data: DataPattern, _ types: GemmCase.Types, _ verification: Verification,
                     m: Int = 96, n: Int = 384, k: Int = 512) -> BenchmarkCase {
        let g = GemmCase(m: m, n: n, k: k, types: types, dataA: data, dataB: data, verification: verification)
        return BenchmarkCase(id: "scale/\(verification.rawValue)", suite: "scale", name: "scale", profiles: [], workload: .gemm(g))
    }

    static let fp32 = GemmCase.Types(shorthand: .fp32)
    static let bf16In = GemmCase.Types(a: .bf16, b: .bf16, accumulate: .fp32, output: .fp32)

    @Test(arguments: [
        ("correct", [EmulatorFault](), DataPattern.normal(mean: 0, std: 1), false),
        ("bf16 accumulator", [.narrowAccumulator(.bf16)], .normal(mean: 0, std: 1), true),
        ("stuck PE column", [.stuckColumn(7)], .normal(mean: 0, std: 1), true),
        ("dropped K-tile", [.droppedKTile(2)], .uniform(low: -1, high: 1), true),
        ("flushed subnormals", [.flushSubnormals], .logUniform(minExponent: -76, maxExponent: -70), true),
        ("correct, integer data", [], .integer(low: -8, high: 8), false),
        ("stuck PE column, integer data", [.stuckColumn(100)], .integer(low: -8, high: 8), true),
        ("dropped K-tile, integer data", [.droppedKTile(0)], .integer(low: -8, high: 8), true),
    ])
    func atScaleAgreesWithTheFullCheck(name: String, faults: [EmulatorFault], data: DataPattern, faulty: Bool) throws {
        let harness = Harness(device: SystolicEmulator(faults: faults))
        let generator = DataGenerator(seed: 9)
        for types in [Self.fp32, Self.bf16In] {
            let full = harness.runCase(Self.gemm(data, types, .full), generator: generator)
            let scaled = harness.runCase(Self.gemm(data, types, .atScale), generator: generator)
            #expect(full.verdict == (faulty ? .fail : .pass), "\(name) \(types.label): \(full.reason ?? "")")
            #expect(scaled.verdict == full.verdict, "\(name) \(types.label): \(scaled.reason ?? "")")
            #expect(full.check?.mode == "full" && scaled.check?.mode == "at_scale")
            // At this small M the sampled rows and tiles cover most rows; the saving shows at
            // large shapes (4096³: 4.8 G reference MACs instead of 68.7 G, docs/numerics.md).
            #expect((scaled.check?.referenceMacs ?? 0) > 0)
            #expect(scaled.check?.freivalds?.kind == (data.isIntegerValued ? "modular" : "bounded"))
        }
    }

    /// A NaN among the outputs sends its row to the elementwise sample, where it fails: the check
    /// reports it (a NaN reached `roundingCell` first, whose range of NaNs traps).
    @Test func aNaNOutputFailsAtScale() throws {
        let c = Self.gemm(.normal(mean: 0, std: 1), Self.fp32, .atScale)
        guard case let .gemm(g) = c.workload else { Issue.record("not a GEMM"); return }
        let inputs = GemmInputs(g, caseId: c.id, generator: DataGenerator(seed: 3))
        var out = try SystolicEmulator().run(c, inputs: .gemm(inputs)).tensors["c"]!
        out.setBits(0x7FC0_0000, at: 5 * g.n + 17)
        let report = GemmCheck.verify(output: out, inputs: inputs, gemm: g, arithmetic: SystolicEmulator().descriptor.arithmetic)
        #expect(report.mode == "at_scale")
        #expect(report.mismatches == 1)
        #expect(report.freivalds?.skippedRows == 1)
    }

    /// Gross faults are caught by the projections themselves, not only by the sample.
    @Test func freivaldsAloneCatchesADroppedTile() throws {
        let harness = Harness(device: SystolicEmulator(faults: [.droppedKTile(1)]))
        let r = harness.runCase(Self.gemm(.uniform(low: 0, high: 1), Self.fp32, .atScale), generator: DataGenerator(seed: 2))
        #expect((r.check?.freivalds?.failedRows ?? 0) > 0)
        #expect(r.reason?.contains("Freivalds") == true)
    }

    @Test func autoChoosesByShape() {
        let small = GemmCase(m: 64, n: 64, k: 64, types: Self.fp32, dataA: .constant(1), dataB: .constant(1))
        let large = GemmCase(m: 8192, n: 4096, k: 4096, types: Self.fp32, dataA: .constant(1), dataB: .constant(1))
        #expect(GemmCheck.mode(for: small) == .full)
        #expect(GemmCheck.mode(for: large) == .atScale)
        var forced = large
        forced.verification = .full
        #expect(GemmCheck.mode(for: forced) == .full)
    }

    @Test func modularArithmeticIsExact() {
        let p = GemmCheck.prime
        #expect(GemmCheck.mulmod(p - 1, p - 1) == 1)
        #expect(GemmCheck.mulmod(1 << 60, 4) == 2)
        #expect(GemmCheck.residue(-1) == p - 1)
        #expect(GemmCheck.addmod(p - 1, 5) == 4)
    }

    /// The sample follows the output digest: different outputs, different elements.
    @Test func sampleDependsOnTheDigest() {
        var a = GemmCheck.Draws(seed: Digest.seed(from: Digest.sha256([1, 2, 3])))
        var b = GemmCheck.Draws(seed: Digest.seed(from: Digest.sha256([1, 2, 4])))
        #expect((0..<8).map { _ in a.raw() } != (0..<8).map { _ in b.raw() })
    }
}
