import ArgumentParser
import Dispatch
import Foundation
import SystolicData
import SystolicDevice
import SystolicHarness
import SystolicJSON
import SystolicNumerics
import SystolicProcess
import SystolicProtocol
import SystolicSuite

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
            var failures = 0
            func report(_ ok: Bool, _ what: String) {
                print("\(ok ? "ok  " : "FAIL") \(what)")
                if !ok { failures += 1 }
            }
            let adapter: ProcessAdapter
            do {
                adapter = try ProcessAdapter(executable: path, arguments: arguments, caseTimeout: caseTimeout,
                                             timing: TimingPlan(warmup: 0, minRepeats: 1, minSeconds: 0))
            } catch {
                report(false, "handshake: \(error)")
                throw statusCode(.deviceError)
            }
            let d = adapter.descriptor
            report(!d.name.isEmpty && !d.arithmetic.inputTypes.isEmpty && !d.arithmetic.overflowModes.isEmpty,
                   "handshake: protocol \(AdapterProtocol.version), device \(d.name) (\(d.vendor) \(d.product)), ops \(d.ops), input types \(d.arithmetic.inputTypes.map(\.rawValue))")

            let harness = Harness(device: adapter)
            let generator = DataGenerator(seed: 1)
            for t in d.arithmetic.inputTypes where d.ops.contains("gemm") {
                let g = GemmCase(m: 3, n: 17, k: 33, types: .init(shorthand: t), dataA: .uniform(low: -1, high: 1), dataB: .uniform(low: -1, high: 1),
                                 overflow: d.arithmetic.overflowModes[0])
                let c = BenchmarkCase(id: "check-adapter/gemm-\(t.rawValue)", suite: "check-adapter", name: "gemm", profiles: [], workload: .gemm(g))
                let r = harness.runCase(c, generator: generator)
                report(r.verdict == .pass, "gemm 3×17×33 \(t.rawValue): \(r.verdict.rawValue)\(r.reason.map { ": \($0)" } ?? "")")
            }

            do {
                let answer = try adapter.probe("{\"type\": \"frobnicate\", \"id\": \"probe\"}")
                let type = (try? JSONParser.parse(Array(answer.utf8)))?["type"]?.stringValue
                report(type == "error", "an unknown request gets an error reply and the adapter stays up (got \(type ?? answer))")
                // The bare message round trip (no files, no device): the floor under the per-case overhead.
                var trips: [Double] = []
                for _ in 0..<roundTrips {
                    let start = DispatchTime.now().uptimeNanoseconds
                    _ = try adapter.probe("{\"type\": \"ping\", \"id\": \"probe\"}")
                    trips.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                }
                let s = SampleStatistics(trips)
                report(true, String(format: "message round trip (an unknown request and its error reply, %d times): median %.1f µs, p90 %.1f µs",
                                    trips.count, s.median * 1e6, s.p90 * 1e6))
            } catch {
                report(false, "an unknown request: \(error)")
            }

            if let t = d.arithmetic.inputTypes.first, d.ops.contains("gemm") {
                measure(harness, t, generator, report)
            }

            adapter.shutdown()
            usleep(200_000)
            let leftovers = adapter.survivingProcessGroups
            report(leftovers.isEmpty, "shutdown leaves no process behind (process groups started: \(adapter.processGroups))")
            print(failures == 0 ? "adapter conforms to protocol \(AdapterProtocol.version)" : "\(failures) checks failed")
            if failures > 0 { throw statusCode(.deviceError) }
        }

        /// Per-case overhead (round trip less device time, 1×1×1 cases) and file throughput.
        private func measure(_ harness: Harness, _ t: NumberType, _ generator: DataGenerator, _ report: (Bool, String) -> Void) {
            var overheads: [Double] = []
            let tiny = GemmCase(m: 1, n: 1, k: 1, types: .init(shorthand: t), dataA: .constant(1), dataB: .constant(1))
            for i in 0..<roundTrips {
                let c = BenchmarkCase(id: "check-adapter/tiny-\(i)", suite: "check-adapter", name: "tiny", profiles: [], workload: .gemm(tiny))
                let r = harness.runCase(c, generator: generator)
                if let trip = r.metrics["host_round_trip"]?.value { overheads.append(trip - (r.metrics["time"]?.value ?? 0)) }
            }
            if !overheads.isEmpty {
                let s = SampleStatistics(overheads)
                report(true, String(format: "protocol overhead per case (round trip less device time, %d 1×1×1 cases): median %.1f µs, p90 %.1f µs",
                                    overheads.count, s.median * 1e6, s.p90 * 1e6))
            }
            // A GEMV whose weights fill 64 MiB: what the files cost beyond the device's own time.
            let big = GemmCase(m: 1, n: 4096, k: 4096, types: .init(shorthand: t), dataA: .constant(1), dataB: .constant(1))
            let c = BenchmarkCase(id: "check-adapter/throughput", suite: "check-adapter", name: "throughput", profiles: [], workload: .gemm(big))
            let inputs = GemmInputs(big, caseId: c.id, generator: generator)
            let bytes = Double(inputs.a.storage.count + inputs.b.storage.count + 4096 * big.types.output.byteWidth)
            let start = DispatchTime.now().uptimeNanoseconds
            do {
                let out = try harness.device.run(c, inputs: .gemm(inputs))
                let wall = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                let device = out.metrics[.time]?.value ?? 0
                report(true, String(format: "tensor throughput through the scratch files: %.2f GB/s (%.0f MiB in %.1f ms beyond %.1f ms of device time)",
                                    bytes / max(wall - device, 1e-9) / 1e9, bytes / 1048576, (wall - device) * 1e3, device * 1e3))
            } catch {
                report(false, "throughput case: \(error)")
            }
        }
    }
}
