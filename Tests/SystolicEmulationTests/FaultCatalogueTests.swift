import SystolicTestSupport
import Testing
import SystolicData
import SystolicDevice
@testable import SystolicEmulation
import SystolicSuite
@testable import SystolicHarness
import SystolicCertify

/// The suite's conformance power, measured: every named fault is caught by the shipped cases.
struct FaultCatalogueTests {
    /// The quick GEMM cases, smallest first, so each fault is found cheaply.
    static func casesBySize() throws -> [(Suite, BenchmarkCase)] {
        let suite = try SuiteLoader.load(Repository.path("Suites/gemm.json"))
        return suite.cases(inProfile: "quick").sorted { a, b in
            guard case let .gemm(x) = a.workload, case let .gemm(y) = b.workload else { return false }
            return x.macs < y.macs
        }.map { (suite, $0) }
    }

    /// The quick attention cases, for the attention faults.
    static func attentionCases() throws -> [(Suite, BenchmarkCase)] {
        let suite = try SuiteLoader.load(Repository.path("Suites/attention.json"))
        return suite.cases(inProfile: "quick").map { (suite, $0) }
    }


    /// The quick networking cases, for the collective faults.
    static func networkingCases() throws -> [(Suite, BenchmarkCase)] {
        let suite = try SuiteLoader.load(Repository.path("Suites/networking.json"))
        return suite.cases(inProfile: "quick").map { (suite, $0) }
    }

    /// Faults not held to the 10x margin: those that break the device rather than its arithmetic,
    /// and a formula choice whose effect is small by nature.
    static let nonNumeric: Set<String> = ["wrong-output-shape", "cached-result",
                                          // A formula choice, not an arithmetic error: the two GELU forms differ by at most 2e-4.
                                          "gelu-tanh-for-erf"]

    /// Every fault in the catalogue is caught by at least two shipped quick cases (with the audit
    /// on), at least 10× outside the bound where the fault is numeric; and the directed patterns
    /// catch the faults they were built for.
    @Test func everyFaultIsCaughtAndEveryDirectedPatternEarnsItsPlace() throws {
        let gemmCases = try Self.casesBySize(), attentionCases = try Self.attentionCases(), networkingCases = try Self.networkingCases()
        var catchers: [String: Set<String>] = [:]
        for entry in EmulatorFault.catalogue {
            let harness = Harness(device: SystolicEmulator(faults: [entry.fault]), audit: true)
            let cases = entry.fault.op == "attention" ? attentionCases : entry.fault.op == "collective" ? networkingCases : gemmCases
            var worst = 0.0
            var caught = Set<String>()
            for (suite, c) in cases {
                let r = harness.runCase(c, generator: DataGenerator(seed: suite.seed))
                guard r.verdict == .fail || r.verdict == .error else { continue }
                caught.insert(c.name)
                if r.audit?.passed != false, let check = r.check {
                    worst = max(worst, check.rule == "exact" && check.mismatches > 0 ? .infinity : (check.maxRatioToBound ?? 0))
                }
            }
            catchers[entry.spelling] = caught
            // Two catchers at least (#28, item 3): one change to a single catching case must not lose the fault.
            #expect(caught.count >= 2, "\(entry.spelling) is caught by \(caught.sorted())")
            if !Self.nonNumeric.contains(entry.spelling) && entry.fault.op != "collective" {
                #expect(worst >= 10, "\(entry.spelling): worst ratio \(worst)")
            }
        }
        // Directed patterns that are some fault's only catcher.
        for (prefix, fault) in [("overflow-", "ignores-saturation"), ("subnormal-", "flush-subnormals"),
                                ("nan-inf-", "swallows-nan")] {
            let caught = catchers[fault] ?? []
            #expect(!caught.isEmpty && caught.allSatisfy { $0.hasPrefix(prefix) }, "\(fault) is caught by \(caught.sorted())")
        }
        // int8 wrap-around: by the saturating-output case and by the requantised cases that saturate.
        let wraps = catchers["int8-wrap"] ?? []
        #expect(wraps.contains("int8-saturating-output") && wraps.contains("requant-edges-int8")
                && wraps.allSatisfy { $0.hasPrefix("int8-saturating-") || $0.contains("requant") || $0.contains("fixed-point") }, "\(wraps.sorted())")
        // Requantisation faults: the zero point left out, or one channel's scale for all.
        #expect((catchers["requant-ignores-zero-point"] ?? []).isSuperset(of: ["requant-edges-int8", "requant-ties-fp32-scale"]))
        #expect((catchers["requant-per-tensor"] ?? []).isSuperset(of: ["lenet5-conv2-int8-requant", "requant-edges-int8"]))
        // Ties-away rounding is caught only by directed ties: of accumulated sums (ties-*, the only
        // check for bf16 outputs) and of single products at K = 1 (overflow-*).
        let ties = catchers["ties-away-output"] ?? []
        #expect(ties.allSatisfy { $0.hasPrefix("ties-") || $0.hasPrefix("overflow-") }, "\(ties.sorted())")
        #expect(ties.isSuperset(of: ["ties-bf16-out", "ties-fp16-out", "ties-fp8-out"]))
        // Attention faults, each by the cases built for it: max subtraction only by huge logits,
        // top-left alignment by decode (q_len < kv_len), the head mapping only by GQA cases.
        #expect(catchers["softmax-without-max"] == ["directed-huge-logits", "directed-huge-logits-gqa-decode"])
        #expect((catchers["causal-top-left"] ?? []).isSuperset(of: ["llama2-7b-decode", "mistral-7b-speculative-decode"]))
        #expect((catchers["causal-off-by-one"] ?? []).isSuperset(of: ["llama3-8b-gqa-prefill", "directed-masked-rows"]))
        #expect((catchers["gqa-head-modulo"] ?? []).allSatisfy { !["llama2-7b-decode", "directed-single-kv"].contains($0) })
        // Ranks that disagree only show where rounding differs: the random bf16 and fp16 all-reduces.
        #expect(catchers["collective-ranks-disagree"] == ["all-reduce-bf16-random", "all-reduce-fp16-random-ring"])
        // A batch stride of zero for B, and a softmax scale ignored: the cases added for them (#28, items 1 and 2).
        #expect(catchers["batches-share-weights"] == ["multi-lora-decode-shrink", "multi-lora-decode-expand", "batched-prefill-fp32"])
        #expect((catchers["attention-default-scale"] ?? []).isSuperset(of: ["directed-scale-far-apart", "t5-unscaled-prefill"]))
    }

    /// A cached device passes a case the first time and is caught by the fresh-data audit.
    @Test func auditCatchesRememberedResults() throws {
        let (suite, c) = try #require(try Self.casesBySize().first { $0.1.name == "odd-shape-tails" })
        let generator = DataGenerator(seed: suite.seed)
        let device = SystolicEmulator(faults: [.cachedResult])
        #expect(Harness(device: device).runCase(c, generator: generator).verdict == .pass)
        let audited = Harness(device: device, audit: true).runCase(c, generator: generator)
        #expect(audited.verdict == .fail)
        #expect(audited.audit?.passed == false)
        #expect(audited.reason?.hasPrefix("audit:") == true)
        // A correct device passes its audit, on data from a seed derived from the run's.
        let honest = Harness(device: SystolicEmulator(), audit: true).runCase(c, generator: generator)
        #expect(honest.verdict == .pass && honest.audit?.passed == true)
        #expect(honest.audit?.seed == Harness.auditSeed(suite.seed))
    }

    /// The correct emulator passes every case of every preset over 20 seeds (or declares the case
    /// not supported where the preset lacks a type).
    @Test(arguments: DeviceConfig.presetNames)
    func correctEmulatorPassesOnEveryPresetOverTwentySeeds(preset: String) throws {
        let harness = Harness(device: SystolicEmulator(config: try DeviceConfig.preset(preset)))
        var passed = 0
        for seed in 1...20 {
            for (_, c) in try Self.casesBySize() {
                let r = harness.runCase(c, generator: DataGenerator(seed: UInt64(seed)))
                #expect(r.verdict == .pass || r.verdict == .notSupported, "\(preset) seed \(seed) \(c.id): \(r.reason ?? "")")
                if r.verdict == .pass { passed += 1 }
            }
        }
        #expect(passed >= 20 * 3)
    }

    /// The mutation score (`faults --run`): one entry per fault, each listing exactly the cases
    /// that fail under it, as a plain harness run with that fault finds them.
    @Test func mutationScoreListsWhatEachFaultFails() throws {
        let cases = try Array(Self.casesBySize().prefix(3)).map { (suite: $0.0, benchmarkCase: $0.1) }
        let config = try DeviceConfig.preset(DeviceConfig.defaultPresetName)
        let score = MutationScore.run(cases, config: config)
        #expect(score.entries.map(\.fault) == EmulatorFault.catalogue.map(\.spelling))
        #expect(score.cases == 3)
        #expect(score.caught == score.entries.filter { !$0.failed.isEmpty }.count)
        #expect(score.caught > 0 && score.caught < score.entries.count)
        for entry in score.entries where ["narrow-accumulator:bf16", "collective-drops-rank"].contains(entry.fault) {
            let harness = Harness(device: SystolicEmulator(config: config, faults: [EmulatorFault(entry.fault)!]), audit: true)
            let expected = cases.map { harness.runCase($0.benchmarkCase, generator: DataGenerator(seed: $0.suite.seed)) }
                .filter { $0.verdict == .fail || $0.verdict == .error }.map(\.id)
            #expect(entry.failed.map(\.id) == expected, "\(entry.fault)")
        }
        // GEMM cases cannot catch a collective fault.
        #expect(score.entries.first { $0.fault == "collective-drops-rank" }?.caught == false)
    }
}
