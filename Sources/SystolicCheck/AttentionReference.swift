import CSystolicReference
import Dispatch
import Foundation
import SystolicData
import SystolicNumerics
import SystolicSuite

/// The host's own reference for attention, in fp64: for each query row, scores sⱼ = Σ q·kⱼ and
/// their absolute sums (C kernel, products exact), weights wⱼ = exp(f·sⱼ − max)/Σ (f = scale·k_scale),
/// then o = v_scale·Σ wⱼ·vⱼ and W = Σ wⱼ·|vⱼ| (C kernel). Every input type decodes exactly to fp32.
/// Each sequence and kv head is gathered once; its query rows are spread over threads in chunks.
public struct AttentionReference: Sendable {
    /// o, [batch, heads, q_len, head_dim].
    public var value: [Double]
    /// W = Σ wⱼ·|vⱼ| (the v scale not applied), same shape.
    public var weightedAbsSum: [Double]
    /// Per query row ([batch, heads, q_len]): visible keys, and A = max f·Σ|q·kⱼ| over them.
    public var visible: [Int]
    public var scoreAbsMax: [Double]
    /// Per [batch, kv_heads, head_dim]: the largest |v| of the column, the v scale not applied.
    public var maxAbsValue: [Double]
    /// Multiply-accumulates spent (both products, visible keys only).
    public var macs: Int

    private struct Shared: @unchecked Sendable {
        let q: UnsafePointer<Float>
        let kt: UnsafePointer<Float>
        let v: UnsafePointer<Float>
        let value: UnsafeMutablePointer<Double>
        let absSum: UnsafeMutablePointer<Double>
        let visible: UnsafeMutablePointer<Int>
        let scoreMax: UnsafeMutablePointer<Double>
    }

    static let chunkRows = 32

    public static func compute(_ a: AttentionCase, _ inputs: AttentionInputs) -> AttentionReference {
        let (lq, d, heads) = (a.queryLength, a.headDim, a.heads)
        let q = inputs.q.decodedFloats()
        let f = a.softmaxScale * a.kScale
        var value = [Double](repeating: 0, count: a.batch * heads * lq * d)
        var absSum = value
        var visible = [Int](repeating: 0, count: a.batch * heads * lq)
        var scoreMax = [Double](repeating: 0, count: visible.count)
        var maxAbsValue = [Double](repeating: 0, count: a.batch * a.kvHeads * d)
        let chunks = (lq + chunkRows - 1) / chunkRows
        for b in 0..<a.batch {
            let n = a.kvLengths[b]
            for g in 0..<a.kvHeads {
                let keys = inputs.rows(inputs.k, batch: b, kvHead: g)
                let values = inputs.rows(inputs.v, batch: b, kvHead: g)
                var kt = [Float](repeating: 0, count: d * n)
                for j in 0..<n { for c in 0..<d { kt[c * n + j] = keys[j * d + c] } }
                for j in 0..<n {
                    for c in 0..<d { maxAbsValue[(b * a.kvHeads + g) * d + c] = max(maxAbsValue[(b * a.kvHeads + g) * d + c], Double(abs(values[j * d + c]))) }
                }
                q.withUnsafeBufferPointer { qp in kt.withUnsafeBufferPointer { kp in values.withUnsafeBufferPointer { vp in
                value.withUnsafeMutableBufferPointer { op in absSum.withUnsafeMutableBufferPointer { sp in
                visible.withUnsafeMutableBufferPointer { visp in scoreMax.withUnsafeMutableBufferPointer { mp in
                    let shared = Shared(q: qp.baseAddress!, kt: kp.baseAddress!, v: vp.baseAddress!, value: op.baseAddress!,
                                        absSum: sp.baseAddress!, visible: visp.baseAddress!, scoreMax: mp.baseAddress!)
                    DispatchQueue.concurrentPerform(iterations: a.groupSize * chunks) { item in
                        let h = g * a.groupSize + item / chunks
                        let r0 = (item % chunks) * chunkRows, r1 = min(lq, r0 + chunkRows)
                        let firstRow = (b * heads + h) * lq
                        rows(a, n: n, rows: r0..<r1, firstRow: firstRow, f: f, shared: shared)
                    }
                } } } } } } }
            }
        }
        return AttentionReference(value: value, weightedAbsSum: absSum, visible: visible, scoreAbsMax: scoreMax,
                                  maxAbsValue: maxAbsValue, macs: 2 * a.visiblePairs * d)
    }

    /// Query rows r0..<r1 of one head (flat row firstRow + r) against the sequence's n keys.
    private static func rows(_ a: AttentionCase, n: Int, rows range: Range<Int>, firstRow: Int, f: Double, shared: Shared) {
        let d = a.headDim
        let count = range.count
        // Keys beyond the chunk's last row's visibility are never needed.
        let width = a.visibleKeys(row: range.upperBound - 1, kvLength: n)
        var scores = [Double](repeating: 0, count: count * max(width, 1))
        var scoreAbs = scores
        if width > 0 {
            sb_scores_f64(Int32(count), Int32(width), Int32(d), shared.q + (firstRow + range.lowerBound) * d, shared.kt, Int32(n),
                          &scores, &scoreAbs)
        }
        var weights = [Double](repeating: 0, count: count * max(width, 1))
        for (i, r) in range.enumerated() {
            let visibleKeys = a.visibleKeys(row: r, kvLength: n)
            shared.visible[firstRow + r] = visibleKeys
            guard visibleKeys > 0 else { continue }
            var top = -Double.infinity, absMax = 0.0
            for j in 0..<visibleKeys {
                top = max(top, f * scores[i * width + j])
                absMax = max(absMax, abs(f) * scoreAbs[i * width + j])
            }
            shared.scoreMax[firstRow + r] = absMax
            var total = 0.0
            for j in 0..<visibleKeys {
                let w = Foundation.exp(f * scores[i * width + j] - top)
                weights[i * width + j] = w
                total += w
            }
            for j in 0..<visibleKeys { weights[i * width + j] /= total }
        }
        if width > 0 {
            let out = shared.value + (firstRow + range.lowerBound) * d, abs = shared.absSum + (firstRow + range.lowerBound) * d
            sb_weighted_rows_f64(Int32(count), Int32(width), Int32(d), weights, shared.v, out, abs)
            if a.vScale != 1 { for i in 0..<(count * d) { out[i] *= a.vScale } }
        }
    }
}
