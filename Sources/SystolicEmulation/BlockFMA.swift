import CSystolicKernels
import Dispatch
import Foundation
import SystolicDevice
import SystolicNumerics

/// A declared matrix engine (`MatrixArithmetic`) run bit for bit: the emulator's GEMM on a block-FMA
/// engine, and the model the tensor-core vectors are reproduced with (docs/arithmetic.md).
public struct BlockFMA: Sendable {
    let parameters: sb_block_fma
    public let engine: MatrixArithmetic

    /// Why the emulator cannot run `engine` (its model needs a finite alignment window of at most 24
    /// extra bits, so every block sum is an exact 64-bit integer), or nil.
    public static func unsupported(_ engine: MatrixArithmetic) -> String? {
        if let p = engine.problem { return p }
        guard case .extraBits(let x) = engine.alignment else {
            return "the emulator models block engines with a finite alignment window (extra_alignment_bits 0…24); \"exact\" alignment runs only as the plain engine"
        }
        if x > 24 { return "extra_alignment_bits \(x) is above the emulator's 24" }
        if engine.blockSize > 64 { return "block_size \(engine.blockSize) is above the emulator's 64" }
        return nil
    }

    /// The engine for A of type `a` and B of type `b` (their smallest normals, for flushing).
    public init(_ engine: MatrixArithmetic, a: NumberType, b: NumberType) {
        precondition(Self.unsupported(engine) == nil, "unsupported block engine: \(Self.unsupported(engine)!)")
        self.engine = engine
        let format = engine.accumulate.floatFormat!
        var p = sb_block_fma()
        p.block = Int32(engine.blockSize)
        p.frac_bits = Int32(engine.fractionBits)
        p.emin = Int32(format.minExponent)
        p.emax = Int32(format.minExponent + (1 << (format.exponentBits)) - 3)
        if case .extraBits(let x) = engine.alignment { p.extra_bits = Int32(x) }
        p.round_products = engine.products == .rounded ? 1 : 0
        p.nearest = engine.blockRounding == .nearestEven ? 1 : 0
        p.flush_inputs = engine.subnormalInputs == .flush ? 1 : 0
        p.a_min_normal = Float(a.floatFormat?.minNormal ?? 0)
        p.b_min_normal = Float(b.floatFormat?.minNormal ?? 0)
        p.flush_outputs = engine.subnormalOutputs == .flush ? 1 : 0
        p.promote_every = Int32(engine.promoteEvery ?? 0)
        p.c_last = engine.cPosition == .last ? 1 : 0
        parameters = p
    }

    /// C + Σ aₖbₖ for one dot product (values of the input types, as floats).
    public func dot(_ a: [Float], _ b: [Float], c: Float) -> Float {
        precondition(a.count == b.count)
        let da = decode(a, minNormal: parameters.a_min_normal), db = decode(b, minNormal: parameters.b_min_normal)
        var p = parameters
        return sb_bfma_dot(&p, Int32(a.count), da, db, a, b, c)
    }

    /// D = A·B (+ C) for row-major A [M, K] and B given transposed, [N, K]; rows spread over
    /// threads (each element is computed by one thread in the same order: the same bits for any
    /// count). The fast path (`sb_bfma_gemm_fast`) where it applies, else the generic one.
    public func gemm(m: Int, n: Int, k: Int, a: [Float], bT: [Float], c: [Float]?, threads: Int, fast: Bool = true) -> [Float] {
        let da = decode(a, minNormal: parameters.a_min_normal), db = decode(bT, minNormal: parameters.b_min_normal)
        var out = [Float](repeating: 0, count: m * n)
        let chunks = max(1, min(m, threads * 4))
        let p = parameters
        let cValues = c ?? []
        var q0 = p
        let useFast = fast && sb_bfma_fast_applies(&q0) != 0
        let fa = useFast ? FastOperand(a, rows: m, k: k, flush: p.flush_inputs, minNormal: p.a_min_normal) : nil
        let fb = useFast ? FastOperand(bT, rows: n, k: k, flush: p.flush_inputs, minNormal: p.b_min_normal) : nil
        da.withUnsafeBufferPointer { dap in
            db.withUnsafeBufferPointer { dbp in
                a.withUnsafeBufferPointer { ap in
                    bT.withUnsafeBufferPointer { bp in
                        cValues.withUnsafeBufferPointer { cp in
                            out.withUnsafeMutableBufferPointer { op in
                                let shared = Pointers(da: dap.baseAddress, db: dbp.baseAddress, a: ap.baseAddress, b: bp.baseAddress,
                                                      c: c == nil ? nil : cp.baseAddress, out: op.baseAddress)
                                DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                                    var q = p
                                    let r0 = chunk * m / chunks, r1 = (chunk + 1) * m / chunks
                                    if let fa, let fb {
                                        fa.withOperand { ao in
                                            fb.withOperand { bo in
                                                var ao = ao, bo = bo
                                                sb_bfma_gemm_fast(&q, Int32(n), Int32(k), &ao, &bo, shared.da, shared.a, shared.db, shared.b,
                                                                  shared.c, shared.out, Int32(r0), Int32(r1))
                                            }
                                        }
                                    } else {
                                        sb_bfma_gemm(&q, Int32(m), Int32(n), Int32(k), shared.da, shared.a, shared.db, shared.b, shared.c,
                                                     shared.out, Int32(r0), Int32(r1))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// An operand in the fast path's layout (see `sb_bfma_fast_operand`).
    final class FastOperand: @unchecked Sendable {
        var sig: [UInt32], e: [Int32], negative: [UInt32], rowSpecial: [UInt8]

        init(_ x: [Float], rows: Int, k: Int, flush: Int32, minNormal: Float) {
            var sig = [UInt32](repeating: 0, count: x.count)
            var e = [Int32](repeating: 0, count: x.count)
            var negative = [UInt32](repeating: 0, count: x.count)
            var special = [UInt8](repeating: 0, count: x.count)
            x.withUnsafeBufferPointer { xp in
                sb_bfma_decode_fast(x.count, xp.baseAddress, flush, minNormal, &sig, &e, &negative, &special)
            }
            self.sig = sig; self.e = e; self.negative = negative
            rowSpecial = (0..<rows).map { r in special[(r * k)..<((r + 1) * k)].contains(1) ? 1 : 0 }
        }

        func withOperand<R>(_ body: (sb_bfma_fast_operand) -> R) -> R {
            sig.withUnsafeMutableBufferPointer { s in
                e.withUnsafeMutableBufferPointer { ep in
                    negative.withUnsafeMutableBufferPointer { np in
                        rowSpecial.withUnsafeMutableBufferPointer { rp in
                            body(sb_bfma_fast_operand(sig: s.baseAddress, e: ep.baseAddress, negative: np.baseAddress, row_special: rp.baseAddress))
                        }
                    }
                }
            }
        }
    }

    private func decode(_ x: [Float], minNormal: Float) -> [sb_bfma_input] {
        var out = [sb_bfma_input](repeating: sb_bfma_input(), count: x.count)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                sb_bfma_decode(x.count, xp.baseAddress, parameters.flush_inputs, minNormal, op.baseAddress)
            }
        }
        return out
    }

    private struct Pointers: @unchecked Sendable {
        let da: UnsafePointer<sb_bfma_input>?
        let db: UnsafePointer<sb_bfma_input>?
        let a: UnsafePointer<Float>?
        let b: UnsafePointer<Float>?
        let c: UnsafePointer<Float>?
        let out: UnsafeMutablePointer<Float>?
    }
}
