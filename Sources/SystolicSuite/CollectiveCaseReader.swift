import SystolicJSON
import SystolicNumerics

/// Reads a collective case (byte counts as nccl-tests' `-b/-e/-f`):
///
/// ```json
/// {"name": "all-reduce-fp32", "op": "collective", "profiles": ["quick"], "collective": "all_reduce",
///  "ranks": [2, 8], "bytes": {"from": 1024, "to": 1048576, "factor": 4}, "type": "fp32",
///  "reduction": "sum", "in_place": false, "root": 0}
/// ```
enum CollectiveCaseReader {
    static func read(_ node: JSONNode) throws(InputFileError) -> [(params: String, workload: Workload)] {
        try node.rejectUnknownMembers(["name", "op", "description", "profiles", "overflow", "collective", "ranks", "bytes",
                                        "type", "reduction", "in_place", "root", "data"])
        let operation = try node.member("collective").choice(CollectiveCase.Operation.self)
        let ranks = try Sweep.integers(node.member("ranks"), in: 2...64, what: "a rank count")
        let bytesNode = try node.member("bytes")
        let sizes = try Sweep.integers(bytesNode, in: 1...(1 << 34), what: "a byte count")
        let type = try node.member("type").choice(NumberType.self)
        let reduction = try node.optionalMember("reduction")?.choice(CollectiveCase.Reduction.self) ?? .sum
        let inPlace = try node.optionalMember("in_place")?.bool() ?? false
        let rootNode = try node.optionalMember("root")
        let root = try rootNode?.int(in: 0...63, what: "a rank") ?? 0
        let data = try SuiteLoader.dataPattern(node.optionalMember("data"), fallback: SuiteLoader.defaultPattern(for: type))

        var out: [(params: String, workload: Workload)] = []
        for point in Sweep.product([ranks, sizes]) {
            let (n, bytes) = (point[0], point[1])
            guard bytes % type.byteWidth == 0 else {
                throw bytesNode.failure("\(bytes) bytes is not a whole number of \(type.rawValue) elements")
            }
            if root >= n { throw rootNode!.failure("root \(root) is not a rank of a \(n)-rank collective") }
            let c = CollectiveCase(operation: operation, ranks: n, bytes: bytes, type: type, reduction: reduction,
                                   inPlace: inPlace, root: root, data: data)
            out.append(("ranks=\(n),bytes=\(bytes)", .collective(c)))
        }
        return out
    }
}
