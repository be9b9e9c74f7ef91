import ArgumentParser
import Foundation
import SystolicHarness
import SystolicDevice
import SystolicEmulation
import SystolicNumerics
import SystolicSuite

extension SystolicBench {
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure the emulator's functional GEMM and the host reference in GFLOP/s.",
            discussion: """
                Times SystolicEmulator.run (decode, multiply in the documented order, output conversion) and the \
                host reference (Ĉ in fp64 and a bound on |A|·|B|, together) on generated inputs, median of the repeats. Data \
                generation and checking are not timed. Use a release build: swift run -c release systolic-bench bench.
                """)

        @Option(help: "Shapes MxNxK, comma-separated.")
        var shapes: String = "1024x1024x1024,2048x2048x2048"

        @Option(help: "Input types (shorthand: inputs of that type, fp32 accumulator and output), or block-scaled formats (mxfp8: E4M3, mxfp4 and nvfp4: E2M1, both operands quantised by the harness), comma-separated.")
        var types: String = "fp32,bf16"

        @Option(help: "Timed repetitions; the median is reported.")
        var repeats: Int = 5

        @Option(help: "Threads (default: all cores).")
        var threads: Int?

        /// What `--only` can time alone.
        enum Part: String, ExpressibleByArgument, CaseIterable {
            case emulator, reference
        }

        @Option(help: "Time only the emulator or only the reference (to profile one alone).")
        var only: Part?

        @Option(help: ArgumentHelp("Emulator presets to time, comma-separated: a tensor-core preset runs its GEMMs on the block-FMA engine it declares (docs/arithmetic.md), to compare with the plain fp32 path in one run.", valueName: "presets"))
        var presets: String = DeviceConfig.defaultPresetName

        @Option(help: ArgumentHelp("Kernel paths to time, comma-separated: avx512, avx2, portable (default: the best this CPU has). Every path gives the same bits; an AVX-512 machine times what an AVX2-only one runs.", valueName: "paths"))
        var paths: String?

        /// The levels `--paths` names, best first.
        func pathLevels() throws -> [Int] {
            guard let paths else { return [GemmSpeed.bestPath] }
            return try paths.split(separator: ",").map { key in
                guard let level = GemmSpeed.pathKeys.firstIndex(of: String(key)) else {
                    throw ValidationError("unknown kernel path \"\(key)\"; paths: \(GemmSpeed.pathKeys.reversed().joined(separator: ", "))")
                }
                guard level <= GemmSpeed.bestPath else {
                    throw ValidationError("this CPU has no \(GemmSpeed.pathNames[level]) path (its best is \(GemmSpeed.kernelPath))")
                }
                return level
            }
        }

        func validate() throws {
            for shape in shapes.split(separator: ",") {
                let dims = shape.split(separator: "x").compactMap { Int($0) }
                guard dims.count == 3, dims.allSatisfy({ (1...SuiteLoader.Limits.dimension).contains($0) }) else {
                    throw ValidationError("a shape is MxNxK with each in 1...\(SuiteLoader.Limits.dimension), found \(shape)")
                }
                // GemmCase.hostBytes for fp32 (A and B as stored and decoded, C and its reference),
                // in Double so that no shape overflows it.
                let (m, n, k) = (Double(dims[0]), Double(dims[1]), Double(dims[2]))
                let bytes = 8 * (m * k + k * n) + 20 * m * n
                guard bytes <= Double(SuiteLoader.Limits.caseBytes) else {
                    throw ValidationError("shape \(shape) needs \(Int64(bytes)) bytes of tensors, more than the \(SuiteLoader.Limits.caseBytes) a case may hold")
                }
            }
            for name in presets.split(separator: ",") where !DeviceConfig.presetNames.contains(String(name)) {
                throw ValidationError("unknown emulator preset \"\(name)\"; presets: \(DeviceConfig.presetNames.joined(separator: ", "))")
            }
            guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1, found \(repeats)") }
            if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, found \(threads)") }
            _ = try pathLevels()
        }

        /// The GEMM `bench` times for a type name: a float type (inputs of that type, fp32
    /// accumulator and output), a block format (mxfp8, mxfp4, nvfp4: MX or NVFP4 inputs), or int4
    /// weights (w4a16: bf16 activations, w4a8: int8 ones; groups of 128, bf16 scales, zero points).
    static func benchCase(_ name: String, _ dims: [Int]) throws -> GemmCase {
        let blockFormats: [String: (NumberType, NumberType, GemmCase.BlockFormat)] = [
            "mxfp8": (.fp8_e4m3, .fp8_e4m3, .init(scheme: .mx)), "mxfp4": (.fp4_e2m1, .fp4_e2m1, .init(scheme: .mx)),
            "nvfp4": (.fp4_e2m1, .fp4_e2m1, .init(scheme: .nvfp4)),
            "w4a16": (.bf16, .uint4, .init(scheme: .int4, int4: .init(group: 128, scaleType: .bf16, zeroPoint: true))),
            "w4a8": (.int8, .uint4, .init(scheme: .int4, int4: .init(group: 128, scaleType: .bf16, zeroPoint: true)))]
        let format = blockFormats[name]
        guard let a = format?.0 ?? NumberType(rawValue: name), format != nil || a.floatFormat != nil else {
            throw ValidationError("unknown float type \(name) (or block format: mxfp8, mxfp4, nvfp4, w4a16, w4a8)")
        }
        let types = GemmCase.Types(a: a, b: format?.1 ?? a, accumulate: .fp32, output: .fp32)
        var g = GemmCase(m: dims[0], n: dims[1], k: dims[2], types: types, dataA: .normal(mean: 0, std: 1), dataB: .normal(mean: 0, std: 1))
        if let f = format?.2 {
            guard dims[2] % f.blockSize == 0 else { throw ValidationError("\(name) needs K a multiple of \(f.blockSize), found \(dims[2])") }
            g.blockFormat = f
            g.scales = f.scales(a: a)
        }
        return g
    }

    /// `text` padded with spaces to `width` characters (left-aligned).
        private func cell(_ text: String, _ width: Int) -> String {
            text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
        }

        func run() throws {
            let levels = try pathLevels()
            print("best kernel path on this CPU: \(GemmSpeed.kernelPath)")
            print(cell("shape", 16) + cell("type", 10) + cell("preset", 19) + cell("path", 11) + "emulator s  GFLOP/s  reference s  GFLOP/s")
            for shape in shapes.split(separator: ",") {
                let dims = shape.split(separator: "x").compactMap { Int($0) }
                guard dims.count == 3, dims.allSatisfy({ $0 > 0 }) else { throw ValidationError("a shape is MxNxK, found \(shape)") }
                for name in types.split(separator: ",") {
                    let g = try Self.benchCase(String(name), dims)
                    for preset in presets.split(separator: ",") {
                        let config = try DeviceConfig.preset(String(preset))
                        guard config.arithmetic.rate(g.types.a) != nil, config.arithmetic.rate(g.types.b) != nil else { continue }
                        let emulator = SystolicEmulator(config: config, threads: threads)
                        for level in levels {
                            let f = try GemmSpeed.onPath(level) {
                                try GemmSpeed.measure(g, device: only == .reference ? nil : emulator, reference: only != .emulator,
                                                      threads: threads ?? ProcessInfo.processInfo.activeProcessorCount, repeats: repeats)
                            }
                            let figures = String(format: "%10.4f %8.1f %12.4f %8.1f", f.deviceSeconds ?? .nan, (f.deviceRate ?? .nan) / 1e9,
                                                 f.referenceSeconds ?? .nan, (f.referenceRate ?? .nan) / 1e9)
                            print(cell(String(shape), 16) + cell(String(name), 10) + cell(String(preset), 19)
                                  + cell(GemmSpeed.pathKeys[level], 11) + figures)
                        }
                    }
                }
            }
        }
    }
}
