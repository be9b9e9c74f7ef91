/// A user's input file (suite, results, baseline, device config) that cannot be used.
///
/// The message names the file, the place in it (a JSON path such as `cases[3].shape.k`, or a line
/// and column for syntax errors) and the offending value, and says what was expected. The command
/// line maps it to exit code 65.
public struct InputFileError: Error, Sendable, CustomStringConvertible {
    public var file: String
    /// A JSON path, a "line L, column C" location, or nil when the whole file is at fault.
    public var place: String?
    public var message: String

    public init(file: String, place: String?, message: String) {
        self.file = file
        self.place = place
        self.message = message
    }

    public var description: String {
        if let place, !place.isEmpty { return "\(file): \(place): \(message)" }
        return "\(file): \(message)"
    }
}
