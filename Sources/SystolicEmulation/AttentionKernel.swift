import CSystolicKernels
import Dispatch
import Foundation
import SystolicData
import SystolicDevice
import SystolicNumerics
import SystolicSuite

/// The emulator's functional attention, flash-style (see `SystolicEmulator` for the documented
/// order). The two products run on the array's GEMM kernel (`sb_gemm_ws_f32`, K-tiles in order,
/// fma inside a tile); the softmax runs on the vector unit in fp32 with `VectorMath.exp`. Work is
/// split into (sequence, kv head, block of query rows) items, each computed by one thread in a fixed
/// order, so outputs are the same bits whatever the thread count.
enum AttentionKernel {
    struct Behaviour: Sendable {
        /// Keys per block of the online softmax; nil runs a full softmax (one block, P normalised
        /// in fp32 before P·V).
        var kvBlock: Int?
        /// The array's K-tile for both products.
        var kTile: Int
        /// Keep P in fp32 instead of rounding it to the case's P type (more accurate than declared).
        var keepProbabilitiesInFP32 = false
        /// Read P below its type's smallest normal as zero (a declared P·V engine that flushes
        /// subnormal inputs; Q, K and V are flushed before the kernel runs).
        var flushProbabilities = false
        /// Process query heads from last to first (outputs do not depend on it).
        var reverseHeads = false
        var threads = ProcessInfo.processInfo.activeProcessorCount
        // Faults.
        var causalOffByOne = false
        var noMaxSubtraction = false
        var moduloHeadMapping = false
        var topLeftCausal = false
    }

    private struct Shared: @unchecked Sendable {
        let out: UnsafeMutablePointer<Float>
    }

    static let rowsPerItem = 256

    static func run(_ a: AttentionCase, _ inputs: AttentionInputs, behaviour: Behaviour) -> Tensor {
        let q = inputs.q.decodedFloats()
        var out = [Float](repeating: 0, count: a.batch * a.heads * a.queryLength * a.headDim)
        // Query rows of a (sequence, kv head) unit: each head mapped to it, each query position.
        var units: [(b: Int, g: Int, heads: [Int])] = []
        for b in 0..<a.batch {
            for g in 0..<a.kvHeads {
                var heads = (0..<a.heads).filter { h in behaviour.moduloHeadMapping ? h % a.kvHeads == g : h / a.groupSize == g }
                if behaviour.reverseHeads { heads.reverse() }
                units.append((b, g, heads))
            }
        }
        var items: [(unit: Int, rows: Range<Int>)] = []
        for (u, unit) in units.enumerated() {
            let rows = unit.heads.count * a.queryLength
            for r0 in stride(from: 0, to: rows, by: rowsPerItem) { items.append((u, r0..<min(rows, r0 + rowsPerItem))) }
        }
        let (allUnits, allItems) = (units, items)
        out.withUnsafeMutableBufferPointer { op in
            let shared = Shared(out: op.baseAddress!)
            let work: @Sendable (Int) -> Void = { item in
                let (u, rows) = allItems[item]
                let unit = allUnits[u]
                block(a, inputs, q: q, keys: inputs.rows(inputs.k, batch: unit.b, kvHead: unit.g),
                      values: inputs.rows(inputs.v, batch: unit.b, kvHead: unit.g), batch: unit.b, heads: unit.heads, rows: rows,
                      behaviour: behaviour, out: shared.out)
            }
            if behaviour.threads <= 1 {
                for i in items.indices { work(i) }
            } else {
                DispatchQueue.concurrentPerform(iterations: items.count, execute: work)
            }
        }
        let shape = a.output.shape
        if a.outputType == .fp32 {
            return Tensor(type: .fp32, shape: shape, storage: out.withUnsafeBytes { Array($0) })
        }
        var o = Tensor(type: a.outputType, shape: shape)
        for (i, v) in out.enumerated() { o.setBits(a.outputType.encode(Double(v), overflow: a.overflow), at: i) }
        return o
    }

    /// Keys query position s of a sequence with n keys may attend, with the faults applied.
    static func visible(_ a: AttentionCase, _ s: Int, _ n: Int, _ behaviour: Behaviour) -> Int {
        guard a.causal else { return n }
        if behaviour.topLeftCausal { return min(n, s + 1) }
        let v = a.visibleKeys(row: s, kvLength: n)
        return behaviour.causalOffByOne ? min(n, v + 1) : v
    }

    /// Rows `rows` of one unit (row r is query position r mod q_len of heads[r / q_len]).
    private static func block(_ a: AttentionCase, _ inputs: AttentionInputs, q: [Float], keys: [Float], values: [Float], batch b: Int,
                              heads: [Int], rows: Range<Int>, behaviour: Behaviour, out: UnsafeMutablePointer<Float>) {
        let d = a.headDim, n = a.kvLengths[b], m = rows.count
        var qRows = [Float](repeating: 0, count: m * d)
        var visibleKeys = [Int](repeating: 0, count: m)
        var outRow = [Int](repeating: 0, count: m)
        for (i, r) in rows.enumerated() {
            let h = heads[r / a.queryLength], s = r % a.queryLength
            let source = ((b * a.heads + h) * a.queryLength + s) * d
            for c in 0..<d { qRows[i * d + c] = q[source + c] }
            visibleKeys[i] = visible(a, s, n, behaviour)
            outRow[i] = source
        }
        let widest = visibleKeys.max() ?? 0
        guard widest > 0 else { return }  // every row fully masked: zeros
        let f = Float(a.softmaxScale * a.kScale)
        let blockSize = behaviour.kvBlock ?? widest
        let pType = behaviour.keepProbabilitiesInFP32 ? NumberType.fp32 : a.probabilityType
        let pMinNormal = Float((pType.floatFormat ?? .fp32).minNormal)
        @inline(__always) func read(_ p: Float) -> Float { behaviour.flushProbabilities && abs(p) < pMinNormal ? 0 : p }
        var rowMax = [Float](repeating: -.infinity, count: m)
        var rowSum = [Float](repeating: 0, count: m)
        var acc = [Float](repeating: 0, count: m * d)
        var j0 = 0
        while j0 < widest {
            let width = min(blockSize, widest - j0)
            // S = Q·Kᵀ for the block: Kᵀ [d, width] as the array's weights.
            var kt = [Float](repeating: 0, count: d * width)
            for j in 0..<width { for c in 0..<d { kt[c * width + j] = keys[(j0 + j) * d + c] } }
            let s = gemm(m: m, n: width, k: d, tile: behaviour.kTile, a: qRows, b: kt)
            var p = [Float](repeating: 0, count: m * width)
            for i in 0..<m {
                let limit = min(width, visibleKeys[i] - j0)
                guard limit > 0 else { continue }
                var top = rowMax[i]
                if behaviour.noMaxSubtraction {
                    top = 0
                } else {
                    for j in 0..<limit { top = max(top, s[i * width + j] * f) }
                }
                // The rescale of what earlier blocks accumulated (nothing yet: 0).
                let alpha: Float
                if rowMax[i] == -.infinity { alpha = 0 } else if behaviour.noMaxSubtraction { alpha = 1 } else {
                    alpha = VectorMath.exp(rowMax[i] - top)
                }
                var blockSum: Float = 0
                for j in 0..<limit {
                    var pj = VectorMath.exp(s[i * width + j] * f - top)
                    if behaviour.kvBlock != nil { pj = read(roundProbability(pj, pType)) }
                    p[i * width + j] = pj
                    blockSum += pj
                }
                rowSum[i] = alpha * rowSum[i] + blockSum
                rowMax[i] = top
                if alpha != 1 { for c in 0..<d { acc[i * d + c] *= alpha } }
            }
            if behaviour.kvBlock == nil {
                // Full softmax: normalise P in fp32, round it to P's type, then one product.
                for i in 0..<m where rowSum[i] > 0 {
                    for j in 0..<width { p[i * width + j] = read(roundProbability(p[i * width + j] / rowSum[i], pType)) }
                }
            }
            let vBlock = Array(values[(j0 * d)..<((j0 + width) * d)])
            let pv = gemm(m: m, n: d, k: width, tile: behaviour.kTile, a: p, b: vBlock)
            for i in 0..<(m * d) { acc[i] += pv[i] }
            j0 += width
        }
        let vScale = Float(a.vScale)
        for i in 0..<m {
            for c in 0..<d {
                var o: Float
                if behaviour.kvBlock == nil {
                    o = rowSum[i] > 0 ? acc[i * d + c] : 0
                } else {
                    o = rowSum[i] > 0 ? acc[i * d + c] / rowSum[i] : 0
                }
                if vScale != 1 { o *= vScale }
                out[outRow[i] + c] = o
            }
        }
    }

    /// P rounded to its type, nearest-even (bf16 on the bits: it shares fp32's exponent range, so
    /// adding half an ulp less one, plus the kept bit's parity, and truncating is exactly RNE).
    @inline(__always)
    static func roundProbability(_ p: Float, _ type: NumberType) -> Float {
        switch type {
        case .fp32: return p
        case .bf16 where p.isFinite:
            let b = p.bitPattern
            return Float(bitPattern: (b &+ 0x7FFF &+ ((b >> 16) & 1)) & 0xFFFF_0000)
        default: return Float(type.round(Double(p), overflow: .ieee))
        }
    }

    /// C = A·B on the array's GEMM kernel (A m×k, B k×n, both row-major).
    private static func gemm(m: Int, n: Int, k: Int, tile: Int, a: [Float], b: [Float]) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        var packed = [Float](repeating: 0, count: max(1, sb_packed_floats(Int32(k), Int32(n), 16)))
        sb_pack_b(Int32(k), Int32(n), 16, b, &packed)
        sb_gemm_ws_f32(Int32(m), Int32(n), Int32(k), Int32(tile), a, packed, &c, 0, Int32(m))
        return c
    }
}
