import SystolicJSON
import SystolicNumerics

/// Reads a GEMM case of a suite:
///
/// ```json
/// {"name": "llm-decode-qkv", "op": "gemm", "profiles": ["quick", "full"],
///  "shape": {"m": [1, 4, 16], "n": 4096, "k": 4096, "batch": 1},
///  "types": "bf16",  // or {"a", "b", "accumulate", "output"}, or a list of either (a sweep)
///  "layout": {"b": "nk"}, "epilogue": {"bias": false, "activation": "none"},
///  "scales": {"a": 1, "b": 1, "output": 1},
///  "data": {"a": {"pattern": "normal", "std": 1}, "b": {...}}, "overflow": "saturate"}
/// ```
enum GemmCaseReader {
    static func read(_ node: JSONNode, overflow: OverflowMode) throws(InputFileError) -> [(params: String, workload: Workload)] {
        try node.rejectUnknownMembers(["name", "op", "description", "profiles", "overflow", "shape", "types", "layout",
                                        "epilogue", "scales", "data", "verification", "requantize", "accumulate_c", "block_format"])
        let verification = try node.optionalMember("verification")?.choice(Verification.self) ?? .auto
        let shape = try node.member("shape")
        try shape.rejectUnknownMembers(["m", "n", "k", "batch", "groups"])
        let dim = 1...SuiteLoader.Limits.dimension
        // A grouped GEMM gives the rows of each expert instead of m.
        var groups: [Int]?
        if let g = try shape.optionalMember("groups") {
            let hasM = try shape.optionalMember("m") != nil, hasBatch = try shape.optionalMember("batch") != nil
            if hasM || hasBatch {
                throw g.failure("a grouped GEMM takes its rows from groups: remove m and batch")
            }
            let items = try g.items()
            guard !items.isEmpty, items.count <= 1024 else { throw g.failure(expected: "a list of 1 to 1024 row counts, one per expert") }
            var rows: [Int] = []
            for item in items { rows.append(try item.int(in: 0...SuiteLoader.Limits.dimension, what: "a row count (0 for an idle expert)")) }
            guard rows.reduce(0, +) > 0 else { throw g.failure("every expert is idle: the groups hold no rows") }
            groups = rows
        }
        let ms: [Int]
        if let groups { ms = [groups.reduce(0, +)] } else { ms = try Sweep.integers(shape.member("m"), in: dim, what: "a positive integer") }
        let ns = try Sweep.integers(shape.member("n"), in: dim, what: "a positive integer")
        let ks = try Sweep.integers(shape.member("k"), in: dim, what: "a positive integer")
        let batches = try shape.optionalMember("batch").map { n throws(InputFileError) in
            try Sweep.integers(n, in: 1...SuiteLoader.Limits.batch, what: "a positive batch count")
        } ?? [1]

        let typesNode = try node.member("types")
        var typeSets: [GemmCase.Types] = []
        if case .array = typesNode.value {
            for item in try typesNode.items() { typeSets.append(try readTypes(item)) }
            guard !typeSets.isEmpty else { throw typesNode.failure(expected: "a non-empty list of type sets") }
        } else {
            typeSets = [try readTypes(typesNode)]
        }

        var layoutB = GemmCase.WeightLayout.kn
        var leading = GemmCase.LeadingDimensions()
        let layout = try node.optionalMember("layout")
        if let layout {
            try layout.rejectUnknownMembers(["b", "lda", "ldb", "ldc"])
            if let b = try layout.optionalMember("b") { layoutB = try b.choice(GemmCase.WeightLayout.self) }
            func stride(_ key: String) throws(InputFileError) -> Int? {
                try layout.optionalMember(key)?.int(in: dim, what: "a positive row stride in elements")
            }
            leading = GemmCase.LeadingDimensions(a: try stride("lda"), b: try stride("ldb"), c: try stride("ldc"))
        }
        var bias = false
        var activation = GemmCase.Activation.none
        if let epilogue = try node.optionalMember("epilogue") {
            try epilogue.rejectUnknownMembers(["bias", "activation"])
            bias = try epilogue.optionalMember("bias")?.bool() ?? false
            activation = try epilogue.optionalMember("activation")?.choice(GemmCase.Activation.self) ?? .none
        }
        let requantization = try Self.requantization(node.optionalMember("requantize"))
        var scales = GemmCase.Scales()
        if let s = try node.optionalMember("scales") {
            scales = try Self.scales(s)
        }
        let blockFormatNode = try node.optionalMember("block_format")
        let blockFormat = try blockFormatNode.map { n throws(InputFileError) in try Self.blockFormat(n) }
        if let blockFormat, let blockFormatNode {
            if try node.optionalMember("scales") != nil {
                throw blockFormatNode.failure("a block-scaled case takes its scales from its scheme: remove \"scales\"")
            }
            if requantization != nil { throw blockFormatNode.failure("a block-scaled case takes no requantize") }
            if let layout, !leading.isPacked {
                throw layout.failure("a block-scaled case takes packed rows (no lda, ldb or ldc) in this version")
            }
            if verification == .atScale { throw try node.member("verification").failure("a block-scaled case is verified in full") }
            scales = blockFormat.scales(a: .bf16)  // set per type set below
        }
        let data = try node.optionalMember("data")
        try data?.rejectUnknownMembers(["a", "b", "c"])
        // D = A·B + C: C's type is fp32 or the output type ("output").
        let addendNode = try node.optionalMember("accumulate_c")
        let addendWord = try addendNode?.string()
        if let addendWord, addendWord != "fp32", addendWord != "output" {
            throw addendNode!.failure(expected: "\"fp32\" or \"output\" (C's type)")
        }
        if addendWord == nil, try data?.optionalMember("c") != nil {
            throw try data!.member("c").failure("data for C is given only with \"accumulate_c\"")
        }

        if let data {
            let a = try data.optionalMember("a"), b = try data.optionalMember("b")
            let aCancels = try a.map { n throws(InputFileError) in try n.member("pattern").string() == "cancelling" } ?? false
            let bCancels = try b.map { n throws(InputFileError) in try n.member("pattern").string() == "cancelling" } ?? false
            if aCancels != bCancels { throw data.failure("the \"cancelling\" pattern must be given to both a and b") }
        }
        var out: [(params: String, workload: Workload)] = []
        for types in typeSets {
            let dataA = try SuiteLoader.dataPattern(data?.optionalMember("a"), fallback: SuiteLoader.defaultPattern(for: types.a))
            let dataB = try SuiteLoader.dataPattern(data?.optionalMember("b"), fallback: SuiteLoader.defaultPattern(for: types.b))
            for point in try Sweep.product([batches, ms, ns, ks], times: typeSets.count, at: node) {
                let (batch, m, n, k) = (point[0], point[1], point[2], point[3])
                var params = batch > 1 ? "batch=\(batch),m=\(m),n=\(n),k=\(k)" : "m=\(m),n=\(n),k=\(k)"
                if let groups { params = "experts=\(groups.count),m=\(m),n=\(n),k=\(k)" }
                if typeSets.count > 1 { params += ",types=\(types.label)" }
                var gemm = GemmCase(m: m, n: n, k: k, batch: batch, types: types, layoutB: layoutB, scales: scales,
                                    bias: bias, activation: activation, dataA: dataA, dataB: dataB, overflow: overflow,
                                    verification: verification, requantization: requantization)
                gemm.groups = groups
                gemm.leading = leading
                if let blockFormat, let blockFormatNode {
                    gemm.scales = blockFormat.scales(a: types.a)
                    try checkBlockFormat(blockFormat, gemm, node: node, at: blockFormatNode)
                    gemm.blockFormat = blockFormat
                } else if types.a == .int8, types.accumulate == .fp32 {
                    throw try node.member("types").failure("an int8 GEMM accumulates in int32; an fp32 accumulator is MXINT8's (\"block_format\": {\"scheme\": \"mx\"})")
                } else if types.b.isNibble {
                    throw try node.member("types").failure("\(types.b.rawValue) weights come with their group scales: add \"block_format\": {\"scheme\": \"int4\", …}")
                }
                if let addendWord {
                    // This version adds C to a plain or batched floating-point GEMM: no epilogue
                    // to order it against, no strided C rows, no experts.
                    if types.a.isInteger || bias || activation != .none || requantization != nil || scales.a != 1 || scales.b != 1
                        || scales.output != 1 || scales.isBlocked || groups != nil || leading.c != nil || verification == .atScale {
                        throw addendNode!.failure("accumulate_c takes a plain or batched floating-point GEMM (no epilogue, scales, groups, ldc or at-scale verification) in this version")
                    }
                    gemm.addend = addendWord == "fp32" ? .fp32 : types.output
                    gemm.dataC = try SuiteLoader.dataPattern(data?.optionalMember("c"), fallback: .normal(mean: 0, std: 1))
                    if case .cancelling = gemm.dataC { throw try data!.member("c").failure("C takes no cancelling pattern") }
                    if case .dominantFirst = gemm.dataC { throw try data!.member("c").failure("C takes no dominant_first pattern") }
                }
                if let layout { try checkLeadingDimensions(gemm, layout: layout) }
                if scales.isBlocked {
                    guard !types.a.isInteger || blockFormat != nil else { throw try node.member("scales").failure("block scales take floating-point inputs; int8 GEMMs use requantize") }
                    if groups != nil, let a = scales.blockA, a.rows != 1 {
                        throw try node.member("scales").member("a").member("block").failure(
                            "a grouped GEMM's activations take blocks of one row (1 x \(a.cols)): an expert's rows need not start on a block")
                    }
                }
                // A grouped GEMM takes block scales (fp8 experts as DeepSeek-V3 serves them), no other epilogue.
                let perTensorScales = scales.a != 1 || scales.b != 1 || scales.output != 1
                if groups != nil, bias || requantization != nil || activation != .none || perTensorScales || verification == .atScale {
                    throw node.failure("a grouped GEMM takes no epilogue, per-tensor scales or at-scale verification in this version")
                }
                if groups != nil, case .cancelling = dataA {
                    throw node.failure("the cancelling pattern is defined for plain and batched GEMMs, not grouped ones")
                }
                try checkSize(gemm, shape: shape)
                try checkInt8(gemm, node: node)
                out.append((params, .gemm(gemm)))
            }
        }
        return out
    }

    /// `"block_format": {"scheme": "mx" | "nvfp4", "scale_rounding": "floor" | "rceil" | "even" (MX) |
    /// "nearest" | "up" (NVFP4), "a_from": "bf16" | "fp16" | "fp32"}`: the scale rounding is the
    /// harness's for the operands it quantises (the specification's own by default); `a_from`
    /// has the device quantise A from values of that type (docs/formats.md).
    /// `{"scheme": "int4", "group": 32 | 64 | 128, "scale_type": "fp16" | "bf16", "zero_point": bool}`:
    /// int4 weights (uint4 with zero points) in groups along K.
    static func blockFormat(_ n: JSONNode) throws(InputFileError) -> GemmCase.BlockFormat {
        let scheme = try n.member("scheme").choice(GemmCase.BlockFormat.Scheme.self)
        if scheme == .int4 {
            try n.rejectUnknownMembers(["scheme", "group", "scale_type", "zero_point"])
            let groupNode = try n.member("group")
            let group = try groupNode.int(in: 1...SuiteLoader.Limits.dimension, what: "a group of 32, 64 or 128")
            guard GemmCase.BlockFormat.Int4Weights.groups.contains(group) else { throw groupNode.failure(expected: "a group of 32, 64 or 128 along K") }
            let scaleNode = try n.member("scale_type")
            let scaleType = try scaleNode.choice(NumberType.self)
            guard scaleType == .fp16 || scaleType == .bf16 else { throw scaleNode.failure(expected: "\"fp16\" or \"bf16\" (the group scales' type)") }
            let zeroPoint = try n.optionalMember("zero_point")?.bool() ?? false
            return GemmCase.BlockFormat(scheme: .int4, int4: .init(group: group, scaleType: scaleType, zeroPoint: zeroPoint))
        }
        try n.rejectUnknownMembers(["scheme", "scale_rounding", "a_from"])
        var format = GemmCase.BlockFormat(scheme: scheme)
        if let r = try n.optionalMember("scale_rounding") {
            switch scheme {
            case .mx: format.harnessRounding.mx = try r.choice(MXScaleRounding.self)
            case .nvfp4: format.harnessRounding.nvfp4 = try r.choice(NVFP4ScaleRounding.self)
            case .int4: break
            }
        }
        if let from = try n.optionalMember("a_from") {
            let type = try from.choice(NumberType.self)
            guard GemmCase.BlockFormat.activationSources.contains(type) else {
                throw from.failure(expected: "the type A travels in before the device quantises it: fp32, bf16 or fp16")
            }
            format.activationSource = type
        }
        return format
    }

    /// A block-scaled case's types, shape and data: element types of its scheme, an fp32
    /// accumulator, a floating-point output, K a whole number of blocks, and data drawn
    /// element by element (no cancelling or dominant-first patterns, which place values by hand).
    static func checkBlockFormat(_ f: GemmCase.BlockFormat, _ g: GemmCase, node: JSONNode, at place: JSONNode) throws(InputFileError) {
        for (operand, type) in [("a", g.types.a), ("b", g.types.b)] {
            let elements = GemmCase.BlockFormat.elementTypes(f.scheme, operand: operand)
            guard elements.contains(type) else {
                throw try node.member("types").failure("\(f.scheme.rawValue) takes \(elements.map(\.rawValue).joined(separator: ", ")) for \(operand), found \(type.rawValue)")
            }
        }
        if f.scheme == .mx, (g.types.a == .int8) != (g.types.b == .int8) {
            throw try node.member("types").failure("MXINT8 multiplies MXINT8: a and b both int8 or neither, found \(g.types.a.rawValue) and \(g.types.b.rawValue)")
        }
        if let int4 = f.int4, (g.types.b == .uint4) != int4.zeroPoint {
            throw try node.member("types").failure(int4.zeroPoint ? "int4 weights with zero points are uint4 (0…15), found \(g.types.b.rawValue)"
                                                                 : "int4 weights without zero points are int4 (−8…7), found \(g.types.b.rawValue)")
        }
        if f.scheme == .int4, g.groups != nil {
            throw place.failure("int4 weights are for plain and batched GEMMs in this version, not grouped ones")
        }
        guard g.types.accumulate == .fp32, [.fp32, .bf16, .fp16].contains(g.types.output) else {
            throw try node.member("types").failure("a block-scaled GEMM accumulates in fp32 into an fp32, bf16 or fp16 output, found \(g.types.label)")
        }
        guard g.k % f.blockSize == 0 else {
            throw try node.member("shape").member("k").failure("\(f.scheme.rawValue) needs K a multiple of its block of \(f.blockSize), found \(g.k)")
        }
        for pattern in [g.dataA, g.dataB] {
            switch pattern {
            case .cancelling, .dominantFirst:
                throw try node.member("data").failure("a block-scaled case draws its unquantised values element by element: no cancelling or dominant_first pattern")
            default: break
            }
        }
    }

    /// `"scales": {"a": 0.5 | {"block": [1, 128], "range": [low, high] | value}, "b": …, "output": 1}`:
    /// a number is a per-tensor scale, an object one fp32 scale per block. Blocks of A and of B
    /// must span the same K (the quantisation group the device sums before scaling).
    static func scales(_ s: JSONNode) throws(InputFileError) -> GemmCase.Scales {
        try s.rejectUnknownMembers(["a", "b", "output"])
        func positive(_ n: JSONNode) throws(InputFileError) -> Double {
            let v = try n.double()
            guard v > 0, v.isFinite else { throw n.failure(expected: "a positive finite scale") }
            return v
        }
        func blocks(_ n: JSONNode) throws(InputFileError) -> GemmCase.ScaleBlocks {
            try n.rejectUnknownMembers(["block", "range"])
            let shape = try n.member("block")
            let sides = try shape.items()
            guard sides.count == 2 else { throw shape.failure(expected: "a block shape [rows, cols]") }
            let rows = try sides[0].int(in: 1...SuiteLoader.Limits.dimension, what: "a positive block side")
            let cols = try sides[1].int(in: 1...SuiteLoader.Limits.dimension, what: "a positive block side")
            let range = try n.member("range")
            if case .array = range.value {
                let ends = try range.items()
                guard ends.count == 2 else { throw range.failure(expected: "a scale or a range [low, high]") }
                let (lo, hi) = (try positive(ends[0]), try positive(ends[1]))
                guard lo <= hi else { throw range.failure("the range [\(lo), \(hi)] is reversed") }
                return GemmCase.ScaleBlocks(rows: rows, cols: cols, low: lo, high: hi)
            }
            let v = try positive(range)
            return GemmCase.ScaleBlocks(rows: rows, cols: cols, low: v, high: v)
        }
        var out = GemmCase.Scales()
        if let a = try s.optionalMember("a") {
            if case .object = a.value { out.blockA = try blocks(a) } else { out.a = try positive(a) }
        }
        if let b = try s.optionalMember("b") {
            if case .object = b.value { out.blockB = try blocks(b) } else { out.b = try positive(b) }
        }
        if let o = try s.optionalMember("output") { out.output = try positive(o) }
        if let ba = out.blockA, let bb = out.blockB, ba.cols != bb.rows {
            throw s.failure("A's blocks span \(ba.cols) of K and B's \(bb.rows): both must span the same K (the quantisation group)")
        }
        return out
    }

    private static func checkLeadingDimensions(_ g: GemmCase, layout: JSONNode) throws(InputFileError) {
        let rows = [("lda", g.leading.a, g.k, "k"), ("ldb", g.leading.b, g.layoutB == .kn ? g.n : g.k, g.layoutB == .kn ? "n" : "k"),
                    ("ldc", g.leading.c, g.n, "n")]
        for (key, stride, least, dimension) in rows {
            guard let stride, stride < least else { continue }
            throw try layout.member(key).failure("\(key)=\(stride) is less than \(dimension)=\(least): a stored row must hold the whole matrix row")
        }
        if !g.leading.isPacked, g.groups != nil {
            throw layout.failure("leading dimensions are defined for plain and batched GEMMs, not grouped ones")
        }
    }

    private static func readTypes(_ node: JSONNode) throws(InputFileError) -> GemmCase.Types {
        if case .string = node.value {
            let t = try node.choice(NumberType.self)
            if t.isNarrowInput || t.isNibble {
                throw node.failure("\(t.rawValue) is an input format (docs/formats.md): name the accumulator and output, {\"a\": \"\(t.rawValue)\", \"b\": …, \"output\": …}")
            }
            return GemmCase.Types(shorthand: t)
        }
        try node.rejectUnknownMembers(["a", "b", "accumulate", "output"])
        let a = try node.member("a").choice(NumberType.self)
        let b = try node.member("b").choice(NumberType.self)
        let accNode = try node.optionalMember("accumulate")
        let acc = try accNode?.choice(NumberType.self) ?? (a == .int8 && !b.isNibble ? .int32 : .fp32)
        let output = try node.member("output").choice(NumberType.self)
        if a.isNibble { throw try node.member("a").failure("\(a.rawValue) is a weight format: B's type (docs/formats.md, \"int4 weights\")") }
        if b.isNibble {
            // int4 weights: the block_format's scheme checks A's type and the accumulator.
            if output.isNarrowInput || output.isNibble { throw try node.member("output").failure("\(output.rawValue) is an input format") }
            return GemmCase.Types(a: a, b: b, accumulate: acc, output: output)
        }
        guard a.isInteger == b.isInteger else { throw node.failure("inputs \(a.rawValue) and \(b.rawValue) mix integer and floating-point types") }
        if a.isInteger {
            guard a == .int8, b == .int8 else { throw node.failure("integer GEMM takes int8 inputs, found \(a.rawValue) × \(b.rawValue)") }
            // fp32 is MXINT8's accumulator (checked against the case's block_format below).
            guard acc == .int32 || acc == .fp32 else { throw accNode!.failure(expected: "\"int32\" for int8 inputs (\"fp32\" for MXINT8)") }
        } else {
            guard acc.floatFormat != nil, acc != .fp8_e4m3, acc != .fp8_e5m2, !acc.isNarrowInput else {
                throw (accNode ?? node).failure(expected: "an fp32, fp16 or bf16 accumulator")
            }
        }
        if output.isNarrowInput || output.isNibble {
            throw try node.member("output").failure("\(output.rawValue) is an input format (docs/formats.md): a GEMM's output is fp32, fp16, bf16, fp8 or an integer type")
        }
        return GemmCase.Types(a: a, b: b, accumulate: acc, output: output)
    }

    private static func checkSize(_ g: GemmCase, shape: JSONNode) throws(InputFileError) {
        let limit = SuiteLoader.Limits.tensorElements
        let stored = { (shape: [Int]) in shape.reduce(1, *) }
        let sizes = [("A", stored(g.storedShapeA)), ("B", stored(g.storedShapeB)), ("C", stored(g.storedShapeC))]
        for (tensor, elements) in sizes where elements > limit {
            throw shape.failure("at batch=\(g.batch), m=\(g.m), n=\(g.n), k=\(g.k) tensor \(tensor) has \(elements) elements, more than the \(limit) allowed")
        }
        let bytes = g.hostBytes
        if bytes > SuiteLoader.Limits.caseBytes {
            throw shape.failure("at batch=\(g.batch), m=\(g.m), n=\(g.n), k=\(g.k) the case holds \(bytes >> 20) MiB of host memory with its working copies and reference, more than the \(SuiteLoader.Limits.caseBytes >> 20) MiB allowed")
        }
    }

    private static func checkInt8(_ g: GemmCase, node: JSONNode) throws(InputFileError) {
        if g.types.a == .int8, g.k > SuiteLoader.Limits.int8K {
            throw try node.member("shape").member("k").failure(
                "k=\(g.k) exceeds \(SuiteLoader.Limits.int8K), beyond which int8 products can overflow an int32 accumulator")
        }
        // With an int32 bias (|bias| ≤ 2¹⁶) the sum must still fit: K·128·128 + 2¹⁶ < 2³¹.
        if g.types.a == .int8, g.bias, g.k * 16384 + (1 << 16) >= Int(Int32.max) {
            throw try node.member("shape").member("k").failure("k=\(g.k) with an int32 bias of up to 2^16 can overflow the int32 accumulator (k must be below 131068)")
        }
        if let r = g.requantization {
            guard g.types.a == .int8, g.types.output == .int8 else {
                throw try node.member("requantize").failure("requantisation takes an int8 GEMM with an int8 output (types a, b, output int8)")
            }
            _ = r
        } else if g.types.a == .int8, g.types.output == .int8, g.bias {
            throw node.failure("an int8 output with a bias needs a requantize member")
        }
    }

    /// `"requantize": {"scheme": "fp32_scale" | "fixed_point", "per_channel": true,
    ///  "scale": 0.002 or [low, high], "zero_point": 3 or [low, high]}`.
    static func requantization(_ node: JSONNode?) throws(InputFileError) -> GemmCase.Requantization? {
        guard let node else { return nil }
        try node.rejectUnknownMembers(["scheme", "per_channel", "scale", "zero_point"])
        let scheme = try node.member("scheme").choice(GemmCase.Requantization.Scheme.self)
        let perChannel = try node.optionalMember("per_channel")?.bool() ?? false
        func range(_ key: String) throws(InputFileError) -> (Double, Double, JSONNode) {
            let n = try node.member(key)
            if case .array = n.value {
                let items = try n.items()
                guard items.count == 2 else { throw n.failure(expected: "a number or a list [low, high]") }
                let (lo, hi) = (try items[0].double(), try items[1].double())
                guard lo <= hi else { throw n.failure("the range [\(lo), \(hi)] is reversed") }
                return (lo, hi, n)
            }
            let v = try n.double()
            return (v, v, n)
        }
        let (slo, shi, scaleNode) = try range("scale")
        guard slo > 0, shi < 1 || scheme == .fp32Scale, shi.isFinite else {
            throw scaleNode.failure(expected: scheme == .fixedPoint ? "scales in (0, 1) for the fixed-point scheme" : "positive finite scales")
        }
        let (zlo, zhi, zeroNode) = try range("zero_point")
        guard zlo == zlo.rounded(), zhi == zhi.rounded(), zlo >= -128, zhi <= 127 else {
            throw zeroNode.failure(expected: "integer zero points in -128...127")
        }
        if !perChannel && (slo != shi || zlo != zhi) {
            throw node.failure("a per-tensor requantisation takes one scale and one zero point; give per_channel: true for ranges")
        }
        return GemmCase.Requantization(scheme: scheme, perChannel: perChannel, scaleLow: slo, scaleHigh: shi, zeroPointLow: Int(zlo), zeroPointHigh: Int(zhi))
    }
}
