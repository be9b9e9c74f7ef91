import CSystolicKernels
import Dispatch
import SystolicData
import SystolicDevice
import SystolicNumerics
import SystolicSuite

/// The declared datapath through the vectorised C kernel (`sb_gemm_ws_f32`): A decoded (or read
/// in place), B decoded while it is packed into 16-column panels, rows in chunks over the threads.
extension GemmKernel {
    /// Raw pointers for the C kernel's worker threads; each writes disjoint rows.
    private struct KernelArguments: @unchecked Sendable {
        let a: UnsafePointer<Float>
        let packed: UnsafePointer<Float>
        let c: UnsafeMutablePointer<Float>
    }

    /// The declared datapath through the vectorised C kernel: rows in chunks over the threads, B
    /// as [K, N] (converted while unpacking), the same order and bits as the loop above. fp32
    /// operands are read in place and nothing is zero-filled that the kernel overwrites: at
    /// 2048³ each 16 MiB copy costs a few percent of the multiply.
    static func fastFloat(_ g: GemmCase, _ inputs: GemmInputs, behaviour: Behaviour) -> [Float] {
        // Every element is stored by its first K-tile, so the output needs no zero fill.
        [Float](unsafeUninitializedCapacity: g.batch * g.m * g.n) { out, initialized in
            fastFloat(g, inputs, behaviour: behaviour, into: out.baseAddress!)
            initialized = g.batch * g.m * g.n
        }
    }

    /// `fastFloat` straight into an fp32 tensor's storage (an fp32 output of a plain GEMM is the
    /// accumulator's bits), saving a 4-byte-per-element copy; and whether any element is infinite.
    static func fastFloatTensor(_ g: GemmCase, _ inputs: GemmInputs, behaviour: Behaviour) -> (Tensor, infinite: Bool) {
        let count = g.batch * g.m * g.n
        var infinite = false
        let storage = [UInt8](unsafeUninitializedCapacity: 4 * count) { out, initialized in
            // Only the C kernel writes through this pointer; Swift reads the bytes.
            infinite = fastFloat(g, inputs, behaviour: behaviour, into: UnsafeMutablePointer<Float>(OpaquePointer(out.baseAddress!)),
                                 findInfinities: g.overflow == .saturate)
            initialized = 4 * count
        }
        return (Tensor(type: .fp32, shape: [g.batch, g.m, g.n], storage: storage), infinite)
    }

    /// Flags, one per work item, that an item's rows hold an infinity.
    private struct Flags: @unchecked Sendable {
        let flags: UnsafeMutablePointer<Bool>
    }

    /// With `findInfinities`, returns whether any output element is infinite (a saturating output
    /// must change those): each thread looks over the rows it has just written, while they are in
    /// its cache (a pass over the whole output afterwards cost 1.5 %). Otherwise returns false.
    @discardableResult
    static func fastFloat(_ g: GemmCase, _ inputs: GemmInputs, behaviour: Behaviour, into output: UnsafeMutablePointer<Float>,
                          findInfinities: Bool = false) -> Bool {
        let (m, n, k) = (g.m, g.n, g.k)
        let bounds = rowChunks(m, threads: behaviour.threads), chunks = bounds.count - 1
        let found = Flags(flags: .allocate(capacity: g.batch * chunks))
        found.flags.initialize(repeating: false, count: g.batch * chunks)
        defer { found.flags.deallocate() }
        let panelFloats = sb_packed_floats(Int32(k), Int32(n), 16)
        let packed = BPanels.packed(g, inputs.b, width: 16, threads: behaviour.threads)
        defer { sb_free_floats(packed, max(g.batch * panelFloats, 1)) }
        withFloats(inputs.a, threads: behaviour.threads) { a in
            let args = KernelArguments(a: a, packed: packed, c: output)
            let work: @Sendable (Int) -> Void = { item in
                let batch = item / chunks, part = item % chunks
                let c = args.c + batch * m * n
                sb_gemm_ws_f32(Int32(m), Int32(n), Int32(k), Int32(behaviour.kTile), args.a + batch * m * k,
                               args.packed + batch * panelFloats, c, Int32(bounds[part]), Int32(bounds[part + 1]))
                guard findInfinities else { return }
                // One branch-free pass (vectorised) over the item's rows.
                var any: UInt32 = 0
                UnsafeRawPointer(c + bounds[part] * n).withMemoryRebound(to: UInt32.self, capacity: (bounds[part + 1] - bounds[part]) * n) { w in
                    for i in 0..<((bounds[part + 1] - bounds[part]) * n) { any |= w[i] & 0x7FFF_FFFF == 0x7F80_0000 ? 1 : 0 }
                }
                found.flags[item] = any != 0
            }
            perform(g.batch * chunks, threads: behaviour.threads, work)
        }
        return UnsafeBufferPointer(start: found.flags, count: g.batch * chunks).contains(true)
    }

    /// Row boundaries of the kernel's work items: nearly equal chunks of whole 12-row groups (two
    /// of the AVX-512 kernel's blocks, one of the AVX2 kernel's pairs), four per thread, so the
    /// threads finish together. Chunk i is rows bounds[i]..<bounds[i + 1].
    static func rowChunks(_ m: Int, threads: Int) -> [Int] {
        let blocks = (m + 11) / 12
        let chunks = max(1, min(blocks, 4 * threads))
        return (0...chunks).map { min(m, $0 * blocks / chunks * 12) }
    }

    /// `work` for every item, on the calling thread alone when one thread is asked for.
    static func perform(_ items: Int, threads: Int, _ work: @Sendable (Int) -> Void) {
        if threads <= 1 {
            for item in 0..<items { work(item) }
        } else {
            DispatchQueue.concurrentPerform(iterations: items, execute: work)
        }
    }

    /// Calls `body` with a tensor's values as Floats: fp32 storage in place (little-endian fp32
    /// bits are the Floats; the pointer only reaches C), any other type decoded.
    package static func withFloats<R>(_ t: Tensor, threads: Int, _ body: (UnsafePointer<Float>) -> R) -> R {
        if t.type == .fp32 {
            return t.storage.withUnsafeBytes { body($0.baseAddress!.assumingMemoryBound(to: Float.self)) }
        }
        let decoded = decodedFloats(t, threads: threads)
        defer { sb_free_floats(decoded, t.count) }
        return body(decoded)
    }

    /// `withFloats` for B as [batch, K, N] whatever its stored layout.
    package static func withKNFloats<R>(_ g: GemmCase, _ b: Tensor, threads: Int, _ body: (UnsafePointer<Float>) -> R) -> R {
        if g.layoutB == .kn { return withFloats(b, threads: threads, body) }
        return BPanels.kn(g, b.decodedFloats()).withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    /// Where the decoding threads write.
    private struct Decoded: @unchecked Sendable {
        let floats: UnsafeMutablePointer<Float>
    }

    /// `Tensor.decodedFloats` into a buffer from `sb_alloc_floats` (huge pages: a fresh 16 MiB
    /// array costs 4096 page faults), slices decoded by the threads.
    private static func decodedFloats(_ t: Tensor, threads: Int) -> UnsafeMutablePointer<Float> {
        let count = t.count
        guard let out = sb_alloc_floats(max(count, 1)) else { preconditionFailure("out of memory for \(count) decoded floats") }
        let slices = threads > 1 && count >= 1 << 18 ? 4 * threads : 1
        let base = Decoded(floats: out)
        DispatchQueue.concurrentPerform(iterations: slices) { s in
            let range = (s * count / slices)..<((s + 1) * count / slices)
            t.decode(range, into: base.floats + range.lowerBound)
        }
        return out
    }
}

/// Block-scaled GEMMs through the vectorised kernel. Where the groups are the K-tiles and the CPU
/// has AVX-512, one pass of the kernel scales each tile's partial sums as it stores them
/// (`scaledKernel`). Otherwise a chunk of rows at a time: for each K group the chunk's partial
/// sums p come from `sb_gemm_ws_f32` over that group alone (its own slice of A and its own
/// packed panels of B, the K-tile as in `blockScaledFloat`), into a scratch block that stays in
/// cache while the vector unit's step acc = p·(sa·sb) (first group) or acc + p·(sa·sb) folds it
/// in. Either way every element takes the same operations in the same order as the
/// group-by-group definition, so the bits are the same; no group's sums make a round trip
/// through memory.
extension GemmKernel {
    private struct GroupedArguments: @unchecked Sendable {
        let a: UnsafePointer<Float>
        let panels: [UnsafeMutablePointer<Float>]
        let sa: UnsafePointer<Float>
        let sb: UnsafePointer<Float>
        let out: UnsafeMutablePointer<Float>
    }

    /// nil when the case is batched (the group-by-group path serves those), else the sums.
    static func fastBlockScaled(_ g: GemmCase, _ inputs: GemmInputs, _ scales: BlockScaleInputs, behaviour: Behaviour) -> [Float]? {
        guard g.batch == 1, g.k % scales.group == 0 else { return nil }
        let (m, n, k, group) = (g.m, g.n, g.k, scales.group)
        let groups = k / group
        let sa = (0..<(m * groups)).map { Float(scales.scaleA(batch: 0, row: $0 / groups, kGroup: $0 % groups)) }
        let sb = (0..<(groups * n)).map { Float(scales.scaleB(batch: 0, kGroup: $0 / n, column: $0 % n)) }
        if behaviour.kTile >= group, let sums = scaledKernel(g, inputs, sa, sb, group: group, behaviour: behaviour) { return sums }
        var sub = g
        sub.k = group
        sub.scales = GemmCase.Scales()
        // A as [groups, M, group] (each group's columns contiguous) and B's groups packed.
        let aGroups = (0..<groups).flatMap { t in inputs.a.columns(t * group, (t + 1) * group).decodedFloats() }
        let panelFloats = sb_packed_floats(Int32(group), Int32(n), 16)
        let panels = (0..<groups).map { t in
            let slice = g.layoutB == .kn ? inputs.b.rows(t * group, (t + 1) * group) : inputs.b.columns(t * group, (t + 1) * group)
            return BPanels.packed(sub, slice, width: 16, threads: behaviour.threads)
        }
        defer { for p in panels { sb_free_floats(p, max(panelFloats, 1)) } }
        let tile = Int32(min(behaviour.kTile, group))
        let bounds = rowChunks(m, threads: behaviour.threads), chunks = bounds.count - 1
        return [Float](unsafeUninitializedCapacity: m * n) { out, initialized in
            aGroups.withUnsafeBufferPointer { ap in
                sa.withUnsafeBufferPointer { sap in
                    sb.withUnsafeBufferPointer { sbp in
                        let args = GroupedArguments(a: ap.baseAddress!, panels: panels, sa: sap.baseAddress!, sb: sbp.baseAddress!, out: out.baseAddress!)
                        let work: @Sendable (Int) -> Void = { part in
                            let (r0, r1) = (bounds[part], bounds[part + 1])
                            guard r1 > r0 else { return }
                            let rows = r1 - r0
                            let p = UnsafeMutablePointer<Float>.allocate(capacity: rows * n)
                            defer { p.deallocate() }
                            for t in 0..<groups {
                                sb_gemm_ws_f32(Int32(rows), Int32(n), Int32(group), tile, args.a + (t * m + r0) * group, args.panels[t], p, 0, Int32(rows))
                                for i in 0..<rows {
                                    let (acc, sums, scaleA, scalesB) = (args.out + (r0 + i) * n, p + i * n, args.sa[(r0 + i) * groups + t], args.sb + t * n)
                                    if t == 0 {
                                        for j in 0..<n { acc[j] = sums[j] * (scaleA * scalesB[j]) }
                                    } else {
                                        for j in 0..<n { acc[j] = acc[j] + sums[j] * (scaleA * scalesB[j]) }
                                    }
                                }
                            }
                        }
                        perform(chunks, threads: behaviour.threads, work)
                    }
                }
            }
            initialized = m * n
        }
    }

    /// The whole K in one pass of the AVX-512 kernel, each K-tile a group and scaled as it joins
    /// C (`sb_gemm_ws_f32_scaled`); nil where that kernel declines (no AVX-512, N not a multiple
    /// of 32, no memory for its panels).
    private static func scaledKernel(_ g: GemmCase, _ inputs: GemmInputs, _ sa: [Float], _ sb: [Float], group: Int, behaviour: Behaviour) -> [Float]? {
        let (m, n, k) = (g.m, g.n, g.k)
        guard sb_kernels_vectorised() >= 2, n % 32 == 0 else { return nil }
        let bounds = rowChunks(m, threads: behaviour.threads), chunks = bounds.count - 1
        var plain = g
        plain.scales = GemmCase.Scales()
        let packed = BPanels.packed(plain, inputs.b, width: 16, threads: behaviour.threads)
        defer { sb_free_floats(packed, max(sb_packed_floats(Int32(k), Int32(n), 16), 1)) }
        let declined = Flags(flags: .allocate(capacity: chunks))
        declined.flags.initialize(repeating: false, count: chunks)
        defer { declined.flags.deallocate() }
        let sums = [Float](unsafeUninitializedCapacity: m * n) { out, initialized in
            withFloats(inputs.a, threads: behaviour.threads) { a in
                sa.withUnsafeBufferPointer { sap in
                    sb.withUnsafeBufferPointer { sbp in
                        let args = GroupedArguments(a: a, panels: [packed], sa: sap.baseAddress!, sb: sbp.baseAddress!, out: out.baseAddress!)
                        let work: @Sendable (Int) -> Void = { part in
                            let done = sb_gemm_ws_f32_scaled(Int32(m), Int32(n), Int32(k), Int32(group), args.a, args.panels[0], args.out,
                                                             Int32(bounds[part]), Int32(bounds[part + 1]), args.sa, args.sb)
                            if done == 0 { declined.flags[part] = true }
                        }
                        perform(chunks, threads: behaviour.threads, work)
                    }
                }
            }
            initialized = m * n
        }
        return UnsafeBufferPointer(start: declined.flags, count: chunks).contains(true) ? nil : sums
    }
}
