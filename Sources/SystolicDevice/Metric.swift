import SystolicJSON

/// A figure the suite knows: its name, units, which way is better and where it can come from.
///
/// The catalogue (`Metric.catalogue`) is the one home of these facts. Devices report figures by
/// these values (`DeviceOutput.metrics`), results and baselines store them by `name`, and the
/// comparator's default rules come from here (`Baselines/tolerances.json` only overrides them).
/// A name that is not in the catalogue is refused wherever a file carries it.
public struct Metric: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Which way a change is an improvement.
    public enum Better: String, Sendable, Codable, CaseIterable {
        case lower, higher
    }

    /// Where a figure can come from.
    public enum Origin: String, Sendable, CaseIterable {
        /// Only from a model (the emulator): always deterministic.
        case modelled
        /// Only from a clock or counter of a real run: never deterministic.
        case measured
        /// Either, depending on the device.
        case either
    }

    /// The name results, baselines and tolerance files use.
    public let name: String
    /// The units it may be reported in (an operation count is in ops for a GEMM, FLOP for attention).
    public let units: [String]
    /// nil for counts of work (MACs, FLOPs, repeats): the case defines them, so any change beyond
    /// tolerance is a regression whichever way it goes.
    public let better: Better?
    public let origin: Origin
    /// Below this absolute change, in the metric's unit, a measured figure has not moved (timers'
    /// resolution); 0 where relative noise alone decides.
    public let measuredFloor: Double
    /// What it means, for the docs and `--help`.
    public let meaning: String

    init(_ name: String, _ units: [String], _ better: Better?, _ origin: Origin, floor: Double = 0, _ meaning: String) {
        self.name = name; self.units = units; self.better = better; self.origin = origin
        self.measuredFloor = floor; self.meaning = meaning
    }

    public var description: String { name }
    public static func == (a: Metric, b: Metric) -> Bool { a.name == b.name }
    public func hash(into h: inout Hasher) { h.combine(name) }
    public static func < (a: Metric, b: Metric) -> Bool { a.name < b.name }

    // MARK: The catalogue

    // Time and counts of the array (modelled: SCALE-Sim's cycle model, see the emulator's docs).
    public static let cycles = Metric("cycles", ["cycles"], .lower, .modelled, "total cycles of the case on the device")
    public static let computeCycles = Metric("compute_cycles", ["cycles"], .lower, .modelled, "cycles the array computes")
    public static let stallCycles = Metric("stall_cycles", ["cycles"], .lower, .modelled, "cycles the array waits for memory")
    public static let arrayCycles = Metric("array_cycles", ["cycles"], .lower, .modelled, "attention: cycles of the two GEMMs on the array")
    public static let vectorCycles = Metric("vector_cycles", ["cycles"], .lower, .modelled, "attention: cycles of softmax on the vector unit")
    public static let time = Metric("time", ["s"], .lower, .either, floor: 1e-6, "time of one run of the case (measured: the median of the repeats)")
    public static let rooflineTime = Metric("roofline_time", ["s"], .lower, .modelled, "the roofline's bound: max(work / peak, bytes / bandwidth)")
    public static let hostRoundTrip = Metric("host_round_trip", ["s"], .lower, .measured, floor: 1e-6, "host time of the request to an adapter process and its reply")

    // Work (counts fixed by the case) and rates.
    public static let macs = Metric("macs", ["MAC"], nil, .modelled, "multiply-accumulates of a GEMM")
    public static let flops = Metric("flops", ["FLOP"], nil, .modelled, "attention: 4·head_dim FLOPs per visible (query, key) pair")
    public static let repeats = Metric("repeats", ["count"], nil, .measured, "timed repeats behind a measured time")
    public static let throughput = Metric("throughput", ["op/s", "FLOP/s"], .higher, .either, "operations (two per MAC) or FLOPs per second")
    public static let tokensPerSecond = Metric("tokens_per_second", ["token/s"], .higher, .either, "decode attention: query tokens per second")
    public static let utilisation = Metric("utilisation", ["ratio"], .higher, .either, "fraction of the array's peak rate achieved")
    public static let mappingEfficiency = Metric("mapping_efficiency", ["ratio"], .higher, .modelled, "fraction of the PEs the shape occupies in its folds")
    public static let rooflineFraction = Metric("roofline_fraction", ["ratio"], .higher, .either, "roofline time over time")

    // Memory.
    public static let hbmReadBytes = Metric("hbm_read_bytes", ["B"], .lower, .modelled, "bytes read from HBM")
    public static let hbmWriteBytes = Metric("hbm_write_bytes", ["B"], .lower, .modelled, "bytes written to HBM")
    public static let sramBytes = Metric("sram_bytes", ["B"], .lower, .modelled, "bytes moved through on-chip SRAM")
    public static let achievedBandwidth = Metric("achieved_bandwidth", ["B/s"], .higher, .either, "HBM bytes over time")
    public static let hbmUtilisation = Metric("hbm_utilisation", ["ratio"], .higher, .either, "achieved over peak HBM bandwidth")
    public static let arithmeticIntensity = Metric("arithmetic_intensity", ["op/B", "FLOP/B"], .higher, .modelled, "operations per HBM byte")

    // Collectives (nccl-tests' definitions: algbw = S / t, busbw = algbw · the operation's bus factor).
    public static let algbw = Metric("algbw", ["B/s"], .higher, .either, "algorithm bandwidth: the collective's bytes over its time")
    public static let busbw = Metric("busbw", ["B/s"], .higher, .either, "bus bandwidth: algbw times the operation's bus factor")
    public static let steps = Metric("steps", ["count"], .lower, .modelled, "communication steps of the collective's plan")
    public static let linkBytes = Metric("link_bytes", ["B"], .lower, .modelled, "bytes sent over chip-to-chip links")

    // Energy.
    public static let energy = Metric("energy", ["J"], .lower, .either, "energy of one run of the case (its source is recorded)")
    public static let efficiency = Metric("efficiency", ["op/J", "FLOP/J"], .higher, .either, "operations or FLOPs per joule")

    /// Every metric the suite knows, by name.
    public static let catalogue: [Metric] = [
        cycles, computeCycles, stallCycles, arrayCycles, vectorCycles, time, rooflineTime, hostRoundTrip,
        macs, flops, repeats, throughput, tokensPerSecond, utilisation, mappingEfficiency, rooflineFraction,
        hbmReadBytes, hbmWriteBytes, sramBytes, achievedBandwidth, hbmUtilisation, arithmeticIntensity,
        algbw, busbw, steps, linkBytes, energy, efficiency,
    ]

    private static let byName = Dictionary(uniqueKeysWithValues: catalogue.map { ($0.name, $0) })

    /// The catalogued metric of this name, or nil.
    public static func named(_ name: String) -> Metric? { byName[name] }
}

/// A statistic of repeated measurements, as `MetricValue.statistics` records it.
public enum Statistic: String, Sendable, Codable, CaseIterable {
    case median, mean, p90, p99, min, max, cv
}

/// One figure as reported and stored: the value (a measured figure's median), its unit, whether it
/// must repeat exactly, its source where that matters, and a measured figure's statistics.
public struct MetricValue: Sendable, Codable, Equatable {
    public var value: Double
    public var unit: String
    /// True when the figure must repeat exactly (modelled); compared exactly against baselines.
    public var deterministic: Bool
    /// Where the figure comes from, when that matters (energy: `modelled`, `on_chip_counter`,
    /// `board_sensor`, `wall_meter`; time: the adapter's timer).
    public var source: String?
    /// Statistics of repeated measurements by `Statistic` name, when measured.
    public var statistics: [String: Double]?

    public init(value: Double, unit: String, deterministic: Bool, source: String? = nil, statistics: [String: Double]? = nil) {
        self.value = value; self.unit = unit; self.deterministic = deterministic; self.source = source; self.statistics = statistics
    }

    /// A figure from a model: it repeats exactly.
    public static func modelled(_ value: Double, _ unit: String, source: String? = nil) -> MetricValue {
        MetricValue(value: value, unit: unit, deterministic: true, source: source)
    }

    /// A single measured figure.
    public static func measured(_ value: Double, _ unit: String, source: String? = nil) -> MetricValue {
        MetricValue(value: value, unit: unit, deterministic: false, source: source)
    }
}

extension Metric {
    /// Checks the figures a file carries by name: every name catalogued, every unit one of its
    /// metric's, every statistic known. `place` locates the figures in the file (`cases[3].metrics`).
    public static func validate(_ figures: [String: MetricValue], file: String, place: String) throws(InputFileError) {
        for (name, figure) in figures.sorted(by: { $0.key < $1.key }) {
            guard let metric = named(name) else {
                throw InputFileError(file: file, place: "\(place).\(name)",
                                     message: "unknown metric \"\(name)\" (the catalogue has \(catalogue.map(\.name).sorted().joined(separator: ", ")))")
            }
            guard metric.units.contains(figure.unit) else {
                throw InputFileError(file: file, place: "\(place).\(name).unit",
                                     message: "expected \(metric.units.map { "\"\($0)\"" }.joined(separator: " or ")), found \"\(figure.unit)\"")
            }
            for key in (figure.statistics ?? [:]).keys.sorted() where Statistic(rawValue: key) == nil {
                throw InputFileError(file: file, place: "\(place).\(name).statistics.\(key)",
                                     message: "unknown statistic \"\(key)\" (expected one of \(Statistic.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
        }
    }
}
