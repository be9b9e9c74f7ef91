// Runs a suite's quick profile on the built-in emulator through the SystolicHarness library, as a
// package that depends on SystolicBench by version would, and exits non-zero unless every case
// passes. Usage: Dependent SUITE.json RESULTS.json
import Foundation
import SystolicEmulation
import SystolicHarness
import SystolicResults
import SystolicSuite

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: Dependent SUITE.json RESULTS.json\n".utf8))
    exit(64)
}
do {
    let suite = try SuiteLoader.load(arguments[1])
    let harness = Harness(device: SystolicEmulator(config: try DeviceConfig.preset(DeviceConfig.defaultPresetName)))
    let results = try harness.run(Harness.Plan(suites: [suite], profile: "quick", resultsPath: arguments[2]))
    let passed = results.cases.filter { $0.verdict == .pass }.count
    print("\(suite.name): \(passed) of \(results.cases.count) cases pass on \(results.device.name)")
    exit(passed == results.cases.count && !results.cases.isEmpty ? 0 : 1)
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
