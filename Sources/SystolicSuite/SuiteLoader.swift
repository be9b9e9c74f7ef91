import SystolicJSON
import SystolicNumerics

/// Reads suite files (format `systolic-bench.suite/1`, schema in `schemas/suite.schema.json`),
/// validates every field and expands sweeps.
///
/// Every refusal is an `InputFileError` naming the file, the JSON path and the value. Sizes are
/// checked before anything is allocated: a dimension above `Limits.dimension`, a tensor above
/// `Limits.tensorElements` or a case above `Limits.caseBytes` is refused at load time.
public enum SuiteLoader {
    public enum Limits {
        public static let dimension = 1 << 20
        public static let batch = 4096
        public static let tensorElements = 1 << 31
        /// Host memory one case may hold at its peak (`Workload.hostBytes`: its tensors, working
        /// copies and reference); `run --max-case-memory` sets a lower limit for a run.
        public static let caseBytes = 16 << 30
        public static let cases = 100_000
        /// int8 products summed exactly in int32: 131072 · 127 · 128 < 2^31 (docs/numerics.md, "int8 requantisation").
        public static let int8K = 131_072
    }

    public static func load(_ path: String) throws(InputFileError) -> Suite {
        try load(bytes: try JSONFile.readBytes(path), file: path)
    }

    /// Loads a suite from already-read bytes (`file` names it in messages).
    public static func load(bytes: [UInt8], file: String) throws(InputFileError) -> Suite {
        try load(try JSONFile.parse(bytes, file: file), bytes: bytes)
    }

    private static func load(_ root: JSONNode, bytes: [UInt8]) throws(InputFileError) -> Suite {
        try root.rejectUnknownMembers(["format", "name", "version", "description", "defaults", "profiles", "cases"])
        let format = try root.member("format")
        guard try format.string() == Suite.formatTag else { throw format.failure(expected: "\"\(Suite.formatTag)\"") }
        let nameNode = try root.member("name")
        let name = try nameNode.string()
        guard PathName.isIdentifier(name) else { throw nameNode.failure(expected: "a name of \(PathName.identifierRule)") }
        let version = try root.member("version").string()
        let description = try root.optionalMember("description")?.string() ?? ""

        var seed: UInt64 = 0
        var repeats = 1
        var overflow = OverflowMode.saturate
        if let defaults = try root.optionalMember("defaults") {
            try defaults.rejectUnknownMembers(["seed", "repeats", "overflow"])
            if let s = try defaults.optionalMember("seed") { seed = UInt64(try s.int(in: 0...Int.max, what: "a non-negative integer seed")) }
            if let r = try defaults.optionalMember("repeats") { repeats = try r.int(in: 1...100_000, what: "a repeat count") }
            if let o = try defaults.optionalMember("overflow") { overflow = try o.choice(OverflowMode.self) }
        }

        var profiles: [String: String] = [:]
        for (key, node) in try root.member("profiles").members() {
            guard PathName.isIdentifier(key) else { throw node.failure("profile name \"\(key)\" must be \(PathName.identifierRule)") }
            profiles[key] = try node.string()
        }
        guard !profiles.isEmpty else { throw try root.member("profiles").failure(expected: "at least one profile") }

        let casesNode = try root.member("cases")
        var cases: [BenchmarkCase] = []
        var seenIds: [String: String] = [:]
        var seenNames = Set<String>()
        for caseNode in try casesNode.items() {
            let context = CaseContext(suite: name, profiles: profiles, overflow: overflow)
            let expanded = try expandCase(caseNode, context: context)
            let nameNode = try caseNode.member("name")
            guard seenNames.insert(expanded.first?.name ?? "").inserted else {
                throw nameNode.failure("case name \"\(try nameNode.string())\" is used twice in this suite")
            }
            for c in expanded {
                if let earlier = seenIds[c.id] { throw caseNode.failure("case id \"\(c.id)\" repeats one from \(earlier)") }
                seenIds[c.id] = caseNode.path
                cases.append(c)
            }
            guard cases.count <= Limits.cases else { throw caseNode.failure("the suite expands to more than \(Limits.cases) cases") }
        }
        guard !cases.isEmpty else { throw casesNode.failure(expected: "at least one case") }
        return Suite(name: name, version: version, description: description, profiles: profiles, seed: seed,
                     repeats: repeats, cases: cases, file: root.file, bytes: bytes)
    }

    struct CaseContext {
        var suite: String
        var profiles: [String: String]
        var overflow: OverflowMode
    }


    private static func expandCase(_ node: JSONNode, context: CaseContext) throws(InputFileError) -> [BenchmarkCase] {
        let nameNode = try node.member("name")
        let name = try nameNode.string()
        guard PathName.isIdentifier(name) else { throw nameNode.failure(expected: "a case name of \(PathName.identifierRule)") }
        let profilesNode = try node.member("profiles")
        var profiles: [String] = []
        for p in try profilesNode.items() {
            let pname = try p.string()
            guard context.profiles[pname] != nil else {
                throw p.failure(expected: "a profile declared in \"profiles\" (\(context.profiles.keys.sorted().joined(separator: ", ")))")
            }
            profiles.append(pname)
        }
        guard !profiles.isEmpty else { throw profilesNode.failure(expected: "a non-empty list of profiles") }
        let overflow = try node.optionalMember("overflow")?.choice(OverflowMode.self) ?? context.overflow
        let opNode = try node.member("op")
        let points: [(params: String, workload: Workload)]
        switch try opNode.string() {
        case "gemm": points = try GemmCaseReader.read(node, overflow: overflow)
        case "attention": points = try AttentionCaseReader.read(node, overflow: overflow)
        case "collective": points = try CollectiveCaseReader.read(node)
        default: throw opNode.failure(expected: "one of \"gemm\", \"attention\", \"collective\"")
        }
        return points.map {
            BenchmarkCase(id: "\(context.suite)/\(name)/\($0.params)", suite: context.suite, name: name, profiles: profiles, workload: $0.workload)
        }
    }

    /// Reads an optional data pattern; `fallback` when absent.
    static func dataPattern(_ node: JSONNode?, fallback: DataPattern) throws(InputFileError) -> DataPattern {
        guard let node else { return fallback }
        let kind = try node.member("pattern")
        switch try kind.string() {
        case "uniform":
            try node.rejectUnknownMembers(["pattern", "low", "high"])
            let low = try node.member("low").double()
            let highNode = try node.member("high")
            let high = try highNode.double()
            guard high > low else { throw highNode.failure(expected: "a value above \"low\" (\(low))") }
            return .uniform(low: low, high: high)
        case "normal":
            try node.rejectUnknownMembers(["pattern", "mean", "std"])
            let mean = try node.optionalMember("mean")?.double() ?? 0
            let stdNode = try node.optionalMember("std")
            let std = try stdNode?.double() ?? 1
            guard std >= 0 else { throw stdNode!.failure(expected: "a non-negative standard deviation") }
            return .normal(mean: mean, std: std)
        case "integer":
            try node.rejectUnknownMembers(["pattern", "low", "high"])
            let low = try node.member("low").int(in: -(1 << 40)...(1 << 40))
            let highNode = try node.member("high")
            let high = try highNode.int(in: -(1 << 40)...(1 << 40))
            guard high >= low else { throw highNode.failure(expected: "a value no smaller than \"low\" (\(low))") }
            return .integer(low: low, high: high)
        case "constant":
            try node.rejectUnknownMembers(["pattern", "value"])
            return .constant(try node.member("value").double())
        case "log_uniform":
            try node.rejectUnknownMembers(["pattern", "min_exponent", "max_exponent"])
            let low = try node.member("min_exponent").int(in: -1074...1023)
            let highNode = try node.member("max_exponent")
            let high = try highNode.int(in: -1074...1023)
            guard high >= low else { throw highNode.failure(expected: "a value no smaller than \"min_exponent\" (\(low))") }
            return .logUniform(minExponent: low, maxExponent: high)
        case "specials":
            try node.rejectUnknownMembers(["pattern", "low", "high", "nan_rate", "inf_rate"])
            let low = try node.member("low").double()
            let highNode = try node.member("high")
            let high = try highNode.double()
            guard high > low else { throw highNode.failure(expected: "a value above \"low\" (\(low))") }
            func rate(_ key: String) throws(InputFileError) -> Double {
                let n = try node.member(key)
                let v = try n.double()
                guard (0...1).contains(v) else { throw n.failure(expected: "a rate in 0...1") }
                return v
            }
            return .specials(low: low, high: high, nanRate: try rate("nan_rate"), infRate: try rate("inf_rate"))
        case "cancelling":
            try node.rejectUnknownMembers(["pattern", "std"])
            let stdNode = try node.optionalMember("std")
            let std = try stdNode?.double() ?? 1
            guard std > 0 else { throw stdNode!.failure(expected: "a positive standard deviation") }
            return .cancelling(std: std)
        case "dominant_first":
            try node.rejectUnknownMembers(["pattern", "first", "low", "high"])
            let first = try node.member("first").double()
            let lowNode = try node.member("low")
            let low = try lowNode.int(in: -(1 << 40)...(1 << 40))
            let highNode = try node.member("high")
            let high = try highNode.int(in: -(1 << 40)...(1 << 40))
            guard low % 2 != 0 else { throw lowNode.failure(expected: "an odd integer") }
            guard high % 2 != 0, high >= low else { throw highNode.failure(expected: "an odd integer no smaller than \"low\" (\(low))") }
            return .dominantFirst(first: first, low: low, high: high)
        default:
            throw kind.failure(expected: "one of \"uniform\", \"normal\", \"integer\", \"constant\", \"log_uniform\", \"specials\", \"cancelling\", \"dominant_first\"")
        }
    }

    /// The default pattern for an operand type: integers over the whole int8 range, else N(0, 1).
    static func defaultPattern(for type: NumberType) -> DataPattern {
        type == .int8 ? .integer(low: -128, high: 127) : .normal(mean: 0, std: 1)
    }
}

