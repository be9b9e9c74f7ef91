import SystolicJSON
import SystolicNumerics

/// Reads an attention case:
///
/// ```json
/// {"name": "gqa-decode", "op": "attention", "profiles": ["full"],
///  "shape": {"batch": 1, "heads": 32, "kv_heads": 8, "head_dim": 128, "q_len": 1, "kv_len": [512, 4096]},
///  "causal": true, "scale": 0.088, "types": "bf16" or {"input", "accumulate", "p", "output"},
///  "data": {"pattern": "normal"}}
/// ```
enum AttentionCaseReader {
    static func read(_ node: JSONNode, overflow: OverflowMode) throws(InputFileError) -> [(params: String, workload: Workload)] {
        try node.rejectUnknownMembers(["name", "op", "description", "profiles", "overflow", "shape", "causal", "scale", "types", "data"])
        let shape = try node.member("shape")
        try shape.rejectUnknownMembers(["batch", "heads", "kv_heads", "head_dim", "q_len", "kv_len"])
        let dim = 1...SuiteLoader.Limits.dimension
        let batches = try Sweep.integers(shape.member("batch"), in: 1...SuiteLoader.Limits.batch, what: "a positive batch count")
        let heads = try Sweep.integers(shape.member("heads"), in: 1...1024, what: "a head count")
        let kvHeadsNode = try shape.optionalMember("kv_heads")
        let kvHeads = try kvHeadsNode.map { n throws(InputFileError) in try Sweep.integers(n, in: 1...1024, what: "a head count") }
        let headDims = try Sweep.integers(shape.member("head_dim"), in: 1...1024, what: "a head dimension")
        let qLens = try Sweep.integers(shape.member("q_len"), in: dim, what: "a positive length")
        let kvLens = try Sweep.integers(shape.member("kv_len"), in: dim, what: "a positive length")
        let causal = try node.optionalMember("causal")?.bool() ?? false
        let scaleNode = try node.optionalMember("scale")
        let scale = try scaleNode?.double()
        if let scale, scale <= 0 { throw scaleNode!.failure(expected: "a positive scale") }

        let typesNode = try node.member("types")
        let input, acc, p, output: NumberType
        if case .string = typesNode.value {
            input = try typesNode.choice(NumberType.self); acc = .fp32; p = input; output = input
        } else {
            try typesNode.rejectUnknownMembers(["input", "accumulate", "p", "output"])
            input = try typesNode.member("input").choice(NumberType.self)
            acc = try typesNode.optionalMember("accumulate")?.choice(NumberType.self) ?? .fp32
            p = try typesNode.optionalMember("p")?.choice(NumberType.self) ?? input
            output = try typesNode.optionalMember("output")?.choice(NumberType.self) ?? input
        }
        for (t, what) in [(input, "input"), (acc, "accumulate"), (p, "p"), (output, "output")] where t.isInteger {
            throw typesNode.failure("attention \(what) type must be floating point, found \(t.rawValue)")
        }
        let data = try SuiteLoader.dataPattern(node.optionalMember("data"), fallback: .normal(mean: 0, std: 1))

        var out: [(params: String, workload: Workload)] = []
        for point in Sweep.product([batches, heads, kvHeads ?? [0], headDims, qLens, kvLens]) {
            let kvh = point[2] == 0 ? point[1] : point[2]
            guard point[1] % kvh == 0 else {
                throw (kvHeadsNode ?? shape).failure("heads=\(point[1]) is not a multiple of kv_heads=\(kvh)")
            }
            let a = AttentionCase(batch: point[0], heads: point[1], kvHeads: kvh, headDim: point[3], queryLength: point[4],
                                  kvLength: point[5], causal: causal, scale: scale, inputType: input, accumulateType: acc,
                                  probabilityType: p, outputType: output, data: data, overflow: overflow)
            let kvElements = a.batch * a.kvHeads * a.kvLength * a.headDim
            let qElements = a.batch * a.heads * a.queryLength * a.headDim
            if max(kvElements, qElements) > SuiteLoader.Limits.tensorElements {
                throw shape.failure("a tensor of this case has more than \(SuiteLoader.Limits.tensorElements) elements")
            }
            let params = "batch=\(a.batch),heads=\(a.heads),kv_heads=\(a.kvHeads),head_dim=\(a.headDim),q_len=\(a.queryLength),kv_len=\(a.kvLength)"
            out.append((params, .attention(a)))
        }
        return out
    }
}
