import Foundation
import Testing
import SystolicData
import SystolicDevice
import SystolicEmulation
import SystolicNumerics

/// The block-FMA engine's fast paths (normalised significands, whole blocks shifted at once; on
/// AVX-512, eight outputs per vector) give the generic path's bits on every input: random engines
/// (block 1–64, extra bits 0–23, F 10–23, both roundings, rounded products, promotion, flushing in
/// and out, C first or last) over
/// data that mixes binades, zeros of both signs, subnormals, values near overflow, and NaN or
/// infinity in some rows.
@Suite struct BlockFMATests {
    @Test func fastPathGivesTheGenericPathsBits() {
        var rng: UInt64 = 0x5EED_B10C
        func next() -> UInt64 { rng &+= 0x9E37_79B9_7F4A_7C15; return DataGenerator.mix64(rng) }
        func pick(_ n: Int) -> Int { Int(next() % UInt64(n)) }
        let types: [NumberType] = [.fp32, .fp16, .bf16, .fp8_e4m3, .fp8_e5m2]
        var compared = 0
        for trial in 0..<60 {
            let type = types[trial % types.count]
            let block = [1, 2, 3, 4, 8, 16, 32, 64][pick(8)]
            var engine = MatrixArithmetic(inputTypes: [type], blockSize: block, alignment: .extraBits(pick(24)),
                                          fractionBits: [10, 13, 16, 22, 23][pick(5)], blockRounding: pick(2) == 0 ? .towardZero : .nearestEven)
            if pick(4) == 0 { engine.promoteEvery = block * (1 + pick(4)) }
            if pick(3) == 0 { engine.products = .rounded }
            if pick(2) == 0 { engine.cPosition = .last }
            engine.subnormalInputs = pick(3) == 0 ? .flush : .preserve
            engine.subnormalOutputs = pick(3) == 0 ? .flush : .preserve
            let model = BlockFMA(engine, a: type, b: type)
            // 12 rows on one thread: enough for the vector path (from 4 rows on); 13 columns leave a
            // partial panel of eight.
            let (m, n, k) = (12, 13, 1 + pick(150))
            let scale = [0.0, -20, 20, -60, 60][pick(5)]
            func value(_ row: Int) -> Float {
                let r = next()
                switch r % 16 {
                case 0: return 0
                case 1: return -0.0
                case 2: return Float(type.round(Double(sign: .plus, exponent: -140, significand: 1 + Double(r >> 40) * 0x1p-24), overflow: .saturate))
                case 3 where row == 2: return r & 1 == 0 ? .nan : -.infinity
                default:
                    let unit: Double = Double(r >> 11) * 0x1p-53 * 2 - 1
                    let exponent: Double = scale + Double(Int(r >> 4) % 9 - 4)
                    let v: Double = unit * Foundation.pow(2.0, exponent)
                    return Float(type.round(v, overflow: .saturate))
                }
            }
            let a = (0..<(m * k)).map { value($0 / k) }
            let bT = (0..<(n * k)).map { value($0 / k + 10) }
            let c = (0..<(m * n)).map { _ in value(0) }
            let fast = model.gemm(m: m, n: n, k: k, a: a, bT: bT, c: c, threads: 1)
            let generic = model.gemm(m: m, n: n, k: k, a: a, bT: bT, c: c, threads: 2, fast: false)
            for i in 0..<(m * n) {
                let same = fast[i].bitPattern == generic[i].bitPattern || (fast[i].isNaN && generic[i].isNaN)
                #expect(same, "\(engine) \(type) k \(k) element \(i): fast \(fast[i]), generic \(generic[i])")
                compared += 1
            }
        }
        #expect(compared == 60 * 12 * 13)
    }
}
