import SystolicSuite

/// B laid out for the kernels: as [batch, K, N] whatever its stored layout. The kernels' callers
/// then pack it into contiguous column panels (`sb_pack_b_range`, `sb_reference_pack_b`), so a
/// tile of B stays in cache whatever N is (a stride of N floats between rows would map a panel's
/// rows onto a few cache sets).
public enum BPanels {
    /// B as [batch, K, N].
    public static func kn(_ g: GemmCase, _ b: [Float]) -> [Float] {
        if g.layoutB == .kn { return b }
        var out = [Float](repeating: 0, count: b.count)
        for batch in 0..<g.batch {
            let base = batch * g.k * g.n
            for j in 0..<g.n {
                for kk in 0..<g.k { out[base + kk * g.n + j] = b[base + j * g.k + kk] }
            }
        }
        return out
    }
}
