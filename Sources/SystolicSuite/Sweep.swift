import SystolicJSON

/// Integer sweeps as a suite writes them: a number, a list, or a range.
///
/// - `4096`
/// - `[1, 4, 16]`
/// - `{"from": 1, "to": 16, "step": 5}` → 1, 6, 11, 16 (arithmetic, `to` included when reached)
/// - `{"from": 128, "to": 8192, "factor": 2}` → 128, 256, …, 8192 (geometric, as nccl-tests' `-f`)
enum Sweep {
    /// Most values one sweep may produce; more is almost certainly a typo.
    static let maximumPoints = 4096

    static func integers(_ node: JSONNode, in range: ClosedRange<Int>, what: String) throws(InputFileError) -> [Int] {
        let expected = "\(what) in \(range.lowerBound)...\(range.upperBound), a list of them, or a range {\"from\", \"to\", \"step\" or \"factor\"}"
        switch node.value {
        case .number:
            guard let v = node.value.intValue, range.contains(v) else { throw node.failure(expected: expected) }
            return [v]
        case .array:
            let items = try node.items()
            guard !items.isEmpty else { throw node.failure(expected: "a non-empty list") }
            guard items.count <= maximumPoints else { throw node.failure("a sweep of \(items.count) values is more than the \(maximumPoints) allowed") }
            var values: [Int] = []
            for item in items {
                guard let v = item.value.intValue, range.contains(v) else { throw item.failure(expected: "\(what) in \(range.lowerBound)...\(range.upperBound)") }
                values.append(v)
            }
            return values
        case .object:
            try node.rejectUnknownMembers(["from", "to", "step", "factor"])
            let from = try node.member("from").int(in: range, what: what)
            let to = try node.member("to").int(in: range, what: what)
            guard to >= from else { throw try node.member("to").failure(expected: "a value no smaller than \"from\" (\(from))") }
            let step = try node.optionalMember("step")
            let factor = try node.optionalMember("factor")
            var values: [Int] = []
            switch (step, factor) {
            case let (s?, nil):
                let by = try s.int(in: 1...Int(Int32.max), what: "a positive step")
                var v = from
                while v <= to {
                    values.append(v)
                    guard values.count <= maximumPoints else { throw node.failure("this range gives more than \(maximumPoints) values") }
                    v += by
                }
            case let (nil, f?):
                let by = try f.int(in: 2...1024, what: "an integer factor")
                var v = from
                while v <= to {
                    values.append(v)
                    let (next, overflow) = v.multipliedReportingOverflow(by: by)
                    if overflow { break }
                    v = next
                }
            default:
                throw node.failure("a range needs exactly one of \"step\" or \"factor\"")
            }
            return values
        default:
            throw node.failure(expected: expected)
        }
    }

    /// Every combination of the axes, first axis slowest, as lists of values in axis order. The
    /// combinations (times `repeats`, the other choices a case multiplies them by) are counted
    /// before any is made: more than a suite may hold is refused at `node`, so a few long lists
    /// cannot make the loader build millions of cases first.
    static func product(_ axes: [[Int]], times repeats: Int = 1, at node: JSONNode) throws(InputFileError) -> [[Int]] {
        var count = max(repeats, 1)
        for axis in axes {
            let (next, overflow) = count.multipliedReportingOverflow(by: axis.count)
            guard !overflow, next <= SuiteLoader.Limits.cases else {
                throw node.failure("this case's sweeps give \(axes.map { "\($0.count)" }.joined(separator: " × "))\(repeats > 1 ? " × \(repeats)" : "") combinations, more than the \(SuiteLoader.Limits.cases) cases a suite may hold")
            }
            count = next
        }
        return axes.reduce([[]]) { partial, axis in partial.flatMap { prefix in axis.map { prefix + [$0] } } }
    }
}
