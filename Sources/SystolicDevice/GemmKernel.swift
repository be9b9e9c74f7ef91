import Dispatch
import SystolicData
import SystolicNumerics
import SystolicSuite

/// The emulator's functional GEMM, in the order `SystolicEmulator` documents. Rows of C are
/// spread over threads; each element is computed by one thread in a fixed order, so outputs are
/// the same bits whatever the thread count.
enum GemmKernel {
    /// How the datapath behaves: as declared, or with a fault injected on purpose.
    struct Behaviour: Sendable {
        /// Sum in K-tiles of this depth (weight stationary); K itself for output stationary.
        var kTile: Int
        /// Flush products and partial sums below fp32's smallest normal to zero (FTZ), with the
        /// multiply and the add rounded separately, as flushing datapaths do.
        var flushSubnormals = false
        /// Round every partial sum to this type (fault: a narrower accumulator than declared).
        var narrowAccumulator: NumberType?
        /// Skip this K-tile (fault: a dropped tile).
        var droppedTile: Int?
        /// Zero every output column whose index modulo `cols` is `column` (fault: a stuck PE column).
        var stuckColumn: (column: Int, cols: Int)?

        var isPlain: Bool { !flushSubnormals && narrowAccumulator == nil && droppedTile == nil }
    }

    /// Raw pointers handed to worker threads; each thread writes disjoint rows.
    private struct Shared: @unchecked Sendable {
        let a: UnsafePointer<Float>
        let bT: UnsafePointer<Float>
        let out: UnsafeMutablePointer<Float>
    }

    static func multiply(_ g: GemmCase, _ inputs: GemmInputs, behaviour: Behaviour) -> Tensor {
        var c: Tensor
        if g.types.a.isInteger {
            c = integer(g, inputs, behaviour: behaviour)
        } else {
            c = Tensor(type: g.types.output, shape: [g.batch, g.m, g.n], values: float(g, inputs, behaviour: behaviour).map(Double.init),
                       overflow: g.overflow)
        }
        if let stuck = behaviour.stuckColumn {
            for row in 0..<(g.batch * g.m) {
                for j in stride(from: stuck.column, to: g.n, by: stuck.cols) { c.setBits(0, at: row * g.n + j) }
            }
        }
        return c
    }

    private static func float(_ g: GemmCase, _ inputs: GemmInputs, behaviour: Behaviour) -> [Float] {
        let a = inputs.a.decodedFloats()
        let bT = transposedB(g, inputs.b.decodedFloats())
        var acc = [Float](repeating: 0, count: g.batch * g.m * g.n)
        let (m, n, k, tile) = (g.m, g.n, g.k, behaviour.kTile)
        a.withUnsafeBufferPointer { ap in
            bT.withUnsafeBufferPointer { bp in
                acc.withUnsafeMutableBufferPointer { op in
                    let shared = Shared(a: ap.baseAddress!, bT: bp.baseAddress!, out: op.baseAddress!)
                    DispatchQueue.concurrentPerform(iterations: g.batch * m) { row in
                        let batch = row / m
                        let aRow = shared.a + row * k
                        for j in 0..<n {
                            let bRow = shared.bT + (batch * n + j) * k
                            var total: Float = 0
                            var k0 = 0
                            var t = 0
                            while k0 < k {
                                let k1 = min(k0 + tile, k)
                                var p: Float = 0
                                if behaviour.isPlain {
                                    for kk in k0..<k1 { p = p.addingProduct(aRow[kk], bRow[kk]) }
                                } else if behaviour.droppedTile != t {
                                    for kk in k0..<k1 { p = step(p, aRow[kk], bRow[kk], behaviour) }
                                }
                                total = k0 == 0 ? p : total + p
                                if behaviour.flushSubnormals { total = flushed(total) }
                                if let narrow = behaviour.narrowAccumulator { total = Float(narrow.round(Double(total), overflow: .ieee)) }
                                k0 = k1
                                t += 1
                            }
                            shared.out[row * n + j] = total
                        }
                    }
                }
            }
        }
        return acc
    }

    /// One MAC of a datapath that departs from plain fused fp32.
    @inline(__always)
    private static func step(_ p: Float, _ a: Float, _ b: Float, _ behaviour: Behaviour) -> Float {
        var next: Float
        if behaviour.flushSubnormals {
            next = flushed(p + flushed(a * b))
        } else {
            next = p.addingProduct(a, b)
        }
        if let narrow = behaviour.narrowAccumulator { next = Float(narrow.round(Double(next), overflow: .ieee)) }
        return next
    }

    /// Zero (keeping the sign) for magnitudes below fp32's smallest normal.
    @inline(__always)
    static func flushed(_ x: Float) -> Float {
        x.magnitude < Float.leastNormalMagnitude ? (x.sign == .minus ? -0.0 : 0.0) : x
    }

    private static func integer(_ g: GemmCase, _ inputs: GemmInputs, behaviour: Behaviour) -> Tensor {
        let a = inputs.a.decoded().map { Int32($0) }
        let bT = transposedB(g, inputs.b.decodedFloats()).map { Int32($0) }
        let (m, n, k, tile) = (g.m, g.n, g.k, behaviour.kTile)
        var c = Tensor(type: g.types.output, shape: [g.batch, g.m, g.n])
        for row in 0..<(g.batch * m) {
            let batch = row / m
            for j in 0..<n {
                var total: Int32 = 0
                var k0 = 0
                var t = 0
                while k0 < k {
                    let k1 = min(k0 + tile, k)
                    var p: Int32 = 0
                    if behaviour.droppedTile != t {
                        for kk in k0..<k1 { p &+= a[row * k + kk] &* bT[(batch * n + j) * k + kk] }
                    }
                    total &+= p
                    k0 = k1
                    t += 1
                }
                c.setBits(UInt32(bitPattern: total), at: row * n + j)
            }
        }
        return c
    }

    /// B as [batch, N, K] whatever its stored layout, so every dot product reads contiguously.
    private static func transposedB(_ g: GemmCase, _ b: [Float]) -> [Float] {
        if g.layoutB == .nk { return b }
        var out = [Float](repeating: 0, count: b.count)
        for batch in 0..<g.batch {
            let base = batch * g.k * g.n
            for kk in 0..<g.k {
                for j in 0..<g.n { out[base + j * g.k + kk] = b[base + kk * g.n + j] }
            }
        }
        return out
    }
}
