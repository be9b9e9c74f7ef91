import SystolicJSON
import SystolicNumerics

/// Reads a collective case (byte counts as nccl-tests' `-b/-e/-f`):
///
/// ```json
/// {"name": "all-reduce-fp32", "op": "collective", "profiles": ["quick"], "collective": "all_reduce",
///  "ranks": [2, 8], "bytes": {"from": 1024, "to": 1048576, "factor": 4}, "type": "fp32",
///  "reduction": "sum", "in_place": false, "root": 0, "data": {"pattern": "normal"}, "timing_only": false}
/// ```
///
/// Without `data` the case uses the crafted exact data; `timing_only` cases ask the device for its
/// timing alone (the large sizes of a sweep).
enum CollectiveCaseReader {
    static func read(_ node: JSONNode) throws(InputFileError) -> [(params: String, workload: Workload)] {
        try node.rejectUnknownMembers(["name", "op", "description", "profiles", "overflow", "collective", "ranks", "bytes",
                                        "type", "reduction", "in_place", "root", "data", "timing_only"])
        let operation = try node.member("collective").choice(CollectiveCase.Operation.self)
        let ranks = try Sweep.integers(node.member("ranks"), in: 2...64, what: "a rank count")
        let bytesNode = try node.member("bytes")
        let sizes = try Sweep.integers(bytesNode, in: 1...(1 << 34), what: "a byte count")
        let typeNode = try node.member("type")
        let type = try typeNode.choice(NumberType.self)
        if type.isNarrowInput {
            throw typeNode.failure("\(type.rawValue) is a GEMM input format (docs/formats.md), not a collective's type")
        }
        let reduction = try node.optionalMember("reduction")?.choice(CollectiveCase.Reduction.self) ?? .sum
        let inPlace = try node.optionalMember("in_place")?.bool() ?? false
        let rootNode = try node.optionalMember("root")
        let root = try rootNode?.int(in: 0...63, what: "a rank") ?? 0
        let dataNode = try node.optionalMember("data")
        let data = try dataNode.map { n throws(InputFileError) in try SuiteLoader.dataPattern(n, fallback: .normal(mean: 0, std: 1)) }
        if let data {
            switch data {
            case .cancelling, .specials, .logUniform, .dominantFirst: throw dataNode!.failure("collectives take the crafted data (no data member) or uniform, normal, integer or constant data")
            default: break
            }
        }
        if type == .fp8_e4m3 || type == .fp8_e5m2, operation.reduces {
            throw node.failure("fp8 reductions are not defined by this suite format (nccl-tests has none); use bf16, fp16, fp32, int8 or int32")
        }
        let timingOnly = try node.optionalMember("timing_only")?.bool() ?? false

        var out: [(params: String, workload: Workload)] = []
        for point in try Sweep.product([ranks, sizes], at: node) {
            let (n, bytes) = (point[0], point[1])
            guard bytes % type.byteWidth == 0 else {
                throw bytesNode.failure("\(bytes) bytes is not a whole number of \(type.rawValue) elements")
            }
            if root >= n { throw rootNode!.failure("root \(root) is not a rank of a \(n)-rank collective") }
            if [.allGather, .reduceScatter, .allToAll].contains(operation), (bytes / type.byteWidth) % n != 0 {
                throw bytesNode.failure("\(operation.rawValue) over \(n) ranks needs a size that is a multiple of \(n) \(type.rawValue) elements, found \(bytes) bytes")
            }
            let c = CollectiveCase(operation: operation, ranks: n, bytes: bytes, type: type, reduction: reduction,
                                   inPlace: inPlace, root: root, data: data, timingOnly: timingOnly)
            // What a checked case holds at once: every rank's input and output buffers and the
            // check's exact values (fp64). 64 ranks of 2 GiB passed here and then failed to allocate.
            let held = c.hostBytes
            if held > SuiteLoader.Limits.caseBytes {
                throw bytesNode.failure("\(n) ranks of \(bytes) bytes hold \(held) bytes with the check's reference, more than the \(SuiteLoader.Limits.caseBytes) a case may; mark the case \"timing_only\" to time it without data")
            }
            out.append(("ranks=\(n),bytes=\(bytes)", .collective(c)))
        }
        return out
    }
}
