import ArgumentParser
import Foundation
import SystolicJSON
import SystolicSuite

/// Suite files named on the command line, or every `Suites/*.json` when none are.
enum SuiteSelection {
    static let defaultDirectory = "Suites"

    static func paths(_ given: [String]) throws -> [String] {
        if !given.isEmpty { return given }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: defaultDirectory)) ?? []
        let files = names.filter { $0.hasSuffix(".json") }.sorted().map { "\(defaultDirectory)/\($0)" }
        guard !files.isEmpty else {
            throw ValidationError("no suite files given and none found in \(defaultDirectory)/ (run from the repository root or name the files)")
        }
        return files
    }

    /// Loads every suite, stopping at the first bad file with the bad-input exit code.
    static func load(_ given: [String]) throws -> [Suite] {
        var suites: [Suite] = []
        for path in try paths(given) {
            do { suites.append(try SuiteLoader.load(path)) } catch { throw badInput(error) }
        }
        var names = Set<String>()
        for s in suites where !names.insert(s.name).inserted {
            throw ValidationError("two suite files are both named \"\(s.name)\"")
        }
        return suites
    }
}
