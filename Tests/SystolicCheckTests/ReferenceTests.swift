import SystolicTestSupport
import Testing
import CSystolicPlatform
import SystolicCheck
import SystolicData
import SystolicNumerics
import SystolicSuite

/// The host reference against a plain binary64 loop: Ĉ bit for bit (k in order), and S an upper
/// bound on Σ|aₖbₖ| no looser than K·2⁻²³ relative (plus the subnormal term), on every kind of
/// block the AVX-512 kernel has (partial row blocks and column panels, batches, scattered rows),
/// on data that underflows fp32, and on data whose fp32 sum of magnitudes overflows (summed in
/// fp64 instead).
struct ReferenceTests {
    static func plain(_ g: GemmCase, _ inputs: GemmInputs, row: Int, column j: Int) -> (value: Double, absSum: Double) {
        let a = inputs.a.decodedFloats(), b = inputs.b.decodedFloats()
        let (batch, i) = (row / g.m, row % g.m)
        var value = 0.0, absSum = 0.0
        for kk in 0..<g.k {
            let bv = g.layoutB == .kn ? b[(batch * g.k + kk) * g.n + j] : b[(batch * g.n + j) * g.k + kk]
            let p = Double(a[(batch * g.m + i) * g.k + kk]) * Double(bv)
            value += p
            absSum += abs(p)
        }
        return (value, absSum)
    }

    static func expectMatches(_ g: GemmCase, _ inputs: GemmInputs, row: Int, column j: Int, value: Double, absSum: Double) {
        let (v, s) = plain(g, inputs, row: row, column: j)
        #expect(value.bitPattern == v.bitPattern, "value [\(row), \(j)]")
        // The plain S has its own fp64 rounding, (K − 1)·2⁻⁵³ relative at most.
        let low = s * (1 - Double(g.k) * 0x1p-53)
        let high = s * (1 + Double(g.k) * 0x1p-23) + Double(g.k) * 0x1p-148
        #expect(absSum >= low && absSum <= high, "S [\(row), \(j)]: \(absSum) against \(s)")
    }

    @Test(arguments: [(1, 9, 1, 5, NumberType.fp32, GemmCase.WeightLayout.kn), (2, 7, 33, 70, .bf16, .nk),
                      (1, 13, 100, 129, .fp32, .kn), (3, 5, 64, 31, .fp16, .kn), (1, 4, 32, 8, .fp8_e4m3, .nk)])
    func everyElementMatchesAPlainLoop(batch: Int, m: Int, n: Int, k: Int, type: NumberType, layout: GemmCase.WeightLayout) {
        var g = GemmCase(m: m, n: n, k: k, types: .init(shorthand: type), layoutB: layout,
                         dataA: .normal(mean: 0, std: 1), dataB: .uniform(low: -3, high: 3))
        g.batch = batch
        let inputs = GemmInputs(g, caseId: "t/reference/\(m)-\(n)-\(k)", generator: DataGenerator(seed: 21))
        let reference = GemmReference.compute(g, inputs, threads: 2)
        for row in 0..<(batch * m) {
            for j in 0..<n {
                Self.expectMatches(g, inputs, row: row, column: j, value: reference.value[row * n + j], absSum: reference.absSum[row * n + j])
            }
        }
        // Scattered rows (the at-scale sample's call), across batches, give the same numbers.
        let picked = [0, batch * m - 1, (batch * m) / 2, 1].filter { $0 < batch * m }
        let rows = GemmReference.rows(g, inputs, rows: Array(Set(picked)).sorted())
        for (row, r) in rows {
            #expect(r.value == Array(reference.value[(row * n)..<((row + 1) * n)]))
            #expect(r.absSum == Array(reference.absSum[(row * n)..<((row + 1) * n)]))
        }
    }

    /// Magnitudes from 2⁻¹⁴⁰ to 2¹⁰⁰: products underflow fp32 (the subnormal term covers them)
    /// and overflow it (such elements are summed in fp64, so S stays finite and sound).
    @Test func extremeMagnitudesStaySound() {
        let (m, n, k) = (6, 40, 50)
        let g = GemmCase(m: m, n: n, k: k, types: .init(shorthand: .fp32), dataA: .normal(mean: 0, std: 1), dataB: .normal(mean: 0, std: 1))
        var inputs = GemmInputs(g, caseId: "t/reference/extreme", generator: DataGenerator(seed: 4))
        for idx in 0..<(m * k) {
            // Row 0 tiny, row 1 huge, the others spread over the whole range.
            let e = idx / k == 0 ? -140 : idx / k == 1 ? 100 : Int(DataGenerator.value(.integer(low: -140, high: 60), key: 1, index: idx))
            inputs.a.setBits(NumberType.fp32.encode(Double(sign: idx % 3 == 0 ? .minus : .plus, exponent: e, significand: 1.375), overflow: .ieee), at: idx)
        }
        for idx in 0..<(k * n) {
            let e = Int(DataGenerator.value(.integer(low: -20, high: 30), key: 2, index: idx))
            inputs.b.setBits(NumberType.fp32.encode(Double(sign: .plus, exponent: e, significand: 1.5), overflow: .ieee), at: idx)
        }
        let reference = GemmReference.compute(g, inputs, threads: 2)
        for row in 0..<m {
            for j in 0..<n {
                Self.expectMatches(g, inputs, row: row, column: j, value: reference.value[row * n + j], absSum: reference.absSum[row * n + j])
                #expect(reference.absSum[row * n + j].isFinite)
            }
        }
        // Row 1's products (up to 2¹³¹) overflow an fp32 sum: there S is the fp64 sum itself.
        #expect(reference.absSum[n] == Self.plain(g, inputs, row: 1, column: 0).absSum)
    }
}
