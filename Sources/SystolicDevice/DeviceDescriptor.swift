import SystolicNumerics

/// What a device is and what it promises: recorded in results and baselines, and the basis on
/// which its outputs are judged (design.md: "the device declares its arithmetic").
public struct DeviceDescriptor: Sendable, Codable, Equatable {
    /// A short name used in paths (`Baselines/<name>/`), e.g. `emulator-default`.
    public var name: String
    public var vendor: String
    public var product: String
    public var driverVersion: String
    /// `emulator` (modelled figures) or `hardware` (measured figures).
    public var kind: String
    public var arithmetic: DeclaredArithmetic
    /// Ops it runs: "gemm", "attention", "collective".
    public var ops: [String]
    public var array: ArrayGeometry?
    /// Peak rates per input type, in operations per second (one MAC = two operations).
    public var peakOpsPerSecond: [String: Double]

    enum CodingKeys: String, CodingKey {
        case name, vendor, product, kind, arithmetic, ops, array
        case driverVersion = "driver_version"
        case peakOpsPerSecond = "peak_ops_per_second"
    }

    public init(name: String, vendor: String, product: String, driverVersion: String, kind: String,
                arithmetic: DeclaredArithmetic, ops: [String], array: ArrayGeometry?, peakOpsPerSecond: [String: Double]) {
        self.name = name; self.vendor = vendor; self.product = product; self.driverVersion = driverVersion
        self.kind = kind; self.arithmetic = arithmetic; self.ops = ops; self.array = array
        self.peakOpsPerSecond = peakOpsPerSecond
    }
}

/// The arithmetic a device declares; the check engine judges it by exactly this.
public struct DeclaredArithmetic: Sendable, Codable, Equatable {
    public enum Subnormals: String, Sendable, Codable, CaseIterable {
        /// Subnormal inputs, products and sums are kept.
        case preserve
        /// Values below the smallest normal are flushed to zero.
        case flush
    }

    /// The floating-point accumulator's type (its unit roundoff enters the bound).
    public var accumulator: NumberType
    public var subnormals: Subnormals
    /// Overflow modes it implements for output conversions.
    public var overflowModes: [OverflowMode]
    /// Input types it accepts.
    public var inputTypes: [NumberType]

    enum CodingKeys: String, CodingKey {
        case accumulator, subnormals
        case overflowModes = "overflow_modes"
        case inputTypes = "input_types"
    }

    public init(accumulator: NumberType, subnormals: Subnormals, overflowModes: [OverflowMode], inputTypes: [NumberType]) {
        self.accumulator = accumulator; self.subnormals = subnormals; self.overflowModes = overflowModes
        self.inputTypes = inputTypes
    }
}

/// The systolic array of an emulated or real chip.
public struct ArrayGeometry: Sendable, Codable, Equatable {
    public var rows: Int
    public var cols: Int
    public var dataflow: String
    public var clockHz: Double

    enum CodingKeys: String, CodingKey {
        case rows, cols, dataflow
        case clockHz = "clock_hz"
    }

    public init(rows: Int, cols: Int, dataflow: String, clockHz: Double) {
        self.rows = rows; self.cols = cols; self.dataflow = dataflow; self.clockHz = clockHz
    }
}
