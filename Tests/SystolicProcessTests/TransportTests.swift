import Foundation
import SystolicTestSupport
import Testing
import SystolicData
import SystolicDevice
import SystolicNumerics
import SystolicSuite
@testable import SystolicProcess
@testable import SystolicProtocol

/// The tensor transport of protocol v2, item 4: requests written by hand in exactly the bytes
/// `JSONEncoder` would write, replies read strictly, and scratch files reused across cases of the
/// same sizes without ever following or writing to something the adapter put in their place.
struct TransportTests {
    static func encoderLine<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value)) + [0x0A]
    }

    /// GEMMs that between them use every feature, so that every field of `GemmSpec` is in some
    /// request: block scales here, per-tensor scales (which block scales replace) in `perTensorScaleGemm`.
    static var perTensorScaleGemm: GemmCase {
        var g = everyFeatureGemm
        g.scales.blockA = nil
        g.scales.blockB = nil
        g.addend = .fp32   // accumulate_c (the request's bytes only: no suite combines it with these)
        g.blockFormat = .init(scheme: .nvfp4, activationSource: .bf16)  // likewise: its bytes only
        return g
    }

    static var everyFeatureGemm: GemmCase {
        var g = GemmCase(m: 7, n: 24, k: 40, batch: 1, types: .init(a: .int8, b: .int8, accumulate: .int32, output: .int8), layoutB: .nk,
                         scales: .init(a: 0.5, b: 0.25, output: 1e-5), bias: true, activation: .geluTanh,
                         dataA: .constant(1), dataB: .constant(1), overflow: .ieee,
                         requantization: .init(scheme: .fixedPoint, perChannel: true, scaleLow: 1, scaleHigh: 1, zeroPointLow: 0, zeroPointHigh: 0))
        g.scales.blockA = .init(rows: 1, cols: 16, low: 1, high: 1)
        g.scales.blockB = .init(rows: 16, cols: 16, low: 1, high: 1)
        g.leading = .init(a: 45, b: 41, c: 27)
        g.groups = [2, 0, 5]
        return g
    }

    static func file(_ role: String, _ shape: [Int]) -> TensorFile {
        TensorFile(path: "/dev/shm/systolic-bench-adapter-X/\(role)-0123abcd.bin", type: .bf16, shape: shape)
    }

    static var requests: [RunRequest] {
        let timing = TimingPlan(warmup: 1, minRepeats: 5, minSeconds: 0.25)
        let plain = GemmCase(m: 1, n: 12288, k: 4096, types: .init(shorthand: .bf16), dataA: .constant(1), dataB: .constant(1))
        let attention = AttentionCase(batch: 4, heads: 32, kvHeads: 8, headDim: 128, queryLength: 1, kvLengths: [100, 2000, 1, 4096],
                                      causal: true, scale: 0.08838834764831845, inputType: .bf16, kvType: .fp8_e4m3, accumulateType: .fp32,
                                      probabilityType: .bf16, outputType: .bf16, kScale: 0.0625, vScale: 3, layout: .paged, pageSize: 16,
                                      overflow: .saturate)
        let collective = CollectiveCase(operation: .allReduce, ranks: 8, bytes: 1 << 20, type: .fp32, reduction: .sum, inPlace: false, root: 0,
                                        timingOnly: false)
        return [
            RunRequest(id: "gemm/llama2-7b-decode-qkv/m=1,n=12288,k=4096", op: "gemm", gemm: GemmSpec(plain),
                       inputs: ["a": file("a", [1, 1, 4096]), "b": file("b", [1, 4096, 12288])], outputs: ["c": file("c", [1, 1, 12288])],
                       timing: timing),
            RunRequest(id: "gemm/every-feature", op: "gemm", gemm: GemmSpec(everyFeatureGemm),
                       inputs: ["a": file("a", [1, 7, 45]), "b": file("b", [3, 24, 41]), "c": file("c.initial", [1, 7, 27]),
                                "bias": file("bias", [24]), "scale_a": file("scale_a", [1, 7, 3]), "group_sizes": file("group_sizes", [3])],
                       outputs: ["c": file("c", [1, 7, 27])], timing: timing),
            RunRequest(id: "gemm/per-tensor-scales", op: "gemm", gemm: GemmSpec(perTensorScaleGemm),
                       inputs: ["a": file("a", [1, 7, 45])], outputs: ["c": file("c", [1, 7, 27])], timing: timing),
            RunRequest(id: "attention/paged \"quoted\" \\ back\tslash/é/\u{1}", op: "attention", attention: AttentionSpec(attention),
                       inputs: ["q": file("q", [4, 32, 1, 128]), "kv_lens": file("kv_lens", [4])], outputs: ["o": file("o", [4, 32, 1, 128])],
                       timing: TimingPlan(warmup: 0, minRepeats: 1, minSeconds: 0)),
            RunRequest(id: "collective/all-reduce", op: "collective", collective: CollectiveSpec(collective),
                       inputs: ["in": file("in", [8, 65536])], outputs: ["out": file("out", [8, 65536])], timing: timing),
            RunRequest(id: "collective/timing-only", op: "collective", collective: CollectiveSpec(CollectiveCase(
                operation: .allGather, ranks: 64, bytes: 1 << 30, type: .bf16, reduction: .sum, inPlace: true, root: 3, timingOnly: true)),
                       inputs: [:], outputs: [:], timing: timing),
        ]
    }

    @Test func theRequestLineIsTheBytesJSONEncoderWrites() throws {
        for request in Self.requests {
            let line = request.line()
            #expect(line == (try Self.encoderLine(request)), "\(request.id): \(String(decoding: line, as: UTF8.self))")
            // And it reads back as the same request.
            let back = try JSONDecoder().decode(RunRequest.self, from: Data(line.dropLast()))
            #expect(back.gemm == request.gemm && back.attention == request.attention && back.collective == request.collective)
            #expect(back.inputs == request.inputs && back.outputs == request.outputs && back.timing == request.timing && back.id == request.id)
        }
    }

    /// The byte comparison above covers a field only when it is set: every optional must be set by
    /// one of the two feature-rich specs, so a field added to `GemmSpec` and forgotten by the
    /// writer fails here.
    @Test func theFeatureRichSpecsSetEveryField() {
        let specs = [GemmSpec(Self.everyFeatureGemm), GemmSpec(Self.perTensorScaleGemm)]
        let mirrors = specs.map { Mirror(reflecting: $0).children.map { (label: $0.label ?? "?", set: String(describing: $0.value) != "nil") } }
        for (i, field) in mirrors[0].enumerated() {
            #expect(field.set || mirrors[1][i].set, "GemmSpec.\(field.label) is set by neither feature-rich case: set it so the request test covers it")
        }
        #expect(mirrors[0].count == 24)
    }

    @Test func repliesAreReadStrictlyWithThePlaceNamed() {
        let good = #"{"type":"result","id":"x","outputs":{"c":"\/dev\/shm\/c.bin"},"samples_seconds":[1e-3,2.5e-3],"energy_joules":0.5}"#
        let reply = try? RunReply(line: Array(good.utf8))
        #expect(reply?.outputs?["c"] == "/dev/shm/c.bin" && reply?.samplesSeconds == [1e-3, 2.5e-3] && reply?.energyJoules == 0.5)
        let bad: [(String, String)] = [
            (#"{"type":"result","id":"x","sample_seconds":[1]}"#, "sample_seconds"),
            (#"{"type":"result","id":"x","samples_seconds":[1,"2"]}"#, "samples_seconds[1]"),
            (#"{"type":"result","id":7}"#, "id"),
            (#"{"type":"result","id":"x","outputs":{"c":3}}"#, "outputs.c"),
            (#"{"id":"x"}"#, "type"),
            (#"{"type":"result","id":"x"} trailing"#, "not JSON"),
        ]
        for (line, place) in bad {
            do {
                _ = try RunReply(line: Array(line.utf8))
                Issue.record("accepted \(line)")
            } catch {
                #expect("\(error)".contains(place), "\(line): \(error)")
            }
        }
    }

    // MARK: Scratch files

    static func scratch() throws -> (ScratchFiles, String) {
        let dir = temporaryDirectory().path
        return (try ScratchFiles(directory: dir), dir)
    }

    static func listing(_ dir: String) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() }

    @Test func filesAreReusedWhileSizesStayAndTheDirectoryHoldsOneCase() throws {
        let (files, dir) = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        files.beginCase(["in:a": 8, "out:c": 4])
        let a1 = try files.writeInput(slot: "in:a", stem: "a", bytes: [1, 2, 3, 4, 5, 6, 7, 8])
        let c1 = try files.prepareOutput(slot: "out:c", stem: "c", byteCount: 4)
        #expect(Self.listing(dir).count == 2)
        // The same sizes: the same files, rewritten in place.
        files.beginCase(["in:a": 8, "out:c": 4])
        let a2 = try files.writeInput(slot: "in:a", stem: "a", bytes: [9, 9, 9, 9, 9, 9, 9, 9])
        let c2 = try files.prepareOutput(slot: "out:c", stem: "c", byteCount: 4)
        #expect(a1 == a2 && c1 == c2)
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: a2))) == [9, 9, 9, 9, 9, 9, 9, 9])
        // A reused output is filled with 0xFF: an adapter that does not write cannot pass on the last case's output.
        #expect(try files.readOutput(slot: "out:c") == [0xFF, 0xFF, 0xFF, 0xFF])
        // Another size, and a slot the case does not use: both go before the new files are made.
        files.beginCase(["in:a": 16])
        let a3 = try files.writeInput(slot: "in:a", stem: "a", bytes: Array(repeating: 3, count: 16))
        #expect(a3 != a1 && Self.listing(dir) == [URL(fileURLWithPath: a3).lastPathComponent])
        files.removeAll()
        #expect(Self.listing(dir).isEmpty)
    }

    @Test func anOutputReplacedByALinkIsRefusedAndOneReplacedByAFileIsReadOnceThenRemoved() throws {
        let (files, dir) = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let victim = temporaryDirectory().appendingPathComponent("victim.bin").path
        try Data([7, 7, 7, 7]).write(to: URL(fileURLWithPath: victim))
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: victim).deletingLastPathComponent().path) }

        files.beginCase(["out:c": 4])
        var c = try files.prepareOutput(slot: "out:c", stem: "c", byteCount: 4)
        try FileManager.default.removeItem(atPath: c)
        try FileManager.default.createSymbolicLink(atPath: c, withDestinationPath: victim)
        #expect(throws: ScratchFiles.Failure.self) { try files.readOutput(slot: "out:c") }
        // The link is gone with the slot, and the victim is untouched by the next case's poison.
        files.beginCase(["out:c": 4])
        c = try files.prepareOutput(slot: "out:c", stem: "c", byteCount: 4)
        _ = try files.prepareOutput(slot: "out:c", stem: "c", byteCount: 4)
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: victim))) == [7, 7, 7, 7])
        #expect(Self.listing(dir) == [URL(fileURLWithPath: c).lastPathComponent])

        // A regular file put in place of ours: read, then removed; the next case gets a new file.
        try FileManager.default.removeItem(atPath: c)
        try Data([1, 2, 3, 4]).write(to: URL(fileURLWithPath: c))
        #expect(try files.readOutput(slot: "out:c") == [1, 2, 3, 4])
        #expect(Self.listing(dir).isEmpty)
        let next = try files.prepareOutput(slot: "out:c", stem: "c", byteCount: 4)
        #expect(next != c)
        // A missing output and one of the wrong size are named.
        try FileManager.default.removeItem(atPath: next)
        #expect(throws: ScratchFiles.Failure.self) { try files.readOutput(slot: "out:c") }
        let short = try files.prepareOutput(slot: "out:c", stem: "c", byteCount: 4)
        truncate(short, 2)
        do {
            _ = try files.readOutput(slot: "out:c")
            Issue.record("a short output was read")
        } catch {
            #expect("\(error)".contains("holds 2 bytes"))
        }
    }

    /// A scratch directory removed by someone else is made again at the next file, not left to
    /// fail every case that follows (#28, item 7).
    @Test func aRemovedScratchDirectoryIsMadeAgain() throws {
        let (files, dir) = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        files.beginCase(["in:a": 4])
        _ = try files.writeInput(slot: "in:a", stem: "a", bytes: [1, 2, 3, 4])
        try FileManager.default.removeItem(atPath: dir)
        files.beginCase(["in:a": 8])
        let a = try files.writeInput(slot: "in:a", stem: "a", bytes: Array(repeating: 5, count: 8))
        #expect(files.remade == 1)
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: a))) == Array(repeating: 5, count: 8))
    }

    /// Many cases of two alternating sizes through the example C adapter (whose SDK keeps its
    /// mappings while the files stay the same): every output is the case's own, and the scratch
    /// directory never holds more than one case's files.
    @Test func alternatingSizesThroughTheCSDKGiveEachCaseItsOwnOutput() throws {
        let adapter = try ProcessAdapter(executable: try builtProduct("systolic-bench-example-c-adapter"),
                                         timing: TimingPlan(warmup: 0, minRepeats: 1, minSeconds: 0))
        defer { adapter.shutdown() }
        let generator = DataGenerator(seed: 3)
        for i in 0..<12 {
            let n = i % 3 == 2 ? 24 : 16
            let g = GemmCase(m: 2, n: n, k: 8, types: .init(shorthand: .fp32), dataA: .uniform(low: -1, high: 1), dataB: .uniform(low: -1, high: 1))
            let c = BenchmarkCase(id: "transport/\(i)", suite: "transport", name: "t", profiles: [], workload: .gemm(g))
            let inputs = GemmInputs(g, caseId: c.id, generator: generator)
            let out = try adapter.run(c, inputs: .gemm(inputs))
            let got = out.tensors["c"]!
            for row in 0..<2 {
                for col in 0..<n {
                    var sum = 0.0
                    for k in 0..<8 { sum += inputs.a.value(at: row * 8 + k) * inputs.b.value(at: k * n + col) }
                    #expect(abs(got.value(at: row * n + col) - sum) <= 1e-5 * max(1, abs(sum)), "case \(i) [\(row), \(col)]")
                }
            }
            let tensorFiles = Self.listing(URL(fileURLWithPath: adapter.stderrPath).deletingLastPathComponent().path).filter { $0.hasSuffix(".bin") }
            #expect(tensorFiles.count == 3, "case \(i): \(tensorFiles)")
        }
    }
}
