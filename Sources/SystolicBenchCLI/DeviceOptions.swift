import ArgumentParser
import SystolicDevice
import SystolicJSON
import SystolicNumerics

/// How a command picks its device.
struct DeviceOptions: ParsableArguments {
    @Option(name: .long, help: "The device: emulator or emulator:PRESET (presets: \(DeviceConfig.presetNames.joined(separator: ", ")); default \(DeviceConfig.defaultPresetName)).")
    var device: String = "emulator"

    @Option(name: .long, help: "An emulator configuration file (format systolic-bench.device/1) instead of a preset.")
    var deviceConfig: String?

    @Option(name: .long, help: ArgumentHelp("Make the emulator misbehave on purpose while declaring correct arithmetic: \(EmulatorFault.spellings).", visibility: .hidden))
    var fault: [String] = []

    func makeDevice() throws -> any DeviceAdapter {
        let config: DeviceConfig
        if let path = deviceConfig {
            do { config = try DeviceConfig.load(path) } catch { throw badInput(error) }
        } else {
            let parts = device.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.first == "emulator" else {
                throw ValidationError("unknown device \"\(device)\"; expected emulator or emulator:PRESET")
            }
            let name = parts.count > 1 ? parts[1] : DeviceConfig.defaultPresetName
            guard DeviceConfig.presetNames.contains(name) else {
                throw ValidationError("unknown emulator preset \"\(name)\"; presets: \(DeviceConfig.presetNames.joined(separator: ", "))")
            }
            do { config = try DeviceConfig.preset(name) } catch { throw badInput(error) }
        }
        let faults = try fault.map { spec -> EmulatorFault in
            guard let f = EmulatorFault(spec) else { throw ValidationError("unknown fault \"\(spec)\"; expected one of \(EmulatorFault.spellings)") }
            return f
        }
        return SystolicEmulator(config: config, faults: faults)
    }
}
