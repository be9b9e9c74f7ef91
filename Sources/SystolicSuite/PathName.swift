import SystolicJSON

/// Names that become parts of file paths: results (`results/<device>-<profile>.json`), baselines
/// (`Baselines/<device>/<suite>.json`), certification packages, tensor dumps. Anything that comes
/// from outside (a suite, an adapter's `hello`, a results file, a profile) is held to these rules
/// where it is read, so no name can climb out of its directory (`../x`), hide (`.x`), pass for an
/// option (`-x`) or outgrow a file-name limit.
public enum PathName {
    public static let maxLength = 64

    /// A device's name: 1 to 64 letters, digits, `.`, `-` and `_`, not starting with `.` or `-`.
    public static func isDeviceName(_ s: String) -> Bool {
        let u = s.utf8
        guard let first = u.first, u.count <= maxLength, first != 0x2E, first != 0x2D else { return false }
        return u.allSatisfy { isAlphanumeric($0) || $0 == 0x2E || $0 == 0x2D || $0 == 0x5F }
    }

    /// A suite, case or profile name: 1 to 64 lowercase letters, digits, `-` and `_`, not starting
    /// with `-`.
    public static func isIdentifier(_ s: String) -> Bool {
        let u = s.utf8
        guard let first = u.first, u.count <= maxLength, first != 0x2D else { return false }
        return u.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D || $0 == 0x5F }
    }

    /// What the rules say, for error messages.
    public static let deviceNameRule = "1 to \(maxLength) letters, digits, '.', '-' and '_', not starting with '.' or '-'"
    public static let identifierRule = "1 to \(maxLength) lowercase letters, digits, '-' and '_', not starting with '-'"

    private static func isAlphanumeric(_ c: UInt8) -> Bool {
        (0x61...0x7A).contains(c) || (0x41...0x5A).contains(c) || (0x30...0x39).contains(c)
    }

    /// Throws, naming the file, place and value, unless `name` is a device name.
    public static func checkDevice(_ name: String, file: String, place: String) throws(InputFileError) {
        guard isDeviceName(name) else { throw InputFileError(file: file, place: place, message: "expected \(deviceNameRule), found \"\(name)\"") }
    }

    /// Throws, naming the file, place and value, unless `name` is an identifier.
    public static func checkIdentifier(_ name: String, file: String, place: String) throws(InputFileError) {
        guard isIdentifier(name) else { throw InputFileError(file: file, place: place, message: "expected \(identifierRule), found \"\(name)\"") }
    }
}
