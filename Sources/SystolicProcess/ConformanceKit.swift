import Dispatch
import Foundation
import SystolicData
import SystolicDevice
import SystolicJSON
import SystolicNumerics
import SystolicProtocol
import SystolicResults
import SystolicSuite

/// The conformance kit a vendor runs on an adapter before a long certification run
/// (`systolic-bench check-adapter`): the handshake, a small GEMM per declared input type judged as
/// a run judges it, the answer to an unknown request, a clean shutdown with no process left
/// behind, and the protocol's own cost (message round trip, per-case overhead, tensor throughput
/// through the scratch files).
public struct ConformanceKit: Sendable {
    /// One check: whether it held, and what was found.
    public struct Finding: Sendable, Equatable {
        public var passed: Bool
        public var text: String
    }

    /// How a run judges one case on the device: the harness's `runCase` in the tool. The kit does
    /// not judge outputs itself (the process module does not link the harness), so an adapter
    /// passes here exactly when it would pass a run.
    public typealias Judge = @Sendable (BenchmarkCase, DataGenerator) -> CaseResult

    /// Round trips timed for the overhead figures.
    public var roundTrips: Int

    public init(roundTrips: Int) { self.roundTrips = roundTrips }

    /// Runs every check on `adapter` (started by the caller; shut down here), reporting each as it
    /// completes; returns the findings.
    @discardableResult
    public func run(_ adapter: ProcessAdapter, judge: Judge, report: (Finding) -> Void = { _ in }) -> [Finding] {
        var findings: [Finding] = []
        func note(_ passed: Bool, _ text: String) {
            let f = Finding(passed: passed, text: text)
            findings.append(f)
            report(f)
        }
        let d = adapter.descriptor
        let byOp = d.ops.map { "\($0) \(d.arithmetic.inputTypes(for: $0).map(\.rawValue))" }.joined(separator: ", ")
        note(!d.name.isEmpty && !d.arithmetic.inputTypes.isEmpty && !d.arithmetic.overflowModes.isEmpty,
             "handshake: protocol \(d.adapter?.protocolVersion ?? 0), device \(d.name) (\(d.vendor) \(d.product)), input types by op: \(byOp)")

        // GEMMs in the types declared for GEMMs only (#28, item 5: int32 declared for collectives
        // is not a GEMM input type).
        let gemmTypes = d.arithmetic.inputTypes(for: "gemm")
        let generator = DataGenerator(seed: 1)
        for t in gemmTypes where d.ops.contains("gemm") && !t.isNibble {
            // fp6 and fp4 are inputs only: into fp32. (int4 and uint4 are weights with group
            // scales: the int4_weights feature probes them.)
            let types = t.isNarrowInput ? GemmCase.Types(a: t, b: t, accumulate: .fp32, output: .fp32) : GemmCase.Types(shorthand: t)
            let g = GemmCase(m: 3, n: 17, k: 33, types: types, dataA: .uniform(low: -1, high: 1), dataB: .uniform(low: -1, high: 1),
                             overflow: d.arithmetic.overflowModes[0])
            let c = BenchmarkCase(id: "check-adapter/gemm-\(t.rawValue)", suite: "check-adapter", name: "gemm", profiles: [], workload: .gemm(g))
            let r = judge(c, generator)
            note(r.verdict == .pass, "gemm 3×17×33 \(t.rawValue): \(r.verdict.rawValue)\(r.reason.map { ": \($0)" } ?? "")")
        }

        do {
            let answer = try adapter.probe("{\"type\": \"frobnicate\", \"id\": \"probe\"}")
            let type = (try? JSONParser.parse(Array(answer.utf8)))?["type"]?.stringValue
            note(type == "error", "an unknown request gets an error reply and the adapter stays up (got \(type ?? answer))")
            // The bare message round trip (no files, no device): the floor under the per-case overhead.
            var trips: [Double] = []
            for _ in 0..<roundTrips {
                let start = DispatchTime.now().uptimeNanoseconds
                _ = try adapter.probe("{\"type\": \"ping\", \"id\": \"probe\"}")
                trips.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            let s = SampleStatistics(trips)
            note(true, String(format: "message round trip (an unknown request and its error reply, %d times): median %.1f µs, p90 %.1f µs",
                              trips.count, s.median * 1e6, s.p90 * 1e6))
        } catch {
            note(false, "an unknown request: \(error)")
        }

        if d.ops.contains("gemm") { probeFeatures(adapter, judge, note) }

        if let t = gemmTypes.first, d.ops.contains("gemm") {
            measure(adapter, t, generator, note)
        }

        adapter.shutdown()
        usleep(200_000)
        note(adapter.survivingProcessGroups.isEmpty, "shutdown leaves no process behind (process groups started: \(adapter.processGroups))")
        return findings
    }

    /// One small case per GEMM feature the adapter declares (protocol 2), judged as a run judges
    /// it, so a device that declares a feature and then ignores or garbles it (a bias never added,
    /// a scale ignored, padding overwritten, a group mis-routed) is named by its feature.
    private func probeFeatures(_ adapter: ProcessAdapter, _ judge: Judge, _ note: (Bool, String) -> Void) {
        let declared = adapter.features.gemm
        let types = adapter.descriptor.arithmetic.inputTypes(for: "gemm")
        let undeclared = GemmFeature.allCases.filter { !declared.contains($0) }
        if !undeclared.isEmpty {
            note(true, "gemm features not declared (cases using them are not sent): \(undeclared.map(\.rawValue).joined(separator: ", "))")
        }
        guard let suite = Self.probeSuite(types: types) else { return }
        for feature in GemmFeature.allCases where declared.contains(feature) {
            // The feature's probes that use no undeclared feature (bias then activation needs both).
            let probes = suite.cases.filter { c in
                guard c.name.hasPrefix(feature.rawValue.replacingOccurrences(of: "_", with: "-")), case let .gemm(g) = c.workload else { return false }
                return GemmFeature.used(by: g).allSatisfy(declared.contains)
            }
            if probes.isEmpty {
                note(true, "gemm feature \(feature.rawValue): no probe for the declared input types \(types.map(\.rawValue))")
                continue
            }
            for c in probes {
                let r = judge(c, DataGenerator(seed: suite.seed))
                note(r.verdict == .pass, "gemm feature \(feature.rawValue) (\(c.id)): \(r.verdict.rawValue)\(r.reason.map { ": \($0)" } ?? "")")
            }
        }
    }

    /// The feature probes as a suite, in the types the device declares: a floating-point type
    /// (bf16, fp32 or fp16, the first declared) and int8 for requantisation.
    static func probeSuite(types: [NumberType]) -> Suite? {
        guard let float = [NumberType.bf16, .fp32, .fp16].first(where: types.contains) else { return nil }
        let f = "\"\(float.rawValue)\""
        let int8 = "{\"a\": \"int8\", \"b\": \"int8\", \"accumulate\": \"int32\", \"output\": \"int8\"}"
        let shape = "{\"m\": 5, \"n\": 24, \"k\": 40}"
        var cases = [
            "{\"name\": \"bias\", \"shape\": \(shape), \"types\": \(f), \"epilogue\": {\"bias\": true}}",
            "{\"name\": \"bias-then-activation\", \"shape\": \(shape), \"types\": \(f), \"epilogue\": {\"bias\": true, \"activation\": \"relu\"}}",
            "{\"name\": \"activation-relu\", \"shape\": \(shape), \"types\": \(f), \"epilogue\": {\"activation\": \"relu\"}}",
            "{\"name\": \"activation-gelu-erf\", \"shape\": {\"m\": 5, \"n\": 24, \"k\": 2}, \"types\": \"fp32\", \"epilogue\": {\"activation\": \"gelu_erf\"}, \"data\": {\"a\": {\"pattern\": \"uniform\", \"low\": -3, \"high\": 3}, \"b\": {\"pattern\": \"uniform\", \"low\": -1, \"high\": 1}}}",
            "{\"name\": \"activation-gelu-tanh\", \"shape\": \(shape), \"types\": \(f), \"epilogue\": {\"activation\": \"gelu_tanh\"}}",
            "{\"name\": \"scales\", \"shape\": \(shape), \"types\": \(f), \"scales\": {\"a\": 0.5, \"b\": 0.25, \"output\": 2}}",
            "{\"name\": \"block-scales\", \"shape\": {\"m\": 5, \"n\": 24, \"k\": 48}, \"types\": \(f), \"scales\": {\"a\": {\"block\": [1, 16], \"range\": [0.25, 4]}, \"b\": {\"block\": [16, 16], \"range\": [0.25, 4]}}}",
            "{\"name\": \"leading-dimensions\", \"shape\": \(shape), \"types\": \(f), \"layout\": {\"b\": \"kn\", \"lda\": 45, \"ldb\": 29, \"ldc\": 27}}",
            "{\"name\": \"groups\", \"shape\": {\"groups\": [2, 0, 3], \"n\": 24, \"k\": 40}, \"types\": \(f)}",
            "{\"name\": \"accumulate-c\", \"shape\": \(shape), \"types\": \(f), \"accumulate_c\": \"fp32\", \"data\": {\"c\": {\"pattern\": \"uniform\", \"low\": 2, \"high\": 4}}}",
        ]
        if !types.contains(.fp32) { cases.remove(at: 3) }
        // MX and NVFP4 operands in the element types declared, and an A the device quantises
        // itself, its block maxima on scale boundaries (docs/formats.md).
        let mx = "{\"a\": \"fp8_e4m3\", \"b\": \"fp8_e4m3\", \"accumulate\": \"fp32\", \"output\": \"fp32\"}"
        let fp4 = "{\"a\": \"fp4_e2m1\", \"b\": \"fp4_e2m1\", \"accumulate\": \"fp32\", \"output\": \"fp32\"}"
        let boundary = "\"data\": {\"a\": {\"pattern\": \"uniform\", \"low\": -1.99, \"high\": 1.99}}"
        let blockShape = "{\"m\": 5, \"n\": 24, \"k\": 64}"
        if types.contains(.fp8_e4m3) {
            cases.append("{\"name\": \"block-formats-mxfp8\", \"shape\": \(blockShape), \"types\": \(mx), \"block_format\": {\"scheme\": \"mx\"}}")
            cases.append("{\"name\": \"quantizes-a-mxfp8\", \"shape\": \(blockShape), \"types\": \(mx), \"block_format\": {\"scheme\": \"mx\", \"a_from\": \"fp32\"}, \(boundary)}")
        }
        if types.contains(.fp4_e2m1) {
            cases.append("{\"name\": \"block-formats-mxfp4\", \"shape\": \(blockShape), \"types\": \(fp4), \"block_format\": {\"scheme\": \"mx\"}}")
            cases.append("{\"name\": \"block-formats-nvfp4\", \"shape\": \(blockShape), \"types\": \(fp4), \"block_format\": {\"scheme\": \"nvfp4\"}}")
            cases.append("{\"name\": \"quantizes-a-nvfp4\", \"shape\": \(blockShape), \"types\": \(fp4), \"block_format\": {\"scheme\": \"nvfp4\", \"a_from\": \"fp32\"}, \(boundary)}")
        }
        // int4 weights in both forms: uint4 with zero points under bf16 (or fp16) activations, and
        // int4 under int8 ones, an odd N so the last byte of each packed row is half used.
        let int4Shape = "{\"m\": 5, \"n\": 25, \"k\": 64}"
        if types.contains(.uint4), let a = [NumberType.bf16, .fp16].first(where: types.contains) {
            cases.append("{\"name\": \"int4-weights-w4a16\", \"shape\": \(int4Shape), \"types\": {\"a\": \"\(a.rawValue)\", \"b\": \"uint4\", \"accumulate\": \"fp32\", \"output\": \"fp32\"}, \"block_format\": {\"scheme\": \"int4\", \"group\": 32, \"scale_type\": \"fp16\", \"zero_point\": true}}")
        }
        if types.contains(.int4), types.contains(.int8) {
            cases.append("{\"name\": \"int4-weights-w4a8\", \"shape\": \(int4Shape), \"types\": {\"a\": \"int8\", \"b\": \"int4\", \"accumulate\": \"fp32\", \"output\": \"fp32\"}, \"block_format\": {\"scheme\": \"int4\", \"group\": 32, \"scale_type\": \"bf16\"}}")
        }
        if types.contains(.int8) {
            cases.append("{\"name\": \"requantization-fp32-scale\", \"shape\": \(shape), \"types\": \(int8), \"requantize\": {\"scheme\": \"fp32_scale\", \"per_channel\": true, \"scale\": [0.0005, 0.002], \"zero_point\": [-10, 10]}}")
            cases.append("{\"name\": \"requantization-fixed-point\", \"shape\": \(shape), \"types\": \(int8), \"requantize\": {\"scheme\": \"fixed_point\", \"per_channel\": true, \"scale\": [0.0005, 0.002], \"zero_point\": [-10, 10]}}")
        }
        let text = "{\"format\": \"systolic-bench.suite/1\", \"name\": \"check-adapter\", \"version\": \"1\", \"defaults\": {\"seed\": 20261130}, "
            + "\"profiles\": {\"probe\": \"feature probes\"}, \"cases\": ["
            + cases.map { "{\"op\": \"gemm\", \"profiles\": [\"probe\"], " + $0.dropFirst() }.joined(separator: ", ") + "]}"
        return try? SuiteLoader.load(bytes: Array(text.utf8), file: "check-adapter feature probes")
    }

    /// The protocol's cost per case and per byte (docs/adapters.md, "What the protocol costs").
    ///
    /// Overhead: a 1×1×1 case's whole `run` (its files written, the request, the adapter mapping
    /// them and answering, the output read back) less the device's own time for it. Throughput: a
    /// GEMV whose weights fill 64 MiB, run five times; what the files cost beyond the device's time,
    /// for the first run (files made) and the median of the others (files reused, as in a suite
    /// whose cases share sizes). Inputs are generated before the clock starts.
    private func measure(_ adapter: ProcessAdapter, _ t: NumberType, _ generator: DataGenerator, _ note: (Bool, String) -> Void) {
        func beyondDevice(_ c: BenchmarkCase, _ inputs: CaseInputs) throws -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            let out = try adapter.run(c, inputs: inputs)
            let wall = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            return wall - (out.metrics[.time]?.value ?? 0)
        }
        let tiny = GemmCase(m: 1, n: 1, k: 1, types: .init(shorthand: t), dataA: .constant(1), dataB: .constant(1))
        let tinyCase = BenchmarkCase(id: "check-adapter/tiny", suite: "check-adapter", name: "tiny", profiles: [], workload: .gemm(tiny))
        let tinyInputs = CaseInputs.gemm(GemmInputs(tiny, caseId: tinyCase.id, generator: generator))
        do {
            var overheads: [Double] = []
            for _ in 0..<max(roundTrips, 1) { overheads.append(try beyondDevice(tinyCase, tinyInputs)) }
            let s = SampleStatistics(overheads)
            note(true, String(format: "protocol overhead per case (a 1×1×1 case's run less device time, %d cases): median %.1f µs, p90 %.1f µs",
                              overheads.count, s.median * 1e6, s.p90 * 1e6))
        } catch {
            note(false, "overhead case: \(error)")
        }
        let big = GemmCase(m: 1, n: 4096, k: 4096, types: .init(shorthand: t), dataA: .constant(1), dataB: .constant(1))
        let c = BenchmarkCase(id: "check-adapter/throughput", suite: "check-adapter", name: "throughput", profiles: [], workload: .gemm(big))
        let inputs = GemmInputs(big, caseId: c.id, generator: generator)
        let bytes = Double(inputs.a.storage.count + inputs.b.storage.count + 4096 * big.types.output.byteWidth)
        do {
            var times: [Double] = []
            for _ in 0..<5 { times.append(try beyondDevice(c, .gemm(inputs))) }
            let reused = SampleStatistics(Array(times.dropFirst())).median
            note(true, String(format: "tensor throughput through the scratch files (%.0f MiB): %.2f GB/s with the files reused (median of 4: %.1f ms beyond the device's time), %.2f GB/s the first time (%.1f ms)",
                              bytes / 1048576, bytes / max(reused, 1e-9) / 1e9, reused * 1e3, bytes / max(times[0], 1e-9) / 1e9, times[0] * 1e3))
        } catch {
            note(false, "throughput case: \(error)")
        }
    }
}
