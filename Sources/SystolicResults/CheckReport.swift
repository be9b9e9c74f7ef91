/// How a device's outputs for one case were judged.
public struct CheckReport: Sendable, Codable, Equatable {
    /// `interval` (the hard rule of docs/numerics.md) or `exact` (integers, or data whose every partial
    /// sum is exact in any order: the output must be the correctly rounded exact value).
    public var rule: String
    /// `full` (every element) or `at_scale` (projections plus sampled rows and tiles).
    public var mode: String
    /// Elements compared one by one (all of them in `full` mode, the sample at scale).
    public var elements: Int
    /// Elements outside their allowed interval (or different, for `exact`).
    public var mismatches: Int
    /// Elements whose partial sums could overflow the accumulator under some summation order:
    /// any value is accepted there (docs/numerics.md, "Overflow under reordering").
    public var unverifiable: Int
    /// The largest ratio of an element's distance from the exact value to its allowed distance
    /// on that side (≤ 1 inside the interval); nil for `exact`.
    public var maxRatioToBound: Double?
    /// The element furthest outside (or, when none is, closest to the edge).
    public var worst: ElementReport?
    /// True when some element, though inside the hard bound, lies beyond the probabilistic bound
    /// that a sound accumulator exceeds with probability at most 10⁻³: correct, but poor. It never
    /// fails a case.
    public var suspect: Bool
    public var suspectElements: Int
    public var maxRatioToProbabilisticBound: Double?
    /// The at-scale projections, when used.
    public var freivalds: FreivaldsReport?
    /// Multiply-accumulates the host spent on the reference for this check.
    public var referenceMacs: Int = 0
    /// Host seconds the check took; not compared.
    public var seconds: Double = 0
    /// SHA-256 of the output tensor's bytes, `sha256:<hex>`; filled in by the harness.
    public var outputDigest: String?
    /// Collectives whose ranks must agree (all-reduce, all-gather, broadcast): elements where some
    /// rank's bits differ from rank 0's.
    public var rankDisagreements: Int?
    /// GEMMs with a leading dimension of C: padding elements of C's stored rows the device changed
    /// (it must write the M×N matrix only).
    public var paddingWrites: Int?

    enum CodingKeys: String, CodingKey {
        case rule, mode, elements, mismatches, unverifiable, worst, suspect, freivalds, seconds
        case maxRatioToBound = "max_ratio_to_bound"
        case suspectElements = "suspect_elements"
        case maxRatioToProbabilisticBound = "max_ratio_to_probabilistic_bound"
        case referenceMacs = "reference_macs"
        case outputDigest = "output_digest"
        case rankDisagreements = "rank_disagreements"
        case paddingWrites = "padding_writes"
    }

    public var passed: Bool {
        mismatches == 0 && (freivalds?.failedRows ?? 0) == 0 && (rankDisagreements ?? 0) == 0 && (paddingWrites ?? 0) == 0
    }

    public init(rule: String, mode: String, elements: Int, mismatches: Int, unverifiable: Int, maxRatioToBound: Double? = nil, worst: ElementReport? = nil, suspect: Bool, suspectElements: Int, maxRatioToProbabilisticBound: Double? = nil, freivalds: FreivaldsReport? = nil, referenceMacs: Int = 0, seconds: Double = 0, outputDigest: String? = nil, rankDisagreements: Int? = nil, paddingWrites: Int? = nil) {
        self.rule = rule; self.mode = mode; self.elements = elements; self.mismatches = mismatches; self.unverifiable = unverifiable; self.maxRatioToBound = maxRatioToBound; self.worst = worst; self.suspect = suspect; self.suspectElements = suspectElements; self.maxRatioToProbabilisticBound = maxRatioToProbabilisticBound; self.freivalds = freivalds; self.referenceMacs = referenceMacs; self.seconds = seconds; self.outputDigest = outputDigest; self.rankDisagreements = rankDisagreements; self.paddingWrites = paddingWrites
    }
}

/// One output element as the check saw it.
public struct ElementReport: Sendable, Codable, Equatable {
    /// Position in the output tensor, one index per dimension.
    public var index: [Int]
    public var device: Double
    /// The fp64 reference value Ĉ.
    public var exact: Double
    /// The allowed interval [conv(Ĉ − E), conv(Ĉ + E)].
    public var low: Double
    public var high: Double
    /// The bound E on |C − Ĉ| before output conversion.
    public var bound: Double
    public var ratio: Double
    /// Units in the last place of the output type between the device value and the nearer end of
    /// the interval; 0 inside it.
    public var ulpsOutside: Double

    enum CodingKeys: String, CodingKey {
        case index, device, exact, low, high, bound, ratio
        case ulpsOutside = "ulps_outside"
    }

    /// A one-line account for messages: "element [0, 3, 17]: device 1.5 outside [1.2, 1.3] …".
    public var sentence: String {
        // The ratio says it (reportedRatio): at most 1 inside, above 1 outside; NaN against NaN is 0.
        let inside = ratio <= 1
        let place = inside ? "inside" : "outside"
        var s = "element \(index): device \(device) \(place) [\(low), \(high)] around exact \(exact)"
        if ratio.isFinite { s += " (ratio \(Self.short(ratio)) to the bound" } else { s += " (no error allowed" }
        if ulpsOutside > 0 { s += ", \(Self.short(ulpsOutside)) ulp outside" }
        return s + ")"
    }

    public static func short(_ x: Double) -> String {
        if x == x.rounded(), abs(x) < 1e15 { return String(Int(x)) }
        let r = (x * 1000).rounded() / 1000
        return "\(r)"
    }

    public init(index: [Int], device: Double, exact: Double, low: Double, high: Double, bound: Double, ratio: Double, ulpsOutside: Double) {
        self.index = index; self.device = device; self.exact = exact; self.low = low; self.high = high; self.bound = bound; self.ratio = ratio; self.ulpsOutside = ulpsOutside
    }
}

/// Freivalds' check: C·x against A·(B·x) for random vectors x drawn after the outputs are known.
public struct FreivaldsReport: Sendable, Codable, Equatable {
    /// `bounded` (floating point: |C·x − A·(B·x)| within the sum of the elements' bounds) or
    /// `modular` (integer-valued data: exact equality modulo the prime 2⁶¹ − 1).
    public var kind: String
    public var vectors: Int
    /// Rows whose projection was outside its bound, summed over the vectors.
    public var failedRows: Int
    /// Rows left to the elementwise sample because an element was saturated, infinite or NaN.
    public var skippedRows: Int
    /// The worst row: its index (batch, row) and ratio of |C·x − A·(B·x)| to its bound.
    public var worstRow: [Int]?
    public var worstRatio: Double

    enum CodingKeys: String, CodingKey {
        case kind, vectors
        case failedRows = "failed_rows"
        case skippedRows = "skipped_rows"
        case worstRow = "worst_row"
        case worstRatio = "worst_ratio"
    }

    public init(kind: String, vectors: Int, failedRows: Int, skippedRows: Int, worstRow: [Int]? = nil, worstRatio: Double) {
        self.kind = kind; self.vectors = vectors; self.failedRows = failedRows; self.skippedRows = skippedRows; self.worstRow = worstRow; self.worstRatio = worstRatio
    }
}
