import Testing
import SystolicData
import SystolicDevice
import SystolicSuite
@testable import SystolicHarness

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

    /// Faults that break the device rather than its arithmetic: caught, but not "outside the bound".
    static let nonNumeric: Set<String> = ["wrong-output-shape", "cached-result"]

    @Test(arguments: EmulatorFault.catalogue.map(\.spelling))
    func everyFaultIsCaughtByTheShippedCases(spelling: String) throws {
        let fault = try #require(EmulatorFault(spelling))
        let harness = Harness(device: SystolicEmulator(faults: [fault]), audit: true)
        var caughtBy: String?
        var worst = 0.0
        for (suite, c) in try Self.casesBySize() {
            let r = harness.runCase(c, generator: DataGenerator(seed: suite.seed))
            guard r.verdict == .fail || r.verdict == .error else { continue }
            let ratio = r.check.map { $0.rule == "exact" && $0.mismatches > 0 ? .infinity : ($0.maxRatioToBound ?? 0) } ?? 0
            worst = max(worst, r.audit?.passed == false ? 0 : ratio)
            caughtBy = caughtBy ?? c.id
            if Self.nonNumeric.contains(spelling) || worst >= 10 { break }
        }
        #expect(caughtBy != nil, "\(spelling) passed every quick case")
        if !Self.nonNumeric.contains(spelling) {
            #expect(worst >= 10, "\(spelling): worst ratio \(worst) (first caught by \(caughtBy ?? "none"))")
        }
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
}
