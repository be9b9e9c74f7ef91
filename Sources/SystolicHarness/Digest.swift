import Crypto

/// SHA-256 digests as they appear in files: `sha256:<64 lowercase hex digits>`.
public enum Digest {
    public static func sha256<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        var hasher = SHA256()
        hasher.update(data: Array(bytes))
        return "sha256:" + hasher.finalize().map { String(format2: $0) }.joined()
    }
}

extension String {
    fileprivate init(format2 byte: UInt8) {
        let digits = Array("0123456789abcdef")
        self.init([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
    }
}
