import ArgumentParser
import SystolicDevice
import SystolicNumerics

/// How a command picks its device.
struct DeviceOptions: ParsableArguments {
    @Option(name: .long, help: "The device: emulator or emulator:PRESET (presets: \(EmulatorPreset.all.map(\.name).joined(separator: ", "))).")
    var device: String = "emulator"

    @Option(name: .long, help: ArgumentHelp("Make the emulator misbehave on purpose while declaring correct arithmetic: narrow-accumulator:bf16 or narrow-accumulator:fp16.", visibility: .hidden))
    var fault: [String] = []

    func makeDevice() throws -> any DeviceAdapter {
        let parts = device.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.first == "emulator" else {
            throw ValidationError("unknown device \"\(device)\"; expected emulator or emulator:PRESET")
        }
        let presetName = parts.count > 1 ? parts[1] : "default"
        guard let preset = EmulatorPreset.named(presetName) else {
            throw ValidationError("unknown emulator preset \"\(presetName)\"; presets: \(EmulatorPreset.all.map(\.name).joined(separator: ", "))")
        }
        let faults = try fault.map { spec -> EmulatorFault in
            let f = spec.split(separator: ":").map(String.init)
            if f.count == 2, f[0] == "narrow-accumulator", let t = NumberType(rawValue: f[1]), t == .bf16 || t == .fp16 {
                return .narrowAccumulator(t)
            }
            throw ValidationError("unknown fault \"\(spec)\"; expected narrow-accumulator:bf16 or narrow-accumulator:fp16")
        }
        return SystolicEmulator(preset: preset, faults: faults)
    }
}
