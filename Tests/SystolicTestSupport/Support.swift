import Foundation
import SystolicDevice
import SystolicNumerics
import SystolicSuite

/// Paths inside the repository, found from this file so tests run from any directory.
public enum Repository {
    public static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    public static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
    /// Test data shared by the test targets (`Tests/Fixtures`).
    public static let fixtures = root.appendingPathComponent("Tests/Fixtures")
}

/// A fresh temporary directory for one test, removed when the test process exits (#28, item 7:
/// the tests leave nothing behind).
public func temporaryDirectory() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("systolic-bench-tests-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    TemporaryDirectories.shared.add(url)
    return url
}

/// The directories `temporaryDirectory` made, removed at exit.
final class TemporaryDirectories: @unchecked Sendable {
    static let shared: TemporaryDirectories = {
        atexit { TemporaryDirectories.shared.removeAll() }
        return TemporaryDirectories()
    }()
    private let lock = NSLock()
    private var made: [URL] = []

    func add(_ url: URL) { lock.withLock { made.append(url) } }

    func removeAll() {
        for url in lock.withLock({ made }) { try? FileManager.default.removeItem(at: url) }
    }
}

/// Writes `text` to a file in `dir` and returns its path.
public func write(_ text: String, to name: String, in dir: URL) -> String {
    let url = dir.appendingPathComponent(name)
    try! Data(text.utf8).write(to: url)
    return url.path
}

/// A minimal valid suite around the given case objects.
public func suiteJSON(name: String = "t", cases: String) -> String {
    """
    {"format": "systolic-bench.suite/1", "name": "\(name)", "version": "1", "defaults": {"seed": 7},
     "profiles": {"quick": "q", "full": "f"}, "cases": [\(cases)]}
    """
}

/// A GEMM case object for `suiteJSON`.
public func gemmCaseJSON(name: String, m: Int, n: Int, k: Int, types: String, extra: String = "") -> String {
    """
    {"name": "\(name)", "op": "gemm", "profiles": ["quick"], "shape": {"m": \(m), "n": \(n), "k": \(k)}, "types": \(types)\(extra)}
    """
}

/// A product SwiftPM built next to the test bundle (the CLI, the adapters).
public func builtProduct(_ name: String) throws -> String {
    let candidates = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
                      Repository.root.appendingPathComponent(".build/release"), Repository.root.appendingPathComponent(".build/debug")]
    for dir in candidates {
        let path = dir.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: name])
}
