import ArgumentParser
import Foundation
import SystolicDevice
import SystolicHarness
import SystolicJSON
import SystolicNumerics
import SystolicResults

extension SystolicBench {
    struct Fingerprint: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure what a device's matrix engines do (fraction bits, rounding, alignment, block size, promotion, C's place, subnormals) and compare it with what it declares.",
            discussion: """
                Sends crafted 1×1×K GEMMs through the device (docs/fingerprint.md), one engine per input type it \
                runs with fp32 accumulation. Prints a table per engine, measured beside declared; --out writes the \
                report as JSON (schemas/fingerprint.schema.json). Timing options are not used: a probe needs its \
                output only, once. Exit 0 when nothing is worse than declared, 1 when something is, 3 when the \
                device fails.
                """)

        @OptionGroup var deviceOptions: DeviceOptions

        @Option(help: "Write the report (JSON) here.")
        var out: String?

        @Option(help: "Only these input types, comma-separated (default: every float type the device runs).")
        var types: String?

        func run() throws {
            var options = deviceOptions
            options.repeats = 1
            options.warmup = 0
            options.minSeconds = 0
            let device = try options.makeDevice()
            defer { device.shutdown() }
            let prober = Fingerprinter(device: device)
            var wanted: [NumberType]?
            if let types {
                wanted = try types.split(separator: ",").map { name in
                    guard let t = NumberType(rawValue: String(name)), t.floatFormat != nil else { throw ValidationError("unknown float type \(name)") }
                    return t
                }
                // A type the device does not run with fp32 accumulation is a usage error, not a
                // silently shorter report.
                let runs = prober.inputTypes()
                if let missing = wanted?.first(where: { !runs.contains($0) }) {
                    throw ValidationError("the device \(device.descriptor.name) runs no \(missing.rawValue) GEMM with fp32 accumulation "
                                          + "(it runs: \(runs.map(\.rawValue).joined(separator: ", ")))")
                }
            }
            let report: ArithmeticFingerprint
            do {
                report = try prober.run(only: wanted)
            } catch {
                printError("error: \(error)")
                throw statusCode(.deviceError)
            }
            print(report.table)
            if let out {
                let data = try JSONFile.encoder().encode(report)
                do { try JSONFile.writeAtomically(data, to: out) } catch { printError("error: \(error)"); throw statusCode(.cannotWrite) }
            }
            if !report.shortfalls.isEmpty { throw statusCode(.conformanceFailure) }
        }
    }
}
