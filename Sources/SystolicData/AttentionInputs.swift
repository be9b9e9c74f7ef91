import Dispatch
import SystolicNumerics
import SystolicSuite

/// The input tensors of an attention case.
///
/// - `q`: [batch, heads, q_len, head_dim] of the input type.
/// - `k`, `v`: the KV cache in the case's layout and kv type (see `AttentionCase.KVLayout`).
/// - `kvLengths`: int32 [batch], each sequence's kv length.
/// - `pageTable`: int32 [batch, pages per sequence] for the paged layout: page numbers, −1 past a
///   sequence's last page.
///
/// Values are drawn by logical coordinates, so a case gives the same keys and values in every
/// layout: Q[b,h,s,d] is element ((b·H + h)·Lq + s)·D + d of stream "q", K[b,g,s,d] element
/// ((b·Hkv + g)·L + s)·D + d of stream "k" (L the batch's longest kv length), V likewise of "v".
/// Positions past a sequence's kv length, and page slots no sequence owns, hold NaN: a device
/// that reads beyond a sequence's cache poisons its output.
public struct AttentionInputs: Sendable {
    public var q: Tensor
    public var k: Tensor
    public var v: Tensor
    public var kvLengths: Tensor
    public var pageTable: Tensor?
    /// The case's geometry, for index arithmetic.
    public let attention: AttentionCase

    /// Inputs as received (by an adapter that reads them from files).
    public init(attention: AttentionCase, q: Tensor, k: Tensor, v: Tensor, kvLengths: Tensor, pageTable: Tensor?) {
        self.attention = attention; self.q = q; self.k = k; self.v = v; self.kvLengths = kvLengths; self.pageTable = pageTable
    }

    /// The tensors by their protocol role: q, k, v, kv_lens and, for the paged layout, page_table.
    public var byRole: [(role: String, tensor: Tensor)] {
        var out = [("q", q), ("k", k), ("v", v), ("kv_lens", kvLengths)]
        if let pageTable { out.append(("page_table", pageTable)) }
        return out
    }

    public init(_ a: AttentionCase, caseId: String, generator: DataGenerator) {
        attention = a
        q = generator.tensor(caseId: caseId, operand: "q", pattern: a.dataQ, type: a.inputType,
                             shape: [a.batch, a.heads, a.queryLength, a.headDim])
        kvLengths = Tensor(type: .int32, shape: [a.batch], values: a.kvLengths.map(Double.init), overflow: .saturate)
        var pageOf: [Int] = []
        let kvShape: [Int]
        if a.layout == .paged {
            let (table, pages) = Self.pageTable(a, key: generator.key(caseId: caseId, operand: "pages"))
            pageTable = Tensor(type: .int32, shape: [a.batch, a.pagesPerSequence], values: table.map(Double.init), overflow: .saturate)
            pageOf = table
            kvShape = [pages, a.pageSize, a.kvHeads, a.headDim]
        } else {
            pageTable = nil
            kvShape = a.layout == .bhsd ? [a.batch, a.kvHeads, a.kvLength, a.headDim] : [a.batch, a.kvLength, a.kvHeads, a.headDim]
        }
        // Every slot starts as NaN; the sequences' own positions are then written, one
        // (sequence, kv head) per work item, into disjoint parts of the storage.
        let width = a.kvType.byteWidth, nan = a.kvType.encode(.nan, overflow: .saturate)
        var kBytes = [UInt8](repeating: 0, count: kvShape.reduce(1, *) * width), vBytes = kBytes
        let keyK = generator.key(caseId: caseId, operand: "k"), keyV = generator.key(caseId: caseId, operand: "v")
        let table = pageOf
        kBytes.withUnsafeMutableBytes { kRaw in vBytes.withUnsafeMutableBytes { vRaw in
            let buffers = RawBuffers(k: kRaw, v: vRaw)
            for i in 0..<(kRaw.count / width) {
                Tensor.store(nan, at: i, width: width, in: buffers.k)
                Tensor.store(nan, at: i, width: width, in: buffers.v)
            }
            DispatchQueue.concurrentPerform(iterations: a.batch * a.kvHeads) { unit in
                let b = unit / a.kvHeads, g = unit % a.kvHeads
                for s in 0..<a.kvLengths[b] {
                    let logical = ((b * a.kvHeads + g) * a.kvLength + s) * a.headDim
                    let stored = Self.index(a, table, batch: b, kvHead: g, position: s)
                    for d in 0..<a.headDim {
                        let kv = DataGenerator.value(a.dataK, key: keyK, index: logical + d)
                        let vv = DataGenerator.value(a.dataV, key: keyV, index: logical + d)
                        Tensor.store(a.kvType.encode(kv, overflow: .saturate), at: stored + d, width: width, in: buffers.k)
                        Tensor.store(a.kvType.encode(vv, overflow: .saturate), at: stored + d, width: width, in: buffers.v)
                    }
                }
            }
        } }
        k = Tensor(type: a.kvType, shape: kvShape, storage: kBytes)
        v = Tensor(type: a.kvType, shape: kvShape, storage: vBytes)
    }

    private struct RawBuffers: @unchecked Sendable {
        let k: UnsafeMutableRawBufferPointer
        let v: UnsafeMutableRawBufferPointer
    }

    /// Storage index of K[batch, kvHead, position, 0] (and of V's) in this case's layout.
    public func index(batch: Int, kvHead: Int, position: Int) -> Int {
        Self.index(attention, pageNumbers, batch: batch, kvHead: kvHead, position: position)
    }

    static func index(_ a: AttentionCase, _ pageTable: [Int], batch b: Int, kvHead g: Int, position s: Int) -> Int {
        switch a.layout {
        case .bhsd: return ((b * a.kvHeads + g) * a.kvLength + s) * a.headDim
        case .bshd: return ((b * a.kvLength + s) * a.kvHeads + g) * a.headDim
        case .paged:
            let page = pageTable[b * a.pagesPerSequence + s / a.pageSize]
            return ((page * a.pageSize + s % a.pageSize) * a.kvHeads + g) * a.headDim
        }
    }

    /// The keys (or values) of one sequence and kv head as contiguous rows [kv length, head_dim]
    /// of `tensor` (K or V): stored values decoded exactly to fp32, the scale not applied.
    public func rows(_ tensor: Tensor, batch: Int, kvHead: Int) -> [Float] {
        let a = attention, length = a.kvLengths[batch], d = a.headDim
        let table = pageNumbers
        return [Float](unsafeUninitializedCapacity: length * d) { out, initialized in
            for s in 0..<length {
                let base = Self.index(a, table, batch: batch, kvHead: kvHead, position: s)
                tensor.decode(base..<(base + d), into: out.baseAddress! + s * d)
            }
            initialized = length * d
        }
    }

    /// The page table as integers (empty unless paged).
    public var pageNumbers: [Int] {
        pageTable.map { t in (0..<t.count).map { Int(Int32(bitPattern: t.bits(at: $0))) } } ?? []
    }

    /// One page per page-sized piece of every sequence, placed at pages drawn by a seeded
    /// Fisher–Yates shuffle (stream "pages"), plus one spare page no sequence owns.
    static func pageTable(_ a: AttentionCase, key: UInt64) -> (table: [Int], pages: Int) {
        let needed = a.kvLengths.map { ($0 + a.pageSize - 1) / a.pageSize }
        let pages = needed.reduce(0, +) + 1
        var order = Array(0..<pages)
        for i in stride(from: pages - 1, to: 0, by: -1) {
            let j = Int(DataGenerator.raw(key: key, i) % UInt64(i + 1))
            order.swapAt(i, j)
        }
        var table = [Int](repeating: -1, count: a.batch * a.pagesPerSequence)
        var next = 0
        for b in 0..<a.batch {
            for p in 0..<needed[b] { table[b * a.pagesPerSequence + p] = order[next]; next += 1 }
        }
        return (table, pages)
    }
}
