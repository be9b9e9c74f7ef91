import Foundation
import SystolicTestSupport
import Testing
import SystolicDevice
import SystolicEmulation
import SystolicHarness
import SystolicSuite

/// A device that refuses every case up front, and counts the cases it is still asked to run.
private final class RefusingDevice: DeviceAdapter, @unchecked Sendable {
    let descriptor = SystolicEmulator().descriptor
    private(set) var runs = 0
    func unsupported(_ benchmarkCase: BenchmarkCase) -> String? { "refused before its inputs exist" }
    func run(_ benchmarkCase: BenchmarkCase, inputs: CaseInputs) throws(DeviceError) -> DeviceOutput {
        runs += 1
        throw .notSupported("asked after all")
    }
}

struct SupportFirstTests {
    /// Support is decided before a case's inputs are generated (issue #28, item 6): a device that
    /// can tell is never handed data for a case it refuses.
    @Test func aCaseTheDeviceRefusesUpFrontGetsNoInputs() throws {
        let device = RefusingDevice()
        let suite = try SuiteLoader.load(Repository.path("Suites/gemm.json"))
        let results = try Harness(device: device).run(
            Harness.Plan(suites: [suite], profile: "quick", resultsPath: temporaryDirectory().appendingPathComponent("r.json").path))
        #expect(device.runs == 0)
        #expect(results.cases.allSatisfy { $0.verdict == .notSupported && $0.reason == "refused before its inputs exist" })
    }
}
