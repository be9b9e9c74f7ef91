import Foundation
import Testing
import SystolicData
import SystolicDevice
import SystolicEmulation
import SystolicHarness
import SystolicNumerics
import SystolicResults
import SystolicSuite
import SystolicTestSupport

/// The fingerprint (docs/fingerprint.md) recovers what an engine does from its outputs alone: on
/// every emulator preset each declared parameter comes back as declared (or is one no input of
/// that type can show), on random block-FMA engines each is recovered exactly, and a device doing
/// worse than it declares is caught by the probe that shows it.
@Suite struct FingerprintTests {
    static func table(_ f: ArithmeticFingerprint) -> String {
        f.engines.map { e in
            "\(e.input.rawValue)/\(e.accumulate.rawValue): " + e.findings.map { "\($0.parameter.rawValue)=\($0.measured ?? "?")[\($0.declared)] \($0.status.rawValue)" }
                .joined(separator: ", ") + " reproduced \(String(describing: e.reproduced))"
        }.joined(separator: "\n")
    }

    /// Every preset: nothing measured worse than declared, every probe reproduced by the model
    /// where it runs, and the block engines' parameters measured, not assumed.
    @Test(arguments: DeviceConfig.presetNames)
    func everyPresetIsRecoveredAsDeclared(preset: String) throws {
        let device = SystolicEmulator(config: try DeviceConfig.preset(preset))
        let f = try Fingerprinter(device: device).run()
        print("\(preset) (\(f.gemms) GEMMs, \(String(format: "%.2f", f.seconds)) s)\n" + Self.table(f))
        for e in f.engines {
            #expect(e.reproduced != false, "\(preset) \(e.input): probe \(e.unreproducedProbe ?? "") not reproduced")
            for finding in e.findings {
                #expect(finding.status == .same || finding.status == .unobservable || finding.status == .differs,
                        "\(preset) \(e.input): \(finding)")
            }
        }
    }

    /// The scale rounding of the MX and NVFP4 operands a device quantises itself: every choice
    /// declared is measured as declared, and the same device rounding the other way while
    /// declaring it is caught, naming the probe, and fails a profile that requires a fingerprint.
    @Test func blockScaleRoundingIsMeasuredAsDeclared() throws {
        for (mx, nvfp4) in [(MXScaleRounding.floor, NVFP4ScaleRounding.nearest), (.rceil, .up), (.even, .nearest)] {
            var config = try DeviceConfig.preset("hbm-inference")
            config.arithmetic.scaleRounding = ScaleRoundings(mx: mx, nvfp4: nvfp4)
            let honest = try Fingerprinter(device: SystolicEmulator(config: config)).run()
            let found = Dictionary(uniqueKeysWithValues: (honest.scaleRounding ?? []).map { ($0.scheme, $0) })
            #expect(found["mx"]?.measured == mx.rawValue && found["mx"]?.status == .same, "\(found)")
            #expect(found["nvfp4"]?.measured == nvfp4.rawValue && found["nvfp4"]?.status == .same, "\(found)")
            #expect(honest.shortfalls.isEmpty && honest.problem(for: SystolicEmulator(config: config).descriptor) == nil)
            let lying = try Fingerprinter(device: SystolicEmulator(config: config, faults: [.undeclaredScaleRounding])).run()
            let caught = lying.undeclaredScaleRounding
            #expect(caught.map(\.probe) == ["scale-rounding-mx", "scale-rounding-nvfp4"], "\(caught)")
            #expect(caught.first?.measured == ScaleRoundings(mx: mx, nvfp4: nvfp4).flipped.mx.rawValue)
            #expect(lying.shortfalls.contains { $0.contains("mx scale rounding measured") && $0.contains("declared \(mx.rawValue)") })
        }
        // A preset without fp4 or fp8 measures nothing of the kind.
        let v100 = try Fingerprinter(device: SystolicEmulator(config: try DeviceConfig.preset("v100-tensor-core"))).run()
        #expect(v100.scaleRounding == nil)
    }

    static func emulator(_ engine: MatrixArithmetic) throws -> SystolicEmulator {
        var config = try DeviceConfig.preset("hbm-inference")
        config.arithmetic.matrixEngine = [engine]
        return SystolicEmulator(config: config)
    }

    /// Random block-FMA engines for bf16 (fixed seed): every parameter is recovered exactly, but
    /// for rounded products, which a probe shows only where some product of two bf16 values (16
    /// bits at most) rounds differently at F + 1 bits inside the window: the test takes that one
    /// as recovered or unobservable, never wrong. The ranges are those the probes resolve with
    /// bf16 inputs (docs/fingerprint.md, "Limits"): F from 2 (at F = 1 the rounding probe's small
    /// terms reach the big ones), x up to 7 for nearest-even engines (a product carries at most 8
    /// bits), up to 24 (the emulator's limit) for truncating ones, promotion every 4 products or
    /// more, and no nearest-even engine with rounded products in blocks of 1 or 2 and x > F + 1
    /// (a rounded product cannot carry the tie and the bit below it).
    @Test func randomEnginesAreRecoveredExactly() throws {
        var rng: UInt64 = 0xF1_6E_2026
        func next(_ n: Int) -> Int {
            rng &+= 0x9E37_79B9_7F4A_7C15
            return Int(DataGenerator.mix64(rng) % UInt64(n))
        }
        var covered: [String: [String: Int]] = [:]
        var gemms = 0
        for trial in 0..<200 {
            let n = [1, 2, 4, 8, 16, 32, 64][next(7)]
            let nearest = next(2) == 0
            var e = MatrixArithmetic(inputTypes: [.bf16], blockSize: n, alignment: .extraBits(nearest ? next(8) : next(25)),
                                     fractionBits: 2 + next(22), blockRounding: nearest ? .nearestEven : .towardZero)
            if next(3) == 0 {
                let p = n * [1, 2, 4, 8][next(4)]
                if p >= 4 { e.promoteEvery = p }
            }
            e.subnormalInputs = next(3) == 0 ? .flush : .preserve
            e.subnormalOutputs = next(3) == 0 ? .flush : .preserve
            e.cPosition = next(2) == 0 ? .firstBlock : .last
            e.products = next(3) == 0 ? .rounded : .exact
            if case .extraBits(let x) = e.alignment, e.products == .rounded, nearest, n <= 2, x > e.fractionBits + 1 { e.products = .exact }
            let (f, count) = try Fingerprinter(device: try Self.emulator(e)).engine(input: .bf16)
            gemms += count
            #expect(f.reproduced == true, "trial \(trial) \(e): probe \(f.unreproducedProbe ?? "") not reproduced")
            for finding in f.findings {
                #expect(finding.status == .same || (finding.parameter == .products && finding.status == .unobservable),
                        "trial \(trial) \(e): \(finding.parameter.rawValue) measured \(finding.measured ?? "?") declared \(finding.declared) (\(finding.status))")
                covered[finding.parameter.rawValue, default: [:]][finding.measured ?? "unobservable", default: 0] += 1
            }
        }
        print("200 engines, \(gemms) GEMMs; parameters covered:\n" + covered.sorted { $0.key < $1.key }
            .map { "\($0.key): " + $0.value.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ") }.joined(separator: "\n"))
    }

    /// A device doing worse than it declares, each way: the finding is `worse`, named by the
    /// probe that showed it.
    @Test(arguments: [
        ("12 fraction bits declared as 13", "fraction_bits", "fraction-"),
        ("blocks of 32 declared as 16", "block_size", "block-"),
        ("flushing subnormal inputs declared as preserving", "subnormal_inputs", "subnormal-input"),
        ("flushing subnormal outputs declared as preserving", "subnormal_outputs", "subnormal-output"),
        ("truncating declared as nearest-even", "rounding", "rounding-"),
        ("one extra alignment bit declared as two", "extra_alignment_bits", "alignment-"),
        ("no promotion declared as every 128", "promote_every", "promotion-"),
        ("C last declared first", "c_position", "c-place"),
        ("rounded products declared exact", "products", "products"),
    ])
    func aDeviceWorseThanItDeclaresIsCaught(lie: String, parameter: String, probe: String) throws {
        let (actual, declared) = engineLie(parameter)
        let device = DeclaringDevice(inner: try Self.emulator(actual), declared: [declared])
        let (f, _) = try Fingerprinter(device: device).engine(input: .bf16)
        let worse = f.findings.filter { $0.status == .worse }
        #expect(worse.map(\.parameter.rawValue) == [parameter], "\(lie): \(f.findings)")
        #expect(worse.first?.probe.hasPrefix(probe) == true, "\(lie): \(String(describing: worse.first))")
        // The honest device shows nothing worse.
        let (clean, _) = try Fingerprinter(device: try Self.emulator(declared)).engine(input: .bf16)
        #expect(clean.findings.allSatisfy { $0.status == .same || $0.status == .unobservable }, "\(clean.findings)")
    }

    /// The emulator's block-FMA model as a device for 1×1×K GEMMs of any accumulate type (the
    /// emulator itself accumulates in fp32 only): the presets' fp16-accumulating engines.
    struct ModelDevice: DeviceAdapter {
        let engine: MatrixArithmetic
        var descriptor: DeviceDescriptor {
            var d = SystolicEmulator().descriptor
            d.name = "block-fma-model"
            d.arithmetic.matrixEngine = [engine]
            return d
        }
        func run(_ c: BenchmarkCase, inputs: CaseInputs) throws(DeviceError) -> DeviceOutput {
            guard case let .gemm(g) = c.workload, case let .gemm(i) = inputs else { throw .notSupported("GEMM only") }
            let model = BlockFMA(engine, a: g.types.a, b: g.types.b)
            let a = (0..<g.k).map { Float(i.a.value(at: $0)) }, b = (0..<g.k).map { Float(i.b.value(at: $0)) }
            let d = model.dot(a, b, c: i.c.map { Float($0.value(at: 0)) } ?? 0)
            let out = Tensor(type: g.types.output, shape: [1, 1, 1], values: [Double(d)], overflow: .ieee)
            return DeviceOutput(tensors: [g.output.role: out], metrics: [:])
        }
        func unsupported(_ c: BenchmarkCase) -> String? {
            guard case let .gemm(g) = c.workload else { return "GEMM only" }
            return g.m == 1 && g.n == 1 && g.types.accumulate == engine.accumulate ? nil : "1×1×K GEMMs accumulating in \(engine.accumulate.rawValue) only"
        }
        func shutdown() {}
        var log: String? { nil }
    }

    /// A chain of fused multiply-adds in fp32 whose every addition rounds up (or down): written
    /// here from the definition, independently of the model. Each product of two fp32 values is
    /// exact in binary64; the sum s + p is rounded to binary64 (t) with its error e found exactly
    /// (Knuth's TwoSum), and t rounded to fp32 (r) is moved one fp32 step when the exact s + p
    /// = t + e lies on the wrong side of r: its side is that of t − r (exact, and when nonzero far
    /// larger than e) or else of e.
    struct DirectedChainDevice: DeviceAdapter {
        enum Mode { case up, down, towardZero }
        let mode: Mode
        /// A lie: an adder with no carry bit, which drops the bit a sum carries above both terms.
        var dropsCarry = false
        init(up: Bool) { mode = up ? .up : .down }
        init(mode: Mode, dropsCarry: Bool) { self.mode = mode; self.dropsCarry = dropsCarry }
        var descriptor: DeviceDescriptor {
            var d = SystolicEmulator().descriptor
            d.name = "fma-chain"
            d.arithmetic.matrixEngine = [MatrixArithmetic(inputTypes: [.fp32, .bf16], accumulate: .fp32, blockSize: 1, alignment: .exact,
                                                          fractionBits: 23, blockRounding: .towardZero)]
            return d
        }
        func add(_ s: Float, _ p: Double) -> Float {
            let t = Double(s) + p
            let bv = t - Double(s), e = (Double(s) - (t - bv)) + (p - bv)
            var r = Float(t)
            let side = t - Double(r) != 0 ? t - Double(r) : e
            switch mode {
            case .up: if side > 0 { r = r.nextUp }
            case .down: if side < 0 { r = r.nextDown }
            case .towardZero: if r > 0 && side < 0 { r = r.nextDown } else if r < 0 && side > 0 { r = r.nextUp }
            }
            if dropsCarry, s != 0, p != 0, (s < 0) == (p < 0), r.isFinite, r != 0,
               Int(r.exponent) > max(Int(s.exponent), Int(p.exponent)) {
                r -= Float(sign: r.sign, exponent: r.exponent, significand: 1)
            }
            return r
        }
        func run(_ c: BenchmarkCase, inputs: CaseInputs) throws(DeviceError) -> DeviceOutput {
            guard case let .gemm(g) = c.workload, case let .gemm(i) = inputs else { throw .notSupported("GEMM only") }
            var s = Float(i.c.map { $0.value(at: 0) } ?? 0)
            for k in 0..<g.k { s = add(s, i.a.value(at: k) * i.b.value(at: k)) }
            let out = Tensor(type: .fp32, shape: [1, 1, 1], values: [Double(s)], overflow: .ieee)
            return DeviceOutput(tensors: [g.output.role: out], metrics: [:])
        }
        func unsupported(_ c: BenchmarkCase) -> String? {
            guard case let .gemm(g) = c.workload else { return "GEMM only" }
            return g.m == 1 && g.n == 1 && g.types.accumulate == .fp32 && g.types.output == .fp32 ? nil : "1×1×K fp32 GEMMs only"
        }
        func shutdown() {}
        var log: String? { nil }
    }

    /// Rounding up and down is recognised on both signs, and the model, which runs the measured
    /// rounding whatever the declaration can say, reproduces every probe; against a toward-zero
    /// declaration such an engine differs (its error is still under one unit) but is not worse.
    @Test(arguments: [true, false])
    func directedRoundingIsMeasuredAndReproduced(up: Bool) throws {
        for t in [NumberType.fp32, .bf16] {
            let (f, _) = try Fingerprinter(device: DirectedChainDevice(up: up)).engine(input: t)
            let table = Self.table(ArithmeticFingerprint(device: "chain", engines: [f], gemms: 0, seconds: 0))
            #expect(f.finding(.rounding)?.measured == (up ? "up" : "down"), "\(table)")
            #expect(f.finding(.rounding)?.status == .differs, "\(table)")
            #expect(f.finding(.fractionBits)?.measured == "23", "\(table)")
            #expect(f.reproduced == true, "\(table)")
            #expect(!f.findings.contains { $0.status == .worse }, "\(table)")
        }
    }

    /// Carry bits: an honest chain carries; one whose adder drops the carry-out bit is caught by the
    /// carry probe, named.
    @Test func aLostCarryIsCaught() throws {
        let (honest, _) = try Fingerprinter(device: DirectedChainDevice(mode: .towardZero, dropsCarry: false)).engine(input: .fp32)
        #expect(honest.finding(.carryBits)?.status == .same && honest.finding(.carryBits)?.measured == "at least 2")
        let (lossy, _) = try Fingerprinter(device: DirectedChainDevice(mode: .towardZero, dropsCarry: true)).engine(input: .fp32)
        let carry = lossy.finding(.carryBits)
        #expect(carry?.status == .worse && carry?.measured == "fewer than 2" && carry?.probe == "carry-2")
    }

    /// The presets' fp16-accumulating engines, through the model: nothing worse than declared,
    /// every probe reproduced, F, rounding and block size recovered (their 13 or 14 extra bits
    /// are deeper than an fp16 or fp8 product can carry a tie and its low bit: "at least").
    @Test func fp16AccumulatingEnginesAreRecovered() throws {
        var seen = 0
        for preset in DeviceConfig.presetNames {
            for engine in try DeviceConfig.preset(preset).arithmetic.matrixEngine ?? [] where engine.accumulate == .fp16 {
                for t in engine.inputTypes {
                    var e = engine
                    e.inputTypes = [t]
                    let (f, _) = try Fingerprinter(device: ModelDevice(engine: e)).engine(input: t, accumulate: .fp16)
                    seen += 1
                    #expect(f.reproduced == true, "\(preset) \(t): probe \(f.unreproducedProbe ?? "") not reproduced")
                    for finding in f.findings {
                        #expect(finding.status != .worse, "\(preset) \(t): \(finding)")
                        if [.fractionBits, .rounding, .blockSize].contains(finding.parameter) {
                            #expect(finding.status == .same, "\(preset) \(t): \(finding)")
                        }
                    }
                    print("\(preset) \(t.rawValue)/fp16: " + f.findings.map { "\($0.parameter.rawValue)=\($0.measured ?? "-")[\($0.declared)]" }.joined(separator: " "))
                }
            }
        }
        #expect(seen >= 4)
    }
}
