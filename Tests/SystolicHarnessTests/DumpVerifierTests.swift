import Foundation
import Testing
import SystolicData
import SystolicDevice
import SystolicEmulation
import SystolicHarness
import SystolicJSON
import SystolicNumerics
import SystolicResults
import SystolicSuite
import SystolicTestSupport

/// `verify` judges a dump as the run that wrote it did: same verdicts, ratios and worst elements,
/// on a honest block-FMA preset and on a faulty emulator; a corrupted output fails naming the
/// element; a bad folder is refused naming the file.
@Suite struct DumpVerifierTests {
    static func dumpAndVerify(_ device: any DeviceAdapter, names: Set<String>? = nil) throws -> [(CaseResult, DumpVerifier.Outcome, URL)] {
        let dir = temporaryDirectory()
        let suite = try SuiteLoader.load(Repository.path("Suites/gemm.json"))
        let cases = suite.cases(inProfile: "quick").filter { names?.contains($0.name) ?? true }
        let harness = Harness(device: device, dumpDirectory: dir.path)
        var out: [(CaseResult, DumpVerifier.Outcome, URL)] = []
        for c in cases {
            let r = harness.runCase(c, generator: DataGenerator(seed: suite.seed))
            guard r.verdict == .pass || r.verdict == .fail else { continue }
            let folder = dir.appendingPathComponent(c.id.replacingOccurrences(of: "/", with: "__"))
            let v = try DumpVerifier.verify(folder: folder.path, suites: [suite], arithmetic: nil, seed: nil)
            out.append((r, v, folder))
        }
        return out
    }

    @Test func verifyGivesTheRunsVerdictsOnATensorCorePreset() throws {
        let results = try Self.dumpAndVerify(SystolicEmulator(config: try DeviceConfig.preset("ada-tensor-core")))
        #expect(results.count >= 40)
        for (run, verify, _) in results {
            #expect(verify.result.verdict == run.verdict, "\(run.id)")
            #expect(verify.result.check?.maxRatioToBound == run.check?.maxRatioToBound, "\(run.id)")
            #expect(verify.result.check?.outputDigest == run.check?.outputDigest)
            #expect(verify.digestMismatches.isEmpty && verify.inputsDifferFromSuite.isEmpty)
        }
    }

    @Test func verifyGivesTheRunsFailures() throws {
        let faulty = SystolicEmulator(faults: [.narrowAccumulator(.bf16)])
        let results = try Self.dumpAndVerify(faulty, names: ["gpt2-decode-attn-out", "cancellation-fp32", "engine-window-2e24-bf16"])
        #expect(results.contains { $0.0.verdict == .fail })
        for (run, verify, _) in results {
            #expect(verify.result.verdict == run.verdict && verify.result.reason == run.reason, "\(run.id)")
        }
    }

    /// One element of a passing output moved far away: verify fails, naming it.
    @Test func aCorruptedOutputFailsNamingTheElement() throws {
        let results = try Self.dumpAndVerify(SystolicEmulator(), names: ["cnn-fc-relu-bf16"])
        let (run, _, folder) = try #require(results.first)
        #expect(run.verdict == .pass)
        let path = folder.appendingPathComponent("c.npy").path
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let npy = try #require(TensorDump.readNpy(bytes))
        let header = bytes.count - npy.data.count
        // cnn-fc-relu-bf16 is 16×256 with a bf16 output: element [0, 3, 17] at 3·256 + 17.
        let index = 3 * 256 + 17
        bytes[header + 2 * index + 1] ^= 0x20   // an exponent bit of the bf16
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let suite = try SuiteLoader.load(Repository.path("Suites/gemm.json"))
        let v = try DumpVerifier.verify(folder: folder.path, suites: [suite], arithmetic: nil, seed: nil)
        #expect(v.result.verdict == .fail)
        #expect(v.result.reason?.contains("worst element [0, 3, 17]") == true, "\(v.result.reason ?? "")")
        #expect(v.digestMismatches == ["c.npy"])
    }

    @Test func badFoldersAreRefusedNamingTheFile() throws {
        let results = try Self.dumpAndVerify(SystolicEmulator(), names: ["gpt2-decode-qkv-fp8"])
        let (_, _, folder) = try #require(results.first)
        let suite = try SuiteLoader.load(Repository.path("Suites/gemm.json"))
        func refusal(_ edit: () throws -> Void) throws -> InputFileError? {
            let saved = try (["manifest.json", "a.npy", "c.npy"]).map { ($0, try Data(contentsOf: folder.appendingPathComponent($0))) }
            defer { for (name, data) in saved { try? data.write(to: folder.appendingPathComponent(name)) } }
            try edit()
            do { _ = try DumpVerifier.verify(folder: folder.path, suites: [suite], arithmetic: nil, seed: nil); return nil } catch { return error }
        }
        let manifestPath = folder.appendingPathComponent("manifest.json").path
        let manifest = try String(contentsOfFile: manifestPath, encoding: .utf8)
        // An unknown case.
        let e1 = try refusal { try manifest.replacingOccurrences(of: "gpt2-decode-qkv-fp8", with: "no-such-case").write(toFile: manifestPath, atomically: true, encoding: .utf8) }
        #expect(e1?.place == "case" && e1?.description.contains("no-such-case") == true)
        // A truncated tensor.
        let e2 = try refusal {
            let c = Array(try Data(contentsOf: folder.appendingPathComponent("c.npy")))
            try Data(c.prefix(c.count - 10)).write(to: folder.appendingPathComponent("c.npy"))
        }
        #expect(e2?.file.hasSuffix("c.npy") == true, "\(String(describing: e2))")
        // Not a .npy file.
        let e3 = try refusal { try Data("hello".utf8).write(to: folder.appendingPathComponent("a.npy")) }
        #expect(e3?.file.hasSuffix("a.npy") == true && e3?.description.contains("not a .npy") == true)
        // A manifest that is not JSON.
        let e4 = try refusal { try "{".write(toFile: manifestPath, atomically: true, encoding: .utf8) }
        #expect(e4?.file == manifestPath)
        // A file outside the folder.
        let e5 = try refusal { try manifest.replacingOccurrences(of: "\"a.npy\"", with: "\"..\\/a.npy\"").write(toFile: manifestPath, atomically: true, encoding: .utf8) }
        #expect(e5?.place?.hasSuffix(".file") == true, "\(String(describing: e5))")
        #expect(throws: InputFileError.self) { try DumpVerifier.caseFolders(folder.deletingLastPathComponent().appendingPathComponent("absent").path) }
    }
}
