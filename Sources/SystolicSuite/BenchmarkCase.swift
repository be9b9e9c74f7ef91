import SystolicNumerics

/// One runnable case after sweeps are expanded: a stable id and one workload.
public struct BenchmarkCase: Sendable, Equatable, Identifiable {
    /// `<suite>/<case name>/<parameters>`, e.g. `gemm/llm-decode-qkv/m=1,n=4096,k=4096`.
    /// Stable across runs and versions as long as the case's name and parameters are.
    public let id: String
    public let suite: String
    /// The case's name in the suite file (shared by every point of its sweep).
    public let name: String
    public let profiles: [String]
    public let workload: Workload

    public init(id: String, suite: String, name: String, profiles: [String], workload: Workload) {
        self.id = id; self.suite = suite; self.name = name; self.profiles = profiles; self.workload = workload
    }
}

/// A loaded, validated suite file.
public struct Suite: Sendable {
    public static let formatTag = "systolic-bench.suite/1"

    public let name: String
    public let version: String
    public let description: String
    /// Profile name → what it is for.
    public let profiles: [String: String]
    public let seed: UInt64
    public let repeats: Int
    /// Every case of every profile, in file order, sweeps expanded.
    public let cases: [BenchmarkCase]
    /// Path the suite was read from.
    public let file: String
    /// The file's bytes, for digests.
    public let bytes: [UInt8]

    public init(name: String, version: String, description: String, profiles: [String: String], seed: UInt64,
                repeats: Int, cases: [BenchmarkCase], file: String, bytes: [UInt8]) {
        self.name = name; self.version = version; self.description = description; self.profiles = profiles
        self.seed = seed; self.repeats = repeats; self.cases = cases; self.file = file; self.bytes = bytes
    }

    /// The cases of one profile, or all cases for nil.
    public func cases(inProfile profile: String?) -> [BenchmarkCase] {
        guard let profile else { return cases }
        return cases.filter { $0.profiles.contains(profile) }
    }
}
