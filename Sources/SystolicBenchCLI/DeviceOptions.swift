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
    @Option(name: .long, help: ArgumentHelp(DeviceSpec.help))
    var device: DeviceSpec = .emulator(preset: DeviceConfig.defaultPresetName)

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
        if case let .process(path, arguments) = device {
            do {
                return try ProcessAdapter(executable: path, arguments: arguments, caseTimeout: caseTimeout,
                                          timing: TimingPlan(warmup: warmup, minRepeats: repeats, minSeconds: minSeconds))
            } catch {
                printError("error: \(error)")
                throw statusCode(.deviceError)
            }
        }
        return SystolicEmulator(config: try emulatorConfig()!)
    }

    /// The emulator's configuration, with any `--fault` written into it (nil for an adapter).
    func emulatorConfig() throws -> DeviceConfig? {
        guard case let .emulator(preset) = device else { return nil }
        var config: DeviceConfig
        if let path = deviceConfig {
            do { config = try DeviceConfig.load(path) } catch { throw badInput(error) }
        } else {
            do { config = try DeviceConfig.preset(preset) } catch { throw badInput(error) }
        }
        for spec in fault where EmulatorFault(spec) == nil {
            throw ValidationError("unknown fault \"\(spec)\"; expected one of \(EmulatorFault.spellings)")
        }
        if !fault.isEmpty { config.faults = (config.faults ?? []) + fault }
        return config
    }
}
