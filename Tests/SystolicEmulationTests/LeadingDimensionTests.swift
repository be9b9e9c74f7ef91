import SystolicTestSupport
import Testing
import SystolicCheck
import SystolicData
import SystolicNumerics
import SystolicSuite
@testable import SystolicDevice
@testable import SystolicEmulation
@testable import SystolicHarness

/// GEMMs on strided matrices (BLAS's lda, ldb, ldc): padding is never read, C's padding is never
/// written, and the arithmetic is the packed GEMM's.
struct LeadingDimensionTests {
    static func suiteCase(_ name: String) throws -> (BenchmarkCase, GemmCase) {
        try BlockScaleTests.suiteCase(name)
    }

    /// The strided case holds the same matrices as its packed twin (same id, same seed) and the
    /// emulator gives the same bits; C's padding comes back as the caller's buffer held it.
    @Test(arguments: ["strided-lda-ldb-ldc-bf16", "strided-nk-int8"])
    func stridedEqualsPacked(name: String) throws {
        let (c, g) = try Self.suiteCase(name)
        #expect(g.lda > g.k && g.ldb > (g.layoutB == .kn ? g.n : g.k) && g.ldc > g.n)
        let packedCase = BenchmarkCase(id: c.id, suite: c.suite, name: c.name, profiles: [], workload: .gemm(g.packed))
        let inputs = GemmInputs(g, caseId: c.id, generator: DataGenerator(seed: 9))
        let packedInputs = GemmInputs(g.packed, caseId: c.id, generator: DataGenerator(seed: 9))
        #expect(inputs.a.shape == g.storedShapeA && inputs.b.shape == g.storedShapeB)
        #expect(inputs.packed(g).a == packedInputs.a && inputs.packed(g).b == packedInputs.b)
        let strided = try SystolicEmulator().run(c, inputs: .gemm(inputs)).tensors["c"]!
        let packed = try SystolicEmulator().run(packedCase, inputs: .gemm(packedInputs)).tensors["c"]!
        #expect(strided.shape == g.storedShapeC)
        #expect(strided.packedRows(length: g.n) == packed)
        let before = try #require(inputs.c)
        for row in 0..<g.m { for j in g.n..<g.ldc { #expect(strided.bits(at: row * g.ldc + j) == before.bits(at: row * g.ldc + j)) } }
        // Padding of A and B is NaN (floats) so that reading it shows.
        if !g.types.a.isInteger { #expect(inputs.a.value(at: g.k).isNaN) }
        let r = Harness(device: SystolicEmulator()).runCase(c, generator: DataGenerator(seed: 9))
        #expect(r.verdict == .pass && r.check?.paddingWrites == 0, "\(r.reason ?? "")")
    }

    /// Writing one padding element fails the case and says so; a device that ignores the leading
    /// dimensions (reads and writes as if packed) fails both shipped cases.
    @Test func writingOrReadingPaddingFails() throws {
        let (c, g) = try Self.suiteCase("strided-lda-ldb-ldc-bf16")
        let inputs = GemmInputs(g, caseId: c.id, generator: DataGenerator(seed: 9))
        var out = try SystolicEmulator().run(c, inputs: .gemm(inputs)).tensors["c"]!
        out.setValue(0, at: 3 * g.ldc + g.n + 5, overflow: .saturate)
        let report = GemmCheck.verify(output: out, inputs: inputs, gemm: g, arithmetic: SystolicEmulator().descriptor.arithmetic)
        #expect(!report.passed && report.paddingWrites == 1 && report.mismatches == 0)
        #expect(Harness.failureReason(report).contains("1 padding elements of C's stored rows changed"))
        for name in ["strided-lda-ldb-ldc-bf16", "strided-nk-int8"] {
            let (sc, _) = try Self.suiteCase(name)
            let r = Harness(device: SystolicEmulator(faults: [.ignoresLeadingDimension])).runCase(sc, generator: DataGenerator(seed: 9))
            #expect(r.verdict == .fail, "\(name)")
        }
    }

    /// The int8 strided case passes on every preset (all have int8); the bf16 one passes where
    /// bf16 is supported and is not supported, with the reason, elsewhere.
    @Test(arguments: ["hbm-inference", "tpu-v1", "edge"])
    func everyPresetRunsWhatItSupports(preset: String) throws {
        let device = SystolicEmulator(config: try DeviceConfig.preset(preset))
        let (int8, _) = try Self.suiteCase("strided-nk-int8")
        #expect(Harness(device: device).runCase(int8, generator: DataGenerator(seed: 1)).verdict == .pass)
        let (bf16, _) = try Self.suiteCase("strided-lda-ldb-ldc-bf16")
        let r = Harness(device: device).runCase(bf16, generator: DataGenerator(seed: 1))
        if preset == "hbm-inference" { #expect(r.verdict == .pass) } else {
            #expect(r.verdict == .notSupported && r.reason == "input type bf16 is not supported by \(preset)")
        }
    }
}
