import SystolicData
import SystolicResults
import SystolicEmulation
import SystolicHarness
import SystolicSuite

/// The suite's mutation score: every fault of the emulator's catalogue injected in turn (the
/// emulator misbehaving while declaring correct arithmetic) and the cases run against it, with
/// the audit on. A fault is caught when at least one case fails (or errors) under it; `faults --run`
/// asks for two (#28, item 3), so that one change to a single catching case cannot lose a fault.
public struct MutationScore: Sendable {
    /// One fault and what caught it.
    public struct Entry: Sendable {
        public var fault: String
        /// The cases run under it (those of its op).
        public var ran: Int
        /// The cases that failed or errored under it, in run order.
        public var failed: [CaseResult]
        public var caught: Bool { !failed.isEmpty }
        /// Failed by the exact rule (no error allowed).
        public var exact: Int { failed.filter { $0.audit == nil && $0.check?.rule == "exact" }.count }
        /// Failed only when re-run on fresh data (remembered results).
        public var byAudit: Int { failed.filter { $0.audit?.passed == false }.count }
        /// The worst finite ratio to the bound among interval-rule failures (exact-rule ratios are
        /// infinite); nil when there is none.
        public var worstRatio: Double? {
            failed.filter { $0.audit == nil && $0.check?.rule == "interval" }.compactMap { $0.check?.maxRatioToBound }.max()
        }
        /// The suite cases (names, without sweep values) that caught it, first first.
        public var caughtBy: [String] {
            var names: [String] = []
            for r in failed {
                let name = r.id.split(separator: "/").dropFirst().first.map(String.init) ?? r.id
                if !names.contains(name) { names.append(name) }
            }
            return names
        }
    }

    public var entries: [Entry]
    /// Cases selected (each fault runs those of its op).
    public var cases: Int
    public var caught: Int { entries.filter(\.caught).count }

    /// Runs `cases` (each with its suite's seed) once per fault of the catalogue on an emulator of `config`.
    public static func run(_ cases: [(suite: Suite, benchmarkCase: BenchmarkCase)], config: DeviceConfig) -> MutationScore {
        var entries: [Entry] = []
        for entry in EmulatorFault.catalogue {
            let harness = Harness(device: SystolicEmulator(config: config, faults: [entry.fault]), audit: true)
            var failed: [CaseResult] = []
            var ran = 0
            // A case of another op runs exactly as on a faultless emulator (`EmulatorFault.op`):
            // it cannot catch the fault, and is not run for it.
            for (suite, c) in cases where c.workload.op == entry.fault.op {
                let r = harness.runCase(c, generator: DataGenerator(seed: suite.seed))
                ran += 1
                if r.verdict == .fail || r.verdict == .error { failed.append(r) }
            }
            entries.append(Entry(fault: entry.spelling, ran: ran, failed: failed))
        }
        return MutationScore(entries: entries, cases: cases.count)
    }
}
