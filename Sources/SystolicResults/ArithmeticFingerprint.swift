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

    public init(device: String, engines: [EngineFingerprint], gemms: Int, seconds: Double) {
        self.device = device; self.engines = engines; self.gemms = gemms; self.seconds = seconds
    }

    /// The findings where the device does worse than it declares (each names its probe).
    public var worse: [(engine: EngineFingerprint, finding: Finding)] {
        engines.flatMap { e in e.findings.filter { $0.status == .worse }.map { (e, $0) } }
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
