import Foundation
import SystolicTestSupport
import Testing
import SystolicData
import SystolicJSON
import SystolicNumerics
import SystolicSuite
import SystolicHarness
@testable import SystolicDevice
@testable import SystolicEmulation

extension DeviceConfig {
    /// A one-array chip for model tests; bandwidth 0 is unlimited (SCALE-Sim's assumption).
    static func test(rows: Int, cols: Int, dataflow: Dataflow, loading: WeightLoading = .serial,
                     bandwidth: Double = 0, types: [NumberType] = [.fp32, .bf16, .fp16, .fp8_e4m3, .int8]) -> DeviceConfig {
        var rates: [String: Int] = [:]
        var energies: [String: Double] = [:]
        for t in types { rates[t.rawValue] = 1; energies[t.rawValue] = 1e-12 }
        return DeviceConfig(
            name: "test", description: "test array", sources: ["tests"],
            array: Array(rows: rows, cols: cols, count: 1, dataflow: dataflow, weightLoading: loading), clockHz: 1e9,
            arithmetic: Arithmetic(macsPerCycle: rates),
            memory: Memory(unifiedBufferBytes: 1 << 30, accumulatorBytes: 1 << 30, weightBufferBytes: 1 << 30,
                           hbmBytesPerSecond: bandwidth, hbmCapacityBytes: 1 << 40),
            vectorUnit: VectorUnit(lanes: 128, opsPerCycle: 1, expUlps: 1),
            energy: Energy(macJoules: energies, sramByteJoules: 1e-12, hbmByteJoules: 1e-11, vectorOpJoules: 1e-12,
                           linkByteJoules: 1e-11, staticWatts: 1),
            chips: Chips(count: 1, topology: .ring, linkBytesPerSecond: 1e9, linkLatencySeconds: 1e-6))
    }
}

struct EmulatorModelTests {
    static func gemm(_ m: Int, _ n: Int, _ k: Int, _ type: NumberType = .bf16, layout: GemmCase.WeightLayout = .kn) -> GemmCase {
        GemmCase(m: m, n: n, k: k, types: .init(shorthand: type), layoutB: layout,
                 dataA: type == .int8 ? .integer(low: -128, high: 127) : .normal(mean: 0, std: 1),
                 dataB: type == .int8 ? .integer(low: -128, high: 127) : .uniform(low: -1, high: 1))
    }

    /// SCALE-Sim v3.0.0 totals quoted in docs/emulator.md, serial weight loading, unlimited bandwidth.
    @Test(arguments: [
        (128, 128, DeviceConfig.Dataflow.weightStationary, 1024, 1024, 1024, 89_983),
        (128, 128, .outputStationary, 1024, 1024, 1024, 81_791),
        (32, 32, .weightStationary, 1, 4096, 4096, 1_556_479),
    ])
    func computeCyclesMatchScaleSim(rows: Int, cols: Int, dataflow: DeviceConfig.Dataflow, m: Int, n: Int, k: Int, expected: Int) {
        let cost = GemmCostModel.cost(Self.gemm(m, n, k), on: .test(rows: rows, cols: cols, dataflow: dataflow))
        #expect(cost?.computeCycles == expected)
        #expect(cost?.stallCycles == 0)
    }

    /// The closed forms on an odd array and odd shape: ⌈K/R⌉·⌈N/C⌉·(2R + C + M − 2) − 1 (WS) and
    /// ⌈M/R⌉·⌈N/C⌉·(R + C + K − 2) − 1 (OS); the stepped simulator agrees by stepping.
    @Test(arguments: [DeviceConfig.Dataflow.weightStationary, .outputStationary])
    func closedFormsHoldOnOddShapes(dataflow: DeviceConfig.Dataflow) throws {
        let (r, c, m, n, k) = (7, 5, 100, 37, 53)
        let expected = dataflow == .weightStationary
            ? 8 * 8 * (2 * r + c + m - 2) - 1
            : 15 * 8 * (r + c + k - 2) - 1
        let g = Self.gemm(m, n, k)
        #expect(GemmCostModel.cost(g, on: .test(rows: r, cols: c, dataflow: dataflow))?.computeCycles == expected)
        let inputs = GemmInputs(g, caseId: "t/odd", generator: DataGenerator(seed: 3))
        #expect(SteppedArraySimulator(rows: r, cols: c, dataflow: dataflow).run(g, inputs).cycles == expected)
    }

    /// The stepped simulator and the fast path agree bit for bit and cycle for cycle.
    @Test(arguments: [
        (4, 3, 1, 9, 13, NumberType.bf16, GemmCase.WeightLayout.kn),  // M = 1, N > cols
        (4, 3, 5, 3, 2, .fp32, .nk),                                   // K < rows
        (7, 5, 9, 12, 17, .fp16, .kn),                                 // nothing a multiple of the array
        (3, 4, 6, 5, 10, .int8, .kn),                                  // integer path
        (5, 5, 10, 10, 10, .fp8_e4m3, .nk),                            // exact multiples
        (2, 6, 3, 14, 9, .fp32, .kn),
    ])
    func steppedSimulatorEqualsFastPath(rows: Int, cols: Int, m: Int, n: Int, k: Int, type: NumberType,
                                        layout: GemmCase.WeightLayout) throws {
        for dataflow in DeviceConfig.Dataflow.allCases {
            let g = Self.gemm(m, n, k, type, layout: layout)
            let c = BenchmarkCase(id: "t/step/\(m)-\(n)-\(k)", suite: "t", name: "step", profiles: [], workload: .gemm(g))
            let inputs = GemmInputs(g, caseId: c.id, generator: DataGenerator(seed: 5))
            let config = DeviceConfig.test(rows: rows, cols: cols, dataflow: dataflow)
            let fast = try SystolicEmulator(config: config).run(c, inputs: .gemm(inputs))
            let stepped = SteppedArraySimulator(rows: rows, cols: cols, dataflow: dataflow).run(g, inputs)
            #expect(fast.tensors["c"]!.storage == stepped.output.storage, "\(dataflow) \(type) \(m)×\(n)×\(k)")
            let computeCycles = fast.metrics[.computeCycles]?.value
            #expect(computeCycles == Double(stepped.cycles), "\(dataflow) \(m)×\(n)×\(k)")
        }
    }

    /// Output-stationary numerics are one running fp32 sum over all of K.
    @Test func outputStationaryIsOneRunningSum() throws {
        let g = Self.gemm(3, 4, 300, .fp32)
        let c = BenchmarkCase(id: "t/os", suite: "t", name: "os", profiles: [], workload: .gemm(g))
        let inputs = GemmInputs(g, caseId: c.id, generator: DataGenerator(seed: 8))
        let out = try SystolicEmulator(config: .test(rows: 8, cols: 8, dataflow: .outputStationary)).run(c, inputs: .gemm(inputs)).tensors["c"]!
        for i in 0..<3 {
            for j in 0..<4 {
                var acc: Float = 0
                for kk in 0..<300 { acc = acc.addingProduct(Float(inputs.a.value(at: i * 300 + kk)), Float(inputs.b.value(at: kk * 4 + j))) }
                #expect(out.value(at: i * 4 + j) == Double(acc))
            }
        }
    }

    static func allSuiteGemms() throws -> [GemmCase] {
        try SuiteLoader.load(Repository.path("Suites/gemm.json")).cases.compactMap {
            if case let .gemm(g) = $0.workload { return g } else { return nil }
        }
    }

    /// Modelled time is never below the roofline: max(ops / peak, HBM bytes / bandwidth), for every
    /// case of the GEMM suite on every preset that runs it.
    @Test(arguments: DeviceConfig.presetNames)
    func modelledTimeNeverBeatsTheRoofline(preset: String) throws {
        let config = try DeviceConfig.preset(preset)
        var checked = 0
        for g in try Self.allSuiteGemms() {
            guard let cost = GemmCostModel.cost(g, on: config) else { continue }
            let peak = config.peakOpsPerSecond(g.types.a)!
            let bound = max(2 * Double(g.macs) / peak, Double(cost.hbmReadBytes + cost.hbmWriteBytes) / config.memory.hbmBytesPerSecond)
            #expect(cost.seconds >= bound * (1 - 1e-12), "\(preset): \(g.m)×\(g.n)×\(g.k) \(g.types.label)")
            // Every weight and every output crosses HBM at least once, at its stored width.
            #expect(cost.hbmReadBytes >= g.types.b.storedBytes(g.k * g.n))
            #expect(cost.hbmWriteBytes >= g.types.output.storedBytes(g.m * g.n))
            checked += 1
        }
        #expect(checked >= 4)
    }

    /// Decode (M ≤ 16) GEMMs are memory-bound on the HBM chip: the weights' HBM time exceeds the
    /// compute time, and the array stalls.
    @Test func decodeGemmsAreMemoryBoundOnTheHBMPreset() throws {
        let config = try DeviceConfig.preset("hbm-inference")
        var decode = 0
        for g in try Self.allSuiteGemms() where g.m <= 16 && g.k >= 512 {
            let cost = try #require(GemmCostModel.cost(g, on: config))
            let memorySeconds = Double(cost.hbmReadBytes + cost.hbmWriteBytes) / config.memory.hbmBytesPerSecond
            #expect(memorySeconds > 2 * Double(g.macs) / config.peakOpsPerSecond(g.types.a)!)
            #expect(cost.stallCycles > 0, "\(g.m)×\(g.n)×\(g.k)")
            #expect(cost.seconds >= memorySeconds)
            decode += 1
        }
        #expect(decode >= 8)
        // A large prefill GEMM is compute-bound: it stalls only while A first streams in from HBM.
        let prefill = try #require(GemmCostModel.cost(Self.gemm(512, 12288, 4096), on: config))
        let prefillMemory = Double(prefill.hbmReadBytes + prefill.hbmWriteBytes) / config.memory.hbmBytesPerSecond
        #expect(prefillMemory < 2 * Double(512 * 12288 * 4096) / config.peakOpsPerSecond(.bf16)!)
        #expect(Double(prefill.stallCycles) < 0.02 * Double(prefill.cycles))
    }

    /// Energy is exactly the sum of counts times per-operation energies.
    @Test(arguments: DeviceConfig.presetNames)
    func energyIsTheSumOfItsParts(preset: String) throws {
        let config = try DeviceConfig.preset(preset)
        for g in try Self.allSuiteGemms() {
            guard let cost = GemmCostModel.cost(g, on: config) else { continue }
            let e = config.energy
            let expected = Double(g.macs) * e.macJoules[g.types.a.rawValue]! + Double(cost.sramBytes) * e.sramByteJoules
                + Double(cost.hbmReadBytes + cost.hbmWriteBytes) * e.hbmByteJoules + Double(cost.vectorOps) * e.vectorOpJoules
                + e.staticWatts * Double(cost.cycles) / config.clockHz
            #expect(abs(cost.joules - expected) <= 1e-12 * expected)
            // One vector op per output, and the epilogue's on top (see GemmCostModel.vectorOpsPerOutput).
            #expect(cost.vectorOps >= g.batch * g.m * g.n && (cost.vectorOps > g.batch * g.m * g.n) == (g.bias || g.activation != .none || g.requantization != nil || g.scales.isBlocked))
        }
    }

    @Test func doubleBufferingHidesWeightLoads() throws {
        let g = Self.gemm(64, 1024, 1024)
        let serial = try #require(GemmCostModel.cost(g, on: .test(rows: 128, cols: 128, dataflow: .weightStationary)))
        let buffered = try #require(GemmCostModel.cost(g, on: .test(rows: 128, cols: 128, dataflow: .weightStationary, loading: .doubleBuffered)))
        // 64 folds: serial pays R + (R + C + M − 2) each; double-buffered max(R, M) each plus one fill and drain.
        #expect(serial.computeCycles == 64 * (256 + 128 + 64 - 2) - 1)
        #expect(buffered.computeCycles == 128 + 63 * 128 + 64 + (128 + 128 - 2) - 1)
    }

    @Test func presetsCarryTheirPublishedPeaksAndSources() throws {
        let tpu = try DeviceConfig.preset("tpu-v1")
        // 2 · 65536 · 700e6 = 91.7504e12: 91.75 TOPS, published as 92.
        #expect((tpu.peakOpsPerSecond(.int8)! / 1e10).rounded() == 9175)
        let hbm = try DeviceConfig.preset("hbm-inference")
        #expect((hbm.peakOpsPerSecond(.bf16)! / 1e11).rounded() == 1966)   // 197 TFLOP/s published
        #expect((hbm.peakOpsPerSecond(.int8)! / 1e11).rounded() == 3932)   // 394 TOP/s published
        let edge = try DeviceConfig.preset("edge")
        #expect((edge.peakOpsPerSecond(.int8)! / 1e11).rounded() == 41)    // 4 TOPS published
        for name in DeviceConfig.presetNames {
            let p = try DeviceConfig.preset(name)
            #expect(!p.sources.isEmpty && p.name == name)
        }
    }

    @Test func badDeviceConfigNamesFilePlaceAndValue() throws {
        var text = try String(contentsOfFile: Repository.path("Sources/SystolicEmulation/Presets/hbm-inference.json"), encoding: .utf8)
        text = text.replacingOccurrences(of: "\"rows\": 128", with: "\"rows\": 0")
        let path = write(text, to: "bad-device.json", in: temporaryDirectory())
        #expect {
            try DeviceConfig.load(path)
        } throws: { error in
            let e = error as! InputFileError
            return e.file == path && e.place == "array.rows" && e.description.contains("found 0")
        }
    }

    /// Values that validate accepted and the cost models could not hold crashed the tool with a
    /// trap (hardening #26, item 7): each is refused at load with its place and value, and the
    /// extremes of every range run a case without trapping.
    @Test(arguments: [
        ("\"clock_hz\": 1.5e9", "\"clock_hz\": 1e308", "clock_hz"),
        ("\"hbm_bytes_per_second\": 819e9", "\"hbm_bytes_per_second\": 1e-6", "memory.hbm_bytes_per_second"),
        ("\"ops_per_cycle\": 1", "\"ops_per_cycle\": 4611686018427387904", "vector_unit.ops_per_cycle"),
        ("\"lanes\": 1024", "\"lanes\": 4611686018427387904", "vector_unit.lanes"),
        ("\"link_bytes_per_second\": 50e9", "\"link_bytes_per_second\": 1e-300", "chips.link_bytes_per_second"),
        ("\"exp_ulps\": 2", "\"exp_ulps\": 1e300", "vector_unit.exp_ulps"),
    ])
    func deviceFiguresOutsideTheirRangesAreRefused(from: String, to: String, place: String) throws {
        let shipped = try String(contentsOfFile: Repository.path("Sources/SystolicEmulation/Presets/hbm-inference.json"), encoding: .utf8)
        let text = shipped.replacingOccurrences(of: from, with: to)
        #expect(text != shipped)
        let path = write(text, to: "d.json", in: temporaryDirectory())
        do {
            _ = try DeviceConfig.load(path)
            Issue.record("accepted \(to)")
        } catch {
            #expect(error.place == place, "\(error)")
        }
    }

    @Test func theExtremesOfEveryRangeRunWithoutTrapping() throws {
        var config = try DeviceConfig.preset("hbm-inference")
        config.clockHz = 1e11
        config.memory.hbmBytesPerSecond = 1e6
        config.chips.linkBytesPerSecond = 1e6
        config.chips.linkLatencySeconds = 1
        config.vectorUnit.lanes = 1
        config.vectorUnit.opsPerCycle = 1
        let emulator = SystolicEmulator(config: config)
        for file in ["gemm", "attention", "networking"] {
            let suite = try SuiteLoader.load(Repository.path("Suites/\(file).json"))
            for c in suite.cases(inProfile: "quick").prefix(3) {
                let r = Harness(device: emulator).runCase(c, generator: DataGenerator(seed: suite.seed))
                #expect(r.verdict == .pass, "\(c.id): \(r.reason ?? "")")
                #expect(r.metrics.values.allSatisfy { !$0.value.isNaN }, "\(c.id)")
            }
        }
    }
}
