import Foundation
import Testing
import SystolicCheck
import SystolicData
import SystolicDevice
import SystolicEmulation
import SystolicJSON
import SystolicNumerics
import SystolicSuite
import SystolicTestSupport

/// Attention judged by a declared matrix engine (`matrix_engine` entries whose `ops` hold
/// attention: docs/arithmetic.md, "Attention on a declared engine"). A device whose Q·Kᵀ and P·V
/// run bit for bit on the declared engine (`BlockFMA`) passes, for random declarations; the same
/// outputs fail when the device declares a plain fp32 accumulator instead, or limits its entry to
/// `gemm`: the declaration, not a loose rule, is what lets them pass.
@Suite struct AttentionEngineTests {
    /// Attention whose two products run on block engines: scores s = Q·Kᵀ on `score`, logits f·s
    /// and the row maximum in fp32, P = exp(f·s − max) (exp in fp64, rounded once to fp32: within
    /// the declared 2 ulps) rounded to P's type, l = Σ P in fp32, O = (P·V on `value`) / l · v_scale,
    /// rounded to the output type. One chunk per row (no rescales): within the bound's allowance.
    static func engineAttention(_ a: AttentionCase, _ inputs: AttentionInputs, score: BlockFMA, value: BlockFMA) -> Tensor {
        let (lq, d) = (a.queryLength, a.headDim)
        let q = inputs.q.decodedFloats()
        let f = Float(a.softmaxScale * a.kScale)
        var out = Tensor(type: a.outputType, shape: a.output.shape)
        for b in 0..<a.batch {
            let n = a.kvLengths[b]
            for h in 0..<a.heads {
                let g = h / a.groupSize
                let keys = inputs.rows(inputs.k, batch: b, kvHead: g)
                let values = inputs.rows(inputs.v, batch: b, kvHead: g)
                let base = (b * a.heads + h) * lq * d
                let qRows = Array(q[base..<(base + lq * d)])
                let s = score.gemm(m: lq, n: n, k: d, a: qRows, bT: keys, c: nil, threads: 1)
                var p = [Float](repeating: 0, count: lq * n)
                var sums = [Float](repeating: 0, count: lq)
                for r in 0..<lq {
                    let visible = a.visibleKeys(row: r, kvLength: n)
                    guard visible > 0 else { continue }
                    var top = -Float.infinity
                    for j in 0..<visible { top = max(top, s[r * n + j] * f) }
                    for j in 0..<visible {
                        let e = Float(Foundation.exp(Double(s[r * n + j] * f - top)))
                        p[r * n + j] = Float(a.probabilityType.round(Double(e), overflow: .ieee))
                        sums[r] += p[r * n + j]
                    }
                }
                var vT = [Float](repeating: 0, count: d * n)
                for j in 0..<n { for c in 0..<d { vT[c * n + j] = values[j * d + c] } }
                let o = value.gemm(m: lq, n: d, k: n, a: p, bT: vT, c: nil, threads: 1)
                for r in 0..<lq {
                    for c in 0..<d {
                        let v = sums[r] > 0 ? o[r * d + c] / sums[r] * Float(a.vScale) : 0
                        out.setBits(a.outputType.encode(Double(v), overflow: a.overflow), at: base + r * d + c)
                    }
                }
            }
        }
        return out
    }

    /// Small cases of every shape the rule distinguishes: GQA, causal and not, bf16, fp16 and fp8
    /// inputs, P in bf16, fp16 and fp32.
    static let cases: [AttentionCase] = [
        AttentionCase(batch: 1, heads: 4, kvHeads: 2, headDim: 64, queryLength: 12, kvLengths: [150], causal: true,
                      inputType: .bf16, probabilityType: .bf16, outputType: .fp32),
        AttentionCase(batch: 2, heads: 2, kvHeads: 1, headDim: 128, queryLength: 1, kvLengths: [300, 77], causal: false,
                      inputType: .fp16, probabilityType: .fp16, outputType: .fp32),
        AttentionCase(batch: 1, heads: 2, kvHeads: 2, headDim: 64, queryLength: 8, kvLengths: [200], causal: true,
                      inputType: .fp8_e4m3, probabilityType: .bf16, outputType: .fp32),
        AttentionCase(batch: 1, heads: 2, kvHeads: 1, headDim: 96, queryLength: 4, kvLengths: [260], causal: false,
                      inputType: .bf16, probabilityType: .fp32, outputType: .fp32),
    ]

    static func arithmetic(_ engines: [MatrixArithmetic]?) -> DeclaredArithmetic {
        DeclaredArithmetic(accumulator: .fp32, subnormals: .preserve, overflowModes: [.saturate, .ieee],
                           inputTypes: [.fp32, .fp16, .bf16, .fp8_e4m3, .fp8_e5m2], expUlps: 2, matrixEngine: engines)
    }

    static func run(_ a: AttentionCase, _ engine: MatrixArithmetic, seed: UInt64) -> (AttentionInputs, Tensor) {
        let inputs = AttentionInputs(a, caseId: "t/engine-attention", generator: DataGenerator(seed: seed))
        let output = engineAttention(a, inputs, score: BlockFMA(engine, a: a.inputType, b: a.kvType),
                                     value: BlockFMA(engine, a: a.probabilityType, b: a.kvType))
        return (inputs, output)
    }

    /// Random declarations (the GEMM soundness test's generator: block size, extra bits, fraction
    /// bits, rounding, rounded products, promotion, subnormals in and out, C's place): a device
    /// that runs attention on exactly the declared engine passes every case.
    @Test func deviceOnItsDeclaredEnginePasses() throws {
        var rng: UInt64 = 0xA77E_2026
        for trial in 0..<10 {
            let engine = DeclaredArithmeticSoundnessTests.randomEngine(&rng)
            for (i, a) in Self.cases.enumerated() {
                let (inputs, output) = Self.run(a, engine, seed: UInt64(trial * 10 + i))
                let arithmetic = Self.arithmetic([engine])
                #expect(CaseCheck.unjudgeable(.attention(a), arithmetic: arithmetic) == nil)
                let report = AttentionCheck.verify(output: output, inputs: inputs, attention: a, arithmetic: arithmetic, expUlps: 2)
                #expect(report.mismatches == 0, "\(engine) case \(i): \(report.mismatches) mismatches, worst \(String(describing: report.worst))")
            }
        }
    }

    /// A coarse engine (blocks of 32, no extra bits, 8 fraction bits, truncating) is caught when
    /// the device declares a plain fp32 accumulator, or an entry for GEMM alone; declared for
    /// attention, the same outputs pass.
    @Test func theDeclarationIsWhatJudges() throws {
        let coarse = MatrixArithmetic(inputTypes: [.fp16, .bf16, .fp8_e4m3, .fp32], blockSize: 32, alignment: .extraBits(0),
                                      fractionBits: 8, blockRounding: .towardZero)
        var gemmOnly = coarse
        gemmOnly.ops = [.gemm]
        // P in fp32: P's own rounding then hides nothing.
        let a = Self.cases[3]
        let (inputs, output) = Self.run(a, coarse, seed: 7)
        let declared = AttentionCheck.verify(output: output, inputs: inputs, attention: a, arithmetic: Self.arithmetic([coarse]), expUlps: 2)
        #expect(declared.mismatches == 0)
        for other in [nil, [gemmOnly]] {
            let report = AttentionCheck.verify(output: output, inputs: inputs, attention: a, arithmetic: Self.arithmetic(other), expUlps: 2)
            #expect(report.mismatches > 0, "\(String(describing: other)): the coarse engine's outputs pass the v1 rule")
        }
    }

    /// An entry for attention changes nothing for a device without one: the v1 bound, element for
    /// element (the emulator's attention baselines depend on it).
    @Test func withoutAnAttentionEntryTheBoundIsV1s() throws {
        let a = Self.cases[0]
        let plain = AttentionBound(a, arithmetic: Self.arithmetic(nil), expUlps: 2)
        var gemmOnly = MatrixArithmetic(inputTypes: [.bf16], blockSize: 8, alignment: .extraBits(1), blockRounding: .towardZero)
        gemmOnly.ops = [.gemm]
        let narrowed = AttentionBound(a, arithmetic: Self.arithmetic([gemmOnly]), expUlps: 2)
        #expect(narrowed.scoreEngine == nil && narrowed.valueEngine == nil)
        for (n, s, w) in [(1, 0.5, 1.0), (150, 12.0, 0.7), (4096, 40.0, 3.0)] {
            let v1 = plain.hard(visible: n, scoreAbsMax: s, weightedAbsSum: w, maxAbsValue: 2)
            #expect(narrowed.hard(visible: n, scoreAbsMax: s, weightedAbsSum: w, maxAbsValue: 2) == v1)
            // The pre-v2 formula, written out (docs/attention.md).
            let u = 0x1p-24, nd = Double(n), r = Double((n + 15) / 16), d = 64.0
            let sigma = (d + 4) * u * s + 4 * d * 0x1p-53 * s
            let tau = (r + 1) * 2 * 0x1p-23 + r * (u + 2 * u * s) + 0x1p-8 + 2 * u
            let rho = Foundation.exp(2 * sigma + 2 * tau) * (1 + (nd + r) * u) - 1
            let eta = max(FloatFormat.bf16.minSubnormal / 2, FloatFormat.fp32.minSubnormal) + FloatFormat.fp32.minSubnormal
            let formula = (rho + (nd + 2 * r + 4) * u * (1 + rho)) * w + nd * eta * 2 + 0x1p-40 * w
            #expect(abs(v1 - formula) <= 1e-12 * formula, "n \(n): \(v1) vs \(formula)")
        }
    }

    /// A device configuration may give one input type an entry per op (GEMM and attention on
    /// different engines), never two entries for the same op.
    @Test func oneEntryPerTypeAndOp() throws {
        let preset = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Repository.path("Sources/SystolicEmulation/Presets/hbm-inference.json"))))
        func entry(_ ops: [String]?) -> [String: Any] {
            var e: [String: Any] = ["input_types": ["bf16"], "accumulate": "fp32", "products": "exact", "block_size": 8,
                                    "extra_alignment_bits": 1, "fraction_bits": 23, "block_rounding": "toward_zero",
                                    "subnormal_inputs": "preserve", "subnormal_outputs": "preserve", "c_position": "first_block"]
            if let ops { e["ops"] = ops }
            return e
        }
        func load(_ entries: [[String: Any]]) throws -> DeviceConfig {
            var config = try #require(preset as? [String: Any])
            var arithmetic = try #require(config["arithmetic"] as? [String: Any])
            arithmetic["matrix_engine"] = entries
            config["arithmetic"] = arithmetic
            let file = temporaryDirectory().appendingPathComponent("device.json")
            try JSONSerialization.data(withJSONObject: config).write(to: file)
            return try DeviceConfig.load(file.path)
        }
        var attention = entry(["attention"])
        attention["block_size"] = 16
        let split = try load([entry(["gemm"]), attention])
        let arithmetic = SystolicEmulator(config: split).descriptor.arithmetic
        #expect(arithmetic.engine(input: .bf16, accumulate: .fp32, op: .gemm).blockSize == 8)
        #expect(arithmetic.engine(input: .bf16, accumulate: .fp32, op: .attention).blockSize == 16)
        do {
            _ = try load([entry(nil), entry(["attention"])])
            Issue.record("two entries for bf16 attention were accepted")
        } catch let error as InputFileError {
            #expect(error.place == "arithmetic.matrix_engine[1].input_types", "\(error)")
        }
    }
}
