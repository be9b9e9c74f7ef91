import Foundation

/// A file the tool must write (results, journal, baseline, report, package) that cannot be
/// written: the disk is full, the directory is not writable, the path is not a directory. The
/// command line maps it to exit code 6, apart from a conformance failure's 1.
public struct OutputFileError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var reason: String

    public init(file: String, reason: String) {
        self.file = file
        self.reason = reason
    }

    /// Wraps whatever `body` throws as an error writing `file`.
    public static func writing<T>(_ file: String, _ body: () throws -> T) throws(OutputFileError) -> T {
        do { return try body() } catch let e as OutputFileError { throw e } catch {
            // The system's own reason ("Not a directory", "No space left on device") where
            // Foundation wraps one.
            let ns = error as NSError
            let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError
            let reason = underlying?.localizedDescription ?? ns.localizedFailureReason ?? ns.localizedDescription
            throw OutputFileError(file: file, reason: reason)
        }
    }

    public var description: String { "cannot write \(file): \(reason)" }
}
