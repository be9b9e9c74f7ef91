import ArgumentParser
import SystolicEmulation
import SystolicResults
import SystolicResults
import SystolicSuite

// The values several commands take, parsed once: ArgumentParser refuses a malformed one with
// the option named and exit 64, before a command runs.

/// `--device`: the built-in emulator (a preset) or an adapter process.
enum DeviceSpec: ExpressibleByArgument, Equatable, CustomStringConvertible {
    case emulator(preset: String)
    /// process:PATH [ARGS]: the adapter executable and its arguments, split on spaces.
    case process(executable: String, arguments: [String])

    init?(argument: String) {
        if argument.hasPrefix("process:") {
            let words = argument.dropFirst("process:".count).split(separator: " ").map(String.init)
            guard let path = words.first else { return nil }
            self = .process(executable: path, arguments: Array(words.dropFirst()))
            return
        }
        let parts = argument.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard parts[0] == "emulator" else { return nil }
        let preset = parts.count > 1 ? parts[1] : DeviceConfig.defaultPresetName
        guard DeviceConfig.presetNames.contains(preset) else { return nil }
        self = .emulator(preset: preset)
    }

    var description: String {
        switch self {
        case let .emulator(preset): return "emulator:\(preset)"
        case let .process(executable, arguments): return "process:" + ([executable] + arguments).joined(separator: " ")
        }
    }

    var defaultValueDescription: String { description }

    static let help = "The device: emulator or emulator:PRESET (presets: \(DeviceConfig.presetNames.joined(separator: ", ")); default \(DeviceConfig.defaultPresetName)), or process:PATH [ARGS] (an adapter speaking the protocol of docs/protocol.md)."
}

/// `--shard i/n`: every n-th case of the selection, starting at the i-th.
extension Shard: ExpressibleByArgument {
    public init?(argument: String) {
        let parts = argument.split(separator: "/", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.count == 2, let i = parts[0], let n = parts[1], n >= 1, (1...n).contains(i) else { return nil }
        self.init(index: i, count: n)
    }
}

/// `--profile`: a suite's profile name. Names become parts of file names (results, packages), so
/// they follow `PathName.isIdentifier` (`../x` is refused).
struct ProfileName: ExpressibleByArgument, Hashable, CustomStringConvertible {
    let name: String

    init?(argument: String) {
        guard PathName.isIdentifier(argument) else { return nil }
        name = argument
    }

    init(_ name: String) { self.name = name }

    var description: String { name }
    var defaultValueDescription: String { name }
}

/// `--max-case-memory`: a byte count, plain or with a binary suffix (`512MiB`, `8GiB`, `8G`).
struct ByteCount: ExpressibleByArgument, Equatable, CustomStringConvertible {
    let bytes: Int

    init?(argument: String) {
        let units: [(String, Int)] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10), ("", 1)]
        for (suffix, scale) in units where argument.hasSuffix(suffix) {
            guard let n = Int(argument.dropLast(suffix.count)), n >= 1 else { return nil }
            let (bytes, overflow) = n.multipliedReportingOverflow(by: scale)
            guard !overflow else { return nil }
            self.bytes = bytes
            return
        }
        return nil
    }

    init(bytes: Int) { self.bytes = bytes }

    var description: String { bytes % (1 << 30) == 0 ? "\(bytes >> 30)GiB" : bytes % (1 << 20) == 0 ? "\(bytes >> 20)MiB" : "\(bytes)" }
    var defaultValueDescription: String { description }
}
