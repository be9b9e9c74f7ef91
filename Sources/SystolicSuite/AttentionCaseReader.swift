import SystolicJSON
import SystolicNumerics

/// Reads an attention case:
///
/// ```json
/// {"name": "gqa-decode", "op": "attention", "profiles": ["full"],
///  "shape": {"batch": 1, "heads": 32, "kv_heads": 8, "head_dim": 128, "q_len": 1, "kv_len": [512, 4096]},
///  "causal": true, "scale": 0.088,
///  "types": "bf16" or {"input", "kv", "accumulate", "p", "output"},
///  "kv_scales": {"k": 0.05, "v": 0.05}, "kv_layout": "bhsd" | "bshd" | "paged", "page_size": 16,
///  "data": {"pattern": "normal"} or {"q": {...}, "k": {...}, "v": {...}}}
/// ```
///
/// A ragged decode batch gives `"kv_lens": [l₀, l₁, …]` in the shape instead of `kv_len` and
/// `batch` (the batch is the list's length).
enum AttentionCaseReader {
    static let members: Set<String> = ["name", "op", "description", "profiles", "overflow", "shape", "causal", "scale", "types",
                                       "kv_scales", "kv_layout", "page_size", "data"]

    static func read(_ node: JSONNode, overflow: OverflowMode) throws(InputFileError) -> [(params: String, workload: Workload)] {
        try node.rejectUnknownMembers(members)
        let shape = try node.member("shape")
        try shape.rejectUnknownMembers(["batch", "heads", "kv_heads", "head_dim", "q_len", "kv_len", "kv_lens"])
        let dim = 1...SuiteLoader.Limits.dimension
        let heads = try Sweep.integers(shape.member("heads"), in: 1...1024, what: "a head count")
        let kvHeadsNode = try shape.optionalMember("kv_heads")
        let kvHeads = try kvHeadsNode.map { n throws(InputFileError) in try Sweep.integers(n, in: 1...1024, what: "a head count") }
        let headDims = try Sweep.integers(shape.member("head_dim"), in: 1...1024, what: "a head dimension")
        let qLens = try Sweep.integers(shape.member("q_len"), in: dim, what: "a positive length")

        // Either a sweep of batch × uniform kv_len, or one ragged batch.
        var batches: [Int], kvLens: [[Int]]
        if let ragged = try shape.optionalMember("kv_lens") {
            if try shape.optionalMember("kv_len") != nil { throw ragged.failure("give kv_len or kv_lens, not both") }
            if try shape.optionalMember("batch") != nil { throw ragged.failure("a ragged batch takes its size from kv_lens: remove batch") }
            let items = try ragged.items()
            if items.isEmpty || items.count > SuiteLoader.Limits.batch { throw ragged.failure(expected: "a list of 1 to \(SuiteLoader.Limits.batch) kv lengths") }
            var lengths: [Int] = []
            for item in items { lengths.append(try item.int(in: dim, what: "a positive length")) }
            batches = [lengths.count]; kvLens = [lengths]
        } else {
            batches = try Sweep.integers(shape.member("batch"), in: 1...SuiteLoader.Limits.batch, what: "a positive batch count")
            kvLens = try Sweep.integers(shape.member("kv_len"), in: dim, what: "a positive length").map { [$0] }
        }
        let causal = try node.optionalMember("causal")?.bool() ?? false
        let scaleNode = try node.optionalMember("scale")
        let scale = try scaleNode?.double()
        if let scale, !(scale > 0 && scale.isFinite) { throw scaleNode!.failure(expected: "a positive scale") }

        let typesNode = try node.member("types")
        let input, kv, acc, p, output: NumberType
        if case .string = typesNode.value {
            input = try typesNode.choice(NumberType.self); kv = input; acc = .fp32; p = input; output = input
        } else {
            try typesNode.rejectUnknownMembers(["input", "kv", "accumulate", "p", "output"])
            input = try typesNode.member("input").choice(NumberType.self)
            kv = try typesNode.optionalMember("kv")?.choice(NumberType.self) ?? input
            acc = try typesNode.optionalMember("accumulate")?.choice(NumberType.self) ?? .fp32
            p = try typesNode.optionalMember("p")?.choice(NumberType.self) ?? input
            output = try typesNode.optionalMember("output")?.choice(NumberType.self) ?? input
        }
        for (t, what) in [(input, "input"), (kv, "kv"), (acc, "accumulate"), (p, "p"), (output, "output")] where t.isInteger || t.isNarrowInput {
            throw typesNode.failure("attention \(what) type must be floating point, fp8 or wider, found \(t.rawValue)")
        }
        var kScale = 1.0, vScale = 1.0
        if let scales = try node.optionalMember("kv_scales") {
            try scales.rejectUnknownMembers(["k", "v"])
            for (key, target) in [("k", 0), ("v", 1)] {
                guard let s = try scales.optionalMember(key) else { continue }
                let v = try s.double()
                if !(v > 0 && v.isFinite) { throw s.failure(expected: "a positive finite scale") }
                if target == 0 { kScale = v } else { vScale = v }
            }
        }
        let layout = try node.optionalMember("kv_layout")?.choice(AttentionCase.KVLayout.self) ?? .bhsd
        let pageNode = try node.optionalMember("page_size")
        let pageSize = try pageNode?.int(in: 1...65536, what: "a page size in positions") ?? 16
        if pageNode != nil, layout != .paged { throw pageNode!.failure("page_size applies only to kv_layout \"paged\"") }

        let fallback = DataPattern.normal(mean: 0, std: 1)
        var dataQ = fallback, dataK = fallback, dataV = fallback
        if let data = try node.optionalMember("data") {
            if try data.optionalMember("pattern") != nil {
                dataQ = try SuiteLoader.dataPattern(data, fallback: fallback); dataK = dataQ; dataV = dataQ
            } else {
                try data.rejectUnknownMembers(["q", "k", "v"])
                dataQ = try SuiteLoader.dataPattern(data.optionalMember("q"), fallback: fallback)
                dataK = try SuiteLoader.dataPattern(data.optionalMember("k"), fallback: fallback)
                dataV = try SuiteLoader.dataPattern(data.optionalMember("v"), fallback: fallback)
            }
            for pattern in [dataQ, dataK, dataV] {
                if case .cancelling = pattern { throw data.failure("the cancelling pattern is defined for GEMM operands only") }
                if case .dominantFirst = pattern { throw data.failure("the dominant_first pattern is defined for GEMM operands only") }
            }
        }

        var out: [(params: String, workload: Workload)] = []
        for point in try Sweep.product([Array(batches.indices), heads, kvHeads ?? [0], headDims, qLens, Array(kvLens.indices)], at: node) {
            let kvh = point[2] == 0 ? point[1] : point[2]
            guard point[1] % kvh == 0 else {
                throw (kvHeadsNode ?? shape).failure("heads=\(point[1]) is not a multiple of kv_heads=\(kvh)")
            }
            let batch = batches[point[0]]
            let lengths = kvLens[point[5]].count == 1 ? Array(repeating: kvLens[point[5]][0], count: batch) : kvLens[point[5]]
            let a = AttentionCase(batch: batch, heads: point[1], kvHeads: kvh, headDim: point[3], queryLength: point[4],
                                  kvLengths: lengths, causal: causal, scale: scale, inputType: input, kvType: kv, accumulateType: acc,
                                  probabilityType: p, outputType: output, kScale: kScale, vScale: vScale, layout: layout,
                                  pageSize: pageSize, data: dataQ, dataK: dataK, dataV: dataV, overflow: overflow)
            let kvElements = a.batch * a.kvHeads * a.kvLength * a.headDim
            let qElements = a.batch * a.heads * a.queryLength * a.headDim
            if max(kvElements, qElements) > SuiteLoader.Limits.tensorElements {
                throw shape.failure("a tensor of this case has more than \(SuiteLoader.Limits.tensorElements) elements")
            }
            if a.hostBytes > SuiteLoader.Limits.caseBytes {
                throw shape.failure("the case holds \(a.hostBytes >> 20) MiB of host memory with its working copies and reference, more than the \(SuiteLoader.Limits.caseBytes >> 20) MiB allowed")
            }
            let kvParam = Set(lengths).count == 1 ? "kv_len=\(lengths[0])" : "kv_lens=" + lengths.map(String.init).joined(separator: "+")
            let params = "batch=\(a.batch),heads=\(a.heads),kv_heads=\(a.kvHeads),head_dim=\(a.headDim),q_len=\(a.queryLength),\(kvParam)"
            out.append((params, .attention(a)))
        }
        return out
    }
}
