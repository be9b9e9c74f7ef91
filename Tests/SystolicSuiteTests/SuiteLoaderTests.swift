import Foundation
import SystolicTestSupport
import Testing
import SystolicJSON
import SystolicNumerics
@testable import SystolicSuite

struct SuiteLoaderTests {
    @Test(arguments: ["gemm", "attention", "networking"])
    func shippedSuitesLoad(name: String) throws {
        let suite = try SuiteLoader.load(Repository.path("Suites/\(name).json"))
        #expect(suite.name == name)
        #expect(!suite.cases(inProfile: "quick").isEmpty)
        #expect(suite.cases(inProfile: "full").count >= suite.cases(inProfile: "quick").count)
        #expect(Set(suite.cases.map(\.id)).count == suite.cases.count)
    }

    @Test func gemmSuiteCoversRealWorkloadsAcrossTypes() throws {
        let suite = try SuiteLoader.load(Repository.path("Suites/gemm.json"))
        let names = Set(suite.cases.map(\.name))
        #expect(names.count >= 12)
        var inputTypes = Set<NumberType>()
        for c in suite.cases(inProfile: "quick") {
            if case let .gemm(g) = c.workload { inputTypes.insert(g.types.a) }
        }
        #expect(inputTypes == [.fp32, .fp16, .bf16, .fp8_e4m3, .fp8_e5m2, .int8, .fp6_e2m3, .fp6_e3m2, .fp4_e2m1])
    }

    @Test func sweepsExpandToStableReadableIds() throws {
        let text = suiteJSON(name: "s", cases: """
            {"name": "decode", "op": "gemm", "profiles": ["quick"],
             "shape": {"m": [1, 4], "n": {"from": 128, "to": 512, "factor": 2}, "k": {"from": 64, "to": 200, "step": 64}},
             "types": ["bf16", {"a": "fp8_e4m3", "b": "fp8_e4m3", "output": "bf16"}]}
            """)
        let suite = try SuiteLoader.load(bytes: Array(text.utf8), file: "s.json")
        #expect(suite.cases.count == 2 * 2 * 3 * 3)
        #expect(suite.cases.first?.id == "s/decode/m=1,n=128,k=64,types=bf16")
        #expect(suite.cases.last?.id == "s/decode/m=4,n=512,k=192,types=fp8_e4m3.fp8_e4m3.fp32.bf16")
        let again = try SuiteLoader.load(bytes: Array(text.utf8), file: "s.json")
        #expect(again.cases.map(\.id) == suite.cases.map(\.id))
    }

    @Test func attentionAndCollectiveCasesAreDescribed() throws {
        let text = suiteJSON(cases: """
            {"name": "gqa", "op": "attention", "profiles": ["quick"],
             "shape": {"batch": 2, "heads": 32, "kv_heads": 8, "head_dim": 128, "q_len": 1, "kv_len": [128, 4096]},
             "causal": true, "types": "bf16"},
            {"name": "ar", "op": "collective", "profiles": ["full"], "collective": "all_reduce", "ranks": 8,
             "bytes": {"from": 1024, "to": 4096, "factor": 2}, "type": "fp32", "reduction": "max"}
            """)
        let suite = try SuiteLoader.load(bytes: Array(text.utf8), file: "t.json")
        #expect(suite.cases.count == 5)
        guard case let .attention(a) = suite.cases[1].workload else { Issue.record("not attention"); return }
        #expect(a.kvLength == 4096 && a.kvHeads == 8 && a.causal)
        guard case let .collective(c) = suite.cases[4].workload else { Issue.record("not a collective"); return }
        #expect(c.operation == .allReduce && c.bytes == 4096 && c.reduction == .max)
    }

    /// Each malformed suite is refused with the file, the place and the value in the message.
    @Test(arguments: [
        (gemmCaseJSON(name: "neg", m: 1, n: 4, k: -4, types: "\"fp32\""), "cases[0].shape.k", "-4"),
        (gemmCaseJSON(name: "typ", m: 1, n: 4, k: 4, types: "\"fp33\""), "cases[0].types", "\"fp33\""),
        ("{\"name\": \"x\", \"op\": \"gemm\", \"profiles\": [\"quick\"], \"shape\": {\"m\": 1, \"n\": 2}, \"types\": \"fp32\"}",
         "cases[0].shape", "missing required field \"k\""),
        (gemmCaseJSON(name: "big", m: 1_000_000, n: 1_000_000, k: 1_000_000, types: "\"fp32\""), "cases[0].shape", "more than"),
        (gemmCaseJSON(name: "huge", m: 1, n: 1, k: 1 << 40, types: "\"fp32\""), "cases[0].shape.k", "1099511627776"),
        (gemmCaseJSON(name: "str", m: 1, n: 4, k: 4, types: "\"fp32\"").replacingOccurrences(of: "\"m\": 1", with: "\"m\": \"1\""),
         "cases[0].shape.m", "\"1\""),
        (gemmCaseJSON(name: "typo", m: 1, n: 4, k: 4, types: "\"fp32\"", extra: ", \"sahpe\": 1"), "cases[0].sahpe", "unknown field"),
        (gemmCaseJSON(name: "i8", m: 1, n: 4, k: 200_000, types: "\"int8\""), "cases[0].shape.k", "k=200000"),
        (gemmCaseJSON(name: "prof", m: 1, n: 4, k: 4, types: "\"fp32\"").replacingOccurrences(of: "[\"quick\"]", with: "[\"nightly\"]"),
         "cases[0].profiles[0]", "\"nightly\""),
        ("{\"name\": \"r\", \"op\": \"gemm\", \"profiles\": [\"quick\"], \"shape\": {\"m\": {\"from\": 8, \"to\": 1, \"step\": 1}, \"n\": 1, \"k\": 1}, \"types\": \"fp32\"}",
         "cases[0].shape.m.to", "1"),
        ("{\"name\": \"r\", \"op\": \"gemm\", \"profiles\": [\"quick\"], \"shape\": {\"m\": {\"from\": 1, \"to\": 1000000, \"step\": 1}, \"n\": 1, \"k\": 1}, \"types\": \"fp32\"}",
         "cases[0].shape.m", "more than 4096"),
        ("{\"name\": \"a\", \"op\": \"attention\", \"profiles\": [\"quick\"], \"shape\": {\"batch\": 1, \"heads\": 32, \"kv_heads\": 5, \"head_dim\": 64, \"q_len\": 1, \"kv_len\": 8}, \"types\": \"bf16\"}",
         "cases[0].shape.kv_heads", "not a multiple"),
        ("{\"name\": \"c\", \"op\": \"collective\", \"profiles\": [\"quick\"], \"collective\": \"all_reduce\", \"ranks\": 4, \"bytes\": 6, \"type\": \"fp32\"}",
         "cases[0].bytes", "6 bytes"),
        ("{\"name\": \"g\", \"op\": \"gemm\", \"profiles\": [\"quick\"], \"shape\": {\"groups\": [2, 3], \"m\": 5, \"n\": 8, \"k\": 8}, \"types\": \"fp32\"}",
         "cases[0].shape.groups", "remove m and batch"),
        ("{\"name\": \"q\", \"op\": \"gemm\", \"profiles\": [\"quick\"], \"shape\": {\"m\": 4, \"n\": 8, \"k\": 8}, \"types\": \"int8\", \"requantize\": {\"scheme\": \"fixed_point\", \"scale\": 2, \"zero_point\": 0}}",
         "cases[0].requantize.scale", "scales in (0, 1)"),
        (gemmCaseJSON(name: "lda", m: 4, n: 8, k: 64, types: "\"bf16\"", extra: ", \"layout\": {\"lda\": 32}"), "cases[0].layout.lda", "lda=32 is less than k=64"),
        (gemmCaseJSON(name: "ldb", m: 4, n: 8, k: 64, types: "\"bf16\"", extra: ", \"layout\": {\"b\": \"nk\", \"ldb\": 8}"), "cases[0].layout.ldb", "ldb=8 is less than k=64"),
        (gemmCaseJSON(name: "blk", m: 4, n: 8, k: 256, types: "\"fp8_e4m3\"",
                      extra: ", \"scales\": {\"a\": {\"block\": [1, 128], \"range\": 1}, \"b\": {\"block\": [64, 128], \"range\": 1}}"),
         "cases[0].scales", "A's blocks span 128 of K and B's 64"),
        (gemmCaseJSON(name: "rng", m: 4, n: 8, k: 256, types: "\"fp8_e4m3\"", extra: ", \"scales\": {\"a\": {\"block\": [1, 128], \"range\": [2, 1]}}"),
         "cases[0].scales.a.range", "[2.0, 1.0] is reversed"),
        (gemmCaseJSON(name: "neg", m: 4, n: 8, k: 256, types: "\"fp8_e4m3\"", extra: ", \"scales\": {\"b\": {\"block\": [128, 0], \"range\": 1}}"),
         "cases[0].scales.b.block[1]", "a positive block side"),
        ("{\"name\": \"gb\", \"op\": \"gemm\", \"profiles\": [\"quick\"], \"shape\": {\"groups\": [2, 3], \"n\": 8, \"k\": 256}, \"types\": \"fp8_e4m3\", \"scales\": {\"a\": {\"block\": [2, 128], \"range\": 1}}}",
         "cases[0].scales.a.block", "blocks of one row"),
    ])
    func malformedSuiteNamesFilePlaceAndValue(caseText: String, place: String, value: String) {
        let file = "Suites/bad.json"
        do {
            _ = try SuiteLoader.load(bytes: Array(suiteJSON(cases: caseText).utf8), file: file)
            Issue.record("accepted a malformed suite: \(caseText)")
        } catch {
            #expect(error.file == file)
            #expect(error.place == place, "\(error)")
            #expect(error.description.contains(value), "\(error)")
            #expect(error.description.hasPrefix("\(file): \(place): "), "\(error)")
        }
    }

    @Test func brokenJSONGivesLineAndColumn() {
        let text = "{\n  \"format\": \"systolic-bench.suite/1\",\n  \"name\": \"x\"\n  \"version\": \"1\"\n}"
        do {
            _ = try SuiteLoader.load(bytes: Array(text.utf8), file: "broken.json")
            Issue.record("accepted broken JSON")
        } catch {
            #expect(error.place == "line 4, column 3", "\(error)")
            #expect(error.message.contains("expected ',' or '}'"), "\(error)")
        }
    }

    @Test func duplicateKeysAndDeepNestingAreRefused() {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(Array("{\"a\": 1, \"a\": 2}".utf8)) }
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(Array(deep.utf8)) }
    }

    @Test func parserKeepsStringsAndNumbersExactly() throws {
        let v = try JSONParser.parse(Array(#"{"s": "a\"b\u00e9\ud83d\ude00", "n": -1.5e3, "i": 12}"#.utf8))
        #expect(v["s"]?.stringValue == "a\"bé😀")
        #expect(v["n"]?.doubleValue == -1500)
        #expect(v["n"]?.intValue == -1500)
        #expect(v["i"]?.intValue == 12)
    }

    @Test func missingFileIsAnInputError() {
        #expect(throws: InputFileError.self) { try SuiteLoader.load("/nonexistent/suite.json") }
    }

    /// Sweeps are counted before they are expanded (hardening #26, item 6): two 4096-value lists
    /// (a 47 KB suite) made the loader build 16.7 M cases, over 10 GB, before the case limit
    /// was checked. Now they are refused at once with the case's place.
    @Test func hugeSweepsAreRefusedBeforeExpansion() throws {
        let values = (1...4096).map(String.init).joined(separator: ", ")
        for caseText in [
            gemmCaseJSON(name: "huge", m: 1, n: 1, k: 8, types: "\"fp32\"").replacingOccurrences(of: "\"m\": 1, \"n\": 1", with: "\"m\": [\(values)], \"n\": [\(values)]"),
            #"{"name": "c", "op": "collective", "profiles": ["quick"], "collective": "all_reduce", "ranks": {"from": 2, "to": 64, "step": 1}, "bytes": {"from": 8, "to": 32768, "step": 8}, "type": "fp32"}"#,
        ] {
            let path = write(suiteJSON(cases: caseText), to: "s.json", in: temporaryDirectory())
            do {
                _ = try SuiteLoader.load(path)
                Issue.record("accepted a sweep of millions of cases")
            } catch {
                #expect(error.place == "cases[0]" && error.message.contains("more than the 100000 cases"), "\(error)")
            }
        }
    }

    /// A checked collective whose buffers cannot be allocated (64 ranks × 2 GiB passed the loader
    /// and crashed the allocator) is refused where its size is written; timing-only it is fine
    /// (hardening #26, item 7).
    @Test func collectivesTooLargeToCheckAreRefused() throws {
        let text = #"{"name": "c", "op": "collective", "profiles": ["quick"], "collective": "all_reduce", "ranks": 64, "bytes": 2147483648, "type": "fp32"}"#
        do {
            _ = try SuiteLoader.load(write(suiteJSON(cases: text), to: "s.json", in: temporaryDirectory()))
            Issue.record("accepted 64 ranks of 2 GiB")
        } catch {
            #expect(error.place == "cases[0].bytes" && error.message.contains("timing_only"), "\(error)")
        }
        let timed = text.replacingOccurrences(of: #""type": "fp32"}"#, with: #""type": "fp32", "timing_only": true}"#)
        #expect(try SuiteLoader.load(write(suiteJSON(cases: timed), to: "t.json", in: temporaryDirectory())).cases.count == 1)
    }
}
