import ArgumentParser
import Foundation
import SystolicHarness
import SystolicResults
import SystolicJSON

@main
struct SystolicBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "systolic-bench",
        abstract: "Conformance and performance benchmarks for systolic-array AI inference chips.",
        discussion: """
            Exit codes: 0 success; 1 conformance failure; 2 regression against a baseline; \
            3 device or adapter error; 4 baseline missing or not comparable; 5 interrupted \
            (results incomplete); 6 an output file cannot be written; 64 usage error; \
            65 bad input file. When several apply the lowest non-zero one wins.
            """,
        version: HarnessInfo.current.version,
        subcommands: [Run.self, Verify.self, Fingerprint.self, Validate.self, List.self, Devices.self, BaselineCommand.self, Compare.self, Merge.self, Faults.self, CheckAdapter.self, Bench.self, Certify.self, CheckPackage.self, LeaderboardCommand.self])

    /// ArgumentParser's main, except that a file the tool cannot write ends it with its own code
    /// and the file named (so does an input file
    /// found bad after the command started: a journal to resume), not with 1, which means a conformance failure.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as OutputFileError {
            printError("error: \(error)")
            Foundation.exit(ExitStatus.cannotWrite.rawValue)
        } catch let error as InputFileError {
            printError("error: \(error)")
            Foundation.exit(ExitStatus.badInput.rawValue)
        } catch {
            exit(withError: error)
        }
    }
}

/// Ends the command with one of the documented exit statuses.
func statusCode(_ status: ExitStatus) -> ExitCode { ExitCode(status.rawValue) }

/// Prints an input-file error and returns the bad-input exit code to throw.
func badInput(_ error: InputFileError) -> ExitCode {
    printError("error: \(error)")
    return statusCode(.badInput)
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// True when stderr is a terminal outside CI, so a progress line is worth drawing.
var showsProgress: Bool { isatty(2) == 1 && ProcessInfo.processInfo.environment["CI"] == nil }
