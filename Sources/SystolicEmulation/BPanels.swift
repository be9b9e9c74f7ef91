import CSystolicKernels
import Dispatch
import SystolicNumerics
import SystolicDevice
import SystolicSuite

/// B laid out for the kernels: in contiguous column panels (`sb_pack_b`'s layout), so a tile of B
/// stays in cache whatever N is (a stride of N floats between rows would map a panel's rows onto
/// a few cache sets); or as [batch, K, N] whatever its stored layout.
public enum BPanels {
    /// Where the packing threads write.
    private struct Target: @unchecked Sendable {
        let packed: UnsafeMutablePointer<Float>
    }

    /// B's `width`-column panels for every batch (`sb_packed_floats` floats per batch), decoded
    /// while packing: a block of B's rows (stored [K, N]) or one panel's columns (stored [N, K])
    /// at a time, by the threads, so no decoded copy of the whole of B ever exists. In a buffer
    /// from `sb_alloc_floats` that the caller frees.
    public static func packed(_ g: GemmCase, _ b: Tensor, width: Int, threads: Int) -> UnsafeMutablePointer<Float> {
        let (k, n) = (g.k, g.n)
        let per = sb_packed_floats(Int32(k), Int32(n), Int32(width)), panels = (n + width - 1) / width
        guard let out = sb_alloc_floats(max(g.batch * per, 1)) else { preconditionFailure("out of memory for \(g.batch * per) floats of packed weights") }
        let target = Target(packed: out)
        let items: Int
        let work: @Sendable (Int) -> Void
        if g.layoutB == .kn {
            // Blocks of rows of about 64 K elements: each block's decoded rows stay in cache.
            let rows = max(1, (1 << 16) / max(n, 1)), blocks = (k + rows - 1) / rows
            items = g.batch * blocks
            work = { item in
                let (batch, r0) = (item / blocks, item % blocks * rows)
                let r1 = min(k, r0 + rows), first = (batch * k + r0) * n
                b.withFloats(first..<(first + (r1 - r0) * n)) {
                    sb_pack_b_rows(Int32(k), Int32(n), Int32(width), $0, Int32(r0), Int32(r1), target.packed + batch * per)
                }
            }
        } else {
            items = g.batch * panels
            work = { item in
                let (batch, p) = (item / panels, item % panels)
                let first = (batch * n + p * width) * k, last = (batch * n + min(n, (p + 1) * width)) * k
                b.withFloats(first..<last) { sb_pack_bt_panel(Int32(k), Int32(n), Int32(width), $0, Int32(p), target.packed + batch * per) }
            }
        }
        if threads <= 1 || g.batch * k * n < 1 << 16 {
            for item in 0..<items { work(item) }
        } else {
            DispatchQueue.concurrentPerform(iterations: items, execute: work)
        }
        return out
    }

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
