import Foundation
import SystolicJSON
import SystolicResults

/// The journal beside a results file while a run is in progress (`<results>.journal`): JSON Lines,
/// a header line with the run's description, then one line per finished case, each flushed to
/// disk as the case completes. An interrupted or killed run leaves every finished case readable
/// here; the final results file is written atomically at the end and the journal removed.
public final class ResultsJournal {
    public static func path(for resultsPath: String) -> String { resultsPath + ".journal" }

    private let handle: FileHandle
    private let encoder: JSONEncoder
    public let path: String

    public init(resultsPath: String, header: RunResults) throws(OutputFileError) {
        let path = Self.path(for: resultsPath)
        self.path = path
        handle = try OutputFileError.writing(path) {
            let url = URL(fileURLWithPath: path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
                throw OutputFileError(file: path, reason: "the file cannot be created")
            }
            return h
        }
        encoder = JSONFile.encoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try append(header)
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
}
