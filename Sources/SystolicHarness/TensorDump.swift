import Foundation
import SystolicCheck
import SystolicData
import SystolicDevice
import SystolicJSON
import SystolicNumerics
import SystolicSuite

/// `run --dump-tensors DIR`: each GEMM case's inputs, the device's output and the host reference
/// as `.npy` files that numpy loads as they are, with a `manifest.json` naming each tensor's role,
/// logical type, shape, numpy dtype and SHA-256, and the device's numeric semantics.
///
/// bf16 and fp8 have no numpy dtype: they are stored as their raw bits (`<u2`, `|u1`), so
/// `np.load` reads every file; the manifest's `logical_type` says how to decode them.
public enum TensorDump {
    public static let formatTag = "systolic-bench.dump/1"

    /// The numpy dtype that holds a type's elements (raw bits for bf16, fp8, fp6, fp4 and int4: one code per
    /// byte, the nibble types in the low four bits, since numpy has no 4-bit dtype).
    public static func npyDescriptor(_ t: NumberType) -> String {
        switch t {
        case .fp32: return "<f4"
        case .fp16: return "<f2"
        case .bf16: return "<u2"
        case .fp8_e4m3, .fp8_e5m2, .fp6_e2m3, .fp6_e3m2, .fp4_e2m1, .int4, .uint4: return "|u1"
        case .int8: return "|i1"
        case .int32: return "<i4"
        }
    }

    /// A `.npy` file (format 1.0): magic, header dictionary padded to a 64-byte boundary, raw data.
    public static func npy(descriptor: String, shape: [Int], data: [UInt8]) -> [UInt8] {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descriptor)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        let length = UInt16(header.utf8.count)
        out += [UInt8(length & 0xFF), UInt8(length >> 8)]
        out += Array(header.utf8)
        return out + data
    }

    /// Reads back a `.npy` file written by `npy`: its dtype, shape and raw data.
    public static func readNpy(_ bytes: [UInt8]) -> (descriptor: String, shape: [Int], data: [UInt8])? {
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8), bytes[6] == 1 else { return nil }
        let length = Int(bytes[8]) | Int(bytes[9]) << 8
        guard bytes.count >= 10 + length else { return nil }
        let header = String(decoding: bytes[10..<(10 + length)], as: UTF8.self)
        guard let d0 = header.range(of: "'descr': '"), let d1 = header[d0.upperBound...].firstIndex(of: "'"),
              let s0 = header.range(of: "'shape': ("), let s1 = header[s0.upperBound...].firstIndex(of: ")") else { return nil }
        let shape = header[s0.upperBound..<s1].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        return (String(header[d0.upperBound..<d1]), shape, Array(bytes[(10 + length)...]))
    }

    struct Manifest: Codable {
        var format = TensorDump.formatTag
        var caseId: String
        var device: String
        var semantics: Semantics
        /// The device's whole declared arithmetic (v2 included): what `verify` judges by.
        var arithmetic: DeclaredArithmetic?
        var tensors: [Entry]

        enum CodingKeys: String, CodingKey {
            case format, device, semantics, tensors, arithmetic
            case caseId = "case"
        }
    }

    struct Semantics: Codable {
        var dataflow: String?
        /// Weight stationary sums K in tiles of array rows × the type's MACs per PE per cycle.
        var arrayRows: Int?
        var accumulator: String
        var subnormals: String
        var overflowMode: String

        enum CodingKeys: String, CodingKey {
            case dataflow, accumulator, subnormals
            case arrayRows = "array_rows"
            case overflowMode = "overflow_mode"
        }
    }

    struct Entry: Codable {
        var role: String
        var file: String
        var logicalType: String
        var shape: [Int]
        var npyDtype: String
        var digest: String

        enum CodingKeys: String, CodingKey {
            case role, file, shape, digest
            case logicalType = "logical_type"
            case npyDtype = "npy_dtype"
        }
    }

    /// Writes one case's tensors under `directory/<case id with / as __>/`.
    public static func write(caseId: String, gemm g: GemmCase, inputs: GemmInputs, output: Tensor, device: DeviceDescriptor,
                             to directory: String) throws {
        let folder = URL(fileURLWithPath: directory).appendingPathComponent(caseId.replacingOccurrences(of: "/", with: "__"))
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // The reference of what is judged: an A the device quantises, quantised as it declares.
        let reference = GemmReference.judged(g, inputs.quantisingA(g, rounding: device.arithmetic.declaredScaleRounding))
        func bytes(_ values: [Double]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }
        func item(_ role: String, _ t: Tensor) -> (String, String, [Int], String, [UInt8]) {
            (role, t.type.rawValue, t.shape, npyDescriptor(t.type), t.storage)
        }
        // Stored tensors as the device saw them (strided rows included); the reference packed.
        let shapeC = [g.batch, g.m, g.n]
        var items = [item("a", inputs.a), item("b", inputs.b), item("c", output),
                     ("reference", "fp64", shapeC, "<f8", bytes(reference.value)),
                     ("abs_sum", "fp64", shapeC, "<f8", bytes(reference.absSum))]
        if let before = inputs.c { items.append(item("c_initial", before)) }
        if let s = inputs.blockScales?.a { items.append(item("scale_a", s)) }
        if let s = inputs.blockScales?.b { items.append(item("scale_b", s)) }
        if g.blockFormat?.scheme == .nvfp4, let s = inputs.blockScales {
            if !inputs.awaitsQuantisedA(g) { items.append(item("tensor_scale_a", Tensor(type: .fp32, shape: [1], values: [s.tensorA], overflow: .ieee))) }
            items.append(item("tensor_scale_b", Tensor(type: .fp32, shape: [1], values: [s.tensorB], overflow: .ieee)))
        }
        var entries: [Entry] = []
        for (role, type, shape, dtype, data) in items {
            let file = "\(role).npy"
            try Data(npy(descriptor: dtype, shape: shape, data: data)).write(to: folder.appendingPathComponent(file))
            entries.append(Entry(role: role, file: file, logicalType: type, shape: shape, npyDtype: dtype, digest: Digest.sha256(data)))
        }
        let semantics = Semantics(dataflow: device.array?.dataflow, arrayRows: device.array?.rows, accumulator: device.arithmetic.accumulator.rawValue,
                                  subnormals: device.arithmetic.subnormals.rawValue, overflowMode: g.overflow.rawValue)
        let manifest = Manifest(caseId: caseId, device: device.name, semantics: semantics, arithmetic: device.arithmetic, tensors: entries)
        try JSONFile.writeAtomically(try JSONFile.encoder().encode(manifest), to: folder.appendingPathComponent("manifest.json").path)
    }
}
