/// Compact JSON for protocol messages, written in the order the caller gives: `RunRequest.line()`
/// (RequestLine.swift) gives the keys in byte order, as `JSONEncoder` with `.sortedKeys` would.
struct JSONLineWriter {
    var bytes: [UInt8] = []
    private var needsComma = false

    init() { bytes.reserveCapacity(1024) }

    static func byteOrder(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    mutating func key(_ key: String) {
        separate()
        string(key)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    mutating func member<K: CodingKey>(_ key: K, _ value: String) { self.key(key.stringValue); separate(); string(value); needsComma = true }
    mutating func member<K: CodingKey>(_ key: K, _ value: Int) { self.key(key.stringValue); separate(); bytes.append(contentsOf: String(value).utf8); needsComma = true }
    mutating func member<K: CodingKey>(_ key: K, _ value: Bool) { self.key(key.stringValue); separate(); bytes.append(contentsOf: (value ? "true" : "false").utf8); needsComma = true }
    mutating func member<K: CodingKey>(_ key: K, _ value: Double) { self.key(key.stringValue); separate(); double(value); needsComma = true }
    mutating func member(_ key: String, _ value: String) { self.key(key); separate(); string(value); needsComma = true }

    mutating func ints(_ values: [Int]) {
        separate()
        bytes.append(UInt8(ascii: "["))
        for (i, v) in values.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: String(v).utf8)
        }
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = false
    }

    /// Swift's shortest round-trip spelling, less a trailing ".0": what `JSONEncoder` writes. A
    /// request's numbers are finite (the suite loader refuses others).
    private mutating func double(_ v: Double) {
        let text = v.description
        bytes.append(contentsOf: (text.hasSuffix(".0") ? text.dropLast(2) : Substring(text)).utf8)
    }

    private mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: "\\\"".utf8)
            case UInt8(ascii: "\\"): bytes.append(contentsOf: "\\\\".utf8)
            case 0x0A: bytes.append(contentsOf: "\\n".utf8)
            case 0x0D: bytes.append(contentsOf: "\\r".utf8)
            case 0x09: bytes.append(contentsOf: "\\t".utf8)
            case 0x08: bytes.append(contentsOf: "\\b".utf8)
            case 0x0C: bytes.append(contentsOf: "\\f".utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: "\\u00".utf8)
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
