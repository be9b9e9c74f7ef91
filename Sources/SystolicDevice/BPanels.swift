import CSystolicKernels
import SystolicSuite

/// B laid out for the kernels: as [batch, K, N] whatever its stored layout, and in contiguous
/// column panels, so a tile of B stays in cache whatever N is (a stride of N floats between rows
/// would map a panel's rows onto a few cache sets).
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

    /// The full panels of `width` columns of each batch's K×N matrix, one after another (see
    /// `sb_pack_b`); the last N mod width columns are read from B itself.
    public static func pack(_ b: [Float], batch: Int, k: Int, n: Int, width: Int) -> [Float] {
        let per = sb_packed_floats(Int32(k), Int32(n), Int32(width))
        var out = [Float](repeating: 0, count: max(batch * per, 1))
        b.withUnsafeBufferPointer { bp in
            out.withUnsafeMutableBufferPointer { op in
                for i in 0..<batch { sb_pack_b(Int32(k), Int32(n), Int32(width), bp.baseAddress! + i * k * n, op.baseAddress! + i * per) }
            }
        }
        return out
    }
}
