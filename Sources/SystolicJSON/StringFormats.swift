/// The string formats the schemas name (`format: date`, `date-time`, the `sha256:` digest
/// pattern), checked by the loaders exactly as a JSON Schema validator checks them.
public enum StringFormats {
    /// `YYYY-MM-DD`, a day that exists in the proleptic Gregorian calendar (RFC 3339 `full-date`):
    /// 2030-02-30 and 2030-13-01 are refused.
    public static func isDate(_ s: String) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]), (1...12).contains(month)
        else { return false }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return (1...days).contains(day)
    }

    /// An RFC 3339 `date-time`: a valid date, `T`, `hh:mm:ss` with optional fraction, and `Z` or
    /// an offset `±hh:mm`.
    public static func isDateTime(_ s: String) -> Bool {
        let t = s.firstIndex { $0 == "T" || $0 == "t" }
        guard let t, isDate(String(s[..<t])) else { return false }
        var time = Substring(s[s.index(after: t)...])
        if time.hasSuffix("Z") || time.hasSuffix("z") {
            time = time.dropLast()
        } else {
            guard time.count > 6 else { return false }
            let offset = time.suffix(6)
            guard offset.first == "+" || offset.first == "-", isClock(offset.dropFirst(), seconds: false) else { return false }
            time = time.dropLast(6)
        }
        if let dot = time.firstIndex(of: ".") {
            let fraction = time[time.index(after: dot)...]
            guard !fraction.isEmpty, fraction.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
            time = time[..<dot]
        }
        return isClock(time, seconds: true)
    }

    private static func isClock(_ s: Substring, seconds: Bool) -> Bool {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == (seconds ? 3 : 2), parts.allSatisfy({ $0.count == 2 && $0.allSatisfy { $0.isASCII && $0.isNumber } }) else { return false }
        let v = parts.compactMap { Int($0) }
        return v[0] <= 23 && v[1] <= 59 && (!seconds || v[2] <= 60)
    }

    /// `sha256:` and 64 lower-case hexadecimal digits.
    public static func isSHA256(_ s: String) -> Bool {
        s.hasPrefix("sha256:") && s.utf8.count == 71 && s.utf8.dropFirst(7).allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}

extension KeyedDecodingContainer {
    /// A 64-bit seed. Foundation's decoder reports a negative or fractional number read as `UInt64`
    /// as invalid JSON at the top level; this names the field and says what was expected.
    public func decodeSeed(forKey key: Key) throws -> UInt64 {
        if let seed = try? decode(UInt64.self, forKey: key) { return seed }
        throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "expected an integer in 0...18446744073709551615")
    }
}
