import Foundation
import SystolicCheck
import SystolicData
import SystolicDevice
import SystolicJSON
import SystolicNumerics
import SystolicResults
import SystolicSuite

/// `systolic-bench verify`: judges a GEMM case's tensors produced elsewhere, in the dump format
/// (`TensorDump`: a folder with `manifest.json` and `.npy` files), by the same check a run makes,
/// so a vendor with a harness of its own needs no adapter (docs/results.md, "Verifying tensors
/// produced elsewhere"). Nothing in the folder is trusted: the case comes from the suites by the
/// manifest's case id, the reference is recomputed from A and B (never read from the dump), every
/// tensor's type and shape must be the case's, and the epilogue's parameters are the suite's own,
/// regenerated from its seed.
public enum DumpVerifier {
    /// What `verify` found for one folder.
    public struct Outcome: Sendable {
        public var caseId: String
        public var result: CaseResult
        /// Tensors whose bytes do not match the manifest's SHA-256 (judged all the same: a
        /// corrupted output fails by its elements).
        public var digestMismatches: [String]
        /// Input tensors that differ from the suite's own data for its seed (the case is judged on
        /// the dumped inputs).
        public var inputsDifferFromSuite: [String]
    }

    /// The case folders under `path`: `path` itself when it holds a manifest, else its
    /// subfolders that do, in name order.
    public static func caseFolders(_ path: String) throws(InputFileError) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw InputFileError(file: path, place: nil, message: "not a directory (a dump folder holds manifest.json and .npy files)")
        }
        if FileManager.default.fileExists(atPath: path + "/manifest.json") { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        let folders = names.sorted().map { path + "/" + $0 }.filter { FileManager.default.fileExists(atPath: $0 + "/manifest.json") }
        guard !folders.isEmpty else {
            throw InputFileError(file: path, place: nil, message: "holds no manifest.json, nor any folder that does (write dumps with `run --dump-tensors DIR`)")
        }
        return folders
    }

    /// Judges the dump in `folder` by `arithmetic` (else the manifest's), finding its case in `suites`.
    public static func verify(folder: String, suites: [Suite], arithmetic override: DeclaredArithmetic?, seed: UInt64?) throws(InputFileError) -> Outcome {
        let manifestPath = folder + "/manifest.json"
        let manifest = try JSONFile.decode(TensorDump.Manifest.self, from: manifestPath)
        guard manifest.format == TensorDump.formatTag else {
            throw InputFileError(file: manifestPath, place: "format", message: "expected \"\(TensorDump.formatTag)\", found \"\(manifest.format)\"")
        }
        guard let arithmetic = override ?? manifest.arithmetic else {
            throw InputFileError(file: manifestPath, place: "arithmetic",
                                 message: "no declared arithmetic to judge by: the manifest has none and no --arithmetic file was given")
        }
        guard let (suite, benchmarkCase) = suites.lazy.compactMap({ s in s.cases.first { $0.id == manifest.caseId }.map { (s, $0) } }).first else {
            throw InputFileError(file: manifestPath, place: "case",
                                 message: "no case \"\(manifest.caseId)\" in the suites given (\(suites.map(\.file).joined(separator: ", ")))")
        }
        guard case let .gemm(g) = benchmarkCase.workload else {
            throw InputFileError(file: manifestPath, place: "case", message: "\(manifest.caseId) is not a GEMM case: dumps hold GEMMs")
        }
        var roles: [String: TensorDump.Entry] = [:]
        for (i, entry) in manifest.tensors.enumerated() {
            guard roles.updateValue(entry, forKey: entry.role) == nil else {
                throw InputFileError(file: manifestPath, place: "tensors[\(i)].role", message: "role \"\(entry.role)\" appears twice")
            }
        }
        var mismatches: [String] = []
        // A tensor of the case's own type and shape, read from its .npy file.
        func tensor(_ role: String, type: NumberType, shape: [Int]) throws(InputFileError) -> Tensor? {
            guard let entry = roles[role] else { return nil }
            let place = "tensors[\(manifest.tensors.firstIndex { $0.role == role }!)]"
            guard !entry.file.contains("/"), entry.file.hasSuffix(".npy") else {
                throw InputFileError(file: manifestPath, place: place + ".file", message: "expected a .npy file name in the folder, found \"\(entry.file)\"")
            }
            let path = folder + "/" + entry.file
            let bytes = try JSONFile.readBytes(path)
            guard let npy = TensorDump.readNpy(bytes) else {
                throw InputFileError(file: path, place: nil, message: "not a .npy file (format 1.0) as the dump writes")
            }
            guard entry.logicalType == type.rawValue, npy.descriptor == TensorDump.npyDescriptor(type) else {
                throw InputFileError(file: path, place: nil,
                                     message: "expected \(role) of type \(type.rawValue) (npy dtype \(TensorDump.npyDescriptor(type))), found \(entry.logicalType) (\(npy.descriptor))")
            }
            guard npy.shape == shape, entry.shape == shape else {
                throw InputFileError(file: path, place: nil, message: "expected \(role) of shape \(shape) for \(manifest.caseId), found \(npy.shape)")
            }
            guard npy.data.count == shape.reduce(1, *) * type.byteWidth else {
                throw InputFileError(file: path, place: nil,
                                     message: "expected \(shape.reduce(1, *) * type.byteWidth) bytes of data, found \(npy.data.count)")
            }
            if Digest.sha256(npy.data) != entry.digest { mismatches.append(entry.file) }
            return Tensor(type: type, shape: shape, storage: npy.data)
        }
        let generator = DataGenerator(seed: seed ?? suite.seed)
        var inputs = GemmInputs(g, caseId: benchmarkCase.id, generator: generator)
        var differ: [String] = []
        // A as the device was sent it: unquantised (its `a_from` type) where the device quantises it.
        guard let a = try tensor("a", type: inputs.a.type, shape: inputs.a.shape), let b = try tensor("b", type: g.types.b, shape: inputs.b.shape) else {
            throw InputFileError(file: manifestPath, place: "tensors", message: "expected tensors with roles \"a\" and \"b\"")
        }
        if a.storage != inputs.a.storage { differ.append("a") }
        if b.storage != inputs.b.storage { differ.append("b") }
        inputs.a = a
        inputs.b = b
        if let before = inputs.c, let dumped = try tensor("c_initial", type: before.type, shape: before.shape) {
            if dumped.storage != before.storage { differ.append("c_initial") }
            inputs.c = dumped
        }
        if var scales = inputs.blockScales {
            if let s = scales.a, let dumped = try tensor("scale_a", type: s.type, shape: s.shape) {
                if dumped.storage != s.storage { differ.append("scale_a") }
                scales.a = dumped
            }
            if let s = scales.b, let dumped = try tensor("scale_b", type: s.type, shape: s.shape) {
                if dumped.storage != s.storage { differ.append("scale_b") }
                scales.b = dumped
            }
            if g.blockFormat?.scheme == .nvfp4 {
                // NVFP4's tensor scales, each an fp32 [1] (A's only where the harness quantised A).
                for (role, value) in [("tensor_scale_a", scales.tensorA), ("tensor_scale_b", scales.tensorB)] {
                    let expected = Tensor(type: .fp32, shape: [1], values: [value], overflow: .ieee)
                    guard let dumped = try tensor(role, type: .fp32, shape: [1]) else { continue }
                    if dumped.storage != expected.storage { differ.append(role) }
                    if role == "tensor_scale_a" { scales.tensorA = dumped.value(at: 0) } else { scales.tensorB = dumped.value(at: 0) }
                }
            }
            inputs.blockScales = scales
        }
        guard let spec = benchmarkCase.workload.output,
              let output = try tensor("c", type: spec.type, shape: spec.shape) else {
            throw InputFileError(file: manifestPath, place: "tensors", message: "expected the device's output with role \"c\"")
        }
        func result(_ verdict: Verdict, _ reason: String?, _ check: CheckReport? = nil) -> Outcome {
            Outcome(caseId: benchmarkCase.id,
                    result: CaseResult(id: benchmarkCase.id, position: 0, suite: benchmarkCase.suite, op: benchmarkCase.workload.op,
                                       verdict: verdict, reason: reason, metrics: [:], check: check, hostSeconds: 0),
                    digestMismatches: mismatches, inputsDifferFromSuite: differ)
        }
        if let why = CaseCheck.unjudgeable(benchmarkCase.workload, arithmetic: arithmetic) { return result(.notSupported, why) }
        let digest = Digest.sha256(output.storage)
        var check = CaseCheck.verify(benchmarkCase.workload, output: output, inputs: .gemm(inputs), arithmetic: arithmetic,
                                     sampleSeed: Digest.seed(from: digest))
        check.outputDigest = digest
        guard check.passed else { return result(.fail, Harness.failureReason(check), check) }
        return result(.pass, check.suspect ? "suspect: \(check.suspectElements) elements beyond the probabilistic bound (a correct but poor accumulator)" : nil, check)
    }
}
