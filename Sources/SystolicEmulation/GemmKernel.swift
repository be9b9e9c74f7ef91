import CSystolicKernels
import Dispatch
import Foundation
import SystolicData
import SystolicDevice
import SystolicNumerics
import SystolicSuite

/// The emulator's functional GEMM, in the order `SystolicEmulator` documents. Rows of C are
/// spread over threads; each element is computed by one thread in a fixed order, so outputs are
/// the same bits whatever the thread count.
package enum GemmKernel {
    /// How the datapath behaves: as declared, or with faults injected on purpose.
    struct Behaviour: Sendable {
        /// Sum in K-tiles of this depth (weight stationary); K itself for output stationary.
        var kTile: Int
        /// Array width: the period of PE-column faults and the N-tile of weight faults.
        var cols: Int
        /// Flush products and partial sums below fp32's smallest normal to zero (FTZ), with the
        /// multiply and the add rounded separately, as flushing datapaths do.
        var flushSubnormals = false
        var narrowAccumulator: NumberType?
        var droppedTile: Int?
        var stuckColumn: Int?
        var staleColumn: Int?
        var skewedRow: Int?
        var transposedTile = false
        var accumulatorNotCleared = false
        var output = OutputConversion.declared
        var requantization = RequantizationStage.declared
        /// Epilogue faults: the tanh approximation where the erf GELU is asked; the activation
        /// applied before the bias is added.
        var tanhForGeluErf = false
        var activationBeforeBias = false
        var ignoresScales = false
        var blockScalesFirstGroup = false
        var bitFlip = false
        /// D = A·B + C computed as D = A·B (fault `ignores-c`).
        var ignoresAddend = false
        /// A declared block-FMA engine (docs/arithmetic.md): it computes every sum, in k order,
        /// blocks of consecutive k, the accumulator carried through the K-tiles as an MMA chain does.
        var engine: BlockFMA?
        /// MX and NVFP4 on the plain datapath through dequantised operands (`blockScaledFloat`);
        /// false runs them group by group, the definition the fast path is tested against.
        var dequantisesBlockFormats = true
        /// Worker threads; the outputs are the same bits for any count.
        var threads = ProcessInfo.processInfo.activeProcessorCount

        var isPlain: Bool {
            !flushSubnormals && narrowAccumulator == nil && droppedTile == nil && skewedRow == nil && !accumulatorNotCleared && engine == nil
        }
    }

    /// The vector unit's epilogue on the fp32 sums, in order: the per-tensor scales as one fp32
    /// multiply by fp32(scale_a·scale_b/scale_out) (NVFP4: fp32(tensor_a·tensor_b/scale_out)) (the factor formed in binary64, rounded once),
    /// y = that + bias (fp32 add), then the activation in fp32 (relu: y > 0 ? y : +0; GELU by
    /// `VectorMath.gelu`, its named form).
    static func applyEpilogue(_ sums: inout [Float], _ g: GemmCase, _ inputs: GemmInputs, _ behaviour: Behaviour) {
        let biases = inputs.epilogue?.bias.map { b in (0..<g.n).map { Float(b.value(at: $0)) } }
        // Block scales were applied group by group (`blockScaledFloat`); the output scale is left,
        // and NVFP4's tensor scales (as cuBLAS takes them: in alpha).
        let tensorScales = inputs.blockScales?.tensorProduct ?? 1
        let factor = g.scales.isBlocked ? tensorScales / g.scales.output : g.scales.a * g.scales.b / g.scales.output
        if factor != 1 && !behaviour.ignoresScales {
            let f = Float(factor)
            for i in sums.indices { sums[i] *= f }
        }
        if biases == nil && g.activation == .none {
            // y = sum + 0 changes only −0 (to +0): that alone, in a loop the compiler vectorises.
            sums.withUnsafeMutableBufferPointer { p in
                for i in p.indices where p[i] == 0 { p[i] = 0 }
            }
            return
        }
        func activate(_ y: Float) -> Float {
            switch g.activation {
            case .none: return y
            case .relu: return y > 0 ? y : 0
            case .geluErf: return VectorMath.gelu(y, tanhForm: behaviour.tanhForGeluErf)
            case .geluTanh: return VectorMath.gelu(y, tanhForm: true)
            }
        }
        for i in sums.indices {
            let b = biases?[i % g.n] ?? 0
            sums[i] = behaviour.activationBeforeBias ? activate(sums[i]) + b : activate(sums[i] + b)
        }
    }

    /// The int8 requantisation stage: as declared, or faulty.
    enum RequantizationStage: Sendable { case declared, ignoresZeroPoint, perTensor }

    /// The output stage: as declared (nearest even in the case's overflow mode) or faulty.
    enum OutputConversion: Sendable {
        case declared, truncating, tiesAway, ignoresSaturation, swallowsNaN, int8Wrap
    }

    /// The group sums, scales and running sums of a block-scaled GEMM handed to worker threads;
    /// each thread writes disjoint rows.
    private struct GroupScaling: @unchecked Sendable {
        let p: UnsafePointer<Float>
        let sa: UnsafePointer<Float>
        let sb: UnsafePointer<Float>
        let acc: UnsafeMutablePointer<Float>
    }

    /// Raw pointers handed to worker threads; each thread writes disjoint rows.
    private struct Shared: @unchecked Sendable {
        let a: UnsafePointer<Float>
        let bT: UnsafePointer<Float>
        let out: UnsafeMutablePointer<Float>
    }

    static func multiply(_ g: GemmCase, _ inputs: GemmInputs, behaviour: Behaviour) -> Tensor {
        var c: Tensor
        if g.types.a.isInteger, let r = g.requantization, let e = inputs.epilogue {
            // The int32 sum plus the bias, requantised on the vector unit (as declared, or with faults).
            c = Tensor(type: .int8, shape: [g.batch, g.m, g.n])
            for (i, v) in integer(g, inputs, behaviour: behaviour).enumerated() {
                let column = i % g.n
                let acc = Int32(v) &+ e.biasValue(column: column)
                var out: Int8
                switch behaviour.requantization {
                case .declared: out = e.requantize(acc, column: column, r)
                case .ignoresZeroPoint:
                    // The same scale, a zero point of 0.
                    let zero = EpilogueInputs(bias: e.bias, scale: e.scale, zeroPoint: Tensor(type: .int32, shape: e.zeroPoint!.shape),
                                              multiplier: e.multiplier, shift: e.shift)
                    out = zero.requantize(acc, column: column, r)
                case .perTensor:
                    out = e.requantize(acc, column: 0, r)
                }
                if behaviour.output == .int8Wrap {
                    // Wrap instead of saturating: the requantised value before the clamp, modulo 256.
                    out = Int8(truncatingIfNeeded: Int(max(-1e9, min(1e9, e.unsaturated(acc, column: column, r)))))
                }
                c.setBits(UInt32(UInt8(bitPattern: out)), at: i)
            }
        } else if g.types.a.isInteger {
            c = Tensor(type: g.types.output, shape: [g.batch, g.m, g.n])
            let bias = inputs.epilogue
            for (i, v) in integer(g, inputs, behaviour: behaviour).enumerated() {
                let total = bias.map { Double(Int32(v) &+ $0.biasValue(column: i % g.n)) } ?? v
                c.setBits(convert(total, g, behaviour.output), at: i)
            }
        } else if g.types.output == .fp32, behaviour.output == .declared, behaviour.isPlain, !behaviour.transposedTile,
                  !g.bias, g.activation == .none, g.scales.isUnit, g.addend == nil {
            // The accumulator's bits are the output, written in place; saturation only changes
            // infinities (to ±max finite), which are rare.
            let anyInfinite: Bool
            (c, anyInfinite) = fastFloatTensor(g, inputs, behaviour: behaviour)
            if g.overflow == .saturate, anyInfinite {
                let infinite = c.storage.withUnsafeBytes { raw in
                    (0..<(raw.count / 4)).filter { raw.load(fromByteOffset: 4 * $0, as: UInt32.self) & 0x7FFF_FFFF == 0x7F80_0000 }
                }
                for i in infinite { c.setBits(NumberType.fp32.encode(Double(Float(bitPattern: c.bits(at: i))), overflow: .saturate), at: i) }
            }
        } else {
            var sums = float(g, inputs, behaviour: behaviour)
            if g.bias || g.activation != .none || !g.scales.isUnit { applyEpilogue(&sums, g, inputs, behaviour) }
            if g.types.output == .fp32, behaviour.output == .declared, g.overflow == .ieee || !sums.contains(where: \.isInfinite) {
                // An fp32 accumulator into an fp32 output converts exactly: copy the bits.
                c = Tensor(type: .fp32, shape: [g.batch, g.m, g.n], storage: sums.withUnsafeBytes { Array($0) })
            } else {
                c = Tensor(type: g.types.output, shape: [g.batch, g.m, g.n])
                for (i, v) in sums.enumerated() { c.setBits(convert(Double(v), g, behaviour.output), at: i) }
            }
        }
        applyColumnFaults(&c, g, behaviour)
        if behaviour.bitFlip, c.count > 0 {
            // An exponent bit for floats (a factor of 4 or 1/4), a high bit for integers.
            let bit: UInt32 = g.types.output.floatFormat.map { 1 << UInt32($0.mantissaBits + 1) } ?? (g.types.output == .int8 ? 1 << 6 : 1 << 20)
            c.setBits(c.bits(at: c.count / 2) ^ bit, at: c.count / 2)
        }
        return c
    }

    /// The output conversion of one accumulated value.
    static func convert(_ v: Double, _ g: GemmCase, _ mode: OutputConversion) -> UInt32 {
        let t = g.types.output
        switch mode {
        case .declared: return t.encode(v, overflow: g.overflow)
        case .ignoresSaturation: return t.encode(v, overflow: .ieee)
        case .swallowsNaN: return t.encode(v.isNaN ? 0 : v, overflow: g.overflow)
        case .int8Wrap:
            guard t == .int8, v.isFinite else { return t.encode(v, overflow: g.overflow) }
            return UInt32(UInt8(truncatingIfNeeded: Int64(v.rounded(.toNearestOrEven))))
        case .truncating, .tiesAway:
            let bits = t.encode(v, overflow: g.overflow)
            guard let f = t.floatFormat, v.isFinite else { return bits }
            let r = f.decode(bits)
            let sign = bits & (1 << UInt32(f.exponentBits + f.mantissaBits))
            let magnitude = bits ^ sign
            if mode == .truncating {
                // Nearest-even went away from zero: step back toward it.
                if r.magnitude > v.magnitude, magnitude > 0 { return sign | (magnitude - 1) }
                return bits
            }
            // A tie resolved toward zero (to even) goes away from zero instead.
            if magnitude < f.maxFiniteBits, r.magnitude < v.magnitude {
                let up = f.decode(magnitude + 1)
                if (r.magnitude + up) / 2 == v.magnitude { return sign | (magnitude + 1) }
            }
            return bits
        }
    }

    private static func applyColumnFaults(_ c: inout Tensor, _ g: GemmCase, _ b: Behaviour) {
        guard b.stuckColumn != nil || b.staleColumn != nil else { return }
        for row in 0..<(g.batch * g.m) {
            if let stuck = b.stuckColumn {
                for j in stride(from: stuck % b.cols, to: g.n, by: b.cols) { c.setBits(0, at: row * g.n + j) }
            }
            if let stale = b.staleColumn {
                // Later N-tiles see the value the column held for the tile before (the first is right).
                var j = (g.n - 1) / b.cols * b.cols + stale % b.cols
                while j >= b.cols {
                    if j < g.n { c.setBits(c.bits(at: row * g.n + j - b.cols), at: row * g.n + j) }
                    j -= b.cols
                }
            }
        }
    }

    private static func float(_ g: GemmCase, _ inputs: GemmInputs, behaviour: Behaviour) -> [Float] {
        if let engine = behaviour.engine, !g.scales.isBlocked {
            return engineFloat(g, inputs, engine, threads: behaviour.threads, ignoresAddend: behaviour.ignoresAddend)
        }
        var sums = productSums(g, inputs, behaviour: behaviour)
        if g.addend != nil, let c = inputs.c, !behaviour.ignoresAddend {
            // D = A·B + C on the plain datapath: C joins the finished sum, one fp32 addition.
            let cv = c.decodedFloats()
            for i in sums.indices { sums[i] = sums[i] + cv[i] }
        }
        return sums
    }

    /// Σ a·b for every output element, C aside.
    private static func productSums(_ g: GemmCase, _ inputs: GemmInputs, behaviour: Behaviour) -> [Float] {
        if g.scales.isBlocked { return blockScaledFloat(g, inputs, behaviour: behaviour) }
        if behaviour.isPlain && !behaviour.transposedTile { return fastFloat(g, inputs, behaviour: behaviour) }
        let a = inputs.a.decodedFloats()
        var bT = transposedB(g, inputs.b.decodedFloats())
        if behaviour.transposedTile { transposeFirstTile(&bT, g, behaviour) }
        var acc = [Float](repeating: 0, count: g.batch * g.m * g.n)
        let (m, n, k, tile) = (g.m, g.n, g.k, behaviour.kTile)
        a.withUnsafeBufferPointer { ap in
            bT.withUnsafeBufferPointer { bp in
                acc.withUnsafeMutableBufferPointer { op in
                    let shared = Shared(a: ap.baseAddress!, bT: bp.baseAddress!, out: op.baseAddress!)
                    DispatchQueue.concurrentPerform(iterations: g.batch * m) { row in
                        let batch = row / m
                        let aRow = shared.a + row * k
                        // The previous row of A, for a row of the array that reads its input a cycle late.
                        let aPrevious: UnsafePointer<Float>? = row % m == 0 ? nil : aRow - k
                        var carry: Float = 0
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
                                    for kk in k0..<k1 {
                                        let av = kk - k0 == behaviour.skewedRow ? (aPrevious?[kk] ?? 0) : aRow[kk]
                                        p = step(p, av, bRow[kk], behaviour)
                                    }
                                }
                                if k0 == 0 {
                                    total = behaviour.accumulatorNotCleared ? carry + p : p
                                } else {
                                    total = total + p
                                }
                                if behaviour.flushSubnormals { total = flushed(total) }
                                if let narrow = behaviour.narrowAccumulator { total = Float(narrow.round(Double(total), overflow: .ieee)) }
                                k0 = k1
                                t += 1
                            }
                            carry = total
                            shared.out[row * n + j] = total
                        }
                    }
                }
            }
        }
        return acc
    }

    /// Sums on a declared block-FMA engine, batch by batch: the accumulator starts at C where the
    /// case accumulates into C (in the place the engine declares for it), else at +0.
    private static func engineFloat(_ g: GemmCase, _ inputs: GemmInputs, _ engine: BlockFMA, threads: Int, ignoresAddend: Bool = false) -> [Float] {
        let a = inputs.a.decodedFloats()
        let bT = transposedB(g, inputs.b.decodedFloats())
        let c = g.addend != nil && !ignoresAddend ? inputs.c?.decodedFloats() : nil
        var out: [Float] = []
        out.reserveCapacity(g.batch * g.m * g.n)
        for batch in 0..<g.batch {
            let aBatch = Array(a[(batch * g.m * g.k)..<((batch + 1) * g.m * g.k)])
            let bBatch = Array(bT[(batch * g.n * g.k)..<((batch + 1) * g.n * g.k)])
            let cBatch = c.map { Array($0[(batch * g.m * g.n)..<((batch + 1) * g.m * g.n)]) }
            out += engine.gemm(m: g.m, n: g.n, k: g.k, a: aBatch, bT: bBatch, c: cBatch, threads: threads)
        }
        return out
    }

    /// Block-scaled sums: each K group's partial sum p on the array (a GEMM of K = the group, in
    /// K-tiles of at most the group), then on the vector unit in fp32: s = sa·sb (one fp32
    /// multiply of the two fp32 scales), acc = p·s for the first group, then acc = acc + p·s,
    /// groups in order.
    private static func blockScaledFloat(_ g: GemmCase, _ inputs: GemmInputs, behaviour: Behaviour) -> [Float] {
        guard let scales = inputs.blockScales else { preconditionFailure("a block-scaled case without its scales") }
        if behaviour.dequantisesBlockFormats, behaviour.isPlain, !behaviour.transposedTile, !behaviour.ignoresScales, !behaviour.blockScalesFirstGroup,
           let plain = inputs.dequantisedBlockFormat(g) {
            // MX and NVFP4 on the plain datapath: the same bits as the groups below, at the fast
            // kernel's speed (`dequantisedBlockFormat` says why).
            var inner = behaviour
            inner.kTile = min(behaviour.kTile, scales.group)
            return fastFloat(GemmInputs.dequantisedCase(g), plain, behaviour: inner)
        }
        if behaviour.isPlain, !behaviour.transposedTile, !behaviour.ignoresScales, !behaviour.blockScalesFirstGroup,
           let sums = fastBlockScaled(g, inputs, scales, behaviour: behaviour) {
            return sums
        }
        var sub = g
        sub.scales = GemmCase.Scales()
        var inner = behaviour
        inner.kTile = min(behaviour.kTile, scales.group)
        var acc = [Float](repeating: 0, count: g.batch * g.m * g.n)
        for (t, range) in scales.kGroups(k: g.k).enumerated() {
            sub.k = range.count
            let p = float(sub, inputs.kSlice(range.lowerBound, range.upperBound, g), behaviour: inner)
            let scaleGroup = behaviour.blockScalesFirstGroup ? 0 : t
            // On the vector unit, rows spread over threads (each element's operations, and so its
            // bits, are the same whatever the thread count).
            let sb = (0..<(g.batch * g.n)).map { Float(scales.scaleB(batch: $0 / g.n, kGroup: scaleGroup, column: $0 % g.n)) }
            let sa = (0..<(g.batch * g.m)).map { Float(scales.scaleA(batch: $0 / g.m, row: $0 % g.m, kGroup: scaleGroup)) }
            let (n, m, first, ignores) = (g.n, g.m, t == 0, behaviour.ignoresScales)
            p.withUnsafeBufferPointer { pp in
                sa.withUnsafeBufferPointer { ap in
                    sb.withUnsafeBufferPointer { bp in
                        acc.withUnsafeMutableBufferPointer { op in
                            let shared = GroupScaling(p: pp.baseAddress!, sa: ap.baseAddress!, sb: bp.baseAddress!, acc: op.baseAddress!)
                            DispatchQueue.concurrentPerform(iterations: g.batch * m) { row in
                                // Each p·(sa·sb) one multiply of p by the fp32 product of the two
                                // scales, then one add into the running sum.
                                let (p, out, scaleA, scalesB) = (shared.p + row * n, shared.acc + row * n, shared.sa[row], shared.sb + (row / m) * n)
                                switch (first, ignores) {
                                case (true, false): for j in 0..<n { out[j] = p[j] * (scaleA * scalesB[j]) }
                                case (false, false): for j in 0..<n { out[j] = out[j] + p[j] * (scaleA * scalesB[j]) }
                                case (true, true): for j in 0..<n { out[j] = p[j] }
                                case (false, true): for j in 0..<n { out[j] = out[j] + p[j] }
                                }
                            }
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

    private static func integer(_ g: GemmCase, _ inputs: GemmInputs, behaviour: Behaviour) -> [Double] {
        // int8 operands widened straight from their bytes: no fp64 or fp32 copy on the way (B
        // went through two fp32 copies, 9 bytes per weight at the peak; hardening #26, item 8).
        let a = inputs.a.storage.map { Int32(Int8(bitPattern: $0)) }
        let bT: [Int32]
        if behaviour.transposedTile {
            var bFloats = transposedB(g, inputs.b.decodedFloats())
            transposeFirstTile(&bFloats, g, behaviour)
            bT = bFloats.map { Int32($0) }
        } else {
            bT = transposedInt8B(g, inputs.b.storage)
        }
        let (m, n, k, tile) = (g.m, g.n, g.k, behaviour.kTile)
        var out = [Double](repeating: 0, count: g.batch * m * n)
        for row in 0..<(g.batch * m) {
            let batch = row / m
            var carry: Int32 = 0
            for j in 0..<n {
                var total: Int32 = 0
                var k0 = 0
                var t = 0
                while k0 < k {
                    let k1 = min(k0 + tile, k)
                    var p: Int32 = 0
                    if behaviour.droppedTile != t {
                        for kk in k0..<k1 {
                            let ai = kk - k0 == behaviour.skewedRow ? (row % m == 0 ? 0 : a[(row - 1) * k + kk]) : a[row * k + kk]
                            p &+= ai &* bT[(batch * n + j) * k + kk]
                        }
                    }
                    total = k0 == 0 && behaviour.accumulatorNotCleared ? carry &+ p : total &+ p
                    k0 = k1
                    t += 1
                }
                carry = total
                out[row * n + j] = Double(total)
            }
        }
        return out
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

    /// B's int8 bytes widened to Int32 in [batch, N, K] order.
    private static func transposedInt8B(_ g: GemmCase, _ b: [UInt8]) -> [Int32] {
        if g.layoutB == .nk { return b.map { Int32(Int8(bitPattern: $0)) } }
        var out = [Int32](repeating: 0, count: b.count)
        for batch in 0..<g.batch {
            let base = batch * g.k * g.n
            for kk in 0..<g.k {
                for j in 0..<g.n { out[base + j * g.k + kk] = Int32(Int8(bitPattern: b[base + kk * g.n + j])) }
            }
        }
        return out
    }

    /// Fault: the square corner of the first weight tile loaded transposed (w[k][n] = B[n][k]).
    private static func transposeFirstTile(_ bT: inout [Float], _ g: GemmCase, _ b: Behaviour) {
        let s = min(b.kTile, b.cols, g.k, g.n)
        for batch in 0..<g.batch {
            let base = batch * g.n * g.k
            for j in 0..<s {
                for kk in (j + 1)..<max(s, j + 1) { bT.swapAt(base + j * g.k + kk, base + kk * g.k + j) }
            }
        }
    }
}
