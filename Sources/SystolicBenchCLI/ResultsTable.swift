import Foundation
import SystolicHarness
import SystolicResults

/// The terminal summary of a run: one row per case, then the verdict counts.
enum ResultsTable {
    static func render(_ results: RunResults) -> String {
        // Collectives have no cycles or array utilisation: their time and bus bandwidth go there.
        var rows: [[String]] = [["verdict", "cycles|µs", "util|busbw", "ratio", "case"]]
        for c in results.cases {
            let cycles = c.metrics["cycles"].map { String(Int64($0.value)) }
                ?? c.metrics["time"].map { String(format: "%.1fµs", $0.value * 1e6) } ?? "-"
            let util = c.metrics["utilisation"].map { percent($0.value) }
                ?? c.metrics["busbw"].map { String(format: "%.1fGB/s", $0.value / 1e9) } ?? "-"
            let ratio: String
            if c.check?.rule == "exact" { ratio = "exact" } else if let r = c.check?.maxRatioToBound { ratio = short(r) } else { ratio = "-" }
            rows.append([c.verdict.rawValue, cycles, util, ratio, c.id])
        }
        let widths = (0..<rows[0].count).map { col in rows.map { $0[col].count }.max() ?? 0 }
        var lines = rows.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : (i == 0 ? cell.padding(widths[i]) : cell.leftPadding(widths[i]))
            }.joined(separator: "  ")
        }
        for c in results.cases where c.verdict == .fail || c.verdict == .error {
            lines.append("\(c.verdict.rawValue): \(c.id): \(c.reason ?? "")")
        }
        // Not-supported cases usually share a few reasons; one line per reason keeps the table short.
        var reasons: [String: Int] = [:]
        var order: [String] = []
        for c in results.cases where c.verdict == .notSupported {
            let r = c.reason ?? "no reason given"
            if reasons[r] == nil { order.append(r) }
            reasons[r, default: 0] += 1
        }
        for r in order {
            let n = reasons[r]!
            lines.append("not_supported (\(n) \(n == 1 ? "case" : "cases")): \(r)")
        }
        let s = results.summary
        lines.append(Verdict.allCases.map { "\($0.rawValue) \(s[$0.rawValue] ?? 0)" }.joined(separator: " · ")
                     + " (device \(results.device.name))")
        return lines.joined(separator: "\n")
    }

    static func percent(_ x: Double) -> String { "\(Double(Int((x * 1000).rounded())) / 10)%" }

    static func short(_ x: Double) -> String {
        x.isFinite ? String(format: "%.3g", x) : "\(x)"
    }
}

extension String {
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
    func leftPadding(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
