import Foundation
import SystolicTestSupport
import Testing
import CSystolicPlatform
import SystolicCheck
import SystolicData
import SystolicDevice
@testable import SystolicEmulation
import SystolicJSON
import SystolicNumerics
import SystolicSuite
@testable import SystolicHarness

struct DeterminismAndDumpTests {
    /// The same bits with 1, 2 and 3 threads, for the emulator and the reference, on shapes with
    /// partial tiles, several K-tiles and row counts that split unevenly.
    @Test(arguments: [(37, 129, 300, NumberType.fp32), (64, 48, 1000, .bf16), (7, 530, 257, .fp16), (13, 40, 600, .int8)])
    func outputsDoNotDependOnTheThreadCount(m: Int, n: Int, k: Int, type: NumberType) throws {
        let g = GemmCase(m: m, n: n, k: k, types: .init(shorthand: type),
                         dataA: type == .int8 ? .integer(low: -128, high: 127) : .normal(mean: 0, std: 1),
                         dataB: type == .int8 ? .integer(low: -128, high: 127) : .normal(mean: 0, std: 1))
        let c = BenchmarkCase(id: "t/threads", suite: "t", name: "threads", profiles: [], workload: .gemm(g))
        let inputs = GemmInputs(g, caseId: c.id, generator: DataGenerator(seed: 12))
        let config = try DeviceConfig.preset("hbm-inference")
        let outputs = try [1, 2, 3].map { try SystolicEmulator(config: config, threads: $0).run(c, inputs: .gemm(inputs)).tensors["c"]! }
        #expect(outputs[0].storage == outputs[1].storage && outputs[1].storage == outputs[2].storage)
        #expect(Digest.sha256(outputs[0].storage) == Digest.sha256(outputs[2].storage))
        let references = [1, 2, 3].map { GemmReference.compute(g, inputs, threads: $0) }
        #expect(references[0].value == references[1].value && references[0].absSum == references[2].absSum)
    }

    /// The AVX-512, AVX2 and portable paths give the same bits (those this CPU has), for the
    /// emulator and for the reference, on shapes that leave partial blocks everywhere.
    @Test(arguments: [(13, 103, 300, NumberType.fp32, GemmCase.WeightLayout.kn), (9, 70, 129, .bf16, .kn), (7, 45, 200, .fp16, .nk)])
    func everyKernelPathGivesTheSameBits(m: Int, n: Int, k: Int, type: NumberType, layout: GemmCase.WeightLayout) throws {
        let g = GemmCase(m: m, n: n, k: k, types: .init(shorthand: type), layoutB: layout,
                         dataA: .normal(mean: 0, std: 1), dataB: .normal(mean: 0, std: 1))
        let c = BenchmarkCase(id: "t/paths", suite: "t", name: "paths", profiles: [], workload: .gemm(g))
        let inputs = GemmInputs(g, caseId: c.id, generator: DataGenerator(seed: 13))
        let emulator = SystolicEmulator(config: try DeviceConfig.preset("hbm-inference"), threads: 2)
        defer { sb_kernels_limit(2) }
        var outputs: [Tensor] = [], references: [GemmReference] = []
        for level in [2, 1, 0] {
            sb_kernels_limit(Int32(level))
            outputs.append(try emulator.run(c, inputs: .gemm(inputs)).tensors["c"]!)
            references.append(GemmReference.compute(g, inputs, threads: 2))
        }
        for level in 1...2 {
            #expect(outputs[level].storage == outputs[0].storage, "emulator, path \(2 - level)")
            #expect(references[level].value == references[0].value && references[level].absSum == references[0].absSum, "reference, path \(2 - level)")
        }
    }

    /// A dump reads back: the output file's data has the results' digest, every tensor its manifest
    /// digest, shape and dtype.
    @Test func dumpedTensorsReadBackWithTheResultsDigests() throws {
        let dir = temporaryDirectory()
        let suite = try SuiteLoader.load(Repository.path("Suites/gemm.json"))
        let cases = suite.cases(inProfile: "quick").filter { ["gpt2-decode-attn-out-nk", "gpt2-decode-qkv-fp8", "lenet5-conv2-int8"].contains($0.name) }
        let harness = Harness(device: SystolicEmulator(), dumpDirectory: dir.path)
        for c in cases {
            let r = harness.runCase(c, generator: DataGenerator(seed: suite.seed))
            #expect(r.verdict == .pass)
            let folder = dir.appendingPathComponent(c.id.replacingOccurrences(of: "/", with: "__"))
            let manifest = try JSONFile.read(folder.appendingPathComponent("manifest.json").path)
            #expect(try manifest.member("case").string() == c.id)
            for entry in try manifest.member("tensors").items() {
                let file = try entry.member("file").string()
                let bytes = Array(try Data(contentsOf: folder.appendingPathComponent(file)))
                let npy = try #require(TensorDump.readNpy(bytes))
                #expect(npy.descriptor == (try entry.member("npy_dtype").string()))
                #expect(npy.shape == (try entry.member("shape").items().map { try $0.int(in: 0...Int.max) }))
                #expect(Digest.sha256(npy.data) == (try entry.member("digest").string()))
                if try entry.member("role").string() == "c" { #expect(Digest.sha256(npy.data) == r.check?.outputDigest) }
            }
        }
        #expect(cases.count == 3)
    }
}
