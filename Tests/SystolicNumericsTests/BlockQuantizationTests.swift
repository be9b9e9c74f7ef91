import Foundation
import Testing
@testable import SystolicNumerics

/// The quantisation schemes of docs/formats.md: worked examples by hand, the scale rounding
/// choices at a scale boundary, special blocks, and the error bound on random data.
struct BlockQuantizationTests {
    @Test func mxEmaxAndLargestValuesFollowTheSpecification() {
        #expect(MXElement.allCases.map(\.emax) == [8, 15, 2, 4, 2, 0])
        #expect(MXElement.allCases.map(\.maxValue) == [448, 57344, 7.5, 28, 6, 127.0 / 64])
    }

    /// An amax of 500 with E4M3 elements: ⌊log₂ 500⌋ = 8, so floor's scale is 2^0 and 500
    /// saturates to 448; rceil takes 2^1 (500/2 = 250 ≤ 448); even rounds 500 to E4M3 (512, the
    /// next binade) and takes 2^1 too. An amax of 440 rounds to 448 in E4M3: all three keep 2^0.
    @Test func theScaleRoundingsDifferAtABoundaryAsDocumented() {
        let block: [Double] = [500, 3, -0.25] + Array(repeating: 1, count: 29)
        let floor = MXQuantizer(element: .e4m3, rounding: .floor).quantize(block[...])
        let rceil = MXQuantizer(element: .e4m3, rounding: .rceil).quantize(block[...])
        let even = MXQuantizer(element: .e4m3, rounding: .even).quantize(block[...])
        #expect(ScaleE8M0.decode(floor.scale) == 1 && ScaleE8M0.decode(rceil.scale) == 2 && ScaleE8M0.decode(even.scale) == 2)
        #expect(MXQuantizer(element: .e4m3, rounding: .floor).value(floor, 0) == 448)  // saturated
        #expect(MXQuantizer(element: .e4m3, rounding: .rceil).value(rceil, 0) == 512)  // 250 rounds to 256 in E4M3
        for rounding in MXScaleRounding.allCases {
            let q = MXQuantizer(element: .e4m3, rounding: rounding)
            #expect(q.scaleExponent(amax: 440) == 0, "\(rounding)")
            #expect(q.scaleExponent(amax: 448) == 0, "\(rounding)")
        }
        // E2M1 (max 6, emax 2): amax 7 → floor 2^0 (7 saturates to 6), rceil 2^1, even: 7 rounds to 8 → 2^1.
        #expect(MXQuantizer(element: .e2m1, rounding: .floor).scaleExponent(amax: 7) == 0)
        #expect(MXQuantizer(element: .e2m1, rounding: .rceil).scaleExponent(amax: 7) == 1)
        #expect(MXQuantizer(element: .e2m1, rounding: .even).scaleExponent(amax: 7) == 1)
        // amax 5.5: floor and even 2^0 (5.5 rounds to 6), rceil 2^0 (5.5 ≤ 6).
        #expect(MXQuantizer(element: .e2m1, rounding: .even).scaleExponent(amax: 5.5) == 0)
    }

    @Test func specialBlocks() {
        let q = MXQuantizer(element: .e2m1, rounding: .floor)
        let nan = q.quantize([1, .nan, 2][...])
        // The NaN scale; the elements are what 1, 0 and 2 give under the block's finite scale
        // (2^(1 − 2) for E2M1: 1 → 2, 2 → 4, codes 0b0100 and 0b0110), to be ignored by a device.
        #expect(nan.scale == 0xFF && nan.elements == [0b0100, 0, 0b0110] && q.value(nan, 0).isNaN)
        #expect(q.quantize([1, -.infinity][...]).scale == 0xFF)
        let zeros = q.quantize(Array(repeating: 0.0, count: 32)[...])
        #expect(zeros.scale == 0 && zeros.elements.allSatisfy { $0 == 0 })
        // Scales clamp to E8M0's range: a tiny block still gets 2^-127 and its elements round there.
        #expect(q.quantize([0x1p-140][...]).scale == 0)
        #expect(MXQuantizer(element: .e4m3, rounding: .floor).quantize([0x1p200][...]).scale == 254)
    }

    /// Every non-saturated element is within half an element step (times the scale) of its value,
    /// rceil never saturates, and the row is cut into blocks of 32 with a short last one.
    @Test(arguments: MXElement.allCases)
    func randomBlocksRoundWithinHalfAStep(element: MXElement) {
        var generator = SplitMix(seed: 7)
        for rounding in MXScaleRounding.allCases {
            let q = MXQuantizer(element: element, rounding: rounding)
            for _ in 0..<50 {
                let magnitude = Double(sign: .plus, exponent: Int(generator.next() % 40) - 20, significand: 1)
                let row = (0..<70).map { _ in (Double(generator.next() % 2_000_001) / 1_000_000 - 1) * magnitude }
                let blocks = q.quantize(row: row)
                #expect(blocks.map(\.elements.count) == [32, 32, 6])
                for (b, block) in blocks.enumerated() {
                    let scale = ScaleE8M0.decode(block.scale)
                    for i in block.elements.indices {
                        let x = row[b * 32 + i], v = q.value(block, i)
                        let scaled = x.magnitude / scale
                        if scaled > element.maxValue {
                            #expect(rounding != .rceil, "rceil saturated \(x) at scale \(scale)")
                            #expect(v.magnitude == element.maxValue * scale)
                            continue
                        }
                        let step: Double
                        if let format = element.format {
                            step = FloatFormat.power(Swift.max(FloatFormat.binade(Swift.max(scaled, format.minNormal)), format.minExponent) - format.mantissaBits)
                        } else {
                            step = 1.0 / 64
                        }
                        #expect((x - v).magnitude <= step / 2 * scale, "\(element) \(rounding): \(x) → \(v)")
                    }
                }
            }
        }
    }

    @Test func nvfp4ScalesAndElements() {
        // amax_tensor 2688 = 448·6 makes the tensor scale 1: block scales are amax/6 in E4M3.
        let nearest = NVFP4Quantizer(rounding: .nearest, tensorAmax: 2688)
        let up = NVFP4Quantizer(rounding: .up, tensorAmax: 2688)
        #expect(nearest.tensorScale == 1)
        // amax 6.3: exact scale 1.05; E4M3 near 1 steps by 0.125: nearest 1 (6.3 rounds to the
        // element 6, its largest), up 1.125.
        let block: [Double] = [6.3, -3, 0.5, 0]
        let n = nearest.quantize(block[...]), u = up.quantize(block[...])
        #expect(FloatFormat.e4m3fn.decode(n.scale) == 1 && FloatFormat.e4m3fn.decode(u.scale) == 1.125)
        #expect(nearest.value(n, 0) == 6 && nearest.value(n, 1) == -3 && nearest.value(n, 2) == 0.5)
        #expect(up.value(u, 0) == 6.75)  // 6.3/1.125 = 5.6 rounds to 6
        #expect(nearest.quantize([1, .nan][...]).scale == 0x7F)
        // A tensor scale other than 1: values are tensorScale × blockScale × element.
        let scaled = NVFP4Quantizer(rounding: .nearest, tensorAmax: 26.88)
        let b = scaled.quantize([0.06, -0.03][...])
        #expect(abs(scaled.value(b, 0) - 0.06) <= 0.06 / 8)
    }

    @Test func int4GroupsSymmetricAndWithZeroPoint() {
        let symmetric = Int4GroupQuantizer(groupSize: 32, scaleType: .fp16, zeroPoint: false)
        let g = symmetric.quantize([7, -7, 3.5, 0.4, -8][...])
        #expect(NumberType.fp16.decode(g.scale) == 8.0 / 7 || abs(NumberType.fp16.decode(g.scale) - 8.0 / 7) < 1e-3)
        #expect(g.values == [6, -6, 3, 0, -7])
        let asymmetric = Int4GroupQuantizer(groupSize: 32, scaleType: .bf16, zeroPoint: true)
        let a = asymmetric.quantize([0, 15, 7.5, 3][...])
        #expect(NumberType.bf16.decode(a.scale) == 1 && a.zero == 0 && a.values == [0, 15, 8, 3])
        let shifted = asymmetric.quantize([-5, 10][...])
        #expect(shifted.zero == 5 && shifted.values == [0, 15])
        #expect(asymmetric.value(shifted, 0) == -5 && asymmetric.value(shifted, 1) == 10)
    }
}

/// A small deterministic generator for the tests (SplitMix64).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
