import SystolicDevice
import SystolicNumerics

/// What `systolic-bench fingerprint` measured of a device's matrix engines (docs/fingerprint.md):
/// per input type, each parameter of declared arithmetic v2 as the probes found it, beside what the
/// device declares, and the probes' inputs and output bits as evidence. Stored in results
/// (`fingerprint`) and in certification packages.
public struct ArithmeticFingerprint: Sendable, Codable, Equatable {
    public static let formatTag = "systolic-bench.fingerprint/1"

    public var format: String = ArithmeticFingerprint.formatTag
    /// The device's descriptor name.
    public var device: String
    public var engines: [EngineFingerprint]
    /// GEMMs sent, and the wall time they took (probes only).
    public var gemms: Int
    public var seconds: Double
    /// How the device rounds the scales of the MX and NVFP4 operands it quantises itself, per
    /// scheme it runs (`scale_rounding`; absent when it quantises none).
    public var scaleRounding: [ScaleRoundingFinding]?

    enum CodingKeys: String, CodingKey {
        case format, device, engines, gemms, seconds
        case scaleRounding = "scale_rounding"
    }

    public init(device: String, engines: [EngineFingerprint], gemms: Int, seconds: Double, scaleRounding: [ScaleRoundingFinding]? = nil) {
        self.device = device; self.engines = engines; self.gemms = gemms; self.seconds = seconds; self.scaleRounding = scaleRounding
    }

    /// The findings where the device does worse than it declares (each names its probe).
    public var worse: [(engine: EngineFingerprint, finding: Finding)] {
        engines.flatMap { e in e.findings.filter { $0.status == .worse }.map { (e, $0) } }
    }

    /// The schemes whose scales the device rounds otherwise than it declares.
    public var undeclaredScaleRounding: [ScaleRoundingFinding] { (scaleRounding ?? []).filter { $0.status == .worse } }

    /// Every shortfall in one sentence each: a parameter worse than declared, a scale rounding
    /// other than declared (each naming its probe).
    public var shortfalls: [String] {
        worse.map { "\($0.engine.input.rawValue) \($0.finding.parameter.rawValue) measured \($0.finding.measured ?? "?"), declared \($0.finding.declared) (probe \($0.finding.probe))" }
            + undeclaredScaleRounding.map { "\($0.scheme) scale rounding measured \($0.measured ?? "none of the known ones"), declared \($0.declared) (probe \($0.probe))" }
    }
}

/// How a device rounds the scales of one block-scaled scheme's operands it quantises itself
/// (docs/formats.md): the A of a 1×1×32 GEMM (`a_from` fp32) holds values placed on scale
/// boundaries, B the exact value 1, so the output is A's first value as quantised; each known
/// rounding predicts its own output, and the device's picks one. `worse` when it is not the one
/// declared (or none of them), which certification fails as any undeclared arithmetic.
public struct ScaleRoundingFinding: Sendable, Codable, Equatable {
    /// `mx` or `nvfp4`.
    public var scheme: String
    /// The rounding the outputs show; nil when none of the known ones gives them.
    public var measured: String?
    public var declared: String
    public var status: Finding.Status
    public var probe: String
    /// Each probe's A values (its nonzero ones: index and value) and the device's output, with
    /// what each known rounding predicts.
    public var evidence: [Evidence]

    public struct Evidence: Sendable, Codable, Equatable {
        public var a: [ProbeEvidence.Term]
        public var output: Double
        public var predicted: [String: Double]
        public init(a: [ProbeEvidence.Term], output: Double, predicted: [String: Double]) { self.a = a; self.output = output; self.predicted = predicted }
    }

    public init(scheme: String, measured: String?, declared: String, status: Finding.Status, probe: String, evidence: [Evidence]) {
        self.scheme = scheme; self.measured = measured; self.declared = declared; self.status = status; self.probe = probe; self.evidence = evidence
    }
}

/// One matrix engine: GEMMs with inputs of `input` accumulating in `accumulate`.
public struct EngineFingerprint: Sendable, Codable, Equatable {
    public var input: NumberType
    public var accumulate: NumberType
    public var findings: [Finding]
    /// True when the measured parameters, run on the block-FMA model (`BlockFMA`), reproduce every
    /// probe's output bit for bit; false names a device the model does not describe; nil when the
    /// model cannot run them (exact alignment, a rounding it does not have).
    public var reproduced: Bool?
    /// The first probe the model did not reproduce, when `reproduced` is false.
    public var unreproducedProbe: String?
    public var probes: [ProbeEvidence]

    enum CodingKeys: String, CodingKey {
        case input, accumulate, findings, reproduced, probes
        case unreproducedProbe = "unreproduced_probe"
    }

    public init(input: NumberType, accumulate: NumberType, findings: [Finding], reproduced: Bool?, unreproducedProbe: String?,
                probes: [ProbeEvidence]) {
        self.input = input; self.accumulate = accumulate; self.findings = findings; self.reproduced = reproduced
        self.unreproducedProbe = unreproducedProbe; self.probes = probes
    }

    public func finding(_ parameter: Finding.Parameter) -> Finding? { findings.first { $0.parameter == parameter } }
}

/// One parameter: measured beside declared.
public struct Finding: Sendable, Codable, Equatable {
    public enum Parameter: String, Sendable, Codable, CaseIterable {
        case fractionBits = "fraction_bits"
        case rounding
        case extraAlignmentBits = "extra_alignment_bits"
        case blockSize = "block_size"
        case promoteEvery = "promote_every"
        case cPosition = "c_position"
        case subnormalInputs = "subnormal_inputs"
        case subnormalOutputs = "subnormal_outputs"
        case products
        /// Carry bits above the block's largest term: enough for the block's n products and the
        /// accumulator (⌈log₂(n + 1)⌉), as a declaration's exact block sum implies.
        case carryBits = "carry_bits"
    }

    public enum Status: String, Sendable, Codable {
        /// Measured as declared (or, for a lower bound, consistent with it).
        case same
        /// Better than declared: the declaration's bound still holds.
        case better
        /// Different, and the declaration's bound does not cover it: fails certification.
        case worse
        /// Different in a way the declaration's bound covers (an order a plain engine allows).
        case differs
        /// No input of this type can tell (the value is the declared one, unconfirmed).
        case unobservable
    }

    public var parameter: Parameter
    /// As measured ("13", "toward_zero", "at least 8", "none"), nil when unobservable.
    public var measured: String?
    public var declared: String
    public var status: Status
    /// The probe that decided it (its evidence is under that name).
    public var probe: String
    public var note: String?

    public init(parameter: Parameter, measured: String?, declared: String, status: Status, probe: String, note: String? = nil) {
        self.parameter = parameter; self.measured = measured; self.declared = declared; self.status = status
        self.probe = probe; self.note = note
    }
}

/// One probe GEMM (M = N = 1): D = C + Σ aₖbₖ over `k` products, zero except `terms`.
public struct ProbeEvidence: Sendable, Codable, Equatable {
    public struct Term: Sendable, Codable, Equatable {
        /// Position k, the two factors (values of the input type), and their exact product.
        public var k: Int
        public var a: Double
        public var b: Double
        public init(k: Int, a: Double, b: Double) { self.k = k; self.a = a; self.b = b }
    }

    public var name: String
    public var k: Int
    public var terms: [Term]
    /// C (fp32), for probes of C's place.
    public var c: Double?
    /// The output: its bits (hex, the accumulate type's width) and value.
    public var bits: String
    public var value: Double

    public init(name: String, k: Int, terms: [Term], c: Double?, bits: String, value: Double) {
        self.name = name; self.k = k; self.terms = terms; self.c = c; self.bits = bits; self.value = value
    }
}

extension ArithmeticFingerprint {
    /// The human report: a table per engine, measured beside declared, a mark where they differ.
    public var table: String {
        var lines = ["fingerprint of \(device): \(gemms) GEMMs in \(String(format: "%.2f", seconds)) s"]
        func cell(_ s: String, _ w: Int) -> String { s.count >= w ? s + " " : s + String(repeating: " ", count: w - s.count) }
        for e in engines {
            lines.append("")
            lines.append("\(e.input.rawValue) inputs, \(e.accumulate.rawValue) accumulation")
            lines.append("  " + cell("parameter", 22) + cell("measured", 16) + cell("declared", 14) + "")
            for f in e.findings {
                let mark: String
                switch f.status {
                case .same: mark = ""
                case .better: mark = "better than declared"
                case .worse: mark = "WORSE than declared (probe \(f.probe))"
                case .differs: mark = "differs (an order the declaration allows)"
                case .unobservable: mark = "not observable" + (f.note.map { ": \($0)" } ?? "")
                }
                lines.append("  " + cell(f.parameter.rawValue, 22) + cell(f.measured ?? "-", 16) + cell(f.declared, 14) + mark)
            }
            switch e.reproduced {
            case true?: lines.append("  the measured engine reproduces all \(e.probes.count) probes on the block-FMA model")
            case false?: lines.append("  NOT described by the block-FMA model: probe \(e.unreproducedProbe ?? "?") differs")
            case nil: lines.append("  (the measured engine is outside what the block-FMA model runs)")
            }
        }
        if let rounding = scaleRounding, !rounding.isEmpty {
            lines.append("")
            lines.append("block scales the device quantises (a_from)")
            lines.append("  " + cell("scheme", 22) + cell("measured", 16) + cell("declared", 14) + "")
            for f in rounding {
                let mark = f.status == .worse ? "WORSE than declared (probe \(f.probe))" : ""
                lines.append("  " + cell("\(f.scheme) scale_rounding", 22) + cell(f.measured ?? "unknown", 16) + cell(f.declared, 14) + mark)
            }
        }
        return lines.joined(separator: "\n")
    }
}

extension Finding.Parameter {
    /// The parameter's value in a declaration, as a finding writes it.
    public func declared(in e: MatrixArithmetic) -> String {
        switch self {
        case .fractionBits: return "\(e.fractionBits)"
        case .rounding: return e.blockRounding.rawValue
        case .extraAlignmentBits:
            switch e.alignment { case .exact: return "exact"; case .extraBits(let x): return "\(x)" }
        case .blockSize: return "\(e.blockSize)"
        case .promoteEvery: return e.promoteEvery.map(String.init) ?? "none"
        case .cPosition: return e.cPosition.rawValue
        case .subnormalInputs: return e.subnormalInputs.rawValue
        case .subnormalOutputs: return e.subnormalOutputs.rawValue
        case .products: return e.products.rawValue
        case .carryBits: return "\(Self.carryBitsNeeded(block: e.blockSize))"
        }
    }

    /// The carry bits a block of n products and the accumulator needs: their sum is below
    /// (n + 1)·2^(e_max + 1).
    public static func carryBitsNeeded(block n: Int) -> Int {
        var bits = 0
        while (1 << bits) < n + 1 { bits += 1 }
        return bits
    }
}

extension ArithmeticFingerprint {
    /// Why this fingerprint cannot be the one of `device` (its name, or a declared value that is
    /// not what the descriptor declares), or nil: a results file or package cannot restate the
    /// declaration its device was measured against.
    public func problem(for device: DeviceDescriptor) -> (place: String, message: String)? {
        if format != Self.formatTag { return ("fingerprint.format", "expected \"\(Self.formatTag)\", found \"\(format)\"") }
        if self.device != device.name { return ("fingerprint.device", "the fingerprint is of \"\(self.device)\", the results of \"\(device.name)\"") }
        if gemms < 0 || !(seconds >= 0) { return ("fingerprint", "negative counts or times") }
        let rounding = device.arithmetic.declaredScaleRounding
        for (i, f) in (scaleRounding ?? []).enumerated() {
            let expected = f.scheme == "mx" ? rounding.mx.rawValue : f.scheme == "nvfp4" ? rounding.nvfp4.rawValue : nil
            guard let expected else { return ("fingerprint.scale_rounding[\(i)].scheme", "expected mx or nvfp4, found \"\(f.scheme)\"") }
            if f.declared != expected {
                return ("fingerprint.scale_rounding[\(i)].declared", "the device declares \(f.scheme) scale rounding \(expected), the fingerprint says \(f.declared)")
            }
            if (f.status == .worse) != (f.measured != f.declared) || (f.status != .same && f.status != .worse) {
                return ("fingerprint.scale_rounding[\(i)].status", "same when measured equals declared, worse otherwise")
            }
        }
        var seen = Set<String>()
        for (i, e) in engines.enumerated() {
            guard seen.insert("\(e.input.rawValue)/\(e.accumulate.rawValue)").inserted else {
                return ("fingerprint.engines[\(i)]", "engine \(e.input.rawValue)/\(e.accumulate.rawValue) appears twice")
            }
            let declared = device.arithmetic.engine(input: e.input, accumulate: e.accumulate)
            var parameters = Set<Finding.Parameter>()
            for (j, f) in e.findings.enumerated() {
                guard parameters.insert(f.parameter).inserted else {
                    return ("fingerprint.engines[\(i)].findings[\(j)]", "\(f.parameter.rawValue) appears twice")
                }
                let expected = f.parameter.declared(in: declared)
                if f.declared != expected {
                    return ("fingerprint.engines[\(i)].findings[\(j)].declared",
                            "the device declares \(f.parameter.rawValue) \(expected), the fingerprint says \(f.declared)")
                }
                if f.status == .unobservable ? f.measured != nil && f.parameter != .extraAlignmentBits : f.measured == nil {
                    return ("fingerprint.engines[\(i)].findings[\(j)].measured", "a measured value goes with every status but unobservable")
                }
            }
        }
        return nil
    }
}
