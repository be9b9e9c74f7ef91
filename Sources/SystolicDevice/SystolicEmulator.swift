import Dispatch
import SystolicData
import SystolicNumerics
import SystolicSuite

/// The reference systolic emulator: the default device.
///
/// GEMM numerics (weight-stationary, `R` = array rows), per output element C[b, i, j]:
/// 1. K is cut into tiles of `R` rows, in order: tile t covers k in [t·R, min((t+1)·R, K)).
/// 2. Inside a tile the partial sum starts at +0 and flows down the column: for k in order,
///    `p = fma(a[i,k], b[k,j], p)` in fp32 (one rounding per step; products of fp16, bf16 and
///    fp8 inputs are exact in fp32, so this equals an exact product then an fp32 add).
/// 3. Tiles are added in order into an fp32 accumulator: `acc = p₀`, then `acc = acc + pₜ`.
/// 4. The output is `acc` rounded to the output type (nearest-even, the case's overflow mode).
/// int8 × int8 products are summed in the same order in int32 (exact for K ≤ 131072).
///
/// Timing is SCALE-Sim's weight-stationary form with serial weight loading and unlimited
/// bandwidth: ⌈K/R⌉·⌈N/C⌉ folds of (2R + C + M − 2) cycles, less one, per GEMM of a batch.
public struct SystolicEmulator: DeviceAdapter {
    public let preset: EmulatorPreset
    public let faults: [EmulatorFault]

    public init(preset: EmulatorPreset = .default, faults: [EmulatorFault] = []) {
        self.preset = preset
        self.faults = faults
    }

    public var descriptor: DeviceDescriptor {
        var peaks: [String: Double] = [:]
        for t in preset.inputTypes { peaks[t.rawValue] = preset.peakOpsPerSecond }
        return DeviceDescriptor(
            name: "emulator-\(preset.name)", vendor: "SystolicBench", product: "reference systolic emulator (\(preset.summary))",
            driverVersion: SystolicEmulator.modelVersion, kind: "emulator",
            arithmetic: DeclaredArithmetic(accumulator: .fp32, subnormals: .preserve, overflowModes: [.saturate, .ieee],
                                           inputTypes: preset.inputTypes),
            ops: ["gemm"],
            array: ArrayGeometry(rows: preset.rows, cols: preset.cols, dataflow: "weight_stationary", clockHz: preset.clockHz),
            peakOpsPerSecond: peaks)
    }

    /// Version of the numeric and timing model; it changes whenever any output bit or figure would.
    public static let modelVersion = "1.0.0"

    public func run(_ benchmarkCase: BenchmarkCase, inputs: CaseInputs) throws(DeviceError) -> DeviceOutput {
        switch (benchmarkCase.workload, inputs) {
        case let (.gemm(gemm), .gemm(tensors)):
            return try runGemm(gemm, tensors)
        case (.gemm, _):
            throw .broken("GEMM case given inputs of another family")
        case (.attention, _):
            throw .notSupported("attention is not modelled by emulator model \(Self.modelVersion)")
        case (.collective, _):
            throw .notSupported("collectives are not modelled by emulator model \(Self.modelVersion)")
        }
    }

    private func runGemm(_ g: GemmCase, _ inputs: GemmInputs) throws(DeviceError) -> DeviceOutput {
        for t in [g.types.a, g.types.b] where !preset.inputTypes.contains(t) {
            throw .notSupported("input type \(t.rawValue) is not supported by preset \(preset.name)")
        }
        guard g.scales.isUnit else { throw .notSupported("scaled GEMM is not modelled by emulator model \(Self.modelVersion)") }
        guard !g.bias, g.activation == .none else {
            throw .notSupported("GEMM epilogues are not modelled by emulator model \(Self.modelVersion)")
        }
        if g.types.a.isInteger, g.types.output != .int32 {
            throw .notSupported("int8 requantisation to \(g.types.output.rawValue) is not modelled by emulator model \(Self.modelVersion)")
        }
        var c = Tensor(type: g.types.output, shape: [g.batch, g.m, g.n])
        if g.types.a.isInteger {
            GemmKernel.integer(g, inputs, rows: preset.rows, into: &c)
        } else {
            let narrow = faults.compactMap { if case let .narrowAccumulator(t) = $0 { return t } else { return nil } }.first
            GemmKernel.float(g, inputs, rows: preset.rows, narrowAccumulator: narrow, into: &c)
        }
        return DeviceOutput(tensors: ["c": c], metrics: gemmMetrics(g))
    }

    private func gemmMetrics(_ g: GemmCase) -> [Metric] {
        let r = preset.rows, cl = preset.cols
        let cycles = GemmTiming.weightStationaryCycles(m: g.m, n: g.n, k: g.k, rows: r, cols: cl, batch: g.batch)
        let seconds = Double(cycles) / preset.clockHz
        let macs = Double(g.macs)
        let mapped = Double(((g.k + r - 1) / r) * r * ((g.n + cl - 1) / cl) * cl)
        return [
            Metric(name: "cycles", value: Double(cycles), unit: "cycles", deterministic: true),
            Metric(name: "time", value: seconds, unit: "s", deterministic: true),
            Metric(name: "macs", value: macs, unit: "MAC", deterministic: true),
            Metric(name: "throughput", value: 2 * macs / seconds, unit: "op/s", deterministic: true),
            Metric(name: "utilisation", value: macs / (Double(cycles) * Double(r * cl)), unit: "ratio", deterministic: true),
            Metric(name: "mapping_efficiency", value: Double(g.k * g.n) / mapped, unit: "ratio", deterministic: true),
        ]
    }
}

/// Compute-cycle formulas anchored to SCALE-Sim v3.0.0 (serial weight loading, unlimited bandwidth).
public enum GemmTiming {
    /// Weight stationary: ⌈K/R⌉·⌈N/C⌉ folds of (2R + C + M − 2) cycles per GEMM, less one for the
    /// whole run, as SCALE-Sim reports (its count is the index of the last busy cycle).
    public static func weightStationaryCycles(m: Int, n: Int, k: Int, rows: Int, cols: Int, batch: Int = 1) -> Int {
        let folds = ((k + rows - 1) / rows) * ((n + cols - 1) / cols)
        return batch * folds * (2 * rows + cols + m - 2) - 1
    }
}
