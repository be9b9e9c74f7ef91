import ArgumentParser
import Foundation
import SystolicDevice
import SystolicEmulation
import SystolicJSON
import SystolicNumerics

extension SystolicBench {
    struct Devices: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the emulator presets, or print one as a configuration file to start from.")

        @Argument(help: "A preset to print as JSON (format systolic-bench.device/1).")
        var preset: String?

        func run() throws {
            if let name = preset {
                guard DeviceConfig.presetNames.contains(name) else {
                    throw ValidationError("unknown emulator preset \"\(name)\"; presets: \(DeviceConfig.presetNames.joined(separator: ", "))")
                }
                let config: DeviceConfig
                do { config = try DeviceConfig.preset(name) } catch { throw badInput(error) }
                print(String(decoding: try JSONFile.encoder().encode(config), as: UTF8.self))
                return
            }
            for name in DeviceConfig.presetNames {
                let c: DeviceConfig
                do { c = try DeviceConfig.preset(name) } catch { throw badInput(error) }
                let peaks = c.arithmetic.inputTypes.map { "\($0.rawValue) \(format(c.peakOpsPerSecond($0)! / 1e12)) T" }.joined(separator: ", ")
                print("emulator:\(name)\(name == DeviceConfig.defaultPresetName ? " (default)" : "")")
                print("  \(c.array.count)× \(c.array.rows)×\(c.array.cols) \(c.array.dataflow.rawValue), \(c.array.weightLoading.rawValue) weights, \(format(c.clockHz / 1e6)) MHz")
                print("  peak op/s: \(peaks); memory \(format(c.memory.hbmBytesPerSecond / 1e9)) GB/s, \(c.memory.hbmCapacityBytes >> 20) MiB")
            }
        }

        private func format(_ x: Double) -> String { String(format: "%.4g", x) }
    }
}
