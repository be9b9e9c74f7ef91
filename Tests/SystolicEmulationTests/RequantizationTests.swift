import Foundation
import SystolicTestSupport
import Testing
import SystolicData
import SystolicNumerics
import SystolicSuite
@testable import SystolicDevice
@testable import SystolicEmulation
@testable import SystolicHarness

/// int8 requantisation, bit for bit, against an independent straightforward implementation of
/// both schemes, over random and edge values; and the shipped cases against faulty datapaths.
struct RequantizationTests {
    // MARK: The independent implementation (exact integer and binary64 arithmetic, written apart).

    static func clamp(_ v: Int64) -> Int8 { Int8(max(-128, min(127, v))) }

    /// fp32 scheme: the product of two fp32 values is exact in binary64; rounding it to fp32 is
    /// Swift's Float(Double) (nearest even); then ties-to-even to an integer by hand.
    static func independentFP32(_ acc: Int32, _ scale: Float, _ zp: Int32) -> Int8 {
        let product = Double(Float(acc)) * Double(scale)
        let v = Double(Float(product))
        let f = v.rounded(.down), fraction = v - f
        var r = f
        if fraction > 0.5 || (fraction == 0.5 && f.truncatingRemainder(dividingBy: 2) != 0) { r = f + 1 }
        return clamp(Int64(max(-1e12, min(1e12, r))) + Int64(zp))
    }

    /// gemmlowp's two steps written as their arithmetic: acc·M / 2³¹ rounded half up (the nudge
    /// makes ties go toward +∞), then / 2^s rounded half away from zero.
    static func independentFixedPoint(_ acc: Int32, _ m: Int32, _ s: Int32, _ zp: Int32) -> Int8 {
        var x: Int64
        if acc == .min && m == .min { x = Int64(Int32.max) } else {
            let ab = Int64(acc) * Int64(m)
            x = ab >= 0 ? (ab + (1 << 30)) >> 31 : -((-ab + (1 << 30) - 1) >> 31)
        }
        if s > 0 {
            let half = Int64(1) << (Int64(s) - 1)
            x = x >= 0 ? (x + half) >> Int64(s) : -((-x + half) >> Int64(s))
        }
        return clamp(x + Int64(zp))
    }

    static func independentMultiplier(_ scale: Double) -> (Int32, Int32) {
        let (f, e) = (frexp(scale).0, frexp(scale).1)
        var q = Int64((f * 2147483648.0).rounded(.toNearestOrAwayFromZero)), exponent = e
        if q == 1 << 31 { q /= 2; exponent += 1 }
        return -exponent > 31 ? (0, 0) : (Int32(q), Int32(-exponent))
    }

    static let accumulators: [Int32] = [0, 1, -1, 2, -2, 3, -3, 127, -128, 255, -255, 1 << 20, -(1 << 20), (1 << 24) + 1, -(1 << 24) - 3,
                                        Int32.max, Int32.min, Int32.max - 1, Int32.min + 1]
    static let scales: [Double] = [0.5, 0.25, 1.0 / 3, 0.999999, 0.0001, 3e-5, 1e-9, 1e-12, 0.75, 0.125]
    static let zeroPoints: [Int32] = [-128, 127, 0, -1, 5]

    @Test func bothSchemesMatchTheIndependentImplementation() {
        var state: UInt64 = 12345
        func next() -> UInt64 { state = DataGenerator.mix64(state &+ 0x9E37_79B9_7F4A_7C15); return state }
        var accs = Self.accumulators, scales = Self.scales, zps = Self.zeroPoints
        for _ in 0..<150 {
            accs.append(Int32(truncatingIfNeeded: next() >> 32) >> Int32(next() % 24))
            scales.append(Double(next() >> 11) * 0x1p-53 * 0.01 + 1e-7)
            zps.append(Int32(next() % 256) - 128)
        }
        var checked = 0, ties = 0, saturated = 0
        var differences: [String] = []
        for scale in scales {
            let f = Float(scale)
            let (m, s) = Requantizer.quantizeMultiplier(Double(f))
            #expect((m, s) == Self.independentMultiplier(Double(f)), "multiplier of \(scale)")
            for acc in accs {
                for zp in zps {
                    let a = Requantizer.fp32Scale(acc, scale: f, zeroPoint: zp), b = Self.independentFP32(acc, f, zp)
                    if a != b { differences.append("fp32 scheme acc \(acc) scale \(f) zp \(zp): \(a) vs \(b)") }
                    let c = Requantizer.fixedPoint(acc, multiplier: m, shift: s, zeroPoint: zp), d = Self.independentFixedPoint(acc, m, s, zp)
                    if c != d { differences.append("fixed point acc \(acc) M \(m) s \(s) zp \(zp): \(c) vs \(d)") }
                    checked += 1
                    if (Float(acc) * f).truncatingRemainder(dividingBy: 1).magnitude == 0.5 { ties += 1 }
                    if a == 127 || a == -128 { saturated += 1 }
                }
            }
        }
        #expect(differences.isEmpty, "\(differences.count) differences, first: \(differences.prefix(3))")
        #expect(checked > 100_000 && ties > 100 && saturated > 1000, "\(checked) \(ties) \(saturated)")
        // The two schemes round ties differently: 3 × 1/2 is 2 in one, 2 in the other, −3 × 1/2 is −2 and −1.
        #expect(Requantizer.fp32Scale(3, scale: 0.5, zeroPoint: 0) == 2 && Requantizer.fp32Scale(5, scale: 0.5, zeroPoint: 0) == 2)
        let half = Requantizer.quantizeMultiplier(0.5)
        #expect(half == (1 << 30, 0))
        #expect(Requantizer.fixedPoint(5, multiplier: half.multiplier, shift: half.shift, zeroPoint: 0) == 3)
        #expect(Requantizer.fixedPoint(-3, multiplier: half.multiplier, shift: half.shift, zeroPoint: 0) == -1)
    }

    /// A device that ignores the zero point, uses one scale for every channel, or wraps instead of
    /// saturating fails the shipped requantised cases; the correct emulator passes them on every
    /// preset with int8 (all three).
    @Test(arguments: [EmulatorFault.requantIgnoresZeroPoint, .requantPerTensor, .int8Wrap])
    func faultyRequantisationFailsTheShippedCases(fault: EmulatorFault) throws {
        let suite = try SuiteLoader.load(Repository.path("Suites/gemm.json"))
        let cases = suite.cases(inProfile: "quick").filter {
            guard case let .gemm(g) = $0.workload else { return false }
            return g.requantization != nil
        }
        #expect(cases.count == 5)
        let failed = cases.filter { Harness(device: SystolicEmulator(faults: [fault])).runCase($0, generator: DataGenerator(seed: suite.seed)).verdict == .fail }
        #expect(!failed.isEmpty, "\(fault) passed every requantised case")
        for preset in DeviceConfig.presetNames {
            let harness = Harness(device: SystolicEmulator(config: try DeviceConfig.preset(preset)))
            for c in cases { #expect(harness.runCase(c, generator: DataGenerator(seed: 9)).verdict == .pass, "\(preset) \(c.id)") }
        }
    }

    /// The requantised cases produce saturated values, both zero-point ends and ties.
    @Test func directedCasesReachTheEdges() throws {
        let suite = try SuiteLoader.load(Repository.path("Suites/gemm.json"))
        let edges = try #require(suite.cases.first { $0.name == "requant-edges-int8" })
        guard case let .gemm(g) = edges.workload else { return }
        let inputs = GemmInputs(g, caseId: edges.id, generator: DataGenerator(seed: suite.seed))
        let zps = (0..<g.n).map { inputs.epilogue!.zeroPoint!.value(at: $0) }
        #expect(zps.min()! <= -120 && zps.max()! >= 120)
        let out = try SystolicEmulator().run(edges, inputs: .gemm(inputs)).tensors["c"]!
        let values = (0..<out.count).map { out.value(at: $0) }
        #expect(values.filter { $0 == 127 }.count > 50 && values.filter { $0 == -128 }.count > 50)
    }
}
