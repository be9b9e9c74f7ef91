import CSystolicKernels
import Dispatch
import Foundation
import SystolicData
import SystolicDevice
import SystolicNumerics
import SystolicSuite

/// The host's own reference for a GEMM: Ĉ = Σ aₖbₖ and S = Σ|aₖbₖ| in fp64, computed together,
/// k in order for every element. Every input type decodes exactly to fp32, and the product of two
/// fp32 values is exact in fp64, so the only error is that of the fp64 sums, which
/// `GemmBound` accounts for. The work runs in the vectorised C kernel, rows spread over threads.
public struct GemmReference: Sendable {
    public var value: [Double]
    public var absSum: [Double]

    private struct Arguments: @unchecked Sendable {
        let a: UnsafePointer<Float>
        let b: UnsafePointer<Float>
        let packed: UnsafePointer<Float>
        let value: UnsafeMutablePointer<Double>
        let absSum: UnsafeMutablePointer<Double>
    }

    public static func compute(_ g: GemmCase, _ inputs: GemmInputs, threads: Int = ProcessInfo.processInfo.activeProcessorCount) -> GemmReference {
        let chunk = max(1, (g.m + 4 * threads - 1) / (4 * threads))
        var ranges: [RowRange] = []
        for batch in 0..<g.batch {
            for r0 in stride(from: 0, to: g.m, by: chunk) {
                let first = batch * g.m + r0
                ranges.append(RowRange(first: first, count: min(chunk, g.m - r0), slot: first))
            }
        }
        let (value, absSum) = fill(g, inputs, ranges: ranges, outputRows: g.batch * g.m)
        return GemmReference(value: value, absSum: absSum)
    }

    /// The reference a check judges a case by: over the packed matrices (strided rows read at
    /// their leading dimensions), and for a block-scaled case Ĉ = Σ_groups (sa·sb)·Σ_{k∈group} aₖbₖ
    /// and S = Σ_groups (sa·sb)·Σ_{k∈group} |aₖbₖ|, in fp64 (sa·sb, two fp32 scales, is exact
    /// there; each group's sums are `compute`'s): the sums of the scaled products, within
    /// (K + 2)·u₆₄·S of exact.
    public static func judged(_ g: GemmCase, _ inputs: GemmInputs) -> GemmReference {
        let packed = inputs.packed(g)
        guard let scales = packed.blockScales, g.scales.isBlocked else { return compute(g.packed, packed) }
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
        let ranges = rows.enumerated().map { RowRange(first: $1, count: 1, slot: $0) }
        let (value, absSum) = fill(g, inputs, ranges: ranges, outputRows: rows.count)
        let n = g.n
        var out: [Int: (value: [Double], absSum: [Double])] = [:]
        for (slot, row) in rows.enumerated() {
            out[row] = (Array(value[(slot * n)..<((slot + 1) * n)]), Array(absSum[(slot * n)..<((slot + 1) * n)]))
        }
        return out
    }

    /// Consecutive rows of one batch (flat index `first` over [batch, M]), written from output row `slot` on.
    private struct RowRange: Sendable {
        let first: Int
        let count: Int
        let slot: Int
    }

    /// Runs the C kernel over the ranges, spread over threads, into `outputRows` rows of N.
    private static func fill(_ g: GemmCase, _ inputs: GemmInputs, ranges: [RowRange], outputRows: Int) -> ([Double], [Double]) {
        let a = inputs.a.decodedFloats()
        let b = BPanels.kn(g, inputs.b.decodedFloats())
        let (m, n, k) = (g.m, g.n, g.k)
        let packed = BPanels.pack(b, batch: g.batch, k: k, n: n, width: 8)
        let panelFloats = sb_packed_floats(Int32(k), Int32(n), 8)
        var value = [Double](repeating: 0, count: outputRows * n)
        var absSum = value
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
              packed.withUnsafeBufferPointer { pp in
                value.withUnsafeMutableBufferPointer { vp in
                    absSum.withUnsafeMutableBufferPointer { sp in
                        let args = Arguments(a: ap.baseAddress!, b: bp.baseAddress!, packed: pp.baseAddress!, value: vp.baseAddress!,
                                             absSum: sp.baseAddress!)
                        DispatchQueue.concurrentPerform(iterations: ranges.count) { item in
                            let r = ranges[item], batch = r.first / m, i = r.first % m
                            // The kernel writes rows i… of a batch's M×N output: shift the pointers so
                            // row i lands at output row `slot`.
                            let shift = (r.slot - i) * n
                            sb_reference_f64(Int32(m), Int32(n), Int32(k), args.a + batch * m * k, args.b + batch * k * n,
                                             args.packed + batch * panelFloats, args.value + shift, args.absSum + shift,
                                             Int32(i), Int32(i + r.count))
                        }
                    }
                }
              }
            }
        }
        return (value, absSum)
    }
}
