import Foundation
import Testing
import SystolicData
import SystolicDevice
import SystolicEmulation
import SystolicHarness
import SystolicNumerics
import SystolicSuite
import SystolicTestSupport

/// The interval rule derived from a declaration is sound (an emulator running exactly the declared
/// engine passes every shipped case, for random declarations) and sharp enough (an engine one bit
/// worse than declared fails a shipped case): docs/arithmetic.md.
@Suite struct DeclaredArithmeticSoundnessTests {
    static let floatTypes: [NumberType] = [.fp32, .fp16, .bf16, .fp8_e4m3, .fp8_e5m2]

    static func emulator(_ engines: [MatrixArithmetic]) throws -> SystolicEmulator {
        var config = try DeviceConfig.preset("hbm-inference")
        config.name = "declared"
        config.arithmetic.matrixEngine = engines
        return SystolicEmulator(config: config)
    }

    static func quickGemms() throws -> (Suite, [BenchmarkCase]) {
        let suite = try SuiteLoader.load(Repository.path("Suites/gemm.json"))
        return (suite, suite.cases(inProfile: "quick"))
    }

    /// The GEMM profile the random declarations run: quick by default, the full profile with
    /// SYSTOLIC_SOUNDNESS_PROFILE=full (minutes per declaration: the closing note of #21 gives them).
    static func soundnessGemms() throws -> (Suite, [BenchmarkCase]) {
        let profile = ProcessInfo.processInfo.environment["SYSTOLIC_SOUNDNESS_PROFILE"] ?? "quick"
        let suite = try SuiteLoader.load(Repository.path("Suites/gemm.json"))
        let cases = suite.cases(inProfile: profile)
        precondition(!cases.isEmpty, "SYSTOLIC_SOUNDNESS_PROFILE=\(profile) names no profile of Suites/gemm.json")
        return (suite, cases)
    }

    /// Cases that fail on `device` (the others must pass or be unsupported).
    static func failing(_ device: any DeviceAdapter, _ suite: Suite, _ cases: [BenchmarkCase]) -> (failed: [String], unexpected: [String]) {
        let harness = Harness(device: device)
        var failed: [String] = [], unexpected: [String] = []
        for c in cases {
            let r = harness.runCase(c, generator: DataGenerator(seed: suite.seed))
            switch r.verdict {
            case .pass, .notSupported: break
            case .fail: failed.append(c.name)
            default: unexpected.append("\(c.name): \(r.verdict) \(r.reason ?? "")")
            }
        }
        return (failed, unexpected)
    }

    /// Random declarations (SplitMix64 from a fixed seed): block size, extra alignment bits,
    /// fraction bits, rounding, product rounding, promotion, subnormals in and out, C's place.
    static func randomEngine(_ rng: inout UInt64) -> MatrixArithmetic {
        func next(_ n: Int) -> Int {
            rng &+= 0x9E37_79B9_7F4A_7C15
            return Int(DataGenerator.mix64(rng) % UInt64(n))
        }
        let block = [1, 2, 4, 8, 16, 32][next(6)]
        var e = MatrixArithmetic(inputTypes: floatTypes, blockSize: block, alignment: .extraBits(next(5)),
                                 fractionBits: [10, 13, 16, 20, 22, 23, 23][next(7)],
                                 blockRounding: next(2) == 0 ? .towardZero : .nearestEven)
        e.products = next(4) == 0 ? .rounded : .exact
        if next(3) == 0 { e.promoteEvery = block * [1, 4, 8][next(3)] }
        e.subnormalInputs = next(3) == 0 ? .flush : .preserve
        e.subnormalOutputs = next(3) == 0 ? .flush : .preserve
        e.cPosition = next(2) == 0 ? .firstBlock : .last
        return e
    }

    @Test func randomDeclarationsPassEveryCase() throws {
        let (suite, cases) = try Self.soundnessGemms()
        var rng: UInt64 = 20261130
        var seen: [String] = []
        // SYSTOLIC_SOUNDNESS_DECLARATIONS runs more (the closing note of #21 ran 100).
        let count = Int(ProcessInfo.processInfo.environment["SYSTOLIC_SOUNDNESS_DECLARATIONS"] ?? "") ?? 12
        for _ in 0..<count {
            let engine = Self.randomEngine(&rng)
            let device = DeclaringDevice(inner: try Self.emulator([engine]), declared: [engine])
            let started = Date()
            let (failed, unexpected) = Self.failing(device, suite, cases)
            #expect(failed.isEmpty && unexpected.isEmpty, "\(engine): failed \(failed), unexpected \(unexpected)")
            // On standard error, unbuffered: a full-profile run takes minutes per declaration.
            FileHandle.standardError.write(Data("declaration \(seen.count + 1) of \(count): \(cases.count) cases in \(String(format: "%.1f", Date().timeIntervalSince(started))) s, failed \(failed.count)\n".utf8))
            seen.append("n \(engine.blockSize) x \(engine.alignment) F \(engine.fractionBits) \(engine.blockRounding.rawValue) \(engine.products.rawValue) promote \(engine.promoteEvery ?? 0) in \(engine.subnormalInputs.rawValue) out \(engine.subnormalOutputs.rawValue) C \(engine.cPosition.rawValue)")
        }
        print("declarations run:\n" + seen.joined(separator: "\n"))
    }

    /// One bit worse than declared: one extra alignment bit fewer, one fraction bit fewer, or
    /// truncation where nearest-even is declared. Each fails at least one shipped quick case.
    @Test func oneBitWorseThanDeclaredFailsAShippedCase() throws {
        let (suite, cases) = try Self.quickGemms()
        func entry(_ n: Int, _ x: Int, _ f: Int, _ r: MatrixArithmetic.Rounding) -> MatrixArithmetic {
            MatrixArithmetic(inputTypes: Self.floatTypes, blockSize: n, alignment: .extraBits(x), fractionBits: f, blockRounding: r)
        }
        // The presets' declarations (docs/arithmetic.md), and how each is made one bit worse.
        let declared: [(String, MatrixArithmetic)] = [
            ("V100-class n 4 x 0 F 23 toward zero", entry(4, 0, 23, .towardZero)),
            ("A100/Ada-class n 8 x 1 F 23 toward zero", entry(8, 1, 23, .towardZero)),
            ("Hopper-class n 16 x 2 F 23 toward zero", entry(16, 2, 23, .towardZero)),
            ("Ada/Hopper fp8 n 16 x 0 F 13 toward zero", entry(16, 0, 13, .towardZero)),
            ("CDNA2-class n 4 x 3 F 23 nearest", entry(4, 3, 23, .nearestEven)),
        ]
        var table: [String] = []
        for (name, engine) in declared {
            var worse: [(String, MatrixArithmetic)] = []
            if case .extraBits(let x) = engine.alignment, x > 0 { var w = engine; w.alignment = .extraBits(x - 1); worse.append(("one extra bit fewer", w)) }
            var narrow = engine; narrow.fractionBits -= 1; worse.append(("\(engine.fractionBits - 1) fraction bits declared as \(engine.fractionBits)", narrow))
            if engine.blockRounding == .nearestEven { var t = engine; t.blockRounding = .towardZero; worse.append(("truncating, nearest declared", t)) }
            for (how, actual) in worse {
                let device = DeclaringDevice(inner: try Self.emulator([actual]), declared: [engine])
                let (failed, unexpected) = Self.failing(device, suite, cases)
                #expect(!failed.isEmpty, "\(name), \(how): no shipped case fails")
                #expect(unexpected.isEmpty, "\(unexpected)")
                table.append("| \(name) | \(how) | \(failed.joined(separator: ", ")) |")
            }
        }
        print("| declared | device | failing quick cases |\n|---|---|---|\n" + table.joined(separator: "\n"))
    }
}
