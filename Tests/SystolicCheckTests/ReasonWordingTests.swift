import SystolicTestSupport
import Testing
import SystolicCheck
import SystolicData
import SystolicDevice
import SystolicNumerics
import SystolicResults
import SystolicSuite

/// A failure's sentence never contradicts itself (issue #28, item 4): an element outside its
/// interval is called outside, with a ratio above 1, even at a rounding tie broken the wrong way
/// or at a saturation edge, where the element's rounding cell touches the exact value.
struct ReasonWordingTests {
    static let arithmetic = DeclaredArithmetic(accumulator: .fp32, subnormals: .preserve, overflowModes: [.saturate, .ieee],
                                               inputTypes: [.bf16, .fp16, .fp32])

    /// One 1×1×1 GEMM of constants a·b, and the device's answer `device`.
    static func worst(_ a: Double, _ b: Double, type: NumberType, overflow: OverflowMode, device: Double) -> ElementReport? {
        let g = GemmCase(m: 1, n: 1, k: 1, types: .init(shorthand: type), dataA: .constant(a), dataB: .constant(b), overflow: overflow)
        let workload = Workload.gemm(g)
        let inputs = CaseCheck.inputs(workload, caseId: "wording", generator: DataGenerator(seed: 1))
        var output = Tensor(type: type, shape: [1, 1, 1])
        output.setValue(device, at: 0, overflow: .ieee)
        let check = CaseCheck.verify(workload, output: output, inputs: inputs, arithmetic: arithmetic, sampleSeed: 1)
        #expect(check.mismatches == 1)
        return check.worst
    }

    @Test func aTieBrokenTheWrongWayIsOutside() throws {
        // 9 · 37 = 333, halfway between bf16's 332 and 334: nearest-even gives 332.
        let w = try #require(Self.worst(9, 37, type: .bf16, overflow: .saturate, device: 334))
        #expect(w.low == 332 && w.high == 332)
        #expect(w.ratio > 1)
        #expect(w.sentence.contains("device 334.0 outside [332.0, 332.0]"), "\(w.sentence)")
        #expect(!w.sentence.contains("inside") && !w.sentence.contains("ratio 0 "), "\(w.sentence)")
    }

    @Test func anOverflowThatShouldSaturateIsOutside() throws {
        // 256 · 256 = 65536 > 65504, fp16's largest: saturating gives 65504, not infinity.
        let w = try #require(Self.worst(256, 256, type: .fp16, overflow: .saturate, device: .infinity))
        #expect(w.low == 65504 && w.high == 65504)
        #expect(w.ratio > 1)
        #expect(w.sentence.contains("device inf outside [65504.0, 65504.0]"), "\(w.sentence)")
    }
}
