import Foundation
import SystolicDevice
import SystolicJSON
import SystolicResults

/// The journal beside a results file while a run is in progress (`<results>.journal`): JSON Lines,
/// a header line with the run's description, then one line per finished case, each flushed to
/// disk as the case completes. An interrupted or killed run leaves every finished case readable
/// here (`run --resume` continues from it); the final results file is written atomically at the
/// end and the journal removed.
public final class ResultsJournal {
    public static func path(for resultsPath: String) -> String { resultsPath + ".journal" }

    private let handle: FileHandle
    private let encoder: JSONEncoder
    public let path: String

    /// Starts the journal with `header` and the cases a resumed run keeps. It is written whole
    /// under another name and renamed into place, so a kill while it is written leaves the old
    /// journal (a resumed run's only record of its finished cases) intact.
    public init(resultsPath: String, header: RunResults, finished: [CaseResult] = []) throws(OutputFileError) {
        let path = Self.path(for: resultsPath)
        self.path = path
        let encoder = JSONFile.encoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        self.encoder = encoder
        handle = try OutputFileError.writing(path) {
            let url = URL(fileURLWithPath: path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            var text = Data()
            func line<T: Encodable>(_ record: T) throws {
                text.append(try encoder.encode(record))
                text.append(0x0A)
            }
            try line(header)
            for c in finished { try line(c) }
            let staging = path + ".new"
            try? FileManager.default.removeItem(atPath: staging)
            guard FileManager.default.createFile(atPath: staging, contents: nil), let h = FileHandle(forWritingAtPath: staging) else {
                throw OutputFileError(file: path, reason: "the file cannot be created")
            }
            try h.write(contentsOf: text)
            try h.synchronize()
            guard rename(staging, path) == 0 else {
                throw OutputFileError(file: path, reason: "the file cannot be put in place (\(String(cString: strerror(errno))))")
            }
            return h
        }
    }

    public func append<T: Encodable>(_ record: T) throws(OutputFileError) {
        try OutputFileError.writing(path) {
            var line = try encoder.encode(record)
            line.append(0x0A)
            try handle.write(contentsOf: line)
            try handle.synchronize()
        }
    }

    /// Closes and deletes the journal once the results file is safely written.
    public func finish() {
        try? handle.close()
        try? FileManager.default.removeItem(atPath: path)
    }

    deinit { try? handle.close() }

    /// What a journal holds: the run's description and the cases it finished, in order.
    public struct Contents: Sendable {
        public var header: RunResults
        public var cases: [CaseResult]
    }

    /// Reads a journal left by a stopped or killed run. A last line without its newline is a write
    /// the kill cut short and is dropped (its case runs again); any other line that is not a
    /// record is an error naming the line.
    public static func read(_ path: String) throws(InputFileError) -> Contents {
        let bytes = try JSONFile.readBytes(path)
        var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        // The piece after the last newline: empty after a complete write, partial after a kill.
        lines.removeLast()
        guard let first = lines.first else {
            throw InputFileError(file: path, place: "line 1", message: "the journal has no complete header line")
        }
        func decode<T: Codable>(_ type: T.Type, _ line: ArraySlice<UInt8>, _ number: Int) throws(InputFileError) -> T {
            do {
                return try JSONFile.decode(type, bytes: Array(line), file: path)
            } catch {
                let inner = error.place.map { ": \($0)" } ?? ""
                throw InputFileError(file: path, place: "line \(number)\(inner)", message: error.message)
            }
        }
        let header = try decode(RunResults.self, first, 1)
        var cases: [CaseResult] = []
        for (i, line) in lines.dropFirst().enumerated() {
            let c = try decode(CaseResult.self, line, i + 2)
            do { try Metric.validate(c.metrics, file: path, place: "line \(i + 2): metrics") }
            cases.append(c)
        }
        return Contents(header: header, cases: cases)
    }
}
