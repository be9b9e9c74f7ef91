import SystolicNumerics

/// A way the emulator can be told to misbehave while still declaring correct behaviour, so tests
/// can prove the conformance cases catch real classes of hardware bugs. The catalogue grows with
/// the fault-injection work; each case is one recognisable bug.
public enum EmulatorFault: Sendable, Equatable {
    /// The accumulator rounds every partial sum to a narrower type (bf16, fp16) while the device
    /// keeps declaring fp32.
    case narrowAccumulator(NumberType)
}
