/// How a device's outputs for one case were judged.
public struct CheckReport: Sendable, Codable, Equatable {
    /// `interval` (floating point: the hard rule of design.md) or `exact` (integers).
    public var rule: String
    /// Elements compared.
    public var elements: Int
    /// Elements outside their allowed interval (or different, for `exact`).
    public var mismatches: Int
    /// Elements whose partial sums could overflow the accumulator under some summation order:
    /// any value is accepted there (design.md, "Overflow under reordering").
    public var unverifiable: Int
    /// The largest ratio of an element's distance from the exact value to its allowed distance
    /// on that side (≤ 1 inside the interval); nil for `exact`.
    public var maxRatioToBound: Double?
    /// The element furthest outside (or, when none is, closest to the edge).
    public var worst: ElementReport?
    /// SHA-256 of the output tensor's bytes, `sha256:<hex>`; filled in by the harness.
    public var outputDigest: String?

    enum CodingKeys: String, CodingKey {
        case rule, elements, mismatches, unverifiable, worst
        case maxRatioToBound = "max_ratio_to_bound"
        case outputDigest = "output_digest"
    }

    public var passed: Bool { mismatches == 0 }
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
        let inside = ratio <= 1 && !device.isNaN
        let place = inside ? "inside" : "outside"
        var s = "element \(index): device \(device) \(place) [\(low), \(high)] around exact \(exact)"
        if ratio.isFinite { s += " (ratio \(Self.short(ratio)) to the bound" } else { s += " (no error allowed" }
        if ulpsOutside > 0 { s += ", \(Self.short(ulpsOutside)) ulp outside" }
        return s + ")"
    }

    static func short(_ x: Double) -> String {
        if x == x.rounded(), abs(x) < 1e15 { return String(Int(x)) }
        let r = (x * 1000).rounded() / 1000
        return "\(r)"
    }
}
