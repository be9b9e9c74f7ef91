import Foundation
import SystolicTestSupport
import Testing
import SystolicCheck
import SystolicData
import SystolicDevice
@testable import SystolicEmulation
import SystolicNumerics
import SystolicSuite
@testable import SystolicHarness

/// The check engine's promises (docs/numerics.md): it never fails a device that does as it
/// declares, whatever its summation order, and it fails devices that do worse.
struct ConformanceTests {
    static let generator = DataGenerator(seed: 20_261_127)

    static func quickCases() throws -> [BenchmarkCase] {
        try SuiteLoader.load(Repository.path("Suites/gemm.json")).cases(inProfile: "quick")
    }

    static func configured(_ change: (inout DeviceConfig) -> Void) throws -> SystolicEmulator {
        var config = try DeviceConfig.preset("hbm-inference")
        change(&config)
        return SystolicEmulator(config: config)
    }

    /// Every legal order passes every shipped case: reversed K, pairwise, a random order per
    /// element, split-K with a final reduction, non-fused multiply then add. (The reordering device
    /// is plain test code: cases above 2^23 MACs add nothing to this and are left to the others.)
    @Test(arguments: ReorderingDevice.Order.allCases)
    func everySummationOrderPassesEveryCase(order: ReorderingDevice.Order) throws {
        let harness = Harness(device: ReorderingDevice(order: order))
        for c in try Self.quickCases() {
            if case let .gemm(g) = c.workload, g.macs > 1 << 23 { continue }
            let r = harness.runCase(c, generator: Self.generator)
            #expect(r.verdict == .pass, "\(order) \(c.id): \(r.reason ?? "")")
        }
    }

    /// Output stationary (one running sum) and a declared-`flush` datapath pass every case too.
    @Test func outputStationaryAndDeclaredFlushDevicesPassEveryCase() throws {
        let os = try Self.configured { $0.array.dataflow = .outputStationary }
        let flush = try Self.configured { $0.arithmetic.subnormals = .flush }
        for device in [os, flush] {
            let harness = Harness(device: device)
            for c in try Self.quickCases() {
                let r = harness.runCase(c, generator: Self.generator)
                #expect(r.verdict == .pass, "\(device.config.array.dataflow) \(device.config.arithmetic.subnormals) \(c.id): \(r.reason ?? "")")
            }
        }
    }

    /// A bf16 accumulator declared as fp32 fails the directed conformance cases, its worst element
    /// at least 10× outside the bound (exact cases allow no error at all: ratio ∞).
    @Test func bf16AccumulatorFailsTheConformanceCasesByTenfold() throws {
        let harness = Harness(device: SystolicEmulator(faults: [.narrowAccumulator(.bf16)]))
        let directed = ["ties-bf16-out", "ties-fp16-out", "overflow-fp16-k1-ieee", "large-magnitude-fp32", "subnormal-products-fp32",
                        "wide-range-bf16", "wide-range-fp32", "cancellation-fp32", "cancellation-bf16"]
        for c in try Self.quickCases() where directed.contains(c.name) {
            let r = harness.runCase(c, generator: Self.generator)
            #expect(r.verdict == .fail, "\(c.id)")
            #expect((r.check?.maxRatioToBound ?? 0) >= 10, "\(c.id): worst ratio \(r.check?.maxRatioToBound ?? 0)")
        }
    }

    /// Flushing subnormals while declaring `preserve` fails exactly the subnormal cases; the same
    /// datapath declaring `flush` passes them.
    @Test func subnormalFlushIsJudgedByTheDeclaration() throws {
        let lying = Harness(device: SystolicEmulator(faults: [.flushSubnormals]))
        let honest = Harness(device: try Self.configured { $0.arithmetic.subnormals = .flush })
        for c in try Self.quickCases() {
            let subnormal = c.name.hasPrefix("subnormal-")
            #expect(lying.runCase(c, generator: Self.generator).verdict == (subnormal ? .fail : .pass), "\(c.id)")
            #expect(honest.runCase(c, generator: Self.generator).verdict == .pass, "\(c.id)")
        }
    }

    /// A device declaring a narrow accumulator is judged with that accumulator's u: the bf16
    /// datapath that fails when it claims fp32 passes when it declares bf16.
    @Test func declaredNarrowAccumulatorIsJudgedByItsOwnRoundoff() throws {
        struct DeclaringBf16: DeviceAdapter {
            let inner = SystolicEmulator(faults: [.narrowAccumulator(.bf16)])
            var descriptor: DeviceDescriptor {
                var d = inner.descriptor
                d.arithmetic.accumulator = .bf16
                return d
            }
            func run(_ c: BenchmarkCase, inputs: CaseInputs) throws(DeviceError) -> DeviceOutput { try inner.run(c, inputs: inputs) }
        }
        let cases = try Self.quickCases().filter {
            guard case let .gemm(g) = $0.workload else { return false }
            return !g.types.a.isInteger && Double(g.k) * 0x1p-8 < 1
        }
        #expect(!cases.isEmpty)
        for c in cases {
            let r = Harness(device: DeclaringBf16()).runCase(c, generator: Self.generator)
            #expect(r.verdict == .pass, "\(c.id): \(r.reason ?? "")")
        }
        // At K = 1024 a bf16 accumulator's bound K·u·S is four times S: any output would pass,
        // so the case is not judged (hardening #26, item 13).
        let wide = try #require(try Self.quickCases().first { $0.name == "wide-range-bf16" })
        let r = Harness(device: DeclaringBf16()).runCase(wide, generator: Self.generator)
        #expect(r.verdict == .notSupported && r.reason?.contains("meaningless") == true, "\(r.reason ?? "")")
    }

    /// A declaration that makes a case's bound meaningless cannot pass an all-zero output: an fp8
    /// accumulator, or an exp accurate to 1e300 ulps, makes the case not_supported; the honest
    /// declaration fails the zeros (hardening #26, item 13).
    @Test func meaninglessDeclarationsAreNotSupportedNotPassed() throws {
        struct Zeros: DeviceAdapter {
            let edit: @Sendable (inout DeclaredArithmetic) -> Void
            var descriptor: DeviceDescriptor {
                var d = SystolicEmulator().descriptor
                edit(&d.arithmetic)
                return d
            }
            func run(_ c: BenchmarkCase, inputs: CaseInputs) throws(DeviceError) -> DeviceOutput {
                guard let spec = c.workload.output else { throw .notSupported("no output") }
                return DeviceOutput(tensors: [spec.role: Tensor(type: spec.type, shape: spec.shape)], metrics: [:])
            }
        }
        let attention = try SuiteLoader.load(Repository.path("Suites/attention.json"))
        let a = try #require(attention.cases(inProfile: "quick").first)
        let g = try #require(try Self.quickCases().first { $0.name == "gpt2-decode-attn-out" })
        let generator = DataGenerator(seed: attention.seed)
        #expect(Harness(device: Zeros { $0.accumulator = .fp8_e4m3 }).runCase(a, generator: generator).verdict == .notSupported)
        #expect(Harness(device: Zeros { $0.expUlps = 1e300 }).runCase(a, generator: generator).verdict == .notSupported)
        #expect(Harness(device: Zeros { $0.accumulator = .fp8_e4m3 }).runCase(g, generator: Self.generator).verdict == .notSupported)
        #expect(Harness(device: Zeros { _ in }).runCase(a, generator: generator).verdict == .fail)
        #expect(Harness(device: Zeros { _ in }).runCase(g, generator: Self.generator).verdict == .fail)
    }

    /// NaN and Inf propagate exactly: the expected specials are present and a device that loses
    /// one fails.
    @Test func specialsMustPropagate() throws {
        let c = try #require(try Self.quickCases().first { $0.name == "nan-inf-propagation" })
        guard case let .gemm(g) = c.workload else { return }
        let inputs = GemmInputs(g, caseId: c.id, generator: Self.generator)
        let out = try SystolicEmulator().run(c, inputs: .gemm(inputs)).tensors["c"]!.decoded()
        #expect(out.contains { $0.isNaN } && out.contains { $0 == .infinity })
        let nanIndex = try #require(out.firstIndex { $0.isNaN })
        let device = PerturbingDevice(inner: SystolicEmulator(), flatIndex: nanIndex) { _, _, _ in 1.0 }
        let r = Harness(device: device).runCase(c, generator: Self.generator)
        #expect(r.verdict == .fail)
        #expect(r.check?.mismatches == 1)
    }

    /// The suspect flag: over 200 seeded runs each of zero-mean and one-signed data, a correct fp32
    /// accumulator (the emulator's tiled order and plain recursive summation) is flagged at most at
    /// the chosen false-alarm rate δ = 10⁻³ per case; a device whose every element sits half the
    /// hard bound away passes but is flagged.
    @Test func suspectFlagCalibration() throws {
        var runs = 0, flagged = 0
        var largest = 0.0
        let devices: [any DeviceAdapter] = [SystolicEmulator(), ReorderingDevice(order: .unfusedForward)]
        for seed in 0..<200 {
            for data in [DataPattern.normal(mean: 0, std: 1), .uniform(low: 0, high: 1)] {
                let g = GemmCase(m: 4, n: 16, k: 2048, types: .init(shorthand: .fp32), dataA: data, dataB: data)
                let c = BenchmarkCase(id: "calibration/\(seed)", suite: "calibration", name: "calibration", profiles: [], workload: .gemm(g))
                let device = devices[seed % 2]
                let r = Harness(device: device).runCase(c, generator: DataGenerator(seed: UInt64(seed)))
                #expect(r.verdict == .pass)
                runs += 1
                if r.check?.suspect == true { flagged += 1 }
                largest = max(largest, r.check?.maxRatioToProbabilisticBound ?? 0)
            }
        }
        print("suspect calibration: \(flagged) of \(runs) correct runs flagged; largest ratio to the probabilistic bound \(largest)")
        #expect(runs == 400)
        #expect(Double(flagged) <= max(1, 3 * 1e-3 * Double(runs)))

        // Power: every element half the hard bound away is within the rule but flagged.
        let g = GemmCase(m: 4, n: 16, k: 2048, types: .init(shorthand: .fp32), dataA: .uniform(low: 0, high: 1), dataB: .uniform(low: 0, high: 1))
        let c = BenchmarkCase(id: "calibration/biased", suite: "calibration", name: "biased", profiles: [], workload: .gemm(g))
        let biased = BiasedDevice(fraction: 0.5)
        let r = Harness(device: biased).runCase(c, generator: DataGenerator(seed: 1))
        #expect(r.verdict == .pass, "\(r.reason ?? "")")
        #expect(r.check?.suspect == true)
        #expect(r.reason?.hasPrefix("suspect:") == true)
    }
}

/// A device whose every output is the exact value moved `fraction` of the hard bound upwards:
/// inside the rule, but far beyond what sound rounding produces.
struct BiasedDevice: DeviceAdapter {
    let fraction: Double
    var descriptor: DeviceDescriptor { SystolicEmulator().descriptor }

    func run(_ benchmarkCase: BenchmarkCase, inputs: CaseInputs) throws(DeviceError) -> DeviceOutput {
        guard case let .gemm(g) = benchmarkCase.workload, case let .gemm(t) = inputs else { throw .notSupported("gemm only") }
        let reference = GemmReference.compute(g, t)
        let bound = GemmBound(k: g.k, arithmetic: descriptor.arithmetic)
        let values = zip(reference.value, reference.absSum).map { $0 + fraction * bound.hard($1) }
        return DeviceOutput(tensors: ["c": Tensor(type: g.types.output, shape: [g.batch, g.m, g.n], values: values, overflow: g.overflow)],
                            metrics: [:])
    }
}
