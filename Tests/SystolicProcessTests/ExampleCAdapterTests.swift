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

    /// Every case of every suite's quick profile passes through the C SDK's protocol 2 (epilogues,
    /// requantisation, scales, block scales, strides and grouped GEMMs included), every case with
    /// the in-process emulator's output bits (its attention and collectives compute as the
    /// emulator does), and no process is left behind.
    @Test func passesEveryQuickCaseWithTheEmulatorsBits() throws {
        let adapter = try ProcessAdapter(executable: try Self.adapterPath(), timing: TimingPlan(warmup: 0, minRepeats: 1, minSeconds: 0))
        #expect(adapter.protocolVersion == 2 && adapter.features.gemm == GemmFeature.allCases)
        let suites = try ["gemm", "attention", "networking"].map { try SuiteLoader.load(Repository.path("Suites/\($0).json")) }
        let results = try Harness(device: adapter).run(
            Harness.Plan(suites: suites, profile: "quick", resultsPath: temporaryDirectory().appendingPathComponent("c.json").path))
        adapter.shutdown()
        #expect(results.device.name == "example-c-cpu")
        let inProcess = Dictionary(uniqueKeysWithValues: try QuickRun.shared.get().cases.map { ($0.id, $0) })
        for c in results.cases {
            #expect(c.verdict == .pass, "\(c.id): \(c.reason ?? "")")
            #expect(c.check?.outputDigest != nil && c.check?.outputDigest == inProcess[c.id]?.check?.outputDigest, "\(c.id)")
        }
        #expect(adapter.survivingProcessGroups.isEmpty)
    }

    /// Tensors of a version-2 request that contradict its description end the case `error`
    /// naming the tensor: a scale of the wrong shape, group sizes that do not sum to M.
    @Test func sdkRefusesVersion2TensorsThatContradictTheRequest() throws {
        let adapter = try ProcessAdapter(executable: try Self.adapterPath(), caseTimeout: 10)
        defer { adapter.shutdown() }
        let dir = temporaryDirectory()
        func file(_ name: String, _ bytes: [UInt8]) -> String {
            let path = dir.appendingPathComponent(name).path
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
            return path
        }
        let a = file("a.bin", [UInt8](repeating: 0, count: 4 * 4 * 8)), b = file("b.bin", [UInt8](repeating: 0, count: 2 * 8 * 4 * 4))
        let sizes = file("g.bin", [1, 0, 0, 0, 2, 0, 0, 0])  // 1 + 2 rows, not M = 4
        // The output exists at its full size, as the harness makes it (the SDK never creates one).
        let c = file("c.bin", [UInt8](repeating: 0, count: 4 * 4 * 4))
        let grouped = """
            {"type": "run", "id": "g", "op": "gemm", "gemm": {"m": 4, "n": 4, "k": 8, "batch": 1, "a": "fp32", "b": "fp32", "accumulate": "fp32",
             "output": "fp32", "layout_b": "kn", "overflow": "ieee", "groups": 2},
             "inputs": {"a": {"path": "\(a)", "type": "fp32", "shape": [1, 4, 8]}, "b": {"path": "\(b)", "type": "fp32", "shape": [2, 8, 4]},
                        "group_sizes": {"path": "\(sizes)", "type": "int32", "shape": [2]}},
             "outputs": {"c": {"path": "\(c)", "type": "fp32", "shape": [1, 4, 4]}}, "timing": {"warmup": 0, "min_repeats": 1, "min_seconds": 0}}
            """.replacingOccurrences(of: "\n", with: " ")
        let reply = try adapter.probe(grouped)
        #expect(reply.contains("\"type\":\"error\"") && reply.contains("group_sizes sum to 3 rows, not M = 4"), "\(reply)")
        let scale = file("s.bin", [UInt8](repeating: 0, count: 4 * 3))
        let blocked = """
            {"type": "run", "id": "s", "op": "gemm", "gemm": {"m": 4, "n": 4, "k": 8, "batch": 1, "a": "bf16", "b": "bf16", "accumulate": "fp32",
             "output": "fp32", "layout_b": "kn", "overflow": "ieee", "block_a": [1, 4]},
             "inputs": {"a": {"path": "\(a)", "type": "bf16", "shape": [1, 4, 8]}, "b": {"path": "\(b)", "type": "bf16", "shape": [1, 8, 4]},
                        "scale_a": {"path": "\(scale)", "type": "fp32", "shape": [1, 4, 3]}},
             "outputs": {"c": {"path": "\(c)", "type": "fp32", "shape": [1, 4, 4]}}, "timing": {"warmup": 0, "min_repeats": 1, "min_seconds": 0}}
            """.replacingOccurrences(of: "\n", with: " ")
        let wrong = try adapter.probe(blocked)
        #expect(wrong.contains("\"type\":\"error\"") && wrong.contains("input scale_a: type or shape does not match"), "\(wrong)")
        // An output path the harness did not make (a request naming a file elsewhere) is refused,
        // and nothing is created there; one of the wrong size is not resized.
        let elsewhere = dir.appendingPathComponent("elsewhere.bin").path
        let short = file("short.bin", [UInt8](repeating: 0, count: 8)), b1 = file("b1.bin", [UInt8](repeating: 0, count: 8 * 4 * 4))
        let plain = """
            {"type": "run", "id": "p", "op": "gemm", "gemm": {"m": 4, "n": 4, "k": 8, "batch": 1, "a": "fp32", "b": "fp32", "accumulate": "fp32",
             "output": "fp32", "layout_b": "kn", "overflow": "ieee"},
             "inputs": {"a": {"path": "\(a)", "type": "fp32", "shape": [1, 4, 8]}, "b": {"path": "\(b1)", "type": "fp32", "shape": [1, 8, 4]}},
             "outputs": {"c": {"path": "OUT", "type": "fp32", "shape": [1, 4, 4]}}, "timing": {"warmup": 0, "min_repeats": 1, "min_seconds": 0}}
            """.replacingOccurrences(of: "\n", with: " ")
        let missing = try adapter.probe(plain.replacingOccurrences(of: "OUT", with: elsewhere))
        #expect(missing.contains("\"type\":\"error\"") && missing.contains("cannot open output"), "\(missing)")
        #expect(!FileManager.default.fileExists(atPath: elsewhere))
        let resized = try adapter.probe(plain.replacingOccurrences(of: "OUT", with: short))
        #expect(resized.contains("\"type\":\"error\"") && resized.contains("not a regular file of 64 bytes"), "\(resized)")
        #expect((try FileManager.default.attributesOfItem(atPath: short)[.size] as? Int) == 8)
    }

    /// The same adapter as written for version 1 (`--protocol 1`) is sent no GEMM feature: those
    /// cases are `not_supported` with the reason, the rest pass as before.
    @Test func theSdkStillSpeaksVersion1() throws {
        let adapter = try ProcessAdapter(executable: try Self.adapterPath(), arguments: ["--protocol", "1"],
                                         timing: TimingPlan(warmup: 0, minRepeats: 1, minSeconds: 0))
        #expect(adapter.protocolVersion == 1)
        let results = try QuickRun.run(to: temporaryDirectory(), suites: ["gemm"], device: adapter)
        adapter.shutdown()
        #expect(results.cases.contains { $0.verdict == .notSupported && $0.reason?.hasPrefix("the adapter speaks protocol 1") == true })
        #expect(results.cases.allSatisfy { $0.verdict == .pass || $0.verdict == .notSupported })
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
