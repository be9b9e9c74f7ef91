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
        let a = inputs.a.decodedFloats()
        let b = BPanels.kn(g, inputs.b.decodedFloats())
        var value = [Double](repeating: 0, count: g.batch * g.m * g.n)
        var absSum = value
        let (m, n, k) = (g.m, g.n, g.k)
        let packed = BPanels.pack(b, batch: g.batch, k: k, n: n, width: 8)
        let panelFloats = sb_packed_floats(Int32(k), Int32(n), 8)
        let chunk = max(1, (m + 4 * threads - 1) / (4 * threads))
        let chunks = (m + chunk - 1) / chunk
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
              packed.withUnsafeBufferPointer { pp in
                value.withUnsafeMutableBufferPointer { vp in
                    absSum.withUnsafeMutableBufferPointer { sp in
                        let args = Arguments(a: ap.baseAddress!, b: bp.baseAddress!, packed: pp.baseAddress!, value: vp.baseAddress!,
                                             absSum: sp.baseAddress!)
                        DispatchQueue.concurrentPerform(iterations: g.batch * chunks) { item in
                            let batch = item / chunks, r0 = (item % chunks) * chunk
                            sb_reference_f64(Int32(m), Int32(n), Int32(k), args.a + batch * m * k, args.b + batch * k * n,
                                             args.packed + batch * panelFloats, args.value + batch * m * n, args.absSum + batch * m * n,
                                             Int32(r0), Int32(min(r0 + chunk, m)))
                        }
                    }
                }
              }
            }
        }
        return GemmReference(value: value, absSum: absSum)
    }

    /// The reference for some rows only (flat row indices over [batch, M]): value and S of each.
    public static func rows(_ g: GemmCase, _ inputs: GemmInputs, rows: [Int],
                            threads: Int = ProcessInfo.processInfo.activeProcessorCount) -> [Int: (value: [Double], absSum: [Double])] {
        guard !rows.isEmpty else { return [:] }
        let a = inputs.a.decodedFloats()
        let b = BPanels.kn(g, inputs.b.decodedFloats())
        let (m, n, k) = (g.m, g.n, g.k)
        let packed = BPanels.pack(b, batch: g.batch, k: k, n: n, width: 8)
        let panelFloats = sb_packed_floats(Int32(k), Int32(n), 8)
        var value = [Double](repeating: 0, count: rows.count * n)
        var absSum = value
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
              packed.withUnsafeBufferPointer { pp in
                value.withUnsafeMutableBufferPointer { vp in
                    absSum.withUnsafeMutableBufferPointer { sp in
                        let args = Arguments(a: ap.baseAddress!, b: bp.baseAddress!, packed: pp.baseAddress!, value: vp.baseAddress!,
                                             absSum: sp.baseAddress!)
                        DispatchQueue.concurrentPerform(iterations: rows.count) { slot in
                            let row = rows[slot], batch = row / m, i = row % m
                            // The kernel writes row i of a batch's M×N output: point it at this slot.
                            sb_reference_f64(Int32(m), Int32(n), Int32(k), args.a + batch * m * k, args.b + batch * k * n,
                                             args.packed + batch * panelFloats, args.value + slot * n - i * n, args.absSum + slot * n - i * n,
                                             Int32(i), Int32(i + 1))
                        }
                    }
                }
              }
            }
        }
        var out: [Int: (value: [Double], absSum: [Double])] = [:]
        for (slot, row) in rows.enumerated() {
            out[row] = (Array(value[(slot * n)..<((slot + 1) * n)]), Array(absSum[(slot * n)..<((slot + 1) * n)]))
        }
        return out
    }
}
