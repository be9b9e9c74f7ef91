import Dispatch
import Foundation
import SystolicCheck
import SystolicData
import SystolicDevice
import SystolicNumerics
import SystolicResults
import SystolicSuite

/// Measures what a device's matrix engine does from crafted GEMMs alone (docs/fingerprint.md), in
/// the manner of Fasi, Higham, Mikaitis and Pranesh (PeerJ CS 7:e330, 2021) and Khattak and
/// Mikaitis (IEEE HPEC 2025, arXiv 2510.15884): each probe is one dot product D = C + Σ aₖbₖ
/// (a 1×1×K GEMM) whose terms are exact powers of two, or carry a known bit pattern, placed at
/// chosen positions k, so that each parameter of declared arithmetic v2 decides its output. The
/// parameters are found in order, each probe using only those found before it: the fraction bits
/// F, the rounding, the extra alignment bits x, the block size n, promotion, C's place, subnormal
/// inputs and outputs, rounded products. Then the measured engine is run on the block-FMA model
/// (`BlockDotModel`) over every probe: it must give every output bit for bit.
public struct Fingerprinter {
    public let device: any DeviceAdapter
    /// Whether the device accepts D = A·B + C (`accumulate_c`): C's place needs it.
    public let acceptsC: Bool

    public init(device: any DeviceAdapter) {
        self.device = device
        let probe = GemmCase(m: 1, n: 1, k: 1, types: .init(shorthand: .fp32), dataA: .constant(0), dataB: .constant(0))
        var withC = probe
        withC.addend = .fp32
        acceptsC = device.unsupported(BenchmarkCase(id: "fingerprint/c", suite: "fingerprint", name: "c", profiles: [],
                                                    workload: .gemm(withC))) == nil
    }

    /// Input types whose GEMMs accumulate in `accumulate` that the device runs (float types only:
    /// integer engines are exact).
    public func inputTypes(accumulate: NumberType = .fp32) -> [NumberType] {
        [NumberType.fp32, .fp16, .bf16, .fp8_e4m3, .fp8_e5m2].filter { t in
            device.descriptor.arithmetic.inputTypes(for: "gemm").contains(t)
                && device.unsupported(BenchmarkCase(id: "fingerprint/\(t.rawValue)", suite: "fingerprint", name: t.rawValue, profiles: [],
                                                    workload: .gemm(Self.gemm(t, accumulate, k: 1, c: false)))) == nil
        }
    }

    /// Every engine the device runs (fp32 accumulation; `accumulate` for others), or those of
    /// the input types `only` names.
    /// With `scaleRoundings` (by default when `only` is nil), the block scales' rounding too.
    public func run(accumulate: NumberType = .fp32, only: [NumberType]? = nil, scaleRoundings: Bool? = nil) throws -> ArithmeticFingerprint {
        let start = DispatchTime.now().uptimeNanoseconds
        var engines: [EngineFingerprint] = [], gemms = 0
        for t in inputTypes(accumulate: accumulate) where only?.contains(t) ?? true {
            var session = Session(prober: self, input: t, accumulate: accumulate)
            engines.append(try session.fingerprint())
            gemms += session.gemms
        }
        var rounding: [ScaleRoundingFinding]?
        if scaleRoundings ?? (only == nil) {
            let (found, sent) = try self.scaleRoundings()
            rounding = found.isEmpty ? nil : found
            gemms += sent
        }
        return ArithmeticFingerprint(device: device.descriptor.name, engines: engines, gemms: gemms,
                                     seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, scaleRounding: rounding)
    }

    /// How the device rounds the scales of the MX and NVFP4 operands it quantises itself
    /// (docs/formats.md, docs/fingerprint.md): a 1×1×32 GEMM whose A (`a_from` fp32) holds values
    /// on scale boundaries and whose B holds the exact value 1 at k = 0, so the output is A's
    /// first value as quantised. MX (E4M3 elements): 1.9 and 1.99, which floor gives as 1.75 and
    /// 1.75 (saturated at 448·2⁻⁸), rceil as 1.875 and 2, even as 1.75 and 2. NVFP4: 582 in the
    /// first block and 2688 in the second (tensor scale 1, so the first block's exact scale is 97,
    /// between the E4M3 values 96 and 104): nearest gives 576, up 624. A scheme the device does
    /// not run this way (no such types, or no `quantizes_a`) is left out.
    public func scaleRoundings() throws -> ([ScaleRoundingFinding], gemms: Int) {
        let declared = device.descriptor.arithmetic.declaredScaleRounding
        var out: [ScaleRoundingFinding] = []
        var gemms = 0
        let schemes: [(GemmCase.BlockFormat.Scheme, NumberType, [[(Int, Double)]], [String], String)] = [
            (.mx, .fp8_e4m3, [[(0, 1.9)], [(0, 1.99)]], MXScaleRounding.allCases.map(\.rawValue), declared.mx.rawValue),
            (.nvfp4, .fp4_e2m1, [[(0, 582), (16, 2688)]], NVFP4ScaleRounding.allCases.map(\.rawValue), declared.nvfp4.rawValue),
        ]
        for (scheme, element, probes, candidates, declaredName) in schemes {
            var g = GemmCase(m: 1, n: 1, k: 32, types: .init(a: element, b: element, accumulate: .fp32, output: .fp32),
                             dataA: .constant(0), dataB: .constant(0), overflow: .ieee)
            g.blockFormat = GemmCase.BlockFormat(scheme: scheme, activationSource: .fp32)
            g.scales = g.blockFormat!.scales(a: g.types.a)
            let name = "scale-rounding-\(scheme.rawValue)"
            let c = BenchmarkCase(id: "fingerprint/\(name)", suite: "fingerprint", name: name, profiles: [], workload: .gemm(g))
            guard device.unsupported(c) == nil else { continue }
            var consistent = Set(candidates)
            var evidence: [ScaleRoundingFinding.Evidence] = []
            var runs = true
            for placed in probes where runs {
                var a = [Double](repeating: 0, count: 32), b = [Double](repeating: 0, count: 32)
                for (k, v) in placed { a[k] = v }
                b[0] = 1
                let inputs = GemmInputs.blockScaled(g, unquantisedA: Tensor(type: .fp32, shape: [1, 1, 32], values: a, overflow: .ieee),
                                                    unquantisedB: Tensor(type: .fp32, shape: [1, 32, 1], values: b, overflow: .ieee))
                let result: DeviceOutput
                do {
                    result = try device.run(c, inputs: .gemm(inputs))
                } catch .notSupported {
                    // A device that says only when asked (the emulator, for a type it lacks).
                    runs = false
                    continue
                } catch {
                    throw FingerprintError(description: "probe \(name): \(error)")
                }
                guard let t = result.tensors["c"], t.count == 1 else { throw FingerprintError(description: "probe \(name): the device returned no 1×1 output") }
                let output = t.value(at: 0)
                gemms += 1
                var predicted: [String: Double] = [:]
                for candidate in candidates {
                    var r = ScaleRoundings()
                    if scheme == .mx { r.mx = MXScaleRounding(rawValue: candidate)! } else { r.nvfp4 = NVFP4ScaleRounding(rawValue: candidate)! }
                    let q = inputs.quantisingA(g, rounding: r)
                    predicted[candidate] = Double(Float(GemmReference.judged(g, q).value[0] * (q.blockScales?.tensorProduct ?? 1)))
                    // The device's own roundings (the scales' product, the tensor scales') may move
                    // the output by an ulp or two; the candidates lie 5 % or more apart.
                    if !(abs(output - predicted[candidate]!) <= 0x1p-20 * abs(predicted[candidate]!)) { consistent.remove(candidate) }
                }
                evidence.append(.init(a: placed.map { ProbeEvidence.Term(k: $0.0, a: $0.1, b: b[$0.0]) }, output: output, predicted: predicted))
            }
            guard runs else { continue }
            let measured = consistent.count == 1 ? consistent.first : consistent.contains(declaredName) ? declaredName : nil
            out.append(ScaleRoundingFinding(scheme: scheme.rawValue, measured: measured, declared: declaredName,
                                            status: measured == declaredName ? .same : .worse, probe: name, evidence: evidence))
        }
        return (out, gemms)
    }

    /// One engine only.
    public func engine(input: NumberType, accumulate: NumberType = .fp32) throws -> (EngineFingerprint, gemms: Int) {
        var session = Session(prober: self, input: input, accumulate: accumulate)
        let e = try session.fingerprint()
        return (e, session.gemms)
    }

    static func gemm(_ t: NumberType, _ accumulate: NumberType, k: Int, c: Bool) -> GemmCase {
        var g = GemmCase(m: 1, n: 1, k: k, types: .init(a: t, b: t, accumulate: accumulate, output: accumulate),
                         dataA: .constant(0), dataB: .constant(0), overflow: .ieee)
        if c { g.addend = .fp32 }
        return g
    }
}

/// A probe's terms: product values (each split into two factors of the input type) at positions.
struct Term {
    var k: Int
    var value: Double
}

/// Why a fingerprint could not be taken.
public struct FingerprintError: Error, CustomStringConvertible {
    public let description: String
}

extension Fingerprinter {
    /// The probes of one engine, and what they found.
    struct Session {
        let prober: Fingerprinter
        let input: NumberType
        let accumulate: NumberType
        let format: FloatFormat
        let acc: FloatFormat
        /// The big term's exponent, and the smallest product exponent normal inputs make.
        let top: Int
        let low: Int
        var gemms = 0
        var evidence: [ProbeEvidence] = []
        /// Every probe's factors, for the model's reproduction at the end.
        var runs: [(name: String, k: Int, pairs: [(Int, Double, Double)], c: Double?, value: Double)] = []
        /// The block rounding measured, for the model (nil until measured, or when unclassified).
        var modelRounding: BlockDotModel.Rounding?

        init(prober: Fingerprinter, input: NumberType, accumulate: NumberType) {
            self.prober = prober
            self.input = input
            self.accumulate = accumulate
            format = input.floatFormat!
            acc = accumulate.floatFormat!
            let emaxT = Int(format.maxFinite.exponent), eminT = format.minExponent
            let emaxAcc = Int(acc.maxFinite.exponent)
            // Sums of up to four big terms stay two binades below the accumulator's overflow.
            top = min(2 * emaxT - 1, emaxAcc - 3)
            low = max(2 * eminT, acc.minExponent + 2)
        }

        // MARK: Sending probes

        /// Two factors of the input type whose product is exactly `value`, or nil: a = m·2^ea
        /// carries the significand, b = 2^eb, both normal.
        func factors(_ value: Double) -> (Double, Double)? {
            guard value != 0, value.isFinite else { return value == 0 ? (0, 0) : nil }
            let e = Int(value.exponent), m = value.significand   // always positive
            let eminT = format.minExponent, emaxT = Int(format.maxFinite.exponent)
            for ea in stride(from: min(emaxT - 1, e - eminT), through: max(eminT, e - emaxT), by: -1) {
                let eb = e - ea
                guard (eminT...emaxT).contains(eb) else { continue }
                let a = Double(sign: value < 0 ? .minus : .plus, exponent: ea, significand: m)
                let b = Double(sign: .plus, exponent: eb, significand: 1)
                if Double(Float(a)) == a, input.round(a, overflow: .ieee) == a, input.round(b, overflow: .ieee) == b, a * b == value {
                    return (a, b)
                }
            }
            return nil
        }

        /// Whether a product of `value` can be sent (its factors exist).
        func representable(_ value: Double) -> Bool { factors(value) != nil }

        /// Sends one probe; returns D. Factors given directly (`pairs`) or as products (`terms`).
        mutating func probe(_ name: String, k: Int, terms: [Term], c: Double? = nil) throws -> Double {
            var pairs: [(Int, Double, Double)] = []
            for t in terms {
                guard let (a, b) = factors(t.value) else {
                    throw FingerprintError(description: "probe \(name): the product \(t.value) has no factors in \(input.rawValue)")
                }
                pairs.append((t.k, a, b))
            }
            return try send(name, k: k, pairs: pairs, c: c)
        }

        mutating func send(_ name: String, k: Int, pairs: [(Int, Double, Double)], c: Double?) throws -> Double {
            var av = [Double](repeating: 0, count: k), bv = [Double](repeating: 0, count: k)
            for (i, a, b) in pairs { av[i] = a; bv[i] = b }
            let g = Fingerprinter.gemm(input, accumulate, k: k, c: c != nil)
            var inputs = GemmInputs(a: Tensor(type: input, shape: [1, 1, k], values: av, overflow: .ieee),
                                    b: Tensor(type: input, shape: [1, k, 1], values: bv, overflow: .ieee))
            if let c { inputs.c = Tensor(type: .fp32, shape: [1, 1, 1], values: [c], overflow: .ieee) }
            let bc = BenchmarkCase(id: "fingerprint/\(input.rawValue)/\(name)", suite: "fingerprint", name: name, profiles: [], workload: .gemm(g))
            let out: DeviceOutput
            do {
                out = try prober.device.run(bc, inputs: .gemm(inputs))
            } catch {
                throw FingerprintError(description: "probe \(name) (\(input.rawValue)): the device answered \(error)")
            }
            gemms += 1
            guard let d = out.tensors[g.output.role], d.count == 1 else {
                throw FingerprintError(description: "probe \(name) (\(input.rawValue)): no single output \"\(g.output.role)\"")
            }
            let value = d.value(at: 0)
            let width = accumulate.byteWidth * 2
            let hex = String(d.bits(at: 0), radix: 16)
            evidence.append(ProbeEvidence(name: name, k: k, terms: pairs.map { .init(k: $0.0, a: $0.1, b: $0.2) }, c: c,
                                          bits: String(repeating: "0", count: max(0, width - hex.count)) + hex, value: value))
            runs.append((name, k, pairs, c, value))
            return value
        }

        static func p2(_ e: Int) -> Double { Double(sign: .plus, exponent: e, significand: 1) }

        // MARK: The probes, in order

        mutating func fingerprint() throws -> EngineFingerprint {
            let declared = prober.device.descriptor.arithmetic.engine(input: input, accumulate: accumulate)
            var findings: [Finding] = []
            let E = top, p2 = Self.p2
            let big = p2(E)

            // F: 2^E + 2^(E−j) comes back exact for j ≤ F, and inexact above (a tie to even or
            // away, truncated, or rounded up or down), whatever x, n and the rounding.
            let jMax = min(acc.mantissaBits + 1, E - low)
            var fraction = 0
            for j in 1...jMax {
                let d = try probe("fraction-\(j)", k: 2, terms: [Term(k: 0, value: big), Term(k: 1, value: p2(E - j))])
                if d == big + p2(E - j) { fraction = j }
            }
            let fObservable = fraction < jMax
            findings.append(compare(.fractionBits, measured: fObservable ? "\(fraction)" : "at least \(jMax)",
                                    measuredValue: fraction, declared: declared.fractionBits, lowerBound: !fObservable, probe: "fraction-\(fraction)"))
            let F = fraction

            // Rounding: four terms 2^E + 2^E + 2^(E−F+1) + 2^(E−F) carry into binade E+1 and leave
            // one kept ulp (odd) and a half ulp: nearest-even and away round up, toward zero and
            // down (for positive sums) down; negated, up and down swap; three terms leave an even
            // kept part, where ties to even go down and ties away up.
            let ulp1 = p2(E - F + 1)
            // The small terms come first: summed exactly, they join each big term in a block whose
            // largest exponent is E, so no block (of any size) truncates them before the carry.
            func fourTerms(_ s: Double) -> [Term] {
                [Term(k: 0, value: s * p2(E - F + 1)), Term(k: 1, value: s * p2(E - F)), Term(k: 2, value: s * big), Term(k: 3, value: s * big)]
            }
            let posOdd = try probe("rounding-odd-tie", k: 4, terms: fourTerms(1))
            let negOdd = try probe("rounding-odd-tie-negative", k: 4, terms: fourTerms(-1))
            let posEven = try probe("rounding-even-tie", k: 3, terms: [Term(k: 0, value: p2(E - F)), Term(k: 1, value: big), Term(k: 2, value: big)])
            let up = 2 * big + 2 * ulp1, down = 2 * big + ulp1
            let pattern = (posOdd == up ? "u" : posOdd == down ? "d" : "?") + (negOdd == -up ? "u" : negOdd == -down ? "d" : "?")
                + (posEven == 2 * big + ulp1 ? "u" : posEven == 2 * big ? "d" : "?")
            let rounding: String
            switch pattern {
            case "uud": rounding = "nearest_even"
            case "uuu": rounding = "nearest_away"
            case "ddd": rounding = "toward_zero"
            case "udu": rounding = "up"
            case "dud": rounding = "down"
            default: rounding = "unclassified"
            }
            findings.append(compareRounding(rounding, declared: declared.blockRounding, probe: "rounding-odd-tie"))
            modelRounding = BlockDotModel.Rounding(rawValue: rounding)

            // x: a term 2^(E−F−i) below the block result's last place survives alignment iff
            // i ≤ x. Toward zero (or down), −2^(E−F−i) kept pulls the sum into the binade below
            // (D ≠ 2^E); up, +2^(E−F−i) pushes it up. Nearest-even: i = 1 is a half ulp on an odd
            // base (a tie rounding up only if kept); i ≥ 2 a half ulp plus 2^(E−F−i) in one
            // product on an even base (above the tie only if the low bit is kept).
            var extra = 0, xLimit = 0, xDecided = false
            let xProbeLimit = E - F - low
            if rounding == "toward_zero" || rounding == "down" || rounding == "up" {
                let sign: Double = rounding == "up" ? 1 : -1
                xLimit = min(xProbeLimit, 40)
                for i in stride(from: 1, through: max(xLimit, 0), by: 1) {
                    let d = try probe("alignment-\(i)", k: 2, terms: [Term(k: 0, value: big), Term(k: 1, value: sign * p2(E - F - i))])
                    if d != big { extra = i } else { xDecided = true; break }
                }
            } else if rounding == "nearest_even" {
                xLimit = min(xProbeLimit, format.mantissaBits + 1)
                if xLimit >= 1 {
                    let d = try probe("alignment-1", k: 3, terms: [Term(k: 0, value: big), Term(k: 1, value: p2(E - F)), Term(k: 2, value: p2(E - F - 1))])
                    if d == big + 2 * p2(E - F) {
                        extra = 1
                        for i in stride(from: 2, through: xLimit, by: 1) {
                            // The half unit and the low bit in one product (any block size), and as
                            // two products after 2^E (a block of three or more): an engine that
                            // rounds products to F + 1 bits loses the low bit of the first form once
                            // i > F + 1, never of the second; neither keeps a bit the window drops.
                            let half = p2(E - F - 1) * (1 + p2(1 - i))
                            let one = try probe("alignment-\(i)", k: 2, terms: [Term(k: 0, value: big), Term(k: 1, value: half)])
                            var kept = one != big
                            if !kept && i > F + 1 {
                                let two = try probe("alignment-\(i)-split", k: 3,
                                                    terms: [Term(k: 0, value: big), Term(k: 1, value: p2(E - F - 1)), Term(k: 2, value: p2(E - F - i))])
                                kept = two != big
                            }
                            if kept { extra = i } else { xDecided = true; break }
                        }
                    } else {
                        xDecided = true
                    }
                }
            }
            let xObservable = xDecided
            findings.append(compareAlignment(measured: xObservable ? extra : nil, atLeast: extra, declared: declared.alignment,
                                             roundingKnown: ["toward_zero", "down", "up", "nearest_even"].contains(rounding),
                                             probe: "alignment-\(max(extra, 1))"))

            // n: big, −big at j−2 and j−1, then a term far below the window at j: it survives only
            // when it starts a block after the pair has cancelled, so the positions where it
            // survives are the multiples of n (promotion chunks are whole blocks). With exact
            // alignment nothing is truncated: big, a tiny term, −big at j keep the tiny term only
            // while j is in the first block.
            var block: Int?
            // The first bit below the window: 2^(E − F − x − 1).
            let belowWindow = E - F - extra - 1
            if xObservable && belowWindow >= low {
                let tinyExponent = belowWindow
                var g = 0
                for j in 2...128 {
                    let d = try probe("block-\(j)", k: j + 1, terms: [Term(k: j - 2, value: big), Term(k: j - 1, value: -big), Term(k: j, value: p2(tinyExponent))])
                    if d != 0 { g = gcd(g, j) }
                }
                block = g > 0 ? g : nil
            } else if !xObservable {
                // The deepest term the window was seen to keep (x ≥ extra): kept in a block with 2^E.
                let tiny = p2(max(low, E - F - max(extra, 1)))
                var firstSplit: Int?
                for j in 2...65 {
                    let d = try probe("block-exact-\(j)", k: j + 1, terms: [Term(k: 0, value: big), Term(k: 1, value: tiny), Term(k: j, value: -big)])
                    if d != tiny { firstSplit = j; break }
                }
                // The −big term at j leaves the first block from j = n on; blocks of 1 and 2 look
                // alike here (both round 2^E plus the small term before −2^E).
                block = firstSplit
            }
            let blockOneOrTwo = !xObservable && block == 2
            findings.append(compareBlock(block, oneOrTwo: blockOneOrTwo, declared: declared,
                                         probe: xObservable ? "block-\(block ?? 0)" : "block-exact-\(block ?? 0)"))
            if blockOneOrTwo { block = declared.blockSize <= 2 ? declared.blockSize : 1 }

            // Promotion: big at j−1 and a term d at j that the engine and an fp32 addition treat
            // differently (chosen by running both on the model with what is known so far): a
            // chunk boundary at j shows the fp32 addition's result.
            var promote: Int?
            var promoteObservable = false
            if let n = block, F >= 1 {
                let model = modelEngine(fraction: F, rounding: rounding, extra: extra, block: n)
                // With the window not resolved, only terms inside what it was seen to keep.
                let depth = xObservable ? nil : F + extra
                if let model, let (d, engineValue, fp32Value) = promotionTerm(model: model, big: big, within: depth) {
                    promoteObservable = true
                    for t in 1...64 {
                        let j = n * t
                        let v = try probe("promotion-\(j)", k: j + 1, terms: [Term(k: j - 1, value: big), Term(k: j, value: d)])
                        if v == fp32Value && v != engineValue { promote = j; break }
                    }
                }
            }
            findings.append(comparePromotion(promote, observable: promoteObservable, declared: declared, probe: "promotion-\(promote ?? (block ?? 1) * 64)"))

            // C's place (with accumulate_c): without promotion, C = a term below the window and
            // products big, −big: C first meets them in one block and is truncated away; C last
            // joins after they cancelled and survives. With exact alignment, C = big and products
            // −big and a small term: first keeps the small term exactly. With promotion, C meets
            // only fp32 additions: two chunks of 2^(E−24) each tie away when added to C first,
            // and add up to one fp32 ulp when summed before C.
            if prober.acceptsC {
                var position: String?
                let probeName: String
                if let p = promote {
                    probeName = "c-place-promoted"
                    let d = try probe(probeName, k: p + 1, terms: [Term(k: 0, value: p2(E - 24)), Term(k: p, value: p2(E - 24))], c: big)
                    position = d == big ? "first_block" : d == big + p2(E - 23) ? "last" : nil
                } else if xObservable && belowWindow >= low {
                    probeName = "c-place"
                    let tiny = p2(belowWindow)
                    let d = try probe(probeName, k: 2, terms: [Term(k: 0, value: big), Term(k: 1, value: -big)], c: tiny)
                    position = d == 0 ? "first_block" : d == tiny ? "last" : nil
                } else if !xObservable {
                    probeName = "c-place-exact"
                    let tiny = p2(max(low, E - F - max(extra, 1)))
                    let d = try probe(probeName, k: 2, terms: [Term(k: 0, value: -big), Term(k: 1, value: tiny)], c: big)
                    position = d == tiny ? "first_block" : "last"
                } else {
                    probeName = "c-place"
                    position = nil
                }
                findings.append(compareCPlace(position, declared: declared, probe: probeName))
            } else {
                findings.append(Finding(parameter: .cPosition, measured: nil, declared: declared.cPosition.rawValue, status: .unobservable,
                                        probe: "c-place", note: "the device does not accept D = A·B + C (accumulate_c)"))
            }

            // Subnormal inputs: the smallest subnormal of the input type times a power of two
            // that makes the product normal: zero iff the engine reads it as zero.
            let subnormal = format.minSubnormal, partner = p2(Int(format.maxFinite.exponent))
            let sd = try send("subnormal-input", k: 1, pairs: [(0, subnormal, partner)], c: nil)
            let readsSubnormals = sd != 0
            findings.append(compareSubnormals(.subnormalInputs, flushes: !readsSubnormals, declared: declared.subnormalInputs, probe: "subnormal-input"))

            // Subnormal outputs: a product below the accumulator's smallest normal, from normal
            // inputs where the type reaches it (or subnormal ones the engine reads).
            // Half the smallest normal: a multiple of the subnormal quantum 2^(e_min − F) for F ≥ 1.
            let tinyOut = p2(acc.minExponent - 1)
            var outFinding = Finding(parameter: .subnormalOutputs, measured: nil, declared: declared.subnormalOutputs.rawValue, status: .unobservable,
                                     probe: "subnormal-output", note: "no product of \(input.rawValue) inputs is below \(accumulate.rawValue)'s smallest normal")
            if let (a, b) = subnormalProduct(tinyOut, readsSubnormals: readsSubnormals) {
                let d = try send("subnormal-output", k: 1, pairs: [(0, a, b)], c: nil)
                outFinding = compareSubnormals(.subnormalOutputs, flushes: d == 0, declared: declared.subnormalOutputs, probe: "subnormal-output")
            }
            findings.append(outFinding)

            // Products rounded (to F + 1 bits) or exact: one product with more bits than that,
            // chosen where the two models differ; none exists when every product of two values
            // of this type fits F + 1 bits.
            var productsFinding = Finding(parameter: .products, measured: nil, declared: declared.products.rawValue, status: .unobservable,
                                          probe: "products", note: "every product of two \(input.rawValue) values fits the engine's \(F + 1) bits")
            if xObservable, let n = block, let exact = modelEngine(fraction: F, rounding: rounding, extra: extra, block: n) {
                var rounded = exact
                rounded.products = .rounded
                if let (pairs, pe, pr) = productsProbe(exact: exact, rounded: rounded) {
                    let d = try send("products", k: pairs.count, pairs: pairs, c: nil)
                    let measured = d == pe ? "exact" : d == pr ? "rounded" : nil
                    productsFinding = compareProducts(measured, declared: declared.products, probe: "products")
                }
            }
            findings.append(productsFinding)

            // Carry bits: n products of the largest significand, n the block measured (2 for
            // "1 or 2"), summed within one unit of F bits whatever the rounding and window; an
            // adder without the ⌈log₂(n + 1)⌉ carry bits above the largest term loses the top of
            // the sum (half of it or more).
            let carryBlock = max(block ?? 2, 2)
            let needed = Finding.Parameter.carryBitsNeeded(block: carryBlock)
            let allOnes = 2 - p2(-format.mantissaBits)
            let eMaxT = Int(format.maxFinite.exponent)
            // Both factors (2 − 2^−m)·2^e, their exponents summing two binades and the carry below the top.
            let productExponent = top - 2 - needed
            // (2 − 2^−m)·2^emax is beyond E4M3's largest value (it is NaN there): one binade less.
            let eTop = eMaxT - 1
            let ea = min(eTop, productExponent - format.minExponent), eb = productExponent - ea
            if (format.minExponent...eTop).contains(eb), (format.minExponent...eTop).contains(ea) {
                let a = allOnes * p2(ea), b = allOnes * p2(eb)
                let d = try send("carry-\(carryBlock)", k: carryBlock, pairs: (0..<carryBlock).map { ($0, a, b) }, c: nil)
                let exact = Double(carryBlock) * a * b
                let carried = abs(d - exact) <= exact * p2(2 - F)
                let declaredNeeded = Finding.Parameter.carryBitsNeeded(block: declared.blockSize)
                if carried && needed < declaredNeeded {
                    findings.append(Finding(parameter: .carryBits, measured: nil, declared: "\(declaredNeeded)", status: .unobservable,
                                            probe: "carry-\(carryBlock)", note: "the block measured needs fewer carry bits than the one declared"))
                } else {
                    findings.append(Finding(parameter: .carryBits, measured: carried ? "at least \(needed)" : "fewer than \(needed)",
                                            declared: "\(declaredNeeded)", status: carried ? .same : .worse, probe: "carry-\(carryBlock)"))
                }
            } else {
                findings.append(Finding(parameter: .carryBits, measured: nil, declared: "\(Finding.Parameter.carryBitsNeeded(block: declared.blockSize))",
                                        status: .unobservable, probe: "carry", note: "no product of the largest significand fits the range"))
            }

            // The measured engine on the model must reproduce every probe (with a window not
            // resolved, some window at least as wide as the one seen must).
            var reproduced: Bool?
            var unreproduced: String?
            let windows = xObservable ? [extra] : Array(extra...max(extra, min(40, 47 - F)))
            for x in windows {
                guard let n = block, var model = modelEngine(fraction: F, rounding: rounding, extra: x, block: n) else { break }
                model.promoteEvery = promote.map { max($0, n) }
                if let place = findings.first(where: { $0.parameter == .cPosition })?.measured { model.cPosition = place == "last" ? .last : .firstBlock }
                if findings.first(where: { $0.parameter == .subnormalInputs })?.measured == "flush" { model.subnormalInputs = .flush }
                if findings.first(where: { $0.parameter == .subnormalOutputs })?.measured == "flush" { model.subnormalOutputs = .flush }
                if productsFinding.measured == "rounded" { model.products = .rounded }
                let engine = BlockDotModel(model, input: input, rounding: modelRounding)
                reproduced = true
                unreproduced = nil
                for run in runs {
                    let predicted = accumulate.round(engine.dot(k: run.k, pairs: run.pairs, c: run.c ?? 0), overflow: .ieee)
                    if predicted.bitPattern != run.value.bitPattern && !(predicted.isNaN && run.value.isNaN) {
                        reproduced = false
                        unreproduced = unreproduced ?? run.name
                        break
                    }
                }
                if reproduced == true { break }
            }
            return EngineFingerprint(input: input, accumulate: accumulate, findings: findings, reproduced: reproduced,
                                     unreproducedProbe: unreproduced, probes: evidence)
        }

        // MARK: Helpers

        func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }

        /// The engine the measurements so far describe, for the model (nil where it cannot run it).
        func modelEngine(fraction: Int, rounding: String, extra: Int?, block: Int) -> MatrixArithmetic? {
            // Any recognised rounding: the declaration's field holds the nearest of the two it can
            // say, and the model takes the measured one itself (`modelRounding`).
            guard fraction >= 1, fraction <= acc.mantissaBits, BlockDotModel.Rounding(rawValue: rounding) != nil else { return nil }
            let x = extra ?? 24
            guard x <= 40 else { return nil }
            return MatrixArithmetic(inputTypes: [input], accumulate: accumulate, blockSize: block, alignment: .extraBits(x),
                                    fractionBits: fraction, blockRounding: rounding.hasPrefix("nearest") ? .nearestEven : .towardZero)
        }

        /// A term d after `big` whose sum the engine and an fp32 addition round differently.
        func promotionTerm(model: MatrixArithmetic, big: Double, within depth: Int? = nil) -> (Double, Double, Double)? {
            let e = BlockDotModel(model, input: input, rounding: modelRounding)
            let E = Int(big.exponent), p2 = Self.p2
            let f = model.fractionBits
            var candidates = [p2(E - f - 1), 1.5 * p2(E - 24), p2(E - 25), 1.5 * p2(E - f - 1)]
            // A half unit plus a bit the window truncates: a tie for the engine, above it for fp32.
            for i in stride(from: 2, through: format.mantissaBits + 1, by: 1) { candidates.append(p2(E - f - 1) * (1 + p2(1 - i))) }
            for d in candidates where representable(d) && representable(big) {
                // The candidate's lowest bit, below 2^E.
                let trailing = d.significandBitPattern == 0 ? 52 : d.significandBitPattern.trailingZeroBitCount
                if let depth, E - (Int(d.exponent) - (52 - trailing)) > depth { continue }
                let (ba, bb) = factors(big)!, (da, db) = factors(d)!
                let engineValue = e.dot(k: 2, pairs: [(0, ba, bb), (1, da, db)], c: 0)
                let fp32Value = Double(Float(big) + Float(d))
                if engineValue != fp32Value { return (d, engineValue, fp32Value) }
            }
            return nil
        }

        /// Factors whose product is `value` (below the accumulator's normals), from normal inputs,
        /// or from a subnormal one when the engine reads subnormals.
        func subnormalProduct(_ value: Double, readsSubnormals: Bool) -> (Double, Double)? {
            if let f = factors(value) { return f }
            guard readsSubnormals else { return nil }
            let s = format.minSubnormal
            let rest = value / s
            guard rest >= format.minNormal, rest <= format.maxFinite, input.round(rest, overflow: .ieee) == rest else { return nil }
            return (s, rest)
        }

        /// A probe (one product alone, or after 2^E) whose output exact and rounded products give
        /// differently on the model, with the two predictions.
        func productsProbe(exact: MatrixArithmetic, rounded: MatrixArithmetic) -> ([(Int, Double, Double)], Double, Double)? {
            let e = BlockDotModel(exact, input: input, rounding: modelRounding), r = BlockDotModel(rounded, input: input, rounding: modelRounding)
            let m = format.mantissaBits
            let allOnes = 2 - Self.p2(-m)
            let E = top, F = exact.fractionBits
            guard let big = factors(Self.p2(E)) else { return nil }
            let x: Int
            if case .extraBits(let bits) = exact.alignment { x = bits } else { x = 24 }
            let shapes = [(allOnes, allOnes), (allOnes, 1 + Self.p2(-1)), (1 + Self.p2(-m), 1 + Self.p2(-m)), (allOnes, 1 + Self.p2(-m)),
                          (1 + Self.p2(-1) + Self.p2(-m), 1 + Self.p2(-1) + Self.p2(-m))]
            // Alone first (the product's own binade), then from just below 2^E down past the window.
            var probes: [[(Int, Double, Double)]] = []
            for (u, v) in shapes { probes.append([(0, u * Self.p2(E / 2 - 1), v * Self.p2(E - E / 2 - 1))]) }
            for shift in stride(from: 1, through: F + x + 4, by: 1) {
                for (u, v) in shapes {
                    let ea = E - shift
                    probes.append([(0, big.0, big.1), (1, u * Self.p2(ea - ea / 2), v * Self.p2(ea / 2))])
                }
            }
            for pairs in probes {
                guard pairs.allSatisfy({ input.round($0.1, overflow: .ieee) == $0.1 && input.round($0.2, overflow: .ieee) == $0.2
                    && abs($0.1) >= format.minNormal && abs($0.2) >= format.minNormal }) else { continue }
                let pe = e.dot(k: pairs.count, pairs: pairs, c: 0), pr = r.dot(k: pairs.count, pairs: pairs, c: 0)
                if pe.bitPattern != pr.bitPattern { return (pairs, pe, pr) }
            }
            return nil
        }

        // MARK: Comparisons with the declaration

        func compare(_ p: Finding.Parameter, measured: String, measuredValue: Int, declared: Int, lowerBound: Bool, probe: String) -> Finding {
            let status: Finding.Status
            if lowerBound { status = measuredValue >= declared ? .same : .worse } else if measuredValue == declared { status = .same } else {
                status = measuredValue < declared ? .worse : .better
            }
            return Finding(parameter: p, measured: measured, declared: "\(declared)", status: status, probe: probe)
        }

        func compareRounding(_ measured: String, declared: MatrixArithmetic.Rounding, probe: String) -> Finding {
            let status: Finding.Status
            switch (measured, declared) {
            case (declared.rawValue, _): status = .same
            case ("nearest_even", .towardZero), ("nearest_away", .towardZero): status = .better
            // A directed rounding other than toward zero errs by less than one unit too: the
            // bound for toward zero covers it.
            case ("up", .towardZero), ("down", .towardZero): status = .differs
            case ("nearest_away", .nearestEven): status = .differs
            default: status = .worse
            }
            return Finding(parameter: .rounding, measured: measured, declared: declared.rawValue, status: status, probe: probe)
        }

        func compareAlignment(measured: Int?, atLeast: Int, declared: MatrixArithmetic.Alignment, roundingKnown: Bool, probe: String) -> Finding {
            let declaredText: String
            switch declared { case .exact: declaredText = "exact"; case .extraBits(let x): declaredText = "\(x)" }
            guard roundingKnown else {
                return Finding(parameter: .extraAlignmentBits, measured: nil, declared: declaredText, status: .unobservable, probe: probe,
                               note: "the probes for alignment need a rounding this model has")
            }
            guard let x = measured else {
                // Nothing truncated as far as the type's range lets the probes look.
                let status: Finding.Status
                if case .extraBits(let d) = declared, d > atLeast { status = .unobservable } else { status = .same }
                return Finding(parameter: .extraAlignmentBits, measured: "at least \(atLeast)", declared: declaredText, status: status, probe: probe,
                               note: status == .unobservable ? "the input type's range reaches \(atLeast) bits below the last place" : nil)
            }
            let status: Finding.Status
            switch declared {
            case .exact: status = .worse
            case .extraBits(let d): status = x == d ? .same : x < d ? .worse : .better
            }
            return Finding(parameter: .extraAlignmentBits, measured: "\(x)", declared: declaredText, status: status, probe: probe)
        }

        func compareBlock(_ measured: Int?, oneOrTwo: Bool = false, declared: MatrixArithmetic, probe: String) -> Finding {
            guard let n = measured else {
                return Finding(parameter: .blockSize, measured: nil, declared: "\(declared.blockSize)", status: .unobservable, probe: probe)
            }
            if oneOrTwo {
                return Finding(parameter: .blockSize, measured: "1 or 2", declared: "\(declared.blockSize)", status: declared.blockSize <= 2 ? .same : .worse,
                               probe: probe, note: "with no truncation seen, blocks of 1 and 2 give the same outputs on these probes")
            }
            // A plain engine's rule holds in any order and grouping: its block is not a claim.
            if declared.isPlain { return Finding(parameter: .blockSize, measured: "\(n)", declared: "\(declared.blockSize)", status: n == 1 ? .same : .differs, probe: probe) }
            return Finding(parameter: .blockSize, measured: "\(n)", declared: "\(declared.blockSize)", status: n == declared.blockSize ? .same : .worse, probe: probe)
        }

        func comparePromotion(_ measured: Int?, observable: Bool, declared: MatrixArithmetic, probe: String) -> Finding {
            let declaredText = declared.promoteEvery.map(String.init) ?? "none"
            guard observable else {
                return Finding(parameter: .promoteEvery, measured: nil, declared: declaredText, status: .unobservable, probe: probe,
                               note: "the engine's block result equals an fp32 addition on every probe term")
            }
            let text = measured.map(String.init) ?? "none"
            let status: Finding.Status
            if declared.isPlain { status = measured == nil ? .same : .differs } else {
                switch (measured, declared.promoteEvery) {
                case (nil, nil): status = .same
                case (let m?, let d?): status = m == d ? .same : m < d ? .better : .worse
                case (_?, nil): status = .better
                case (nil, _?): status = .worse
                }
            }
            return Finding(parameter: .promoteEvery, measured: text, declared: declaredText, status: status, probe: probe)
        }

        func compareCPlace(_ measured: String?, declared: MatrixArithmetic, probe: String) -> Finding {
            guard let m = measured else {
                return Finding(parameter: .cPosition, measured: nil, declared: declared.cPosition.rawValue, status: .unobservable, probe: probe,
                               note: "the output matched neither place")
            }
            let status: Finding.Status
            if declared.isPlain { status = m == declared.cPosition.rawValue ? .same : .differs } else if m == declared.cPosition.rawValue {
                status = .same
            } else {
                status = m == "last" ? .worse : .better
            }
            return Finding(parameter: .cPosition, measured: m, declared: declared.cPosition.rawValue, status: status, probe: probe)
        }

        func compareSubnormals(_ p: Finding.Parameter, flushes: Bool, declared: MatrixArithmetic.Subnormals, probe: String) -> Finding {
            let m = flushes ? "flush" : "preserve"
            let status: Finding.Status = m == declared.rawValue ? .same : flushes ? .worse : .better
            return Finding(parameter: p, measured: m, declared: declared.rawValue, status: status, probe: probe)
        }

        func compareProducts(_ measured: String?, declared: MatrixArithmetic.Products, probe: String) -> Finding {
            guard let m = measured else {
                return Finding(parameter: .products, measured: nil, declared: declared.rawValue, status: .unobservable, probe: probe,
                               note: "the output matched neither exact nor rounded products")
            }
            let status: Finding.Status = m == declared.rawValue ? .same : m == "rounded" ? .worse : .better
            return Finding(parameter: .products, measured: m, declared: declared.rawValue, status: status, probe: probe)
        }
    }
}
