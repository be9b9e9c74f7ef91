import SystolicNumerics

/// A way the emulator can be told to misbehave while still declaring correct behaviour, so tests
/// can prove the conformance cases catch real classes of hardware bugs. The catalogue grows with
/// the fault-injection work; each case is one recognisable bug.
public enum EmulatorFault: Sendable, Equatable {
    /// The accumulator rounds every partial sum to a narrower type (bf16, fp16) while the device
    /// keeps declaring fp32.
    case narrowAccumulator(NumberType)
    /// Products and partial sums below fp32's smallest normal are flushed to zero while the device
    /// declares `preserve`.
    case flushSubnormals
    /// One PE column is stuck: every output column it produces (index mod cols) reads zero.
    case stuckColumn(Int)
    /// One K-tile of every dot product is dropped.
    case droppedKTile(Int)
    /// The driver returns an output of the wrong shape (a broken adapter, not wrong arithmetic).
    case wrongOutputShape

    /// Parses the command-line spelling: `narrow-accumulator:bf16`, `flush-subnormals`,
    /// `stuck-column:3`, `dropped-k-tile:1`.
    public init?(_ spec: String) {
        let parts = spec.split(separator: ":").map(String.init)
        switch (parts.first, parts.count) {
        case ("narrow-accumulator", 2):
            guard let t = NumberType(rawValue: parts[1]), t == .bf16 || t == .fp16 else { return nil }
            self = .narrowAccumulator(t)
        case ("flush-subnormals", 1): self = .flushSubnormals
        case ("stuck-column", 2):
            guard let c = Int(parts[1]), c >= 0 else { return nil }
            self = .stuckColumn(c)
        case ("dropped-k-tile", 2):
            guard let t = Int(parts[1]), t >= 0 else { return nil }
            self = .droppedKTile(t)
        case ("wrong-output-shape", 1): self = .wrongOutputShape
        default: return nil
        }
    }

    public static let spellings = "narrow-accumulator:bf16|fp16, flush-subnormals, stuck-column:N, dropped-k-tile:N, wrong-output-shape"
}
