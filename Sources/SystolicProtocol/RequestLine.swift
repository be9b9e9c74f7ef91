/// The `run` request as one JSON line, written member by member.
///
/// Foundation's `JSONEncoder` spent 25 µs (hot) to 60 µs (between cases) on a 760-byte request,
/// a fifth of a small case's cost (protocol v2, item 4); this writes the same bytes in a few
/// microseconds. "The same bytes" is the contract, and `RequestLineTests` holds it to that:
/// compact, keys in byte order at every level (what `JSONEncoder` writes with `.sortedKeys` and
/// `.withoutEscapingSlashes`), absent optionals omitted, numbers spelt as `JSONEncoder` spells them.
/// Member names come from each type's `CodingKeys`, their one home; the tests also check that every
/// stored property of a fully populated spec reaches the line.
extension RunRequest {
    public func line() -> [UInt8] {
        var w = JSONLineWriter()
        w.beginObject()
        // RunRequest's keys are its property names (synthesized CodingKeys).
        if let attention { w.key("attention"); attention.write(&w) }
        if let collective { w.key("collective"); collective.write(&w) }
        if let gemm { w.key("gemm"); gemm.write(&w) }
        w.member("id", id)
        w.key("inputs"); Self.write(inputs, &w)
        w.member("op", op)
        w.key("outputs"); Self.write(outputs, &w)
        w.key("timing"); timing.write(&w)
        w.member("type", type)
        w.endObject()
        w.bytes.append(0x0A)
        return w.bytes
    }

    private static func write(_ files: [String: TensorFile], _ w: inout JSONLineWriter) {
        w.beginObject()
        for role in files.keys.sorted(by: JSONLineWriter.byteOrder) {
            w.key(role)
            files[role]!.write(&w)
        }
        w.endObject()
    }
}

extension TensorFile {
    fileprivate func write(_ w: inout JSONLineWriter) {
        w.beginObject()
        w.member(CodingKeys.path, path)
        w.key(CodingKeys.shape.stringValue); w.ints(shape)
        w.member(CodingKeys.type, type.rawValue)
        w.endObject()
    }
}

extension TimingPlan {
    fileprivate func write(_ w: inout JSONLineWriter) {
        w.beginObject()
        w.member(CodingKeys.minRepeats, minRepeats)
        w.member(CodingKeys.minSeconds, minSeconds)
        w.member(CodingKeys.warmup, warmup)
        w.endObject()
    }
}

extension GemmSpec {
    fileprivate func write(_ w: inout JSONLineWriter) {
        w.beginObject()
        w.member(CodingKeys.a, a.rawValue)
        w.member(CodingKeys.accumulate, accumulate.rawValue)
        if let accumulateC { w.member(CodingKeys.accumulateC, accumulateC.rawValue) }
        if let activation { w.member(CodingKeys.activation, activation) }
        w.member(CodingKeys.b, b.rawValue)
        w.member(CodingKeys.batch, batch)
        if let bias { w.member(CodingKeys.bias, bias) }
        if let blockA { w.key(CodingKeys.blockA.stringValue); w.ints(blockA) }
        if let blockB { w.key(CodingKeys.blockB.stringValue); w.ints(blockB) }
        if let blockFormat {
            w.key(CodingKeys.blockFormat.stringValue)
            w.beginObject()
            if let from = blockFormat.aFrom { w.member(BlockFormatSpec.CodingKeys.aFrom, from.rawValue) }
            if let group = blockFormat.group { w.member(BlockFormatSpec.CodingKeys.group, group) }
            if let scaleType = blockFormat.scaleType { w.member(BlockFormatSpec.CodingKeys.scaleType, scaleType.rawValue) }
            w.member(BlockFormatSpec.CodingKeys.scheme, blockFormat.scheme)
            if let zeroPoint = blockFormat.zeroPoint { w.member(BlockFormatSpec.CodingKeys.zeroPoint, zeroPoint) }
            w.endObject()
        }
        if let groups { w.member(CodingKeys.groups, groups) }
        w.member(CodingKeys.k, k)
        w.member(CodingKeys.layoutB, layoutB)
        if let lda { w.member(CodingKeys.lda, lda) }
        if let ldb { w.member(CodingKeys.ldb, ldb) }
        if let ldc { w.member(CodingKeys.ldc, ldc) }
        w.member(CodingKeys.m, m)
        w.member(CodingKeys.n, n)
        w.member(CodingKeys.output, output.rawValue)
        w.member(CodingKeys.overflow, overflow.rawValue)
        if let requantization {
            w.key(CodingKeys.requantization.stringValue)
                w.beginObject()
            w.member(RequantizationSpec.CodingKeys.perChannel, requantization.perChannel)
            w.member(RequantizationSpec.CodingKeys.scheme, requantization.scheme)
            w.endObject()
        }
        if let scaleA { w.member(CodingKeys.scaleA, scaleA) }
        if let scaleB { w.member(CodingKeys.scaleB, scaleB) }
        if let scaleOutput { w.member(CodingKeys.scaleOutput, scaleOutput) }
        w.endObject()
    }
}

extension AttentionSpec {
    fileprivate func write(_ w: inout JSONLineWriter) {
        w.beginObject()
        w.member(CodingKeys.accumulate, accumulate.rawValue)
        w.member(CodingKeys.batch, batch)
        w.member(CodingKeys.causal, causal)
        w.member(CodingKeys.headDim, headDim)
        w.member(CodingKeys.heads, heads)
        w.member(CodingKeys.input, input.rawValue)
        w.member(CodingKeys.kScale, kScale)
        w.member(CodingKeys.kv, kv.rawValue)
        w.member(CodingKeys.kvHeads, kvHeads)
        w.member(CodingKeys.kvLayout, kvLayout)
        w.key(CodingKeys.kvLens.stringValue); w.ints(kvLens)
        w.member(CodingKeys.output, output.rawValue)
        w.member(CodingKeys.overflow, overflow.rawValue)
        w.member(CodingKeys.p, p.rawValue)
        w.member(CodingKeys.pageSize, pageSize)
        w.member(CodingKeys.qLen, qLen)
        w.member(CodingKeys.scale, scale)
        w.member(CodingKeys.vScale, vScale)
        w.endObject()
    }
}

extension CollectiveSpec {
    fileprivate func write(_ w: inout JSONLineWriter) {
        w.beginObject()
        w.member(CodingKeys.bytes, bytes)
        w.member(CodingKeys.collective, collective)
        w.member(CodingKeys.inPlace, inPlace)
        w.member(CodingKeys.ranks, ranks)
        w.member(CodingKeys.reduction, reduction)
        w.member(CodingKeys.root, root)
        w.member(CodingKeys.timingOnly, timingOnly)
        w.member(CodingKeys.type, type.rawValue)
        w.endObject()
    }
}
