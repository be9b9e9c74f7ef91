#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The tensor files of one adapter session (docs/protocol.md, "Tensor files").
///
/// Making a directory of fresh files for every case, resolving and removing them again, was most
/// of a small case's cost (protocol v2, item 4: about 170 µs of 300). Here a file is made once per
/// slot (an input's role, C's initial rows, the output) and size, rewritten in place for every case
/// that needs the same size, and removed only when a case needs another size for that slot or the
/// session ends; so the directory never holds more than one case's tensors.
///
/// Safety does not rest on names the adapter could predict: each file is created by the harness
/// where nothing existed (`O_EXCL | O_NOFOLLOW`, under a name with a random part, relative to a
/// descriptor of the directory opened once), and is then only written and read through the
/// harness's own descriptor. A link or file the adapter plants in the directory is never followed
/// or written to; an output the adapter replaced is read once through `O_NOFOLLOW` and then removed,
/// never reused.
final class ScratchFiles {
    /// The directory, as the paths in requests name it.
    let directory: String
    private var directoryFD: Int32
    /// How many times the directory was found removed (by another process) and made again.
    private(set) var remade = 0
    private struct File {
        let name: String
        let fd: Int32
        let byteCount: Int
        let device: dev_t
        let inode: ino_t
    }
    private var files: [String: File] = [:]
    private var poison: [UInt8] = []

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(directory: String) throws(Failure) {
        self.directory = directory
        directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryFD >= 0 else { throw Failure(description: "cannot open the scratch directory \(directory): \(Self.reason())") }
    }

    deinit {
        removeAll()
        close(directoryFD)
    }

    /// A slot's key: inputs and outputs are kept apart, so C's initial rows and the output C are two files.
    static func inputSlot(_ role: String) -> String { "in:" + role }
    static func outputSlot(_ role: String) -> String { "out:" + role }

    /// Starts a case needing these slots at these sizes: every other file goes first, so that the
    /// directory holds at most one case's tensors.
    func beginCase(_ needed: [String: Int]) {
        for (slot, file) in files where needed[slot] != file.byteCount { remove(slot) }
    }

    /// Writes an input's bytes into its slot's file (made first when the slot is new) and returns its path.
    func writeInput(slot: String, stem: String, bytes: [UInt8]) throws(Failure) -> String {
        let file = try file(slot: slot, stem: stem, byteCount: bytes.count)
        try write(bytes, to: file)
        return path(file)
    }

    /// Readies the output's file and returns its path. A new file holds zeros; a reused one is
    /// filled with 0xFF bytes (NaN, or -1), so that an adapter answering without writing its output
    /// cannot pass on an earlier case's.
    func prepareOutput(slot: String, stem: String, byteCount: Int) throws(Failure) -> String {
        let existed = files[slot] != nil
        let file = try file(slot: slot, stem: stem, byteCount: byteCount)
        if existed {
            // One poison buffer, grown to the largest output, rather than one per case.
            if poison.count < byteCount { poison = [UInt8](repeating: 0xFF, count: byteCount) }
            try write(poison, count: byteCount, to: file)
        }
        return path(file)
    }

    /// What the adapter wrote to the output: the directory's entry must be a regular file (a link is
    /// never followed) of exactly `byteCount` bytes.
    func readOutput(slot: String) throws(Failure) -> [UInt8] {
        guard let file = files[slot] else { throw Failure(description: "no output file was prepared for \(slot)") }
        let where_ = path(file)
        var entry = stat()
        guard fstatat(directoryFD, file.name, &entry, AT_SYMLINK_NOFOLLOW) == 0 else {
            remove(slot)
            throw Failure(description: "output \(where_) is missing")
        }
        guard entry.st_mode & S_IFMT == S_IFREG else {
            remove(slot)
            throw Failure(description: "output \(where_) is not a regular file (a symbolic link or other)")
        }
        guard Int(entry.st_size) == file.byteCount else {
            remove(slot)
            throw Failure(description: "output \(where_) holds \(entry.st_size) bytes")
        }
        if entry.st_dev == file.device && entry.st_ino == file.inode { return try read(file.fd, count: file.byteCount, path: where_) }
        // The adapter put a file of its own in place of ours (removed and created it again): read
        // it once, then remove it, so that the harness never writes to a file it did not create.
        defer { remove(slot) }
        let fd = openat(directoryFD, file.name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(description: "cannot open output \(where_): \(Self.reason())") }
        defer { close(fd) }
        guard fstat(fd, &entry) == 0, entry.st_mode & S_IFMT == S_IFREG, Int(entry.st_size) == file.byteCount else {
            throw Failure(description: "output \(where_) changed while it was read")
        }
        return try read(fd, count: file.byteCount, path: where_)
    }

    /// Removes every file (the end of the session).
    func removeAll() {
        for slot in Array(files.keys) { remove(slot) }
    }

    /// The names of the files held now, for tests.
    var names: [String] { files.values.map(\.name).sorted() }

    // MARK: Files

    private func path(_ file: File) -> String { directory + "/" + file.name }

    private func file(slot: String, stem: String, byteCount: Int) throws(Failure) -> File {
        if let file = files[slot] {
            // Reused only while the directory's entry is still ours: one the adapter replaced (by
            // a link, say) is removed and a new file made, so the adapter reads what it is sent.
            var entry = stat()
            if file.byteCount == byteCount, fstatat(directoryFD, file.name, &entry, AT_SYMLINK_NOFOLLOW) == 0,
               entry.st_dev == file.device, entry.st_ino == file.inode {
                return file
            }
            remove(slot)
        }
        let name = "\(stem)-\(String(UInt64.random(in: 0...UInt64.max), radix: 16)).bin"
        var fd = openat(directoryFD, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        if fd < 0 && errno == ENOENT && directoryRemoved() {
            // Someone removed the directory under us (#28, item 7: one run lost it and every case
            // failed): make it again rather than fail every case that follows.
            try remakeDirectory()
            fd = openat(directoryFD, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        }
        guard fd >= 0 else { throw Failure(description: "cannot create \(directory)/\(name): \(Self.reason())") }
        var info = stat()
        guard fstat(fd, &info) == 0, ftruncate(fd, off_t(byteCount)) == 0 else {
            let why = Self.reason()
            close(fd)
            unlinkat(directoryFD, name, 0)
            throw Failure(description: "cannot size \(directory)/\(name) to \(byteCount) bytes: \(why)")
        }
        let file = File(name: name, fd: fd, byteCount: byteCount, device: info.st_dev, inode: info.st_ino)
        files[slot] = file
        return file
    }

    /// True when the directory held open has no name left (it was removed).
    private func directoryRemoved() -> Bool {
        var info = stat()
        return fstat(directoryFD, &info) == 0 && info.st_nlink == 0
    }

    private func remakeDirectory() throws(Failure) {
        // The files held open lived in the removed directory: forget them.
        for file in files.values { close(file.fd) }
        files.removeAll()
        guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
            throw Failure(description: "the scratch directory \(directory) was removed and cannot be made again: \(Self.reason())")
        }
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(description: "cannot open the remade scratch directory \(directory): \(Self.reason())") }
        close(directoryFD)
        directoryFD = fd
        remade += 1
    }

    private func remove(_ slot: String) {
        guard let file = files.removeValue(forKey: slot) else { return }
        close(file.fd)
        // Only a name still naming our file is removed; one the adapter replaced is its own
        // replacement, removed too (it lives in the harness's directory and has served its case).
        unlinkat(directoryFD, file.name, 0)
    }

    private func write(_ bytes: [UInt8], count: Int? = nil, to file: File) throws(Failure) {
        let total = count ?? bytes.count
        let failed: Bool = bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < total {
                let n = pwrite(file.fd, raw.baseAddress! + offset, total - offset, off_t(offset))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return true }
                offset += n
            }
            return false
        }
        if failed { throw Failure(description: "cannot write \(path(file)): \(Self.reason())") }
    }

    private func read(_ fd: Int32, count: Int, path: String) throws(Failure) -> [UInt8] {
        var short = false
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var offset = 0
            while offset < count {
                let n = pread(fd, buffer.baseAddress! + offset, count - offset, off_t(offset))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                offset += n
            }
            initialized = offset
            short = offset < count
        }
        if short { throw Failure(description: "output \(path) could not be read whole: \(Self.reason())") }
        return bytes
    }

    private static func reason() -> String { String(cString: strerror(errno)) }
}
