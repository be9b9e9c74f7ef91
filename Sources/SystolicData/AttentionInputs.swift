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

    public init(_ a: AttentionCase, caseId: String, generator: DataGenerator) {
        attention = a
        q = generator.tensor(caseId: caseId, operand: "q", pattern: a.dataQ, type: a.inputType,
                             shape: [a.batch, a.heads, a.queryLength, a.headDim])
        kvLengths = Tensor(type: .int32, shape: [a.batch], values: a.kvLengths.map(Double.init), overflow: .saturate)
        var pageOf: [Int] = []
        if a.layout == .paged {
            let (table, pages) = Self.pageTable(a, key: generator.key(caseId: caseId, operand: "pages"))
            pageTable = Tensor(type: .int32, shape: [a.batch, a.pagesPerSequence], values: table.map(Double.init), overflow: .saturate)
            pageOf = table
            k = Tensor(type: a.kvType, shape: [pages, a.pageSize, a.kvHeads, a.headDim])
            v = k
        } else {
            pageTable = nil
            let shape = a.layout == .bhsd ? [a.batch, a.kvHeads, a.kvLength, a.headDim] : [a.batch, a.kvLength, a.kvHeads, a.headDim]
            k = Tensor(type: a.kvType, shape: shape)
            v = k
        }
        // Every slot starts as NaN; the sequences' own positions are then written.
        let nan = a.kvType.encode(.nan, overflow: .saturate)
        for i in 0..<k.count { k.setBits(nan, at: i); v.setBits(nan, at: i) }
        let keyK = generator.key(caseId: caseId, operand: "k"), keyV = generator.key(caseId: caseId, operand: "v")
        for b in 0..<a.batch {
            for g in 0..<a.kvHeads {
                for s in 0..<a.kvLengths[b] {
                    let logical = ((b * a.kvHeads + g) * a.kvLength + s) * a.headDim
                    let stored = Self.index(a, pageOf, batch: b, kvHead: g, position: s)
                    for d in 0..<a.headDim {
                        k.setValue(DataGenerator.value(a.dataK, key: keyK, index: logical + d), at: stored + d, overflow: .saturate)
                        v.setValue(DataGenerator.value(a.dataV, key: keyV, index: logical + d), at: stored + d, overflow: .saturate)
                    }
                }
            }
        }
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

    /// The keys (or values) of one sequence and kv head as contiguous rows [kv length, head_dim],
    /// gathered from `decoded`, the whole K (or V) tensor's `decodedFloats()`: stored values,
    /// exact in fp32, the scale not applied.
    public func rows(_ decoded: [Float], batch: Int, kvHead: Int) -> [Float] {
        let a = attention, length = a.kvLengths[batch], d = a.headDim
        let table = pageNumbers
        var out = [Float](repeating: 0, count: length * d)
        for s in 0..<length {
            let base = Self.index(a, table, batch: batch, kvHead: kvHead, position: s)
            for j in 0..<d { out[s * d + j] = decoded[base + j] }
        }
        return out
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
