/// A parsed JSON document that keeps what a precise error message needs: object key order and
/// each number's own spelling (so `3`, `3.0` and `1e400` can be told apart).
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    /// The number's text as written in the file; see `intValue` and `doubleValue`.
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in file order. Duplicate keys are rejected by the parser.
    case object([(key: String, value: JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.number(a), .number(b)): return a == b
        case let (.string(a), .string(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    /// The member named `key` of an object, or nil.
    public subscript(key: String) -> JSONValue? {
        guard case let .object(members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// The value as an integer when it is a number written without fraction or exponent that fits
    /// in `Int`, or an integral number in exponent form small enough to be exact.
    public var intValue: Int? {
        guard case let .number(text) = self else { return nil }
        if let v = Int(text) { return v }
        if let d = Double(text), d.isFinite, d == d.rounded(), abs(d) < 9.0e15 { return Int(d) }
        return nil
    }

    /// The value as a finite double, or nil.
    public var doubleValue: Double? {
        guard case let .number(text) = self, let d = Double(text), d.isFinite else { return nil }
        return d
    }

    public var stringValue: String? {
        guard case let .string(s) = self else { return nil }
        return s
    }

    public var boolValue: Bool? {
        guard case let .bool(b) = self else { return nil }
        return b
    }

    /// A short rendering for error messages, truncated so a huge value cannot flood a terminal.
    public var excerpt: String {
        let full: String
        switch self {
        case .null: full = "null"
        case let .bool(b): full = b ? "true" : "false"
        case let .number(t): full = t
        case let .string(s): full = "\"\(s)\""
        case let .array(items): full = "[" + items.prefix(4).map(\.excerpt).joined(separator: ", ") + (items.count > 4 ? ", …]" : "]")
        case let .object(members):
            full = "{" + members.prefix(3).map { "\"\($0.key)\": \($0.value.excerpt)" }.joined(separator: ", ") + (members.count > 3 ? ", …}" : "}")
        }
        return full.count > 80 ? String(full.prefix(77)) + "…" : full
    }

    /// The JSON type name used in messages ("an integer", "a string", ...).
    public var kindDescription: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return intValue != nil ? "an integer" : "a number"
        case .string: return "a string"
        case .array: return "a list"
        case .object: return "an object"
        }
    }
}
