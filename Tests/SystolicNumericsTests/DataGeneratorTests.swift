import SystolicTestSupport
import Testing
import SystolicNumerics
import SystolicSuite
@testable import SystolicData

/// Golden values published in docs/suites.md, computed by an independent Python implementation of the
/// documented algorithm; a vendor regenerating tensors in C or Python checks against the same.
struct DataGeneratorTests {
    static let caseId = "gemm/gpt2-decode-attn-out/m=1,n=768,k=768"

    @Test func goldenFirstValues() {
        let g = DataGenerator(seed: 20_261_127)
        let key = g.key(caseId: Self.caseId, operand: "a")
        #expect(key == 0x58FB_6059_AF80_C75B)
        #expect((0..<3).map { DataGenerator.raw(key: key, $0) } == [0x1D57_F550_749D_7055, 0x007F_641E_367C_9A7B, 0x9A34_0F66_1995_976C])
        #expect((0..<4).map { DataGenerator.value(.uniform(low: -1, high: 1), key: key, index: $0) }
                == [-0.7707532269621606, -0.9961123325802206, 0.204713749745832, 0.6249906192476362])
        #expect((0..<4).map { DataGenerator.value(.normal(mean: 0, std: 1), key: key, index: $0) }
                == [-1.469512939453125, 2.376708984375, 1.0787811279296875, -0.98291015625])
        #expect((0..<8).map { DataGenerator.value(.integer(low: -128, high: 127), key: key, index: $0) }
                == [-43, -5, -20, 32, 104, -76, -8, -7])
    }

    @Test func generatedTensorHoldsTheRoundedStream() {
        let t = DataGenerator(seed: 20_261_127).tensor(caseId: Self.caseId, operand: "a", pattern: .normal(mean: 0, std: 1),
                                                       type: .fp32, shape: [1, 1, 768])
        #expect((0..<4).map { t.bits(at: $0) } == [0xBFBC_1900, 0x4018_1C00, 0x3F8A_1580, 0xBF7B_A000])
    }

    @Test func anyElementRegeneratesAloneAndStreamsDiffer() {
        let g = DataGenerator(seed: 1)
        let t = g.tensor(caseId: "c", operand: "b", pattern: .uniform(low: 0, high: 1), type: .fp32, shape: [1000])
        let key = g.key(caseId: "c", operand: "b")
        #expect(t.value(at: 999) == NumberType.fp32.round(DataGenerator.value(.uniform(low: 0, high: 1), key: key, index: 999), overflow: .saturate))
        #expect(g.key(caseId: "c", operand: "a") != key)
        #expect(DataGenerator(seed: 2).key(caseId: "c", operand: "b") != key)
    }

    @Test func normalPatternHasTheStatedMomentsAndBounds() {
        let key = DataGenerator(seed: 3).key(caseId: "moments", operand: "a")
        let n = 100_000
        var sum = 0.0, sumSquares = 0.0, largest = 0.0
        for i in 0..<n {
            let z = DataGenerator.value(.normal(mean: 0, std: 1), key: key, index: i)
            sum += z; sumSquares += z * z; largest = max(largest, abs(z))
        }
        let mean = sum / Double(n)
        let variance = sumSquares / Double(n) - mean * mean
        #expect(abs(mean) < 0.02)
        #expect(abs(variance - 1) < 0.02)
        #expect(largest < 6)
    }

    @Test func integerPatternCoversItsRangeInclusive() {
        let key = DataGenerator(seed: 4).key(caseId: "ints", operand: "a")
        let values = Set((0..<2000).map { DataGenerator.value(.integer(low: -3, high: 3), key: key, index: $0) })
        #expect(values == Set((-3...3).map(Double.init)))
    }
}
