import SystolicTestSupport
import Testing
import SystolicData
import SystolicNumerics
import SystolicSuite
@testable import SystolicDevice
@testable import SystolicEmulation

struct EmulatorTests {

    /// The emulator's outputs equal a direct transcription of its documented order, bit for bit,
    /// on shapes with partial K-tiles, for both weight layouts. The wide ones take every block the
    /// AVX-512 kernel has (6×64 and 6×32 blocks, a partial last block of rows, the AVX2 tail past
    /// a multiple of 32 columns) where the CPU offers it.
    @Test(arguments: [(5, 9, 23, GemmCase.WeightLayout.kn), (1, 4, 7, .nk), (3, 17, 14, .kn), (2, 3, 1, .nk),
                      (13, 103, 45, .kn), (8, 160, 30, .nk)])
    func outputsFollowTheDocumentedOrder(m: Int, n: Int, k: Int, layout: GemmCase.WeightLayout) throws {
        let config = DeviceConfig.test(rows: 7, cols: 5, dataflow: .weightStationary)
        for type in [NumberType.fp32, .bf16] {
            let g = GemmCase(m: m, n: n, k: k, types: .init(shorthand: type), layoutB: layout,
                             dataA: .normal(mean: 0, std: 1), dataB: .uniform(low: -2, high: 2))
            let c = BenchmarkCase(id: "t/order/\(m)-\(n)-\(k)", suite: "t", name: "order", profiles: ["quick"], workload: .gemm(g))
            let inputs = GemmInputs(g, caseId: c.id, generator: DataGenerator(seed: 11))
            let out = try SystolicEmulator(config: config).run(c, inputs: .gemm(inputs)).tensors["c"]!
            for i in 0..<m {
                for j in 0..<n {
                    var acc: Float = 0
                    for t in stride(from: 0, to: k, by: 7) {
                        var p: Float = 0
                        for kk in t..<min(t + 7, k) {
                            let bIndex = layout == .kn ? kk * n + j : j * k + kk
                            p = p.addingProduct(Float(inputs.a.value(at: i * k + kk)), Float(inputs.b.value(at: bIndex)))
                        }
                        acc = t == 0 ? p : acc + p
                    }
                    #expect(out.bits(at: i * n + j) == type.encode(Double(acc), overflow: .saturate))
                }
            }
        }
    }

    @Test func unsupportedWorkIsDeclaredNotFailed() throws {
        let g = GemmCase(m: 1, n: 1, k: 1, types: .init(shorthand: .bf16), dataA: .constant(1), dataB: .constant(1))
        let c = BenchmarkCase(id: "t/x/1", suite: "t", name: "x", profiles: [], workload: .gemm(g))
        let inputs = GemmInputs(g, caseId: c.id, generator: DataGenerator(seed: 1))
        #expect(throws: DeviceError.notSupported("input type bf16 is not supported by tpu-v1")) {
            try SystolicEmulator(config: try DeviceConfig.preset("tpu-v1")).run(c, inputs: .gemm(inputs))
        }
        // An activation on an int8 GEMM is not modelled: not supported, with the reason.
        var activated = GemmCase(m: 1, n: 1, k: 1, types: .init(shorthand: .int8), dataA: .constant(1), dataB: .constant(1))
        activated.activation = .relu
        let ac = BenchmarkCase(id: "t/y/1", suite: "t", name: "y", profiles: [], workload: .gemm(activated))
        let intInputs = GemmInputs(activated, caseId: ac.id, generator: DataGenerator(seed: 1))
        #expect(throws: DeviceError.notSupported("activations on int8 GEMMs are not modelled by emulator model \(SystolicEmulator.modelVersion)")) {
            try SystolicEmulator().run(ac, inputs: .gemm(intInputs))
        }
    }

    @Test func int8SumsAreExactInInt32() throws {
        let g = GemmCase(m: 2, n: 3, k: 1000, types: .init(shorthand: .int8), dataA: .constant(-128), dataB: .constant(-128))
        let c = BenchmarkCase(id: "t/i8/1", suite: "t", name: "i8", profiles: [], workload: .gemm(g))
        let inputs = GemmInputs(g, caseId: c.id, generator: DataGenerator(seed: 1))
        let out = try SystolicEmulator().run(c, inputs: .gemm(inputs)).tensors["c"]!
        #expect(out.type == .int32)
        #expect(out.decoded().allSatisfy { $0 == 16_384_000 })
    }
}
