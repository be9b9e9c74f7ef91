#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import SystolicData
import SystolicDevice
import SystolicEmulation
import SystolicJSON
import SystolicNumerics
import SystolicProtocol
import SystolicSuite

// The reference adapter: the built-in emulator behind the process protocol, so the whole
// out-of-process path is tested without C, and a vendor has a working example of the protocol.
//
//   systolic-bench-reference-adapter [--preset NAME] [--misbehave KIND [--on-case N]]
//
// --misbehave makes it break in one named way on the N-th run request (default 1), for the
// harness's own tests: crash, hang, fork-and-exit (leaves a child running), invalid-json,
// wrong-version (in the handshake), stdout (prints to stdout, harmlessly), wrong-shape,
// huge-output, escape-dotdot, escape-symlink, lying (declares a type, then refuses it),
// path-name (declares the device name "../../escaped" in the handshake), flood (writes 64 MiB to
// stderr and 16 MiB to stdout, then answers correctly), plant-link (with --victim PATH: replaces
// the scratch directory's input files with symbolic links to PATH and plants more beside them),
// report-error, left-running (starts a child and answers while it runs), escape (starts a process
// that leaves the group and session with setsid and a second fork, writes its pid to --victim
// PATH, and answers), escape-and-hang (the same, its own pid to PATH.adapter and the scratch
// directory to PATH.scratch, then hangs),
// double-reply (answers twice at once), late-reply (answers, and sends that answer again
// before answering the next request).

var preset = DeviceConfig.defaultPresetName
var misbehaviour: String?
/// The file the plant-link misbehaviour aims its links at.
var victim: String?
var onCase = 1
/// `--protocol 1` makes it answer as a version-1 adapter would (the fixture that shows version 1
/// still works); by default it speaks the newest version the harness offers.
var speaks = AdapterProtocol.version
var faults: [String] = []
var arguments = CommandLine.arguments.dropFirst()
while let flag = arguments.popFirst() {
    switch flag {
    case "--preset": preset = arguments.popFirst() ?? preset
    case "--misbehave": misbehaviour = arguments.popFirst()
    case "--on-case": onCase = Int(arguments.popFirst() ?? "") ?? 1
    case "--victim": victim = arguments.popFirst()
    case "--protocol": speaks = Int(arguments.popFirst() ?? "") ?? speaks
    case "--fault":
        // An emulator fault (systolic-bench faults) behind honest declarations: a device that
        // declares a feature and gets it wrong, for the conformance kit's own tests.
        guard let spelling = arguments.popFirst(), EmulatorFault(spelling) != nil else {
            FileHandle.standardError.write(Data("--fault takes a fault of `systolic-bench faults`\n".utf8))
            exit(64)
        }
        faults.append(spelling)
    default:
        FileHandle.standardError.write(Data("unknown argument \(flag)\n".utf8))
        exit(64)
    }
}

let emulator: SystolicEmulator
do {
    emulator = SystolicEmulator(config: try DeviceConfig.preset(preset), faults: faults.compactMap(EmulatorFault.init))
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(65)
}

func send(_ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBytes { write(AdapterProtocol.replyDescriptor, $0.baseAddress, $0.count) }
        if n <= 0 { exit(1) }
        offset += n
    }
}

func reply<T: Encodable>(_ message: T) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    var bytes = Array((try? encoder.encode(message)) ?? Data())
    bytes.append(0x0A)
    send(bytes)
}

/// An answer the late-reply misbehaviour sends again in front of the next one.
var staleReply: RunReply?

var pending: [UInt8] = []
var requestChunk = [UInt8](repeating: 0, count: 1 << 16)
@MainActor func nextLine() -> [UInt8]? {
    while true {
        if let newline = pending.firstIndex(of: 0x0A) {
            let line = Array(pending[..<newline])
            pending.removeSubrange(...newline)
            return line
        }
        // Look for the next request without sleeping for 50 µs first, as the C SDK does: waking
        // from a blocking read costs 10-20 µs on a virtual machine.
        var poller = pollfd(fd: AdapterProtocol.requestDescriptor, events: Int16(POLLIN), revents: 0)
        let spinUntil = DispatchTime.now().uptimeNanoseconds + 50_000
        while poll(&poller, 1, 0) == 0 && DispatchTime.now().uptimeNanoseconds < spinUntil { sched_yield() }
        let n = requestChunk.withUnsafeMutableBytes { read(AdapterProtocol.requestDescriptor, $0.baseAddress, $0.count) }
        if n <= 0 { return nil }
        pending.append(contentsOf: requestChunk[0..<n])
    }
}

func readTensor(_ file: TensorFile) throws -> Tensor {
    // The byte count matches the shape (it was computed from it), so this cannot fail.
    Tensor(type: file.type, shape: file.shape, fileBytes: try TensorFileIO.load(file.path, count: file.byteCount))!
}

var runs = 0
while let line = nextLine() {
    guard let message = try? JSONParser.parse(line), let type = message["type"]?.stringValue else {
        reply(RunReply(type: "error", id: "", reason: "unreadable request"))
        continue
    }
    switch type {
    case "hello":
        var device = emulator.descriptor
        if misbehaviour == "lying" { device.arithmetic.inputTypes = NumberType.allCases.filter { $0 != .int32 } }
        if misbehaviour == "path-name" { device.name = "../../escaped" }
        // The newest version both speak: a harness that offers no list speaks version 1.
        let offered = message["protocols"].flatMap { v -> [Int]? in
            guard case let .array(items) = v else { return nil }
            return items.compactMap(\.intValue)
        } ?? [1]
        let version = offered.filter { $0 <= speaks }.max() ?? 1
        var hello = HelloReply(device: device, timer: "wall", energySource: "none", protocolVersion: version,
                               features: version >= 2 ? .all : nil)
        if misbehaviour == "wrong-version" { hello.protocolVersion = 99 }
        reply(hello)
    case "shutdown":
        exit(0)
    case "run":
        runs += 1
        guard let request = try? JSONDecoder().decode(RunRequest.self, from: Data(line)),
              request.outputs.count == 1 || request.collective?.timingOnly == true else {
            reply(RunReply(type: "error", id: message["id"]?.stringValue ?? "", reason: "malformed run request"))
            continue
        }
        let misbehaveNow = runs == onCase ? misbehaviour : nil
        if let stale = staleReply {
            reply(stale)
            staleReply = nil
        }
        if misbehaviour == "stdout" { print(String(repeating: "driver log line on stdout {\"type\": \"result\"}\n", count: 100)) }
        if misbehaveNow == "flood" {
            // 64 MiB on stderr and 16 MiB on stdout, then a correct answer.
            let line = Array(String(repeating: "x", count: 1023).utf8) + [0x0A]
            for _ in 0..<(64 * 1024) { _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) } }
            for _ in 0..<(16 * 1024) { _ = line.withUnsafeBytes { write(1, $0.baseAddress, $0.count) } }
            FileHandle.standardError.write(Data("last words before the answer\n".utf8))
        }
        switch misbehaveNow {
        case "left-running"?:
            var child: pid_t = 0
            let argv: [UnsafeMutablePointer<CChar>?] = [strdup("sleep"), strdup("300"), nil]
            posix_spawn(&child, "/bin/sleep", nil, nil, argv, environ)
        case "escape"?, "escape-and-hang"?:
            guard let victim else { exit(64) }
            // setsid -f forks and starts a new session: out of the process group, orphaned.
            let script = "exec 3>&- 4>&-; setsid -f sh -c 'echo $$ > \"$0\"; exec sleep 300' \"$0\" < /dev/null > /dev/null 2>&1"
            var child: pid_t = 0
            let argv: [UnsafeMutablePointer<CChar>?] = [strdup("sh"), strdup("-c"), strdup(script), strdup(victim), nil]
            posix_spawn(&child, "/bin/sh", nil, nil, argv, environ)
            var status: Int32 = 0
            waitpid(child, &status, 0)
            for _ in 0..<200 where (try? String(contentsOfFile: victim, encoding: .utf8))?.hasSuffix("\n") != true { usleep(10_000) }
            if misbehaveNow == "escape-and-hang" {
                // Where the harness keeps its files, for the test that kills the harness.
                if let path = request.outputs.values.first?.path {
                    try? Data(URL(fileURLWithPath: path).deletingLastPathComponent().path.utf8).write(to: URL(fileURLWithPath: victim + ".scratch"))
                }
                try? Data("\(getpid())\n".utf8).write(to: URL(fileURLWithPath: victim + ".adapter"))
                while true { sleep(1000) }
            }
        case "crash"?: abort()
        case "hang"?: while true { sleep(1000) }
        case "fork-and-exit"?:
            var child: pid_t = 0
            let argv: [UnsafeMutablePointer<CChar>?] = [strdup("sleep"), strdup("300"), nil]
            posix_spawn(&child, "/bin/sleep", nil, nil, argv, environ)
            exit(3)
        case "invalid-json"?:
            send(Array("{\"type\": \"result\", \"id\": oops\n".utf8))
            continue
        case "report-error"?:
            reply(RunReply(type: "error", id: request.id, reason: "device lost (simulated)"))
            continue
        case "lying"?:
            reply(RunReply(type: "not_supported", id: request.id, reason: "this type is not implemented after all"))
            continue
        default: break
        }
        do {
            func input(_ role: String) throws -> Tensor {
                guard let file = request.inputs[role] else { throw AdapterFailure(message: "the request has no input \"\(role)\"") }
                return try readTensor(file)
            }
            let workload: Workload, inputs: CaseInputs
            if let spec = request.gemm {
                let groupSizes = spec.groups == nil ? nil : try input("group_sizes").decoded().map { Int($0) }
                guard let g = spec.gemmCase(groupSizes: groupSizes) else { throw AdapterFailure(message: "malformed gemm request") }
                // int4 weights with zero points: without them every q − z would be read as q.
                if g.blockFormat?.int4?.zeroPoint == true, request.inputs["zero_b"] == nil {
                    throw AdapterFailure(message: "the request's block_format has zero points but no input \"zero_b\"")
                }
                workload = .gemm(g)
                func optional(_ role: String) throws -> Tensor? { request.inputs[role] == nil ? nil : try input(role) }
                let epilogue = g.bias || g.requantization != nil
                    ? EpilogueInputs(bias: try optional("bias"), scale: try optional("scale"), zeroPoint: try optional("zero_point"),
                                     multiplier: try optional("multiplier"), shift: try optional("shift")) : nil
                inputs = .gemm(GemmInputs(a: try input("a"), b: try input("b"), epilogue: epilogue,
                                          blockScales: BlockScaleInputs(g, a: try optional("scale_a"), b: try optional("scale_b"),
                                                                        tensorA: try optional("tensor_scale_a")?.value(at: 0) ?? 1,
                                                                        tensorB: try optional("tensor_scale_b")?.value(at: 0) ?? 1,
                                                                        zeroB: try optional("zero_b")),
                                          c: try optional("c")))
            } else if let spec = request.attention {
                let a = spec.attentionCase
                workload = .attention(a)
                inputs = .attention(AttentionInputs(attention: a, q: try input("q"), k: try input("k"), v: try input("v"),
                                                    kvLengths: try input("kv_lens"),
                                                    pageTable: a.layout == .paged ? try input("page_table") : nil))
            } else if let spec = request.collective, let c = spec.collectiveCase {
                workload = .collective(c)
                inputs = c.timingOnly ? .none : .collective(CollectiveInputs(buffers: try input("in")))
            } else {
                reply(RunReply(type: "error", id: request.id, reason: "op \(request.op) is not run by this adapter"))
                continue
            }
            let benchmarkCase = BenchmarkCase(id: request.id, suite: "", name: "", profiles: [], workload: workload)
            var samples: [Double] = []
            var output: DeviceOutput?
            var started = Date()
            let total = request.timing.warmup + max(request.timing.minRepeats, 1)
            var i = 0
            while i < total || Date().timeIntervalSince(started) < request.timing.minSeconds {
                let t0 = DispatchTime.now().uptimeNanoseconds
                do { output = try emulator.run(benchmarkCase, inputs: inputs) } catch {
                    if case let .notSupported(why) = error {
                        reply(RunReply(type: "not_supported", id: request.id, reason: why))
                    } else {
                        reply(RunReply(type: "error", id: request.id, reason: "\(error)"))
                    }
                    output = nil
                    break
                }
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                if i >= request.timing.warmup { samples.append(seconds) } else { started = Date() }
                i += 1
            }
            guard let out = output else { continue }
            guard let (role, c) = request.outputs.first.map({ ($0.key, $0.value) }) else {
                reply(RunReply(type: "result", id: request.id, samplesSeconds: samples))
                continue
            }
            guard let tensor = out.tensors[role] else { continue }
            var path = c.path
            var bytes = tensor.storage
            switch misbehaveNow {
            case "wrong-shape"?: bytes = Array(bytes.prefix(max(bytes.count / 2, 1)))
            case "huge-output"?: bytes = Array(repeating: 0, count: bytes.count * 64)
            case "escape-dotdot"?:
                // A path that differs from the one requested (through ".."), though it stays in
                // the scratch directory so that nothing is left outside it.
                let dir = URL(fileURLWithPath: c.path).deletingLastPathComponent()
                path = dir.appendingPathComponent("../\(dir.lastPathComponent)/escaped-\(role).bin").path
            default: break
            }
            if misbehaveNow == "plant-link", let victim {
                // Every tensor file of the scratch directory but the output replaced by a link to a
                // file outside it, and links at names like the harness's: a harness that wrote a
                // later case's inputs through a name, not its own descriptor, would overwrite the victim.
                let dir = URL(fileURLWithPath: c.path).deletingLastPathComponent()
                for name in (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [] where name.hasSuffix(".bin") {
                    let file = dir.appendingPathComponent(name).path
                    guard file != c.path else { continue }
                    try? FileManager.default.removeItem(atPath: file)
                    try? FileManager.default.createSymbolicLink(atPath: file, withDestinationPath: victim)
                }
                for r in ["a", "b", "q", "k", "v", "in", "c", "c.initial"] {
                    try? FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("\(r)-0.bin").path, withDestinationPath: victim)
                }
            }
            if misbehaveNow == "escape-symlink" {
                // The link's target may be anywhere: the harness never follows a link. It is kept
                // in the scratch directory so that the harness's clean-up removes it too.
                let outside = URL(fileURLWithPath: c.path).deletingLastPathComponent().appendingPathComponent("link-target.bin")
                try Data(bytes).write(to: outside)
                // The harness made the output file: put the link in its place.
                try? FileManager.default.removeItem(atPath: c.path)
                try FileManager.default.createSymbolicLink(atPath: c.path, withDestinationPath: outside.path)
            } else {
                try TensorFileIO.save(bytes, to: path)
            }
            let answer = RunReply(type: "result", id: request.id, outputs: [role: path], samplesSeconds: samples)
            reply(answer)
            if misbehaveNow == "double-reply" { reply(answer) }
            if misbehaveNow == "late-reply" { staleReply = answer }
        } catch {
            reply(RunReply(type: "error", id: request.id, reason: "\(error)"))
        }
    default:
        reply(RunReply(type: "error", id: message["id"]?.stringValue ?? "", reason: "unknown request type \(type)"))
    }
}

struct AdapterFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
