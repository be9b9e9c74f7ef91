import Foundation
import SystolicTestSupport
import Testing
import SystolicCertify
import SystolicCompare
import SystolicEmulation
import SystolicJSON
import SystolicResults
import SystolicSuite

/// Every loader is as strict as its JSON Schema (hardening #26, item 12). Each violation in
/// `Tests/Fixtures/strictness/violations.json` edits a valid file; the loader must refuse it with
/// an error naming the file and the place. `.ci/check-violations.py` shows the schemas refuse the
/// same edits, so the two cannot drift apart.
struct StrictnessTests {
    struct Violation: Decodable {
        var path: [PathStep]
        var value: AnyJSON?
        var delete: Bool?
        var place: String
    }

    enum PathStep: Decodable, CustomStringConvertible {
        case member(String), index(Int)
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let i = try? c.decode(Int.self) { self = .index(i) } else { self = .member(try c.decode(String.self)) }
        }
        var description: String { switch self { case let .member(m): m; case let .index(i): "[\(i)]" } }
    }

    /// Any JSON value, kept as Foundation objects so it can be spliced into a parsed document.
    struct AnyJSON: Decodable {
        var object: Any
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { object = NSNull() }
            else if let b = try? c.decode(Bool.self) { object = b }
            else if let i = try? c.decode(Int.self) { object = i }
            else if let d = try? c.decode(Double.self) { object = d }
            else if let s = try? c.decode(String.self) { object = s }
            else if let a = try? c.decode([AnyJSON].self) { object = a.map(\.object) }
            else { object = try c.decode([String: AnyJSON].self).mapValues(\.object) }
        }
    }

    struct Entry: Decodable {
        var loader: String
        var base: String
        var violations: [Violation]
    }

    struct Fixture: Decodable { var files: [Entry] }

    static func load(_ loader: String, _ path: String) throws(InputFileError) {
        switch loader {
        case "suite": _ = try SuiteLoader.load(path)
        case "device": _ = try DeviceConfig.load(path)
        case "results": _ = try RunResults.load(path)
        case "baseline": _ = try Baseline.load(path)
        case "tolerances": _ = try ToleranceRules.load(path)
        case "profile": _ = try CapabilityProfile.load(path)
        case "release": _ = try ConformanceRelease.load(path)
        case "waiver": _ = try Waiver.load(path)
        default: throw InputFileError(file: path, place: nil, message: "the test knows no loader \(loader)")
        }
    }

    static func edited(_ document: Any, _ path: ArraySlice<PathStep>, _ violation: Violation) -> Any {
        guard let step = path.first else { return document }
        let last = path.count == 1
        switch step {
        case let .member(name):
            var object = document as! [String: Any]
            if last {
                if violation.delete == true { object[name] = nil } else { object[name] = violation.value!.object }
            } else {
                object[name] = edited(object[name]!, path.dropFirst(), violation)
            }
            return object
        case let .index(i):
            var array = document as! [Any]
            if last {
                if violation.delete == true { array.remove(at: i) } else { array[i] = violation.value!.object }
            } else {
                array[i] = edited(array[i], path.dropFirst(), violation)
            }
            return array
        }
    }

    static func fixture() throws -> Fixture {
        try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: URL(fileURLWithPath: Repository.path("Tests/Fixtures/strictness/violations.json"))))
    }

    @Test func everyBaseFileLoads() throws {
        for entry in try Self.fixture().files {
            #expect(throws: Never.self, "\(entry.base)") { try Self.load(entry.loader, Repository.path(entry.base)) }
        }
    }

    @Test(arguments: ["suite", "device", "results", "baseline", "tolerances", "profile", "release", "waiver"])
    func everyViolationIsRefusedNamingItsPlace(loader: String) throws {
        let entries = try Self.fixture().files.filter { $0.loader == loader }
        #expect(entries.reduce(0) { $0 + $1.violations.count } >= 4)
        let dir = temporaryDirectory()
        for (e, entry) in entries.enumerated() {
        let base = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Repository.path(entry.base))))
        for (n, violation) in entry.violations.enumerated() {
            let path = dir.appendingPathComponent("\(loader)-\(e)-\(n).json").path
            let document = Self.edited(base, violation.path[...], violation)
            try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys]).write(to: URL(fileURLWithPath: path))
            let what = "\(loader): \(violation.path.map(\.description).joined(separator: ".")) = \(violation.value.map { "\($0.object)" } ?? "(deleted)")"
            do {
                try Self.load(loader, path)
                Issue.record("accepted \(what)")
            } catch {
                #expect(error.file == path, "\(what): \(error)")
                #expect(error.place == violation.place, "\(what): \(error)")
            }
        }
        }
    }
}
