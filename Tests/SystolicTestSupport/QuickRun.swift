import Foundation
import SystolicDevice
import SystolicEmulation
import SystolicHarness
import SystolicResults
import SystolicSuite

/// The quick profile of every shipped suite on a device (the emulator by default), for the tests
/// that read a whole run.
public enum QuickRun {
    public static func run(to dir: URL, name: String = "r.json", suites names: [String] = ["gemm", "attention", "networking"],
                           shouldStop: () -> Bool = { false }, device: any DeviceAdapter = SystolicEmulator()) throws -> RunResults {
        let suites = try names.map { try SuiteLoader.load(Repository.path("Suites/\($0).json")) }
        return try Harness(device: device).run(
            Harness.Plan(suites: suites, profile: "quick", resultsPath: dir.appendingPathComponent(name).path),
            shouldStop: shouldStop)
    }

    /// One quick-profile run on the emulator shared by the tests that only read it.
    public static let shared = Result { try run(to: temporaryDirectory()) }
}
