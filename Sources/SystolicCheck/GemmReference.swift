import SystolicData
import SystolicNumerics
import SystolicSuite

/// The host's own reference for a GEMM: Ĉ = Σ aₖbₖ and S = Σ|aₖbₖ| in fp64, computed together.
/// Every input product is exact in fp64 (at most 24 + 24 significant bits), so the only error is
/// that of the fp64 sums, which `GemmCheck.bound` accounts for.
public struct GemmReference: Sendable {
    public var value: [Double]
    public var absSum: [Double]

    public static func compute(_ g: GemmCase, _ inputs: GemmInputs) -> GemmReference {
        let a = inputs.a.decoded()
        let b = inputs.b.decoded()
        var value = [Double](repeating: 0, count: g.batch * g.m * g.n)
        var absSum = value
        let (m, n, k) = (g.m, g.n, g.k)
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                for batch in 0..<g.batch {
                    let bBase = batch * k * n
                    for i in 0..<m {
                        let aRow = ap.baseAddress! + (batch * m + i) * k
                        let out = (batch * m + i) * n
                        for kk in 0..<k {
                            let av = aRow[kk]
                            if av == 0 && g.layoutB == .kn {
                                // 0 · x is 0 for finite x; keep specials so NaN/Inf still propagate.
                                var allFinite = true
                                for j in 0..<n where !bp[bBase + kk * n + j].isFinite { allFinite = false; break }
                                if allFinite { continue }
                            }
                            for j in 0..<n {
                                let bv = g.layoutB == .kn ? bp[bBase + kk * n + j] : bp[bBase + j * k + kk]
                                let p = av * bv
                                value[out + j] += p
                                absSum[out + j] += abs(p)
                            }
                        }
                    }
                }
            }
        }
        return GemmReference(value: value, absSum: absSum)
    }
}
