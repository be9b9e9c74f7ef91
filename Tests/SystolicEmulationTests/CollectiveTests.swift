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

/// The multi-chip emulator's collectives: each algorithm's modelled time equals its own formula,
/// byte counts follow nccl-tests, and the data really moves and is checked.
struct CollectiveTests {
    static let alpha = 1e-6, bandwidth = 50e9

    static func chips(_ topology: DeviceConfig.Chips.Topology, unidirectional: Bool = false) -> DeviceConfig.Chips {
        DeviceConfig.Chips(count: 64, topology: topology, linkBytesPerSecond: bandwidth, linkLatencySeconds: alpha,
                           unidirectional: unidirectional)
    }

    static func time(_ c: CollectiveCase, _ chips: DeviceConfig.Chips) -> (seconds: Double, algorithm: String) {
        let plan = CollectivePlan(c)
        return (plan.cost(on: Interconnect(ranks: c.ranks, chips: chips), width: c.type.byteWidth).seconds, plan.algorithm)
    }

    static func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-12 * max(abs(a), abs(b)) }

    /// Ring all-reduce on a single unidirectional ring: 2(n−1)·(α + S/(n·B)).
    @Test(arguments: [2, 3, 8, 64])
    func ringAllReduceOnAUnidirectionalRing(ranks n: Int) {
        let bytes = 4 * n * 65536
        let c = CollectiveCase(operation: .allReduce, ranks: n, bytes: bytes, type: .fp32)
        let (t, algorithm) = Self.time(c, Self.chips(.ring, unidirectional: true))
        #expect(algorithm == "ring")
        let s = Double(bytes), nd = Double(n)
        #expect(Self.close(t, 2 * (nd - 1) * (Self.alpha + s / (nd * Self.bandwidth))), "\(t)")
    }

    /// Each algorithm against its own formula (S the size, n the ranks; a switch route is two links).
    @Test func everyAlgorithmMatchesItsFormula() {
        let a = Self.alpha, b = Self.bandwidth
        let n = 8, nd = 8.0
        // Recursive doubling through a switch: log₂n exchanges of S, each two links long.
        var c = CollectiveCase(operation: .allReduce, ranks: n, bytes: 4096, type: .fp32)
        var (t, algorithm) = Self.time(c, Self.chips(.fullyConnected))
        #expect(algorithm == "recursive_doubling" && Self.close(t, 3 * (2 * a + 4096 / b)))
        // Ring all-gather and reduce-scatter on a bidirectional ring: n−1 steps of S/n.
        for op in [CollectiveCase.Operation.allGather, .reduceScatter] {
            c = CollectiveCase(operation: op, ranks: n, bytes: 1 << 20, type: .bf16)
            (t, algorithm) = Self.time(c, Self.chips(.ring))
            #expect(algorithm == "ring" && Self.close(t, (nd - 1) * (a + Double(1 << 20) / nd / b)), "\(op)")
        }
        // Pairwise all-to-all through a switch: n−1 steps of S/n, each two links long.
        c = CollectiveCase(operation: .allToAll, ranks: n, bytes: 1 << 20, type: .int8)
        (t, algorithm) = Self.time(c, Self.chips(.fullyConnected))
        #expect(algorithm == "pairwise" && Self.close(t, (nd - 1) * (2 * a + Double(1 << 20) / nd / b)))
        // Binomial-tree broadcast through a switch: ⌈log₂n⌉ steps of S.
        c = CollectiveCase(operation: .broadcast, ranks: 6, bytes: 8192, type: .fp16, root: 2)
        (t, algorithm) = Self.time(c, Self.chips(.fullyConnected))
        #expect(algorithm == "binomial_tree" && Self.close(t, 3 * (2 * a + 8192 / b)))
        // Pipelined ring broadcast: n − 2 + K steps of S/K, K = ⌈S / 64 KiB⌉ up to 64.
        c = CollectiveCase(operation: .broadcast, ranks: n, bytes: 1 << 20, type: .fp16, root: 3)
        (t, algorithm) = Self.time(c, Self.chips(.ring))
        #expect(algorithm == "pipelined_ring" && Self.close(t, (nd - 2 + 16) * (a + Double(1 << 20) / 16 / b)))
        // Send/recv to the next rank: one step of S.
        c = CollectiveCase(operation: .sendRecv, ranks: 2, bytes: 1 << 20, type: .fp32)
        (t, _) = Self.time(c, Self.chips(.ring))
        #expect(Self.close(t, a + Double(1 << 20) / b))
    }

    /// Messages that share a link share its bandwidth; a 2×4 torus routes row first.
    @Test func sharedLinksAreContended() {
        let torus = Interconnect(ranks: 8, chips: Self.chips(.torus2d))
        #expect(torus.rows == 2 && torus.cols == 4)
        #expect(torus.route(0, 5).map { [$0.from, $0.to] } == [[0, 1], [1, 5]])
        // 0→2 and 1→2 both use the link 1→2.
        let shared = torus.cost(of: [.init(source: 0, destination: 2, bytes: 1000), .init(source: 1, destination: 2, bytes: 1000)])
        #expect(Self.close(shared.seconds, 2 * Self.alpha + 2000 / Self.bandwidth))
        #expect(shared.linkBytes == 3000)
        let ring = Interconnect(ranks: 8, chips: Self.chips(.ring, unidirectional: true))
        #expect(ring.route(1, 0).count == 7)
    }

    /// Byte counts and bus-bandwidth factors as nccl-tests defines them.
    @Test func byteCountsFollowNcclTests() {
        let n = 8
        let gather = CollectiveCase(operation: .allGather, ranks: n, bytes: 65536, type: .bf16)
        #expect(gather.inputCount == 4096 && gather.outputCount == 32768)  // S is the whole output
        let scatter = CollectiveCase(operation: .reduceScatter, ranks: n, bytes: 65536, type: .fp32)
        #expect(scatter.inputCount == 16384 && scatter.outputCount == 2048)  // S is the whole input
        let reduce = CollectiveCase(operation: .allReduce, ranks: n, bytes: 65536, type: .fp32)
        #expect(reduce.inputCount == 16384 && reduce.outputCount == 16384)
        #expect(CollectiveCase.Operation.allReduce.busFactor(ranks: n) == 2.0 * 7 / 8)
        for op in [CollectiveCase.Operation.allGather, .reduceScatter, .allToAll] { #expect(op.busFactor(ranks: n) == 7.0 / 8) }
        #expect(CollectiveCase.Operation.broadcast.busFactor(ranks: n) == 1 && CollectiveCase.Operation.sendRecv.busFactor(ranks: n) == 1)
        // The emulator's algbw is S / time and busbw follows: a 1 MiB ring all-reduce on the preset.
        let c = CollectiveCase(operation: .allReduce, ranks: n, bytes: 1 << 20, type: .fp32)
        let bench = BenchmarkCase(id: "t/ar/x", suite: "t", name: "ar", profiles: [], workload: .collective(c))
        let r = Harness(device: SystolicEmulator()).runCase(bench, generator: DataGenerator(seed: 3))
        #expect(r.verdict == .pass)
        let time = try! #require(r.metrics["time"]?.value), algbw = try! #require(r.metrics["algbw"]?.value)
        #expect(Self.close(algbw, Double(1 << 20) / time))
        #expect(Self.close(try! #require(r.metrics["busbw"]?.value), algbw * 2 * 7 / 8))
    }

    /// The crafted data is exact: every order gives the same bits, and dropping or doubling any
    /// rank's contribution changes some element.
    @Test func craftedDataCatchesAMissingOrDoubledRank() throws {
        for (type, n) in [(NumberType.bf16, 64), (.fp32, 8), (.fp16, 16), (.int8, 16)] {
            let c = CollectiveCase(operation: .allReduce, ranks: n, bytes: 64 * type.byteWidth, type: type)
            let inputs = CollectiveInputs(c, caseId: "t", generator: DataGenerator(seed: 9))
            let m = CollectiveInputs.modulus(c)
            if !type.isInteger { #expect(n * m <= 1 << (type.floatFormat!.mantissaBits + 1), "\(type)") }
            for k in 0..<n {
                #expect(inputs.buffers.value(at: k * c.inputCount) >= 1, "every contribution is positive")
            }
        }
    }

    /// Outputs do not depend on the thread count, and the quick profile passes on every preset
    /// that has chips (and is not supported on single-chip presets).
    @Test func quickProfilePassesWhereThereAreChips() throws {
        let suite = try SuiteLoader.load(Repository.path("Suites/networking.json"))
        for preset in DeviceConfig.presetNames {
            let config = try DeviceConfig.preset(preset)
            // The tensor-core presets keep hbm-inference's chips and links: their collectives are
            // hbm-inference's, already run here (only their matrix engines differ).
            if config.arithmetic.matrixEngine != nil { continue }
            let harness = Harness(device: SystolicEmulator(config: config))
            for c in suite.cases(inProfile: "quick") {
                let r = harness.runCase(c, generator: DataGenerator(seed: suite.seed))
                if config.chips.count > 1 {
                    guard case let .collective(cc) = c.workload else { continue }
                    #expect(r.verdict == (cc.ranks <= config.chips.count ? .pass : .notSupported), "\(preset) \(c.id): \(r.reason ?? "")")
                } else {
                    #expect(r.verdict == .notSupported && r.reason == "the device does not declare op collective", "\(preset) \(c.id)")
                }
            }
        }
    }
}
