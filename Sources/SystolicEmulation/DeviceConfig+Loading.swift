import Foundation
import SystolicSuite
import SystolicJSON
import SystolicNumerics
import SystolicDevice

extension DeviceConfig {
    /// Names of the shipped presets (files `Presets/<name>.json` in this module's resources).
    public static let presetNames = ["hbm-inference", "tpu-v1", "edge", "v100-tensor-core", "a100-tensor-core", "ada-tensor-core",
                                             "h100-tensor-core", "h100-fp8-promoted", "b200-tensor-core", "cdna2-matrix-core"]

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
        // Every figure has a range a real chip could have, so no combination of them overflows the
        // cost models' integer cycle counts (a clock of 1e308 Hz trapped converting cycles to Int).
        try check((1e3...1e11).contains(clockHz), "clock_hz", "a clock in 1e3...1e11 Hz", clockHz)
        try check(!arithmetic.macsPerCycle.isEmpty, "arithmetic.macs_per_pe_per_cycle", "at least one input type", "{}")
        for (type, rate) in arithmetic.macsPerCycle {
            try check(NumberType(rawValue: type) != nil && type != "int32", "arithmetic.macs_per_pe_per_cycle.\(type)",
                      "an input type (\(NumberType.allCases.filter { $0 != .int32 }.map(\.rawValue).joined(separator: ", ")))", "\"\(type)\"")
            try check((1...16).contains(rate), "arithmetic.macs_per_pe_per_cycle.\(type)", "an integer in 1...16", rate)
            try check(energy.macJoules[type] != nil, "energy.mac_joules", "an energy for input type \(type)", "none")
        }
        try check(arithmetic.accumulator.floatFormat != nil && arithmetic.accumulator.byteWidth >= 2, "arithmetic.accumulator",
                  "fp32, fp16 or bf16", arithmetic.accumulator.rawValue)
        var declared = Set<String>()
        for (i, engine) in (arithmetic.matrixEngine ?? []).enumerated() {
            let place = "arithmetic.matrix_engine[\(i)]"
            if !engine.isPlain, let why = BlockFMA.unsupported(engine) {
                throw InputFileError(file: file, place: place, message: why)
            }
            for t in engine.inputTypes {
                try check(arithmetic.rate(t) != nil, place + ".input_types", "a type in macs_per_pe_per_cycle", "\"\(t.rawValue)\"")
                for op in engine.ops {
                    try check(declared.insert("\(t.rawValue)/\(engine.accumulate.rawValue)/\(op.rawValue)").inserted, place + ".input_types",
                              "each input type once per accumulate type and op", "\"\(t.rawValue)\" again for \(op.rawValue)")
                }
            }
        }
        try check(!arithmetic.overflowModes.isEmpty, "arithmetic.overflow_modes", "at least one mode", "[]")
        for (place, v) in [("memory.unified_buffer_bytes", memory.unifiedBufferBytes), ("memory.accumulator_bytes", memory.accumulatorBytes),
                           ("memory.weight_buffer_bytes", memory.weightBufferBytes), ("memory.hbm_capacity_bytes", memory.hbmCapacityBytes)] {
            try check((1...(1 << 50)).contains(v), place, "a byte count in 1...2^50", v)
        }
        try check(memory.hbmBytesPerSecond == 0 || (1e6...1e15).contains(memory.hbmBytesPerSecond), "memory.hbm_bytes_per_second",
                  "0 (unlimited) or a bandwidth in 1e6...1e15 B/s", memory.hbmBytesPerSecond)
        try check((1...65536).contains(vectorUnit.lanes), "vector_unit.lanes", "an integer in 1...65536", vectorUnit.lanes)
        try check((1...1024).contains(vectorUnit.opsPerCycle), "vector_unit.ops_per_cycle", "an integer in 1...1024", vectorUnit.opsPerCycle)
        try check((0...1e6).contains(vectorUnit.expUlps), "vector_unit.exp_ulps", "a number of ulps in 0...1e6", vectorUnit.expUlps)
        let energies = [("energy.sram_byte_joules", energy.sramByteJoules), ("energy.hbm_byte_joules", energy.hbmByteJoules),
                        ("energy.vector_op_joules", energy.vectorOpJoules), ("energy.link_byte_joules", energy.linkByteJoules),
                        ("energy.static_watts", energy.staticWatts)] + energy.macJoules.map { ("energy.mac_joules.\($0.key)", $0.value) }
        for (place, v) in energies {
            try check((0...1e6).contains(v), place, "a non-negative number no larger than 1e6", v)
        }
        try check((1...64).contains(chips.count), "chips.count", "an integer in 1...64", chips.count)
        try check((1e6...1e15).contains(chips.linkBytesPerSecond), "chips.link_bytes_per_second", "a bandwidth in 1e6...1e15 B/s",
                  chips.linkBytesPerSecond)
        try check((0...1).contains(chips.linkLatencySeconds), "chips.link_latency_seconds", "a latency in 0...1 s", chips.linkLatencySeconds)
        for (i, spelling) in (faults ?? []).enumerated() {
            try check(EmulatorFault(spelling) != nil, "faults[\(i)]", "a fault of `systolic-bench faults`", "\"\(spelling)\"")
        }
    }
}
