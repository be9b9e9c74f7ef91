import CSystolicReference
import Dispatch
import SystolicNumerics
import SystolicSuite

/// The reference's operands as its kernels read them, laid out by the check itself: the
/// emulator packs B for its own kernels, and a layout mistake shared by both would appear
/// identically in a device's output and in the reference that judges it. Only the number formats
/// (`Tensor.decode`, tested against independent vectors) and scratch memory are shared.
enum ReferenceOperands {
    /// Where the threads write.
    private struct Target: @unchecked Sendable {
        let floats: UnsafeMutablePointer<Float>
    }

    /// Floats in B's panels of `width` columns, per batch: ⌈N/width⌉ panels of K rows.
    static func panelFloats(k: Int, n: Int, width: Int) -> Int { (n + width - 1) / width * k * width }

    /// B's panels of `width` columns for every batch (`panelFloats` apart), decoded from the
    /// tensor as stored ([K, N] or [N, K] per batch) without a decoded copy of the whole of B:
    /// each thread decodes a block of B's rows (or one panel's stored columns) into scratch and
    /// lays it out. Columns past N are zeros. Free with `free(_:count:)`.
    static func panels(_ g: GemmCase, _ b: Tensor, width: Int, threads: Int) -> (UnsafeMutablePointer<Float>, count: Int) {
        let (k, n) = (g.k, g.n)
        let per = panelFloats(k: k, n: n, width: width), panels = (n + width - 1) / width
        let count = max(g.batch * per, 1)
        guard let out = sb_alloc_floats(count) else { preconditionFailure("out of memory for \(count) floats of the reference's panels of B") }
        let target = Target(floats: out)
        let items: Int
        let work: @Sendable (Int) -> Void
        if g.layoutB == .kn {
            // Blocks of about 64 K elements of B's rows: decoded once, then cut into the panels.
            let rows = max(1, (1 << 16) / max(n, 1)), blocks = (k + rows - 1) / rows
            items = g.batch * blocks
            work = { item in
                let (batch, r0) = (item / blocks, item % blocks * rows)
                let r1 = min(k, r0 + rows), first = (batch * k + r0) * n
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max((r1 - r0) * n, 1))
                defer { scratch.deallocate() }
                b.decode(first..<(first + (r1 - r0) * n), into: scratch)
                let base = target.floats + batch * per
                for kk in r0..<r1 {
                    let row = scratch + (kk - r0) * n
                    for p in 0..<panels {
                        let slot = base + p * k * width + kk * width
                        let cols = min(width, n - p * width)
                        slot.update(from: row + p * width, count: cols)
                        if cols < width { (slot + cols).update(repeating: 0, count: width - cols) }
                    }
                }
            }
        } else {
            // Stored [N, K]: a panel's columns are `width` consecutive stored rows of K values.
            items = g.batch * panels
            work = { item in
                let (batch, p) = (item / panels, item % panels)
                let cols = min(width, n - p * width), first = (batch * n + p * width) * k
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(cols * k, 1))
                defer { scratch.deallocate() }
                b.decode(first..<(first + cols * k), into: scratch)
                let panel = target.floats + batch * per + p * k * width
                for kk in 0..<k {
                    let slot = panel + kk * width
                    for j in 0..<cols { slot[j] = scratch[j * k + kk] }
                    if cols < width { (slot + cols).update(repeating: 0, count: width - cols) }
                }
            }
        }
        if threads <= 1 || g.batch * k * n < 1 << 16 {
            for item in 0..<items { work(item) }
        } else {
            DispatchQueue.concurrentPerform(iterations: items, execute: work)
        }
        return (out, count)
    }

    /// Calls `body` with a tensor's values as Floats: fp32 storage read in place, any other type
    /// decoded by the threads into scratch that lives for the call.
    static func withFloats<R>(_ t: Tensor, threads: Int, _ body: (UnsafePointer<Float>) -> R) -> R {
        let count = t.count
        if t.type == .fp32, count > 0 {
            return t.storage.withUnsafeBytes { body($0.baseAddress!.assumingMemoryBound(to: Float.self)) }
        }
        guard let out = sb_alloc_floats(max(count, 1)) else { preconditionFailure("out of memory for \(count) decoded floats") }
        defer { sb_free_floats(out, max(count, 1)) }
        let slices = threads > 1 && count >= 1 << 18 ? 4 * threads : 1
        let target = Target(floats: out)
        DispatchQueue.concurrentPerform(iterations: slices) { s in
            let range = (s * count / slices)..<((s + 1) * count / slices)
            t.decode(range, into: target.floats + range.lowerBound)
        }
        return body(out)
    }

    /// `withFloats` for B as [batch, K, N] whatever its stored layout.
    static func withKNFloats<R>(_ g: GemmCase, _ b: Tensor, threads: Int, _ body: (UnsafePointer<Float>) -> R) -> R {
        if g.layoutB == .kn { return withFloats(b, threads: threads, body) }
        let stored = b.decodedFloats()
        var kn = [Float](repeating: 0, count: stored.count)
        let (k, n) = (g.k, g.n)
        for batch in 0..<g.batch {
            let base = batch * k * n
            for j in 0..<n {
                for kk in 0..<k { kn[base + kk * n + j] = stored[base + j * k + kk] }
            }
        }
        return kn.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    static func free(_ p: UnsafeMutablePointer<Float>, count: Int) { sb_free_floats(p, count) }
}
