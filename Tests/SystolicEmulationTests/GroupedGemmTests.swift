import SystolicTestSupport
import Testing
import SystolicCheck
import SystolicData
import SystolicNumerics
import SystolicSuite
@testable import SystolicDevice
@testable import SystolicEmulation
@testable import SystolicHarness

/// Grouped GEMM (mixture of experts): each expert multiplies its own rows by its own weights.
struct GroupedGemmTests {
    static func moe() throws -> (BenchmarkCase, GemmCase) {
        let suite = try SuiteLoader.load(Repository.path("Suites/gemm.json"))
        let c = try #require(suite.cases.first { $0.name == "moe-decode-16-experts" })
        guard case let .gemm(g) = c.workload else { throw CaseError() }
        return (c, g)
    }
    struct CaseError: Error {}

    /// Each expert run on the emulator as a GEMM of its own, the outputs stacked in row order.
    static func expertsStacked(_ g: GemmCase, _ inputs: GemmInputs) throws -> [UInt8] {
        var stacked: [UInt8] = []
        for (e, first, sub) in g.groupCases {
            let one = BenchmarkCase(id: "t/e/\(e)", suite: "t", name: "e", profiles: [], workload: .gemm(sub))
            stacked += try SystolicEmulator().run(one, inputs: .gemm(inputs.expert(e, firstRow: first, rows: sub.m, g))).tensors["c"]!.storage
        }
        return stacked
    }

    /// The output is every expert's own GEMM stacked in row order, and the case passes; routing a
    /// token to the wrong expert's weights fails it.
    @Test func outputsAreEachExpertsOwnProduct() throws {
        let (c, g) = try Self.moe()
        let inputs = GemmInputs(g, caseId: c.id, generator: DataGenerator(seed: 5))
        #expect(inputs.b.shape == [16, 1024, 512] && inputs.a.shape == [1, 32, 1024])
        let out = try SystolicEmulator().run(c, inputs: .gemm(inputs)).tensors["c"]!
        #expect(out.storage == (try Self.expertsStacked(g, inputs)))
        #expect(Harness(device: SystolicEmulator()).runCase(c, generator: DataGenerator(seed: 5)).verdict == .pass)

        // Expert 3's rows multiplied by expert 4's weights.
        var wrong = out
        let (_, first, sub) = g.groupCases.first { $0.expert == 3 }!
        let misrouted = BenchmarkCase(id: "t/w", suite: "t", name: "w", profiles: [], workload: .gemm(sub))
        var swapped = inputs.expert(3, firstRow: first, rows: sub.m, g)
        swapped.b = inputs.expert(4, firstRow: first, rows: sub.m, g).b
        let bad = try SystolicEmulator().run(misrouted, inputs: .gemm(swapped)).tensors["c"]!
        for i in 0..<bad.count { wrong.setBits(bad.bits(at: i), at: first * g.n + i) }
        let report = GemmCheck.verify(output: wrong, inputs: inputs, gemm: g, arithmetic: SystolicEmulator().descriptor.arithmetic)
        #expect(!report.passed && report.mismatches > 0)
        #expect(report.worst.map { $0.index[1] >= first && $0.index[1] < first + sub.m } == true)
    }

    /// The emulator's timing is the sum of its experts' GEMMs: idle experts load nothing, and a
    /// decode MoE layer is bound by loading each active expert's weights.
    @Test func timingIsTheSumOfTheExperts() throws {
        let (_, g) = try Self.moe()
        let config = try DeviceConfig.preset("hbm-inference")
        let total = try #require(GemmCostModel.cost(g, on: config))
        let parts = g.groupCases.compactMap { GemmCostModel.cost($0.gemm, on: config) }
        #expect(parts.count == 14)
        #expect(total.cycles == parts.reduce(0) { $0 + $1.cycles })
        #expect(total.macs == g.macs)
        #expect(total.hbmReadBytes >= 14 * 1024 * 512 * 2 && total.hbmReadBytes < 15 * 1024 * 512 * 2)
        // HBM time (the active experts' weights at the preset's bandwidth) is most of the time.
        let hbmCycles = Double(total.hbmReadBytes + total.hbmWriteBytes) / (config.memory.hbmBytesPerSecond / config.clockHz)
        #expect(hbmCycles > 0.75 * Double(total.cycles) && total.stallCycles > 0, "\(hbmCycles) of \(total.cycles)")
    }
}
