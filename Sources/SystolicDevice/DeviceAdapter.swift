import SystolicData
import SystolicNumerics
import SystolicSuite

/// A device the harness can run cases on: the built-in emulator, or a vendor's hardware behind
/// the process protocol. The harness never looks inside a device; it judges every one the same
/// way from its outputs and its declared arithmetic.
public protocol DeviceAdapter: Sendable {
    /// What the device is and what arithmetic it declares; recorded in every results file.
    var descriptor: DeviceDescriptor { get }

    /// Runs one case on `inputs` and returns the outputs and the device's figures.
    ///
    /// Throws `DeviceError.notSupported` for a case the device cannot run (never a failure), and
    /// `DeviceError.broken` when the device or its adapter breaks.
    func run(_ benchmarkCase: BenchmarkCase, inputs: CaseInputs) throws(DeviceError) -> DeviceOutput

    /// Why the device will not run `benchmarkCase`, when it can tell without its inputs; nil when it
    /// may. The harness asks before generating a case's inputs, so a case an adapter cannot be sent
    /// costs no data (hardening of the run's time: about 3 of the 7 s of a quick GEMM run through a
    /// version-1 adapter went to inputs of cases then refused).
    func unsupported(_ benchmarkCase: BenchmarkCase) -> String?

    /// Releases the device (an adapter process stops); called once when a run ends.
    func shutdown()

    /// What the device's driver logged during the run (an adapter's stderr), for the results.
    var log: String? { get }
}

extension DeviceAdapter {
    public func unsupported(_ benchmarkCase: BenchmarkCase) -> String? { nil }
    public func shutdown() {}
    public var log: String? { nil }
}

/// The generated inputs of one case.
public enum CaseInputs: Sendable {
    case gemm(GemmInputs)
    case attention(AttentionInputs)
    case collective(CollectiveInputs)
    /// No data: a timing-only case.
    case none
}

/// Why a device did not produce outputs.
public enum DeviceError: Error, Sendable, Equatable {
    /// The device declared it cannot run this case.
    case notSupported(String)
    /// The device or its adapter broke (crash, hang, garbage).
    case broken(String)
}

/// What a device returns for one case.
public struct DeviceOutput: Sendable {
    /// Output tensors by role; GEMM returns "c".
    public var tensors: [String: Tensor]
    /// The device's figures, each under its catalogued metric.
    public var metrics: [Metric: MetricValue]

    public init(tensors: [String: Tensor], metrics: [Metric: MetricValue]) {
        self.tensors = tensors
        self.metrics = metrics
    }
}
