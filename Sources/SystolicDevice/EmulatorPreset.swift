import SystolicNumerics

/// A named configuration of the reference emulator, from published figures where it models a
/// public chip. The full JSON device configuration arrives with the emulator-model work; these
/// presets are its first entries.
public struct EmulatorPreset: Sendable, Equatable {
    public var name: String
    public var summary: String
    public var rows: Int
    public var cols: Int
    public var clockHz: Double
    public var inputTypes: [NumberType]

    public init(name: String, summary: String, rows: Int, cols: Int, clockHz: Double, inputTypes: [NumberType]) {
        self.name = name; self.summary = summary; self.rows = rows; self.cols = cols; self.clockHz = clockHz
        self.inputTypes = inputTypes
    }

    /// Peak operations per second for an input type (two per MAC, every PE busy every cycle).
    public var peakOpsPerSecond: Double { 2 * Double(rows * cols) * clockHz }

    public static let `default` = EmulatorPreset(
        name: "default",
        summary: "128×128 weight-stationary array at 1 GHz, fp32/bf16/fp16/fp8/int8 inputs, fp32 and int32 accumulators",
        rows: 128, cols: 128, clockHz: 1.0e9,
        inputTypes: [.fp32, .bf16, .fp16, .fp8_e4m3, .fp8_e5m2, .int8])

    /// Jouppi et al., "In-Datacenter Performance Analysis of a Tensor Processing Unit" (ISCA 2017):
    /// 256×256 8-bit MACs at 700 MHz, 92 TOPS peak (2 · 65536 · 700e6 = 91.75e12).
    public static let tpuV1 = EmulatorPreset(
        name: "tpu-v1",
        summary: "TPU v1-like: 256×256 int8 array at 700 MHz (Jouppi et al., ISCA 2017), int8 only",
        rows: 256, cols: 256, clockHz: 700e6,
        inputTypes: [.int8])

    public static let edge = EmulatorPreset(
        name: "edge",
        summary: "small edge array: 32×32 at 500 MHz, int8, fp8, fp16 and bf16 inputs",
        rows: 32, cols: 32, clockHz: 500e6,
        inputTypes: [.bf16, .fp16, .fp8_e4m3, .fp8_e5m2, .int8])

    public static let all: [EmulatorPreset] = [.default, .tpuV1, .edge]

    public static func named(_ name: String) -> EmulatorPreset? { all.first { $0.name == name } }
}
