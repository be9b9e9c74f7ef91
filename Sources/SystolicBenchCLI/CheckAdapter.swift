import ArgumentParser
import Foundation
import SystolicHarness
import SystolicProcess
import SystolicProtocol

extension SystolicBench {
    struct CheckAdapter: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check-adapter",
            abstract: "A conformance kit for an adapter's protocol: run it before a long certification run.",
            discussion: """
                Checks the handshake, a small GEMM per declared input type, the answer to an unknown request, \
                and a clean shutdown with no process left behind; measures the per-case protocol overhead and \
                the tensor throughput through the scratch files. Exits 0 when every check passes, 3 otherwise.
                """)

        @Option(help: "The adapter: process:PATH [ARGS].")
        var device: DeviceSpec

        @Option(help: "Seconds the adapter may take for one request.")
        var caseTimeout: Double = 60

        @Option(help: "Round trips timed for the overhead figure.")
        var roundTrips: Int = 200

        func validate() throws {
            guard roundTrips >= 1 else { throw ValidationError("--round-trips must be at least 1, found \(roundTrips)") }
            guard caseTimeout > 0, caseTimeout.isFinite else { throw ValidationError("--case-timeout must be positive, found \(caseTimeout)") }
        }

        func run() throws {
            guard case let .process(path, arguments) = device else { throw ValidationError("--device must be process:PATH [ARGS]") }
            let adapter: ProcessAdapter
            do {
                adapter = try ProcessAdapter(executable: path, arguments: arguments, caseTimeout: caseTimeout,
                                             timing: TimingPlan(warmup: 0, minRepeats: 1, minSeconds: 0))
            } catch {
                print("FAIL handshake: \(error)")
                throw statusCode(.deviceError)
            }
            let harness = Harness(device: adapter)
            let findings = ConformanceKit(roundTrips: roundTrips).run(adapter, judge: { harness.runCase($0, generator: $1) },
                                                                      report: { print("\($0.passed ? "ok  " : "FAIL") \($0.text)") })
            let failures = findings.filter { !$0.passed }.count
            print(failures == 0 ? "adapter conforms to protocol \(adapter.protocolVersion)" : "\(failures) checks failed")
            if failures > 0 { throw statusCode(.deviceError) }
        }
    }
}
