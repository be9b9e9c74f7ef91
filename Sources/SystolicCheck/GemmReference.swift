import CSystolicReference
import Dispatch
import Foundation
import SystolicData
import SystolicDevice
import SystolicNumerics
import SystolicSuite

/// The host's own reference for a GEMM: Ĉ = Σ aₖbₖ in fp64, k in order for every element, and
/// S ≥ Σ|aₖbₖ|, computed together. Every input type decodes exactly to fp32, and the product of
/// two fp32 values is exact in fp64, so Ĉ's only error is that of the fp64 sum, which `GemmBound`
/// accounts for. S comes from an fp32 sum of the exact products made an upper bound, within
/// K·2⁻²³ of Σ|aₖbₖ| relative (`sb_reference_f64` says how): half the work of an fp64 sum, and
/// sound, since the bound only ever uses S as an upper bound. Both are the same bits on every
/// kernel path. The work runs in the vectorised C kernels, rows spread over threads.
public struct GemmReference: Sendable {
    public var value: [Double]
    public var absSum: [Double]

    private struct Arguments: @unchecked Sendable {
        let a: UnsafePointer<Float>
        /// B as [K, N] per batch; nil on the AVX-512 path, which reads the packed panels alone.
        let b: UnsafePointer<Float>?
        let packed: UnsafePointer<Float>
        let rows: UnsafePointer<Int32>
        let value: UnsafeMutablePointer<Double>
        let absSum: UnsafeMutablePointer<Double>
    }

    public static func compute(_ g: GemmCase, _ inputs: GemmInputs, threads: Int = ProcessInfo.processInfo.activeProcessorCount) -> GemmReference {
        var (value, absSum) = fill(g, inputs, rows: Array(0..<(g.batch * g.m)), threads: threads)
        if g.addend != nil, let c = inputs.c {
            // D = A·B + C: C is one more term. Ĉ + c in fp64 rounds once more (within u₆₄ of
            // |Ĉ + c| ≤ S + |c|); S + |c| rounded up keeps S an upper bound.
            for i in value.indices {
                let cv = c.value(at: i)
                value[i] += cv
                absSum[i] = (absSum[i] + abs(cv)).nextUp
            }
        }
        return GemmReference(value: value, absSum: absSum)
    }

    /// The reference a check judges a case by: over the packed matrices (strided rows read at
    /// their leading dimensions), and for a block-scaled case Ĉ = Σ_groups (sa·sb)·Σ_{k∈group} aₖbₖ
    /// and S = Σ_groups (sa·sb)·S_group, in fp64 (sa·sb, two fp32 scales, is exact there; each
    /// group's Ĉ and S are `compute`'s): Ĉ the sum of the scaled products within (K + 2)·u₆₄·S of
    /// exact, S a bound on Σ|sa·a·sb·b| to the same u₆₄ terms, which `GemmBound` covers.
    public static func judged(_ g: GemmCase, _ inputs: GemmInputs) -> GemmReference {
        // int4 weights and MXINT8: the block-scaled GEMMs of their values they are.
        if let (wide, wideInputs) = inputs.widenedIntegerElements(g) { return judged(wide, wideInputs) }
        let packed = inputs.packed(g)
        guard let scales = packed.blockScales, g.scales.isBlocked else { return compute(g.packed, packed) }
        // MX and NVFP4 operands whose scaled elements are exact in fp32: Σ (sa·a)(sb·b) over all of
        // K in one fp64 chain, within (K − 1)·u₆₄·S of exact (a tighter sum than the groups').
        if let plain = packed.dequantisedBlockFormat(g) { return compute(GemmInputs.dequantisedCase(g.packed), plain) }
        var sub = g.packed
        sub.scales = GemmCase.Scales()
        var value = [Double](repeating: 0, count: g.batch * g.m * g.n)
        var absSum = value
        for (t, range) in scales.kGroups(k: g.k).enumerated() {
            sub.k = range.count
            let part = compute(sub, packed.kSlice(range.lowerBound, range.upperBound, g))
            for batch in 0..<g.batch {
                let sb = (0..<g.n).map { scales.scaleB(batch: batch, kGroup: t, column: $0) }
                for i in 0..<g.m {
                    let sa = scales.scaleA(batch: batch, row: i, kGroup: t)
                    let row = (batch * g.m + i) * g.n
                    for j in 0..<g.n {
                        value[row + j] += sa * sb[j] * part.value[row + j]
                        absSum[row + j] += sa * sb[j] * part.absSum[row + j]
                    }
                }
            }
        }
        return GemmReference(value: value, absSum: absSum)
    }

    /// The reference for some rows only (flat row indices over [batch, M]): value and S of each.
    public static func rows(_ g: GemmCase, _ inputs: GemmInputs, rows: [Int]) -> [Int: (value: [Double], absSum: [Double])] {
        guard !rows.isEmpty else { return [:] }
        let (value, absSum) = fill(g, inputs, rows: rows, threads: ProcessInfo.processInfo.activeProcessorCount)
        let n = g.n
        var out: [Int: (value: [Double], absSum: [Double])] = [:]
        for (slot, row) in rows.enumerated() {
            out[row] = (Array(value[(slot * n)..<((slot + 1) * n)]), Array(absSum[(slot * n)..<((slot + 1) * n)]))
        }
        return out
    }

    /// Output rows `first ..< first + count` for A's rows `rowsInBatch[first ..< first + count]` of one batch.
    private struct Piece: Sendable {
        let batch: Int
        let first: Int
        let count: Int

        static func split(_ rows: [Int], m: Int, chunk: Int) -> [Piece] {
            var pieces: [Piece] = []
            var t = 0
            while t < rows.count {
                let batch = rows[t] / m
                var end = t + 1
                while end < rows.count, end - t < chunk, rows[end] / m == batch { end += 1 }
                pieces.append(Piece(batch: batch, first: t, count: end - t))
                t = end
            }
            return pieces
        }
    }

    /// Runs the C kernels for the flat rows `rows` (over [batch, M]), output row t for rows[t],
    /// pieces of rows spread over threads. fp32 operands are read in place, nothing is
    /// zero-filled that the kernels overwrite (every output element is written once), and on
    /// AVX-512 B is decoded while it is packed, never copied whole: with the two fp64 outputs,
    /// the reference holds about 2.5 times the case's tensors at most.
    private static func fill(_ g: GemmCase, _ inputs: GemmInputs, rows: [Int], threads: Int) -> ([Double], [Double]) {
        let (m, n, k) = (g.m, g.n, g.k)
        // Pieces of at most `chunk` rows within one batch, about four per thread.
        let chunk = max(1, (rows.count + 4 * threads - 1) / (4 * threads))
        let pieces = Piece.split(rows, m: m, chunk: chunk)
        let rowsInBatch = rows.map { Int32($0 % m) }
        guard rows.count * n > 0 else { return ([], []) }
        /// Both outputs, filled by `body` through their base pointers.
        func outputs(_ body: (UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>) -> Void) -> ([Double], [Double]) {
            let count = rows.count * n
            var absSum = [Double]()
            let value = [Double](unsafeUninitializedCapacity: count) { vp, vInitialized in
                absSum = [Double](unsafeUninitializedCapacity: count) { sp, sInitialized in
                    body(vp.baseAddress!, sp.baseAddress!)
                    sInitialized = count
                }
                vInitialized = count
            }
            return (value, absSum)
        }
        func compute(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>?, _ packed: UnsafePointer<Float>, panelFloats: Int, wide: Bool) -> ([Double], [Double]) {
            outputs { vp, sp in
                rowsInBatch.withUnsafeBufferPointer { rp in
                    let args = Arguments(a: a, b: b, packed: packed, rows: rp.baseAddress!, value: vp, absSum: sp)
                    DispatchQueue.concurrentPerform(iterations: pieces.count) { item in
                        run(pieces[item], args, m: m, n: n, k: k, panelFloats: panelFloats, wide: wide)
                    }
                }
            }
        }
        if sb_kernels_vectorised() == 2 {
            let (packed, count) = ReferenceOperands.panels(g, inputs.b, width: 32, threads: threads)
            defer { ReferenceOperands.free(packed, count: count) }
            let panelFloats = ReferenceOperands.panelFloats(k: k, n: n, width: 32)
            return ReferenceOperands.withFloats(inputs.a, threads: threads) { compute($0, nil, packed, panelFloats: panelFloats, wide: true) }
        }
        return ReferenceOperands.withFloats(inputs.a, threads: threads) { a in
            ReferenceOperands.withKNFloats(g, inputs.b, threads: threads) { b in
                let (packed, count) = ReferenceOperands.panels(g, inputs.b, width: 8, threads: threads)
                defer { ReferenceOperands.free(packed, count: count) }
                return compute(a, b, packed, panelFloats: ReferenceOperands.panelFloats(k: k, n: n, width: 8), wide: false)
            }
        }
    }

    /// One piece of rows through the AVX-512 kernel, or through the AVX2/portable one in runs of
    /// consecutive rows.
    private static func run(_ piece: Piece, _ args: Arguments, m: Int, n: Int, k: Int, panelFloats: Int, wide: Bool) {
        let a = args.a + piece.batch * m * k
        let packed = args.packed + piece.batch * panelFloats
        let (v, s) = (args.value + piece.first * n, args.absSum + piece.first * n)
        guard !wide, let b = args.b.map({ $0 + piece.batch * k * n }) else {
            sb_reference_wide(Int32(m), Int32(n), Int32(k), a, packed, args.rows + piece.first, Int32(piece.count), v, s)
            return
        }
        // The kernel writes rows i… of a batch's M×N output: shift the pointers so that row i
        // lands at the run's first output row.
        var r = 0
        while r < piece.count {
            let i = Int(args.rows[piece.first + r])
            var run = 1
            while r + run < piece.count, Int(args.rows[piece.first + r + run]) == i + run { run += 1 }
            let shift = (r - i) * n
            sb_reference_f64(Int32(m), Int32(n), Int32(k), a, b, packed, v + shift, s + shift, Int32(i), Int32(i + run))
            r += run
        }
    }
}

extension GemmInputs {
    /// The inputs as an engine that flushes subnormal inputs reads them: every subnormal of A's and
    /// B's own types replaced by a zero of its sign (docs/arithmetic.md: such a device is judged
    /// against the exact sum of what it declares to read).
    func flushingSubnormalInputs() -> GemmInputs {
        var out = self
        out.a = out.a.flushingSubnormals()
        out.b = out.b.flushingSubnormals()
        return out
    }
}
