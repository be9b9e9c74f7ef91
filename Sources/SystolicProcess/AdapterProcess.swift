#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import CSystolicContainment
import SystolicProtocol

/// One running adapter under its supervisor (`sb_spawn_contained`: the leader of a new process
/// group, a child subreaper holding a lifeline to this process) and the two pipes of the protocol.
/// Foundation's `Process` can neither contain a process tree nor hand a child descriptors 3 and 4.
final class AdapterProcess {
    /// The supervisor: its process group holds the adapter, and `waitpid` on it reads the
    /// adapter's own exit status.
    let pid: pid_t
    /// The adapter itself.
    let adapter: pid_t
    private let lifeline: Int32
    /// The processes the adapter had started when it answered the handshake (helpers it keeps).
    var startupProcesses: Set<pid_t> = []
    private let requestFD: Int32
    private let replyFD: Int32
    private var buffer: [UInt8] = []
    private(set) var exited = false
    private(set) var exitDescription: String?

    /// Starts `executable` with `arguments`, its stdout and stderr drained into `stdout` and
    /// `stderr` (capped logs).
    /// `scratch`: the harness's scratch directory, which the supervisor removes if this process
    /// dies without ending the adapter (killed, even with SIGKILL); nil to leave it.
    init(executable: String, arguments: [String], stdout: OutputLog, stderr: OutputLog, scratch: String?) throws {
        _ = Self.ignoreBrokenPipes
        var request: [Int32] = [0, 0], reply: [Int32] = [0, 0], out: [Int32] = [0, 0], err: [Int32] = [0, 0]
        guard pipe(&request) == 0, pipe(&reply) == 0, pipe(&out) == 0, pipe(&err) == 0 else {
            throw AdapterFailure("cannot create pipes: \(String(cString: strerror(errno)))")
        }
        // Move every pipe end above 10 with close-on-exec, so the child's 3 and 4 are set only by
        // the dup2 below and no other descriptor leaks into it.
        func lift(_ fd: Int32) -> Int32 {
            let high = fcntl(fd, F_DUPFD_CLOEXEC, 10)
            close(fd)
            return high
        }
        let childReads = lift(request[0]), parentWrites = lift(request[1])
        let parentReads = lift(reply[0]), childWrites = lift(reply[1])
        let outReads = lift(out[0]), outWrites = lift(out[1])
        let errReads = lift(err[0]), errWrites = lift(err[1])

        // The lifeline: its write end only here, so the supervisor sees it close when this
        // process ends the adapter, exits or is killed.
        var life: [Int32] = [0, 0]
        guard pipe(&life) == 0 else { throw AdapterFailure("cannot create pipes: \(String(cString: strerror(errno)))") }
        let lifeRead = lift(life[0]), lifeWrite = lift(life[1])

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let fds: [Int32] = [-1, outWrites, errWrites, childReads, childWrites]
        var adapterPid: pid_t = 0
        let supervisor = scratch.withOptionalCString { sb_spawn_contained(executable, argv, environ, fds, lifeRead, $0, &adapterPid) }
        let spawnError = errno
        close(lifeRead)
        close(childReads)
        close(childWrites)
        close(outWrites)
        close(errWrites)
        stdout.drain(outReads)
        stderr.drain(errReads)
        guard supervisor > 0 else {
            close(parentWrites); close(parentReads); close(lifeWrite)
            throw AdapterFailure("cannot start \(executable): \(String(cString: strerror(spawnError)))")
        }
        pid = supervisor
        adapter = adapterPid
        lifeline = lifeWrite
        requestFD = parentWrites
        replyFD = parentReads
        _ = Self.live.withLock { $0.insert(adapterPid) }
    }

    /// A write to an adapter that has gone (a request, the lifeline's byte) must fail with EPIPE,
    /// which is handled, not kill this process with SIGPIPE. Adapters start with default signals.
    private static let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

    /// Adapters started and not yet terminated, so an interrupted harness can end them.
    private static let live = LockedSet()

    /// Kills every adapter still running (for an exit that skips the normal shutdown, such as a
    /// second Ctrl-C). Each supervisor then kills what its adapter started and exits; the exit
    /// that follows closes the lifelines, which would end them all the same.
    static func terminateAll() {
        for adapter in live.withLock({ $0 }) { kill(adapter, SIGKILL) }
    }

    /// The processes the adapter has started that are still running (its whole tree below the
    /// supervisor, whatever process group or session they moved to), or nil when /proc cannot
    /// tell.
    func descendants() -> Set<pid_t>? {
        // Most replies: nothing but the adapter, one thread, no child; three /proc reads (about
        // 10 µs) instead of the walk (about 50 µs, protocol v2 item 4).
        if sb_quiet(pid, adapter, &procFiles) == 1 { return [] }
        var found = [pid_t](repeating: 0, count: 256)
        let n = sb_descendants(pid, &found, Int32(found.count))
        guard n >= 0 else { return nil }
        return Set(found.prefix(Int(min(n, 256)))).subtracting([adapter])
    }

    /// Sends one message line.
    func send(_ line: [UInt8]) throws {
        var offset = 0
        while offset < line.count {
            let n = line[offset...].withUnsafeBytes { write(requestFD, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw AdapterFailure("the adapter stopped reading its requests (\(String(cString: strerror(errno))))\(statusSuffix())")
            }
            offset += n
        }
    }

    /// The case ids this process has answered: a second reply for one of them is stale.
    var answeredIDs: Set<String> = []

    /// Complete lines the adapter sent while no request was outstanding (read without waiting).
    func unsolicitedLines() -> [[UInt8]] {
        while true {
            var poller = pollfd(fd: replyFD, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 0) > 0, poller.revents & Int16(POLLIN) != 0 else { break }
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            let n = chunk.withUnsafeMutableBytes { read(replyFD, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            buffer.append(contentsOf: chunk[0..<n])
            if buffer.count > AdapterProtocol.maximumLineBytes { break }
        }
        var lines: [[UInt8]] = []
        while let newline = buffer.firstIndex(of: 0x0A) {
            lines.append(Array(buffer[..<newline]))
            buffer.removeSubrange(...newline)
        }
        return lines
    }

    /// The next reply line, waiting at most `timeout` seconds.
    /// Read buffer for replies, allocated once.
    private var chunk = [UInt8](repeating: 0, count: 1 << 16)
    /// How long `receiveLine` looks for a reply before it sleeps.
    static let spinNanoseconds: UInt64 = 50_000

    func receiveLine(timeout: Double) throws -> [UInt8] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                return line
            }
            if buffer.count > AdapterProtocol.maximumLineBytes {
                throw AdapterFailure("the adapter sent more than \(AdapterProtocol.maximumLineBytes) bytes without a newline")
            }
            let remaining = deadline.timeIntervalSinceNow
            if remaining <= 0 { throw AdapterFailure("the adapter did not answer within \(timeout) s (hung?)") }
            var poller = pollfd(fd: replyFD, events: Int16(POLLIN), revents: 0)
            // A small case's reply comes within tens of microseconds: look without sleeping for
            // a short while first, since a sleeping harness wakes 10-20 µs after the reply on a
            // virtual machine (protocol v2, item 4). Then sleep in poll as usual.
            var ready: Int32 = 0
            let spinUntil = DispatchTime.now().uptimeNanoseconds + Self.spinNanoseconds
            // sched_yield hands the core to any other runnable task (the adapter itself, on a busy
            // machine), so the look costs nothing when the core is wanted.
            repeat { ready = poll(&poller, 1, 0); if ready == 0 { sched_yield() } } while ready == 0 && DispatchTime.now().uptimeNanoseconds < spinUntil
            if ready == 0 { ready = poll(&poller, 1, Int32(min(remaining * 1000, 100))) }
            if ready < 0 && errno != EINTR { throw AdapterFailure("poll failed: \(String(cString: strerror(errno)))") }
            if ready <= 0 {
                // A child it left behind may hold the reply pipe open: notice the adapter's own exit.
                reap(wait: 0)
                if exited { throw AdapterFailure("the adapter exited without answering\(statusSuffix())") }
                continue
            }
            let n = chunk.withUnsafeMutableBytes { read(replyFD, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                reap(wait: 0.5)
                throw AdapterFailure("the adapter closed its reply channel\(statusSuffix())")
            }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }

    /// Collects the exit status if the process has ended (waiting up to `wait` seconds).
    func reap(wait: Double) {
        guard !exited else { return }
        let deadline = Date().addingTimeInterval(wait)
        repeat {
            var status: Int32 = 0
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid {
                exited = true
                let signal = status & 0x7F
                exitDescription = signal != 0 ? "killed by signal \(signal)" : "exited with status \((status >> 8) & 0xFF)"
                return
            }
            if r < 0 { exited = true; return }
            usleep(10_000)
        } while Date() < deadline
    }

    private func statusSuffix() -> String { exitDescription.map { " (\($0))" } ?? "" }

    /// Kills the adapter and everything it started, however it left the process group, and
    /// reaps the supervisor.
    func terminate() {
        // The supervisor sees the adapter die (or the lifeline close), kills the rest of the tree
        // and exits; the group is killed too, in case the supervisor itself is stuck.
        kill(adapter, SIGKILL)
        // The byte says this process ends the adapter and keeps its scratch directory.
        var word: UInt8 = 1
        _ = write(lifeline, &word, 1)
        close(lifeline)
        _ = Self.live.withLock { $0.remove(adapter) }
        if !exited {
            reap(wait: 5)
            if !exited { kill(-pid, SIGKILL) }
        }
        if !exited {
            var status: Int32 = 0
            if waitpid(pid, &status, 0) == pid {
                let signal = status & 0x7F
                exitDescription = exitDescription ?? (signal != 0 ? "killed by signal \(signal)" : "exited with status \((status >> 8) & 0xFF)")
            }
            exited = true
        }
        close(requestFD)
        close(replyFD)
        for i in procFiles.indices where procFiles[i] >= 0 { close(procFiles[i]); procFiles[i] = -1 }
    }

    /// The /proc files `sb_quiet` keeps open between replies.
    private var procFiles: [Int32] = [-1, -1, -1]

    /// Asks politely (closing its request channel), then kills the group.
    func shutdown(message: [UInt8]) {
        try? send(message)
        reap(wait: 2)
        terminate()
    }

    /// True while some process of the group is alive (zombies waiting for their parent to reap
    /// them do not count: they hold no resources and run nothing).
    static func groupAlive(_ pgid: pid_t) -> Bool {
        #if os(Linux)
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return kill(-pgid, 0) == 0 }
        for entry in entries where entry.allSatisfy(\.isNumber) {
            guard let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            // After "(comm)": state, ppid, pgrp, …
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 2, Int32(fields[2]) == pgid, fields[0] != "Z" { return true }
        }
        return false
        #else
        return kill(-pgid, 0) == 0
        #endif
    }
}

/// A set of process ids behind a lock.
final class LockedSet: @unchecked Sendable {
    private let lock = NSLock()
    private var items = Set<pid_t>()
    func withLock<T>(_ body: (inout Set<pid_t>) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&items)
    }
}

/// Why an adapter interaction failed; becomes the reason of an `error` verdict.
struct AdapterFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Where one of an adapter's output streams (stdout or stderr) goes: the harness reads the
/// stream from a pipe on a thread of its own, appends it to a log file up to `fileCap` bytes
/// (then notes the cap once and drops the rest) and keeps the last `tailCap` bytes in memory for
/// error reasons and the results' `device_log`. An adapter that floods its output can neither
/// fill the disk nor the harness's memory.
final class OutputLog: @unchecked Sendable {
    let path: String
    let fileCap: Int
    let tailCap: Int
    private let lock = NSLock()
    private let drains = NSLock()
    private var file: Int32
    private var written = 0
    private var dropped = 0
    private var tail: [UInt8] = []
    private var received = 0
    private var openDrains = 0

    init(path: String, fileCap: Int = 8 << 20, tailCap: Int = 4096) {
        self.path = path; self.fileCap = fileCap; self.tailCap = tailCap
        file = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0o644)
    }

    deinit { if file >= 0 { close(file) } }

    /// Bytes dropped past the file's cap so far.
    var droppedBytes: Int { lock.withLock { dropped } }

    /// The last `tailCap` bytes written to the stream, as text.
    var tailText: String { lock.withLock { String(decoding: tail, as: UTF8.self) } }

    /// Reads `fd` to its end on a new thread, into this log, then closes it.
    func drain(_ fd: Int32) {
        drains.withLock { openDrains += 1 }
        let thread = Thread { [self] in
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                append(chunk[0..<n])
            }
            close(fd)
            drains.withLock { openDrains -= 1 }
        }
        thread.start()
    }

    /// Waits, up to `timeout` seconds, until every drained stream has ended or none has brought
    /// anything for 20 ms, so that what the adapter wrote just before it answered or died is in
    /// the tail.
    func settle(timeout: Double) {
        let deadline = Date().addingTimeInterval(timeout)
        var seen = lock.withLock { received }
        while Date() < deadline {
            let open = drains.withLock { openDrains }
            if open == 0 { return }
            usleep(20_000)
            let now = lock.withLock { received }
            if now == seen { return }
            seen = now
        }
    }

    private func append(_ bytes: ArraySlice<UInt8>) {
        lock.withLock {
            received += bytes.count
            let room = max(0, fileCap - written)
            let kept = min(room, bytes.count)
            if kept > 0, file >= 0 {
                _ = bytes.prefix(kept).withUnsafeBytes { write(file, $0.baseAddress, kept) }
                written += kept
            }
            if kept < bytes.count {
                if dropped == 0, file >= 0 {
                    let note = Array("\n[systolic-bench: this log stops at \(fileCap) bytes; the rest of the adapter's output is dropped]\n".utf8)
                    _ = note.withUnsafeBytes { write(file, $0.baseAddress, $0.count) }
                }
                dropped += bytes.count - kept
            }
            tail.append(contentsOf: bytes.suffix(tailCap))
            if tail.count > tailCap { tail.removeFirst(tail.count - tailCap) }
        }
    }
}

extension Optional where Wrapped == String {
    /// The string as a C string for the call, or NULL.
    func withOptionalCString<R>(_ body: (UnsafePointer<CChar>?) -> R) -> R {
        switch self {
        case .some(let s): return s.withCString { body($0) }
        case .none: return body(nil)
        }
    }
}
