import Dispatch
import SystolicData
import SystolicNumerics
import SystolicSuite

/// The emulator's functional GEMM, in the order `SystolicEmulator` documents. Rows of C are
/// spread over threads; each element is computed by one thread in a fixed order, so outputs are
/// the same bits whatever the thread count.
enum GemmKernel {
    /// Raw pointers handed to worker threads; each thread writes disjoint rows.
    private struct Shared: @unchecked Sendable {
        let a: UnsafePointer<Float>
        let bT: UnsafePointer<Float>
        let out: UnsafeMutablePointer<Float>
    }

    /// C for `g` in the documented order of `dataflow`; `kTile` is the weight-stationary K-tile.
    static func multiply(_ g: GemmCase, _ inputs: GemmInputs, dataflow: DeviceConfig.Dataflow, kTile: Int,
                         narrowAccumulator: NumberType?) -> Tensor {
        // Output stationary is one running sum over all of K: a single tile as deep as K.
        let tile = dataflow == .outputStationary ? max(g.k, 1) : kTile
        var c = Tensor(type: g.types.output, shape: [g.batch, g.m, g.n])
        if g.types.a.isInteger {
            integer(g, inputs, rows: tile, into: &c)
        } else {
            float(g, inputs, rows: tile, narrowAccumulator: narrowAccumulator, into: &c)
        }
        return c
    }

    static func float(_ g: GemmCase, _ inputs: GemmInputs, rows tile: Int, narrowAccumulator: NumberType?, into c: inout Tensor) {
        let a = inputs.a.decodedFloats()
        let bT = transposedB(g, inputs.b.decodedFloats())
        var acc = [Float](repeating: 0, count: g.batch * g.m * g.n)
        let (m, n, k) = (g.m, g.n, g.k)
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
                            while k0 < k {
                                let k1 = min(k0 + tile, k)
                                var p: Float = 0
                                for kk in k0..<k1 {
                                    p = p.addingProduct(aRow[kk], bRow[kk])
                                    if let t = narrowAccumulator { p = Float(t.round(Double(p), overflow: .ieee)) }
                                }
                                total = k0 == 0 ? p : total + p
                                if let t = narrowAccumulator { total = Float(t.round(Double(total), overflow: .ieee)) }
                                k0 = k1
                            }
                            shared.out[row * n + j] = total
                        }
                    }
                }
            }
        }
        c = Tensor(type: g.types.output, shape: c.shape, values: acc.map(Double.init), overflow: g.overflow)
    }

    static func integer(_ g: GemmCase, _ inputs: GemmInputs, rows tile: Int, into c: inout Tensor) {
        let a = inputs.a.decoded().map { Int32($0) }
        let bFloats = inputs.b.decoded().map { Float($0) }
        let bT = transposedB(g, bFloats).map { Int32($0) }
        let (m, n, k) = (g.m, g.n, g.k)
        for row in 0..<(g.batch * m) {
            let batch = row / m
            for j in 0..<n {
                var total: Int32 = 0
                var k0 = 0
                while k0 < k {
                    let k1 = min(k0 + tile, k)
                    var p: Int32 = 0
                    for kk in k0..<k1 { p &+= a[row * k + kk] &* bT[(batch * n + j) * k + kk] }
                    total &+= p
                    k0 = k1
                }
                c.setBits(UInt32(bitPattern: total), at: row * n + j)
            }
        }
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
