import ArgumentParser
import SystolicDevice
import SystolicEmulation
import SystolicJSON
import SystolicNumerics
import SystolicProcess
import SystolicProtocol
import SystolicHarness

/// How a command picks its device.
struct DeviceOptions: ParsableArguments {
    @Option(name: .long, help: "The device: process:PATH [ARGS] (an adapter speaking the protocol of docs/protocol.md), or emulator or emulator:PRESET (presets: \(DeviceConfig.presetNames.joined(separator: ", ")); default \(DeviceConfig.defaultPresetName)).")
    var device: String = "emulator"

    @Option(name: .long, help: "An emulator configuration file (format systolic-bench.device/1) instead of a preset.")
    var deviceConfig: String?

    @Option(help: "Seconds an adapter process may take for one case before it is killed and restarted.")
    var caseTimeout: Double = 600

    @Option(help: "Timed repeats per case on an adapter device (after warm-up).")
    var repeats: Int = 5

    @Option(help: "Warm-up runs per case on an adapter device.")
    var warmup: Int = 1

    @Option(help: "Minimum seconds of timed repeats per case on an adapter device.")
    var minSeconds: Double = 0

    @Option(name: .long, help: ArgumentHelp("Make the emulator misbehave on purpose while declaring correct arithmetic: \(EmulatorFault.spellings).", visibility: .hidden))
    var fault: [String] = []

    func validate() throws {
        guard caseTimeout > 0, caseTimeout.isFinite else { throw ValidationError("--case-timeout must be a positive number of seconds, found \(caseTimeout)") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1, found \(repeats)") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative, found \(warmup)") }
        guard minSeconds >= 0, minSeconds.isFinite else { throw ValidationError("--min-seconds must not be negative, found \(minSeconds)") }
    }

    func makeDevice() throws -> any DeviceAdapter {
        if device.hasPrefix("process:") {
            // process:PATH [ARGS]: the adapter executable and its arguments, split on spaces.
            let words = device.dropFirst("process:".count).split(separator: " ").map(String.init)
            guard let path = words.first else { throw ValidationError("--device process: needs the adapter's path") }
            do {
                return try ProcessAdapter(executable: path, arguments: Array(words.dropFirst()), caseTimeout: caseTimeout,
                                          timing: TimingPlan(warmup: warmup, minRepeats: repeats, minSeconds: minSeconds))
            } catch {
                printError("error: \(error)")
                throw statusCode(.deviceError)
            }
        }
        if deviceConfig == nil {
            let parts = device.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.first == "emulator" else {
                throw ValidationError("unknown device \"\(device)\"; expected emulator, emulator:PRESET or process:PATH [ARGS]")
            }
            let name = parts.count > 1 ? parts[1] : DeviceConfig.defaultPresetName
            guard DeviceConfig.presetNames.contains(name) else {
                throw ValidationError("unknown emulator preset \"\(name)\"; presets: \(DeviceConfig.presetNames.joined(separator: ", "))")
            }
        }
        return SystolicEmulator(config: try emulatorConfig()!)
    }

    /// The emulator's configuration, with any `--fault` written into it (nil for an adapter).
    func emulatorConfig() throws -> DeviceConfig? {
        if device.hasPrefix("process:") { return nil }
        var config: DeviceConfig
        if let path = deviceConfig {
            do { config = try DeviceConfig.load(path) } catch { throw badInput(error) }
        } else {
            let parts = device.split(separator: ":", maxSplits: 1).map(String.init)
            let name = parts.count > 1 ? parts[1] : DeviceConfig.defaultPresetName
            do { config = try DeviceConfig.preset(name) } catch { throw badInput(error) }
        }
        for spec in fault where EmulatorFault(spec) == nil {
            throw ValidationError("unknown fault \"\(spec)\"; expected one of \(EmulatorFault.spellings)")
        }
        if !fault.isEmpty { config.faults = (config.faults ?? []) + fault }
        return config
    }
}
