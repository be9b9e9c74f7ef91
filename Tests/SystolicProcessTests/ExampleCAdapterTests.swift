import Foundation
import SystolicTestSupport
import Testing
import SystolicProtocol
import SystolicSuite
@testable import SystolicHarness
@testable import SystolicProcess

/// The example C adapter, built on the C SDK, through the process protocol.
struct ExampleCAdapterTests {
    static func adapterPath() throws -> String { try builtProduct("systolic-bench-example-c-adapter") }

    /// Every case of every suite's quick profile ends `pass` or `not_supported`, never `fail` or
    /// `error`, and no process is left behind.
    @Test func passesEveryQuickCaseItDeclares() throws {
        let adapter = try ProcessAdapter(executable: try Self.adapterPath(), timing: TimingPlan(warmup: 0, minRepeats: 1, minSeconds: 0))
        let suites = try ["gemm", "attention", "networking"].map { try SuiteLoader.load(Repository.path("Suites/\($0).json")) }
        let results = try Harness(device: adapter).run(
            Harness.Plan(suites: suites, profile: "quick", resultsPath: temporaryDirectory().appendingPathComponent("c.json").path))
        adapter.shutdown()
        #expect(results.device.name == "example-c-cpu")
        for c in results.cases {
            #expect(c.verdict == .pass || c.verdict == .notSupported, "\(c.id): \(c.reason ?? "")")
        }
        #expect(results.cases.filter { $0.verdict == .pass }.count >= 15)
        #expect(adapter.survivingProcessGroups.isEmpty)
    }

    /// The SDK answers malformed and oversized requests with error replies, without crashing.
    @Test func sdkSurvivesMalformedRequests() throws {
        let adapter = try ProcessAdapter(executable: try Self.adapterPath(), caseTimeout: 10)
        for garbage in ["{", "[1, 2]", "{\"type\": 7}", "{\"type\": \"run\", \"id\": \"x\", \"op\": \"gemm\", \"gemm\": {\"m\": -1}}",
                        "{\"type\": \"run\", \"id\": \"y\", \"op\": \"gemm\", \"gemm\": {\"m\": 1, \"n\": 1, \"k\": 1, \"batch\": 1, \"a\": \"fp32\", \"b\": \"fp32\", \"accumulate\": \"fp32\", \"output\": \"fp32\", \"layout_b\": \"kn\", \"overflow\": \"ieee\"}, \"inputs\": {\"a\": {\"path\": \"/etc/passwd\", \"type\": \"fp32\", \"shape\": [1, 1, 1]}, \"b\": {\"path\": \"/nonexistent\", \"type\": \"fp32\", \"shape\": [1, 1, 1]}}, \"outputs\": {\"c\": {\"path\": \"/nonexistent/c\", \"type\": \"fp32\", \"shape\": [1, 1, 1]}}}",
                        String(repeating: "[", count: 5000)] {
            let reply = try adapter.probe(garbage)
            #expect(reply.contains("\"type\":\"error\""), "\(garbage.prefix(40)): \(reply)")
        }
        adapter.shutdown()
        #expect(adapter.survivingProcessGroups.isEmpty)
    }
}
