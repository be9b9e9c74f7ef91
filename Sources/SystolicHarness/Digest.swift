import Crypto

/// SHA-256 digests as they appear in files: `sha256:<64 lowercase hex digits>`.
public enum Digest {
    public static func sha256<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        var hasher = SHA256()
        hasher.update(data: Array(bytes))
        return "sha256:" + hasher.finalize().map { String(format2: $0) }.joined()
    }

    /// The first 64 bits of a `sha256:` digest, as a seed for choices that must follow the data.
    public static func seed(from digest: String) -> UInt64 {
        UInt64(digest.dropFirst("sha256:".count).prefix(16), radix: 16) ?? 0
    }
}

extension String {
    fileprivate init(format2 byte: UInt8) {
        let digits = Array("0123456789abcdef")
        self.init([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
    }
}
