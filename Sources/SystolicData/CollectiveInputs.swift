import Dispatch
import SystolicNumerics
import SystolicSuite

/// The input buffers of a collective: one tensor [ranks, input count], rank r's send buffer in row r.
///
/// **Crafted exact data** (a case without `data`): x(r, i) = 1 + ((131·r + 7·i + s) mod m), with
/// s = key mod 97 (key of stream "x", so every seed moves the data) and m chosen so the result is
/// exact in every reduction order: for a floating-point sum m = max(1, min(251, ⌊2^p / n⌋)) (p the
/// type's significand bits), so every partial sum is an integer no larger than 2^p; integer sums
/// wrap (two's complement, in the type, as NCCL adds them), which is exact in any order, m = 100;
/// max, min and the moving ops take m = min(251, 2^p). Every value is positive, so a sum without a
/// rank's contribution, or with one twice, is wrong.
///
/// **Random data** (`data` given): element (r, i) is element r·count + i of stream "x", rounded to
/// the type (nearest-even, saturating).
public struct CollectiveInputs: Sendable {
    public var buffers: Tensor

    public init(buffers: Tensor) { self.buffers = buffers }

    public init(_ c: CollectiveCase, caseId: String, generator: DataGenerator) {
        let count = c.inputCount, type = c.type, width = type.byteWidth
        let key = generator.key(caseId: caseId, operand: "x")
        var bytes = [UInt8](repeating: 0, count: c.ranks * count * width)
        let m = Self.modulus(c), shift = Int(key % 97)
        bytes.withUnsafeMutableBytes { raw in
            let buffer = RawBuffer(raw: raw)
            DispatchQueue.concurrentPerform(iterations: c.ranks) { r in
                for i in 0..<count {
                    let value: Double
                    if let pattern = c.data {
                        value = DataGenerator.value(pattern, key: key, index: r * count + i)
                    } else {
                        value = Double(1 + (131 * r + 7 * i + shift) % m)
                    }
                    Tensor.store(type.encode(value, overflow: .saturate), at: r * count + i, width: width, in: buffer.raw)
                }
            }
        }
        buffers = Tensor(type: type, shape: [c.ranks, count], storage: bytes)
    }

    private struct RawBuffer: @unchecked Sendable { let raw: UnsafeMutableRawBufferPointer }

    /// m of the crafted data.
    public static func modulus(_ c: CollectiveCase) -> Int {
        let significand = c.type.floatFormat.map { $0.mantissaBits + 1 }
        if c.operation.reduces && c.reduction == .sum {
            guard let p = significand else { return 100 }
            return max(1, min(251, (1 << p) / c.ranks))
        }
        guard let p = significand else { return 100 }
        return min(251, 1 << p)
    }
}
