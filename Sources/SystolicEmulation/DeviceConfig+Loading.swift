import Foundation
import SystolicSuite
import SystolicJSON
import SystolicNumerics
import SystolicDevice

extension DeviceConfig {
    /// Names of the shipped presets (files `Presets/<name>.json` in this module's resources).
    public static let presetNames = ["hbm-inference", "tpu-v1", "edge"]

    /// The preset `--device emulator` uses.
    public static let defaultPresetName = "hbm-inference"

    /// A shipped preset by name.
    public static func preset(_ name: String) throws(InputFileError) -> DeviceConfig {
        guard presetNames.contains(name), let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Presets")
        else {
            throw InputFileError(file: "emulator:\(name)", place: nil,
                                 message: "no such emulator preset; presets: \(presetNames.joined(separator: ", "))")
        }
        return try load(url.path)
    }

    /// Reads and validates a device configuration file; every error names the file, the place and
    /// the value.
    public static func load(_ path: String) throws(InputFileError) -> DeviceConfig {
        let config = try JSONFile.decode(DeviceConfig.self, from: path)
        try config.validate(file: path)
        return config
    }

    func validate(file: String) throws(InputFileError) {
        func check(_ ok: Bool, _ place: String, _ expected: String, _ found: Any) throws(InputFileError) {
            if !ok { throw InputFileError(file: file, place: place, message: "expected \(expected), found \(found)") }
        }
        try check(format == Self.formatTag, "format", "\"\(Self.formatTag)\"", "\"\(format)\"")
        // The emulator's device name, emulator-<name>, becomes part of results' and baselines' paths.
        try check(!name.contains(".") && PathName.isDeviceName("emulator-" + name), "name",
                  "ASCII letters, digits, '-' and '_', at most \(PathName.maxLength - 9) of them", "\"\(name)\"")
        try check((1...4096).contains(array.rows), "array.rows", "an integer in 1...4096", array.rows)
        try check((1...4096).contains(array.cols), "array.cols", "an integer in 1...4096", array.cols)
        try check((1...1024).contains(array.count), "array.count", "an integer in 1...1024", array.count)
        try check(clockHz > 0 && clockHz.isFinite, "clock_hz", "a positive number", clockHz)
        try check(!arithmetic.macsPerCycle.isEmpty, "arithmetic.macs_per_pe_per_cycle", "at least one input type", "{}")
        for (type, rate) in arithmetic.macsPerCycle {
            try check(NumberType(rawValue: type) != nil && type != "int32", "arithmetic.macs_per_pe_per_cycle.\(type)",
                      "an input type (fp32, fp16, bf16, fp8_e4m3, fp8_e5m2, int8)", "\"\(type)\"")
            try check((1...16).contains(rate), "arithmetic.macs_per_pe_per_cycle.\(type)", "an integer in 1...16", rate)
            try check(energy.macJoules[type] != nil, "energy.mac_joules", "an energy for input type \(type)", "none")
        }
        try check(arithmetic.accumulator.floatFormat != nil && arithmetic.accumulator.byteWidth >= 2, "arithmetic.accumulator",
                  "fp32, fp16 or bf16", arithmetic.accumulator.rawValue)
        try check(!arithmetic.overflowModes.isEmpty, "arithmetic.overflow_modes", "at least one mode", "[]")
        for (place, v) in [("memory.unified_buffer_bytes", memory.unifiedBufferBytes), ("memory.accumulator_bytes", memory.accumulatorBytes),
                           ("memory.weight_buffer_bytes", memory.weightBufferBytes), ("memory.hbm_capacity_bytes", memory.hbmCapacityBytes)] {
            try check(v > 0, place, "a positive byte count", v)
        }
        try check(memory.hbmBytesPerSecond >= 0 && memory.hbmBytesPerSecond.isFinite, "memory.hbm_bytes_per_second",
                  "a non-negative number (0: unlimited)", memory.hbmBytesPerSecond)
        try check(vectorUnit.lanes > 0, "vector_unit.lanes", "a positive integer", vectorUnit.lanes)
        try check(vectorUnit.opsPerCycle > 0, "vector_unit.ops_per_cycle", "a positive integer", vectorUnit.opsPerCycle)
        try check(vectorUnit.expUlps >= 0, "vector_unit.exp_ulps", "a non-negative number", vectorUnit.expUlps)
        let energies = [("energy.sram_byte_joules", energy.sramByteJoules), ("energy.hbm_byte_joules", energy.hbmByteJoules),
                        ("energy.vector_op_joules", energy.vectorOpJoules), ("energy.link_byte_joules", energy.linkByteJoules),
                        ("energy.static_watts", energy.staticWatts)] + energy.macJoules.map { ("energy.mac_joules.\($0.key)", $0.value) }
        for (place, v) in energies {
            try check(v >= 0 && v.isFinite, place, "a non-negative number", v)
        }
        try check((1...64).contains(chips.count), "chips.count", "an integer in 1...64", chips.count)
        try check(chips.linkBytesPerSecond > 0, "chips.link_bytes_per_second", "a positive number", chips.linkBytesPerSecond)
        try check(chips.linkLatencySeconds >= 0, "chips.link_latency_seconds", "a non-negative number", chips.linkLatencySeconds)
        for (i, spelling) in (faults ?? []).enumerated() {
            try check(EmulatorFault(spelling) != nil, "faults[\(i)]", "a fault of `systolic-bench faults`", "\"\(spelling)\"")
        }
    }
}
