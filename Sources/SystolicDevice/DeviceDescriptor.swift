import SystolicNumerics

/// What a device is and what it promises: recorded in results and baselines, and the basis on
/// which its outputs are judged (docs/numerics.md: the device declares its arithmetic).
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
    /// The adapter process that drives the device, set by the harness (never by the adapter).
    public var adapter: AdapterInfo?

    enum CodingKeys: String, CodingKey {
        case name, vendor, product, kind, arithmetic, ops, array, adapter
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

/// An out-of-process adapter as the harness started it.
public struct AdapterInfo: Sendable, Codable, Equatable {
    public var executable: String
    public var arguments: [String]
    /// SHA-256 of the executable file, `sha256:<hex>`.
    public var digest: String
    public var protocolVersion: Int
    /// Timer the adapter reports: `device` or `wall`.
    public var timer: String
    public var energySource: String
    /// The features a version-2 adapter declared, per op (`gemm`, `attention`); absent for version 1.
    public var features: [String: [String]]?

    enum CodingKeys: String, CodingKey {
        case executable, arguments, digest, timer, features
        case protocolVersion = "protocol"
        case energySource = "energy_source"
    }

    public init(executable: String, arguments: [String], digest: String, protocolVersion: Int, timer: String, energySource: String,
                features: [String: [String]]? = nil) {
        self.executable = executable; self.arguments = arguments; self.digest = digest
        self.protocolVersion = protocolVersion; self.timer = timer; self.energySource = energySource; self.features = features
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
    /// Input types it accepts (every op's, together: what capability profiles ask for).
    public var inputTypes: [NumberType]
    /// Input types per op (`gemm`, `attention`, `collective`), where they differ: an op listed
    /// here is sent only its own types, so declaring int32 for the int32 collectives no longer has
    /// a GEMM with int32 inputs sent, which no document defines (#28, item 5). An op not listed
    /// takes `inputTypes`.
    public var inputTypesByOp: [String: [NumberType]]?
    /// The largest error of the vector unit's exp, in ulps of fp32 (relative error ≤ expUlps·2⁻²³);
    /// required to judge attention, absent for devices that do not run it.
    public var expUlps: Double?
    /// Declared arithmetic v2: how the matrix engine computes a GEMM's dot products, per input and
    /// accumulate type (block size, alignment, rounding, promotion, subnormals, C's place); a GEMM
    /// whose types no entry names is judged by `accumulator` and `subnormals` (docs/arithmetic.md).
    public var matrixEngine: [MatrixArithmetic]?
    /// How the device rounds the scales of block-scaled operands it quantises itself (an MX or
    /// NVFP4 case's A, `a_from`): judged by it, so a device rounding otherwise than it declares
    /// fails (docs/formats.md). Absent: the specifications' own, floor (MX) and nearest (NVFP4).
    public var scaleRounding: ScaleRoundings?

    /// The scale roundings the device is judged by.
    public var declaredScaleRounding: ScaleRoundings { scaleRounding ?? ScaleRoundings() }

    enum CodingKeys: String, CodingKey {
        case scaleRounding = "scale_rounding"
        case accumulator, subnormals
        case overflowModes = "overflow_modes"
        case inputTypes = "input_types"
        case inputTypesByOp = "input_types_by_op"
        case expUlps = "exp_ulps"
        case matrixEngine = "matrix_engine"
    }

    public init(accumulator: NumberType, subnormals: Subnormals, overflowModes: [OverflowMode], inputTypes: [NumberType],
                inputTypesByOp: [String: [NumberType]]? = nil, expUlps: Double? = nil, matrixEngine: [MatrixArithmetic]? = nil,
                scaleRounding: ScaleRoundings? = nil) {
        self.scaleRounding = scaleRounding
        self.accumulator = accumulator; self.subnormals = subnormals; self.overflowModes = overflowModes
        self.inputTypes = inputTypes; self.inputTypesByOp = inputTypesByOp; self.expUlps = expUlps
        self.matrixEngine = matrixEngine
    }

    /// The input types `op` accepts.
    public func inputTypes(for op: String) -> [NumberType] { inputTypesByOp?[op] ?? inputTypes }

    /// The ops `input_types_by_op` may name (the schema's `propertyNames`).
    public static let opsWithTypes: Set<String> = ["gemm", "attention", "collective"]

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        accumulator = try c.decode(NumberType.self, forKey: .accumulator)
        subnormals = try c.decode(Subnormals.self, forKey: .subnormals)
        overflowModes = try c.decode([OverflowMode].self, forKey: .overflowModes)
        inputTypes = try c.decode([NumberType].self, forKey: .inputTypes)
        inputTypesByOp = try c.decodeIfPresent([String: [NumberType]].self, forKey: .inputTypesByOp)
        expUlps = try c.decodeIfPresent(Double.self, forKey: .expUlps)
        matrixEngine = try c.decodeIfPresent([MatrixArithmetic].self, forKey: .matrixEngine)
        scaleRounding = try c.decodeIfPresent(ScaleRoundings.self, forKey: .scaleRounding)
        if let problem = matrixEngineProblem {
            throw DecodingError.dataCorruptedError(forKey: .matrixEngine, in: c, debugDescription: problem)
        }
        // As strict as the schema: a misspelt op would otherwise declare nothing, in silence.
        if let op = inputTypesByOp?.keys.sorted().first(where: { !Self.opsWithTypes.contains($0) }) {
            throw DecodingError.dataCorruptedError(forKey: .inputTypesByOp, in: c,
                                                   debugDescription: "unknown op \"\(op)\" (expected gemm, attention or collective)")
        }
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
