/// A value in a user's file together with where it came from, so that reading code can refuse a
/// bad value with a message naming the file, the JSON path and the value in one line.
public struct JSONNode: Sendable {
    public let value: JSONValue
    /// JSON path from the document root, e.g. `cases[3].shape.k`; empty for the root.
    public let path: String
    public let file: String

    public init(value: JSONValue, path: String = "", file: String) {
        self.value = value
        self.path = path
        self.file = file
    }

    /// An error at this node: "expected <expected>, found <value>".
    public func failure(expected: String) -> InputFileError {
        InputFileError(file: file, place: placeName, message: "expected \(expected), found \(value.excerpt)")
    }

    /// An error at this node with a free-form message.
    public func failure(_ message: String) -> InputFileError {
        InputFileError(file: file, place: placeName, message: message)
    }

    private var placeName: String { path.isEmpty ? "top level" : path }

    private func childPath(_ key: String) -> String {
        let plain = key.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }
        let component = plain ? key : "[\"\(key)\"]"
        if path.isEmpty { return component }
        return plain ? "\(path).\(component)" : "\(path)\(component)"
    }

    // MARK: Members

    /// The member `key` of this object; a missing member is an error.
    public func member(_ key: String) throws(InputFileError) -> JSONNode {
        guard case .object = value else { throw failure(expected: "an object") }
        guard let child = value[key] else {
            throw InputFileError(file: file, place: placeName, message: "missing required field \"\(key)\"")
        }
        return JSONNode(value: child, path: childPath(key), file: file)
    }

    /// The member `key`, or nil when it is absent or null.
    public func optionalMember(_ key: String) throws(InputFileError) -> JSONNode? {
        guard case .object = value else { throw failure(expected: "an object") }
        guard let child = value[key], child != .null else { return nil }
        return JSONNode(value: child, path: childPath(key), file: file)
    }

    /// Refuses members not in `allowed`, so a misspelt field is reported instead of ignored.
    public func rejectUnknownMembers(_ allowed: Set<String>) throws(InputFileError) {
        guard case let .object(members) = value else { throw failure(expected: "an object") }
        for m in members where !allowed.contains(m.key) {
            throw InputFileError(
                file: file, place: childPath(m.key),
                message: "unknown field; expected one of: \(allowed.sorted().joined(separator: ", "))")
        }
    }

    /// The members of an object in file order.
    public func members() throws(InputFileError) -> [(key: String, node: JSONNode)] {
        guard case let .object(members) = value else { throw failure(expected: "an object") }
        return members.map { ($0.key, JSONNode(value: $0.value, path: childPath($0.key), file: file)) }
    }

    /// The items of a list.
    public func items() throws(InputFileError) -> [JSONNode] {
        guard case let .array(items) = value else { throw failure(expected: "a list") }
        return items.enumerated().map { JSONNode(value: $1, path: "\(path)[\($0)]", file: file) }
    }

    // MARK: Scalars

    public func string() throws(InputFileError) -> String {
        guard let s = value.stringValue else { throw failure(expected: "a string") }
        return s
    }

    public func bool() throws(InputFileError) -> Bool {
        guard let b = value.boolValue else { throw failure(expected: "true or false") }
        return b
    }

    /// An integer within `range`.
    public func int(in range: ClosedRange<Int>, what: String = "an integer") throws(InputFileError) -> Int {
        guard let v = value.intValue, range.contains(v) else {
            throw failure(expected: "\(what) in \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }

    /// A finite number.
    public func double() throws(InputFileError) -> Double {
        guard let v = value.doubleValue else { throw failure(expected: "a finite number") }
        return v
    }

    /// One of a fixed set of strings, returned as the matching enum case.
    public func choice<T: RawRepresentable & CaseIterable>(_ type: T.Type) throws(InputFileError) -> T where T.RawValue == String {
        guard let s = value.stringValue, let v = T(rawValue: s) else {
            let names = T.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
            throw failure(expected: "one of \(names)")
        }
        return v
    }
}
