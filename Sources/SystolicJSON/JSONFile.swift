import Foundation

/// Reading JSON files with errors that name the file and the place in it.
public enum JSONFile {
    /// Largest input file accepted; bigger ones are refused before they are read whole.
    public static let maximumBytes = 256 << 20

    /// Reads and parses `path`. Missing files, oversized files and syntax errors are
    /// `InputFileError`s (syntax errors carry the line and column).
    public static func read(_ path: String) throws(InputFileError) -> JSONNode {
        try parse(readBytes(path), file: path)
    }

    /// The bytes of `path`, refusing missing and oversized files.
    public static func readBytes(_ path: String) throws(InputFileError) -> [UInt8] {
        let url = URL(fileURLWithPath: path)
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        guard let size else { throw InputFileError(file: path, place: nil, message: "cannot read the file (missing or not a regular file)") }
        guard size <= maximumBytes else {
            throw InputFileError(file: path, place: nil, message: "file is \(size) bytes, larger than the \(maximumBytes)-byte limit")
        }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw InputFileError(file: path, place: nil, message: "cannot read the file: \(error.localizedDescription)")
        }
        return Array(data)
    }

    /// Parses bytes that came from `file` (used in messages only).
    public static func parse(_ bytes: [UInt8], file: String) throws(InputFileError) -> JSONNode {
        do {
            return JSONNode(value: try JSONParser.parse(bytes), file: file)
        } catch {
            throw InputFileError(file: file, place: "line \(error.line), column \(error.column)", message: "invalid JSON: \(error.message)")
        }
    }

    /// Reads `path` and decodes it strictly (see `decode(_:bytes:file:)`).
    public static func decode<T: Codable>(_ type: T.Type, from path: String) throws(InputFileError) -> T {
        try decode(type, bytes: readBytes(path), file: path)
    }

    /// Decodes bytes that came from `file` as strictly as the file's JSON Schema reads them: a
    /// decoding error names the JSON path and the value found there, and a member the type does
    /// not know is refused (schemas say `additionalProperties: false`; a misspelt optional field
    /// would otherwise be dropped in silence).
    ///
    /// Unknown members are found without a list per type: the decoded value is encoded again, and
    /// every member of the input must survive that round trip. A member the decoder read is
    /// written back by the type's encoder; one it ignored is not. (A member written as `null` may
    /// be dropped: an absent optional.)
    public static func decode<T: Codable>(_ type: T.Type, bytes: [UInt8], file: String) throws(InputFileError) -> T {
        let node = try parse(bytes, file: file)
        let value: T
        do {
            value = try decoder().decode(T.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw describe(error, in: node)
        } catch {
            throw InputFileError(file: file, place: nil, message: "\(error)")
        }
        guard let again = try? JSONParser.parse(Array(encoder().encode(value))) else {
            throw InputFileError(file: file, place: nil, message: "the decoded content cannot be written back as JSON")
        }
        if let (place, key) = unknownMember(node.value, again, place: "") {
            throw InputFileError(file: file, place: place,
                                 message: "unknown field \(JSONValue.string(key).excerpt) (the schema allows no other fields: a misspelling?)")
        }
        return value
    }

    /// The first member of `input` (depth first, in file order) that `written` lacks, with its
    /// JSON path.
    private static func unknownMember(_ input: JSONValue, _ written: JSONValue, place: String) -> (String, String)? {
        switch (input, written) {
        case let (.object(members), .object):
            for (key, value) in members {
                let inner = place.isEmpty ? key : "\(place).\(key)"
                guard let counterpart = written[key] else {
                    if value == .null { continue }
                    return (inner, key)
                }
                if let found = unknownMember(value, counterpart, place: inner) { return found }
            }
        case let (.array(items), .array(others)):
            for (i, (item, other)) in zip(items, others).enumerated() {
                if let found = unknownMember(item, other, place: "\(place)[\(i)]") { return found }
            }
        default: break
        }
        return nil
    }

    private static func describe(_ error: DecodingError, in root: JSONNode) -> InputFileError {
        func locate(_ codingPath: [any CodingKey]) -> (String, JSONValue?) {
            var path = ""
            var value: JSONValue? = root.value
            for key in codingPath {
                if let i = key.intValue {
                    path += "[\(i)]"
                    if case let .array(items)? = value, i < items.count { value = items[i] } else { value = nil }
                } else {
                    path += path.isEmpty ? key.stringValue : ".\(key.stringValue)"
                    value = value?[key.stringValue]
                }
            }
            return (path.isEmpty ? "top level" : path, value)
        }
        switch error {
        case let .typeMismatch(expected, context), let .valueNotFound(expected, context):
            let (place, value) = locate(context.codingPath)
            return InputFileError(file: root.file, place: place,
                                  message: "expected \(expectedName(expected)), found \(value?.excerpt ?? "nothing")")
        case let .keyNotFound(key, context):
            let (place, _) = locate(context.codingPath)
            return InputFileError(file: root.file, place: place, message: "missing required field \"\(key.stringValue)\"")
        case let .dataCorrupted(context):
            let (place, value) = locate(context.codingPath)
            let found = value.map { " (found \($0.excerpt))" } ?? ""
            return InputFileError(file: root.file, place: place, message: "\(context.debugDescription)\(found)")
        @unknown default:
            return InputFileError(file: root.file, place: nil, message: "\(error)")
        }
    }

    private static func expectedName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Int64.Type, is UInt64.Type, is Int32.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is Bool.Type: return "true or false"
        default:
            let name = "\(type)"
            if name.hasPrefix("Array") { return "a list" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "a value of type \(name)"
        }
    }

    /// Writes `data` to `path` atomically: a reader sees the old file or the new one, never a part.
    public static func writeAtomically(_ data: Data, to path: String) throws(OutputFileError) {
        try OutputFileError.writing(path) {
            let url = URL(fileURLWithPath: path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: url, options: .atomic)
        }
    }

    /// The encoder every file we write uses: sorted keys and indentation, so files diff well and
    /// the same content always gives the same bytes.
    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    /// The decoder matching `encoder()`: non-finite numbers are the strings "inf", "-inf", "nan".
    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }
}
