import SystolicNumerics
import SystolicDevice

/// The reference emulator's configuration (format `systolic-bench.device/1`, schema
/// `schemas/device.schema.json`): the array, its clock and declared arithmetic, memories, vector
/// unit, energy per operation and the chips of a system. Presets ship as JSON files of this format,
/// each citing its sources.
public struct DeviceConfig: Sendable, Codable, Equatable {
    public static let formatTag = "systolic-bench.device/1"

    public var format: String
    /// Short name used in the device name (`emulator-<name>`) and in baseline paths.
    public var name: String
    public var description: String
    /// Where the figures come from.
    public var sources: [String]
    public var array: Array
    public var clockHz: Double
    public var arithmetic: Arithmetic
    public var memory: Memory
    public var vectorUnit: VectorUnit
    public var energy: Energy
    public var chips: Chips
    /// Faults to inject on purpose (spellings of `EmulatorFault`), for negative controls; absent
    /// in every preset.
    public var faults: [String]?

    public enum Dataflow: String, Sendable, Codable, CaseIterable {
        case weightStationary = "weight_stationary"
        case outputStationary = "output_stationary"
    }

    public enum WeightLoading: String, Sendable, Codable, CaseIterable {
        /// Weights are shifted in, then inputs streamed: no overlap (SCALE-Sim's model).
        case serial
        /// The next fold's weights load while the current fold computes.
        case doubleBuffered = "double_buffered"
    }

    public struct Array: Sendable, Codable, Equatable {
        public var rows: Int
        public var cols: Int
        /// Arrays per chip, working on different folds at once.
        public var count: Int
        public var dataflow: Dataflow
        public var weightLoading: WeightLoading

        enum CodingKeys: String, CodingKey {
            case rows, cols, count, dataflow
            case weightLoading = "weight_loading"
        }

        public init(rows: Int, cols: Int, count: Int = 1, dataflow: Dataflow, weightLoading: WeightLoading) {
            self.rows = rows; self.cols = cols; self.count = count; self.dataflow = dataflow; self.weightLoading = weightLoading
        }
    }

    public struct Arithmetic: Sendable, Codable, Equatable {
        /// MACs each PE completes per cycle, by input type; a type absent here is not supported.
        /// A rate r > 1 packs r consecutive k values into a PE, so a K-tile is r·rows deep.
        public var macsPerCycle: [String: Int]
        public var accumulator: NumberType
        public var subnormals: DeclaredArithmetic.Subnormals
        public var overflowModes: [OverflowMode]
        /// The matrix engine's arithmetic per input type (declared arithmetic v2, docs/arithmetic.md),
        /// run bit for bit by `BlockFMA`; types it does not name use the plain fp32 datapath.
        public var matrixEngine: [MatrixArithmetic]?
        /// How the chip rounds the scales of block-scaled operands it quantises itself (MX and
        /// NVFP4 activations, docs/formats.md); absent: the specifications' own (floor, nearest).
        public var scaleRounding: ScaleRoundings?

        enum CodingKeys: String, CodingKey {
            case accumulator, subnormals
            case macsPerCycle = "macs_per_pe_per_cycle"
            case overflowModes = "overflow_modes"
            case matrixEngine = "matrix_engine"
            case scaleRounding = "scale_rounding"
        }

        public init(macsPerCycle: [String: Int], accumulator: NumberType = .fp32,
                    subnormals: DeclaredArithmetic.Subnormals = .preserve, overflowModes: [OverflowMode] = [.saturate, .ieee],
                    matrixEngine: [MatrixArithmetic]? = nil) {
            self.macsPerCycle = macsPerCycle; self.accumulator = accumulator; self.subnormals = subnormals
            self.overflowModes = overflowModes; self.matrixEngine = matrixEngine
        }

        /// Supported input types, in a stable order.
        public var inputTypes: [NumberType] { NumberType.allCases.filter { macsPerCycle[$0.rawValue] != nil } }

        public func rate(_ type: NumberType) -> Int? { macsPerCycle[type.rawValue] }
    }

    public struct Memory: Sendable, Codable, Equatable {
        /// On-chip buffer for activations (inputs A and outputs).
        public var unifiedBufferBytes: Int
        /// On-chip buffer for partial sums (fp32/int32).
        public var accumulatorBytes: Int
        /// On-chip buffer for weights waiting to be loaded into the array.
        public var weightBufferBytes: Int
        /// Off-chip (HBM or DRAM) bandwidth; 0 means unlimited (SCALE-Sim's assumption).
        public var hbmBytesPerSecond: Double
        public var hbmCapacityBytes: Int

        enum CodingKeys: String, CodingKey {
            case unifiedBufferBytes = "unified_buffer_bytes"
            case accumulatorBytes = "accumulator_bytes"
            case weightBufferBytes = "weight_buffer_bytes"
            case hbmBytesPerSecond = "hbm_bytes_per_second"
            case hbmCapacityBytes = "hbm_capacity_bytes"
        }

        public init(unifiedBufferBytes: Int, accumulatorBytes: Int, weightBufferBytes: Int, hbmBytesPerSecond: Double, hbmCapacityBytes: Int) {
            self.unifiedBufferBytes = unifiedBufferBytes; self.accumulatorBytes = accumulatorBytes
            self.weightBufferBytes = weightBufferBytes; self.hbmBytesPerSecond = hbmBytesPerSecond
            self.hbmCapacityBytes = hbmCapacityBytes
        }
    }

    public struct VectorUnit: Sendable, Codable, Equatable {
        public var lanes: Int
        /// Element operations per lane per cycle.
        public var opsPerCycle: Int
        /// Accuracy of its exp, in ulps of fp32 (enters the attention bound).
        public var expUlps: Double

        enum CodingKeys: String, CodingKey {
            case lanes
            case opsPerCycle = "ops_per_cycle"
            case expUlps = "exp_ulps"
        }

        public init(lanes: Int, opsPerCycle: Int, expUlps: Double) {
            self.lanes = lanes; self.opsPerCycle = opsPerCycle; self.expUlps = expUlps
        }
    }

    public struct Energy: Sendable, Codable, Equatable {
        /// Joules per MAC, by input type.
        public var macJoules: [String: Double]
        public var sramByteJoules: Double
        public var hbmByteJoules: Double
        public var vectorOpJoules: Double
        public var linkByteJoules: Double
        public var staticWatts: Double

        enum CodingKeys: String, CodingKey {
            case macJoules = "mac_joules"
            case sramByteJoules = "sram_byte_joules"
            case hbmByteJoules = "hbm_byte_joules"
            case vectorOpJoules = "vector_op_joules"
            case linkByteJoules = "link_byte_joules"
            case staticWatts = "static_watts"
        }

        public init(macJoules: [String: Double], sramByteJoules: Double, hbmByteJoules: Double, vectorOpJoules: Double,
                    linkByteJoules: Double, staticWatts: Double) {
            self.macJoules = macJoules; self.sramByteJoules = sramByteJoules; self.hbmByteJoules = hbmByteJoules
            self.vectorOpJoules = vectorOpJoules; self.linkByteJoules = linkByteJoules; self.staticWatts = staticWatts
        }
    }

    public struct Chips: Sendable, Codable, Equatable {
        public enum Topology: String, Sendable, Codable, CaseIterable {
            case ring
            case torus2d = "torus_2d"
            case fullyConnected = "fully_connected"
        }

        public var count: Int
        public var topology: Topology
        /// Bandwidth of one link in one direction.
        public var linkBytesPerSecond: Double
        public var linkLatencySeconds: Double
        /// Ring only: links carry data in one direction (rank r to r + 1) instead of both.
        public var unidirectional: Bool?

        enum CodingKeys: String, CodingKey {
            case count, topology, unidirectional
            case linkBytesPerSecond = "link_bytes_per_second"
            case linkLatencySeconds = "link_latency_seconds"
        }

        public init(count: Int, topology: Topology, linkBytesPerSecond: Double, linkLatencySeconds: Double, unidirectional: Bool? = nil) {
            self.count = count; self.topology = topology; self.linkBytesPerSecond = linkBytesPerSecond
            self.linkLatencySeconds = linkLatencySeconds; self.unidirectional = unidirectional
        }
    }

    enum CodingKeys: String, CodingKey {
        case format, name, description, sources, array, arithmetic, memory, energy, chips, faults
        case clockHz = "clock_hz"
        case vectorUnit = "vector_unit"
    }

    public init(name: String, description: String, sources: [String], array: Array, clockHz: Double, arithmetic: Arithmetic,
                memory: Memory, vectorUnit: VectorUnit, energy: Energy, chips: Chips) {
        self.format = Self.formatTag
        self.name = name; self.description = description; self.sources = sources; self.array = array
        self.clockHz = clockHz; self.arithmetic = arithmetic; self.memory = memory; self.vectorUnit = vectorUnit
        self.energy = energy; self.chips = chips
    }

    /// Peak operations per second (two per MAC) for an input type, all arrays busy.
    public func peakOpsPerSecond(_ type: NumberType) -> Double? {
        arithmetic.rate(type).map { 2 * Double(array.rows * array.cols * array.count * $0) * clockHz }
    }
}
