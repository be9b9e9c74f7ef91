#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading and writing tensor files with plain POSIX calls: one copy between the file and the
/// array, which matters when tensors are hundreds of megabytes.
public enum TensorFileIO {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Writes `bytes` to `path`, creating or truncating it.
    public static func save(_ bytes: [UInt8], to path: String) throws {
        try writeFile(bytes, to: path, flags: O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC)
    }

    private static func writeFile(_ bytes: [UInt8], to path: String, flags: Int32) throws {
        let fd = open(path, flags, 0o644)
        guard fd >= 0 else { throw Failure(description: "cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        try bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw Failure(description: "cannot write \(path): \(String(cString: strerror(errno)))")
                }
                offset += n
            }
        }
    }

    /// Reads exactly `count` bytes from `path`; a shorter or longer file is an error.
    public static func load(_ path: String, count: Int) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var failure: Failure?
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var offset = 0
            while offset < count {
                let n = read(fd, buffer.baseAddress! + offset, count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                offset += n
            }
            initialized = offset
            if offset < count { failure = Failure(description: "\(path) holds \(offset) bytes, \(count) expected") }
        }
        if let failure { throw failure }
        var extra: UInt8 = 0
        if read(fd, &extra, 1) > 0 { throw Failure(description: "\(path) holds more than the \(count) bytes expected") }
        return bytes
    }

    /// A scratch directory in memory when the system has one (/dev/shm), else the temporary directory.
    public static func defaultScratchParent() -> String {
        var info = stat()
        if stat("/dev/shm", &info) == 0, info.st_mode & S_IFMT == S_IFDIR, access("/dev/shm", W_OK) == 0 { return "/dev/shm" }
        return "/tmp"
    }
}
