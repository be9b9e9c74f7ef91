import Dispatch
import Foundation

/// One line on stderr, redrawn per case: position, case, elapsed time and an estimate of what is
/// left. Drawn only on a terminal outside CI (stdout keeps nothing but results); plain text, so
/// `NO_COLOR` has nothing to turn off.
final class ProgressLine: @unchecked Sendable {
    private let enabled: Bool
    private let start = DispatchTime.now().uptimeNanoseconds

    init(enabled: Bool) { self.enabled = enabled }

    func update(_ i: Int, _ n: Int, _ id: String) {
        guard enabled else { return }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let left = i > 1 ? elapsed / Double(i - 1) * Double(n - i + 1) : nil
        var line = "[\(i)/\(n)] \(id)  \(Self.duration(elapsed))"
        if let left { line += ", about \(Self.duration(left)) left" }
        let width = 120
        if line.count > width { line = String(line.prefix(width - 1)) + "…" }
        FileHandle.standardError.write(Data("\r\u{1B}[2K\(line)".utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
    }

    static func duration(_ s: Double) -> String {
        s < 60 ? "\(Int(s))s" : "\(Int(s) / 60)m\(String(format: "%02d", Int(s) % 60))s"
    }
}
