import Foundation
import SystolicData
import SystolicDevice
import SystolicEmulation
import SystolicNumerics
import SystolicSuite

/// A correct device that sums each dot product in another legal order: it must pass every case,
/// since the check may not assume an accumulation order.
public struct ReorderingDevice: DeviceAdapter {
    public enum Order: Sendable, CaseIterable {
        case reversed, pairwise, unfusedForward
        /// A different random permutation of K for every element.
        case randomPerElement
        /// Four contiguous K-slices summed separately, then reduced pairwise.
        case splitK
    }
    public let order: Order
    public init(order: Order) { self.order = order }
    public var descriptor: DeviceDescriptor { SystolicEmulator().descriptor }

    public func run(_ benchmarkCase: BenchmarkCase, inputs: CaseInputs) throws(DeviceError) -> DeviceOutput {
        guard case let .gemm(stored) = benchmarkCase.workload, case let .gemm(storedInputs) = inputs else { throw .notSupported("gemm only") }
        if stored.types.a.isInteger { return try SystolicEmulator().run(benchmarkCase, inputs: inputs) }
        if stored.groups != nil {
            // Experts one by one, each its own GEMM; their rows stack in order.
            var storage: [UInt8] = []
            for (e, first, sub) in stored.groupCases {
                let one = BenchmarkCase(id: benchmarkCase.id, suite: benchmarkCase.suite, name: benchmarkCase.name, profiles: [], workload: .gemm(sub))
                let out = try run(one, inputs: .gemm(storedInputs.expert(e, firstRow: first, rows: sub.m, stored)))
                storage += out.tensors["c"]!.storage
            }
            return DeviceOutput(tensors: ["c": Tensor(type: stored.types.output, shape: [1, stored.m, stored.n], storage: storage)], metrics: [:])
        }
        // Strided rows read into packed matrices; the output placed back into the caller's rows.
        // An MX or NVFP4 A it quantises itself: as it declares (the specifications' roundings).
        var g = stored.packed, t = storedInputs.packed(stored).quantisingA(stored, rounding: descriptor.arithmetic.declaredScaleRounding)
        // int4 weights (q − z) and MXINT8 (k/64) as the block-scaled GEMMs of their values.
        if let (wide, wideInputs) = t.widenedIntegerElements(g) { (g, t) = (wide, wideInputs) }
        var a = t.a.decodedFloats(), b = t.b.decodedFloats()
        if let scales = t.blockScales {
            // Block scales applied the other legal way: each operand dequantised to fp32 first
            // (one rounding each), then one dot product over all of K.
            for batch in 0..<g.batch {
                for i in 0..<g.m {
                    for kk in 0..<g.k { a[(batch * g.m + i) * g.k + kk] *= Float(scales.scaleA(batch: batch, row: i, kGroup: kk / scales.group)) }
                }
                for kk in 0..<g.k {
                    for j in 0..<g.n {
                        let index = g.layoutB == .kn ? (batch * g.k + kk) * g.n + j : (batch * g.n + j) * g.k + kk
                        b[index] *= Float(scales.scaleB(batch: batch, kGroup: kk / scales.group, column: j))
                    }
                }
            }
        }
        var c = Tensor(type: g.types.output, shape: [g.batch, g.m, g.n])
        for batch in 0..<g.batch {
            for i in 0..<g.m {
                for j in 0..<g.n {
                    let products: [(Float, Float)] = (0..<g.k).map { kk in
                        let bv = g.layoutB == .kn ? b[(batch * g.k + kk) * g.n + j] : b[(batch * g.n + j) * g.k + kk]
                        return (a[(batch * g.m + i) * g.k + kk], bv)
                    }
                    // D = A·B + C: C first (the accumulator's initial value) in the running orders,
                    // last in the tree-shaped ones; the emulator adds it last.
                    let addend: Float = g.addend != nil ? Float(t.c!.value(at: (batch * g.m + i) * g.n + j)) : 0
                    var sum: Float
                    switch order {
                    case .reversed: sum = products.reversed().reduce(addend) { $0.addingProduct($1.0, $1.1) }
                    case .pairwise: sum = Self.pairwise(products[...]) + addend
                    case .unfusedForward: sum = products.reduce(addend) { $0 + $1.0 * $1.1 }
                    case .randomPerElement:
                        var shuffled = products
                        var state = UInt64((batch * g.m + i) * g.n + j) &* 0x9E37_79B9_7F4A_7C15
                        for x in stride(from: shuffled.count - 1, to: 0, by: -1) {
                            state = state &+ 0x9E37_79B9_7F4A_7C15
                            shuffled.swapAt(x, Int(DataGenerator.mix64(state) % UInt64(x + 1)))
                        }
                        sum = shuffled.reduce(addend) { $0.addingProduct($1.0, $1.1) }
                    case .splitK:
                        let q = (products.count + 3) / 4
                        let parts = (0..<4).map { s in
                            products[min(s * q, products.count)..<min((s + 1) * q, products.count)].reduce(Float(0)) { $0.addingProduct($1.0, $1.1) }
                        }
                        sum = (parts[0] + parts[1]) + (parts[2] + parts[3]) + addend
                    }
                    c.setValue(Double(Self.epilogue(sum, g, t.epilogue?.bias, column: j, tensorScales: t.blockScales?.tensorProduct ?? 1)),
                               at: (batch * g.m + i) * g.n + j, overflow: g.overflow)
                }
            }
        }
        if stored.addend == nil, let background = storedInputs.c { c = c.placedInRows(of: background) }
        return DeviceOutput(tensors: ["c": c], metrics: [:])
    }

    /// The epilogue written plainly, with the host's libm: another correct implementation.
    public static func epilogue(_ sum: Float, _ g: GemmCase, _ bias: Tensor?, column: Int, tensorScales: Double = 1) -> Float {
        let factor = g.scales.isBlocked ? tensorScales / g.scales.output : g.scales.a * g.scales.b / g.scales.output
        let scaled = factor == 1 ? sum : sum * Float(factor)
        let y = scaled + Float(bias?.value(at: column) ?? 0)
        switch g.activation {
        case .none: return y
        case .relu: return max(y, 0)
        case .geluErf:
            let c: Double = Foundation.erfc(-Double(y) / 2.0.squareRoot())
            return Float(0.5 * Double(y) * c)
        case .geluTanh:
            let x = Double(y)
            let z: Double = (2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)
            let t: Double = Foundation.tanh(z)
            return Float(0.5 * x * (1 + t))
        }
    }

    public static func pairwise(_ p: ArraySlice<(Float, Float)>) -> Float {
        if p.count <= 2 { return p.reduce(Float(0)) { $0.addingProduct($1.0, $1.1) } }
        let mid = p.startIndex + p.count / 2
        return pairwise(p[..<mid]) + pairwise(p[mid...])
    }
}

/// Wraps a device and rewrites one output element: moves it `factor` bounds away from the exact
/// value (float) or adds one (integer). Proves the check fails a single bad element and names it.
public struct PerturbingDevice: DeviceAdapter {
    public let inner: any DeviceAdapter
    public let flatIndex: Int
    /// The device value to store, given the element's exact value and bound.
    public let replacement: @Sendable (_ exact: Double, _ bound: Double, _ current: Double) -> Double
    public init(inner: any DeviceAdapter, flatIndex: Int, replacement: @escaping @Sendable (_ exact: Double, _ bound: Double, _ current: Double) -> Double) {
        self.inner = inner; self.flatIndex = flatIndex; self.replacement = replacement
    }
    public var descriptor: DeviceDescriptor { inner.descriptor }

    public func run(_ benchmarkCase: BenchmarkCase, inputs: CaseInputs) throws(DeviceError) -> DeviceOutput {
        var out = try inner.run(benchmarkCase, inputs: inputs)
        guard case let .gemm(g) = benchmarkCase.workload, case let .gemm(t) = inputs, var c = out.tensors["c"] else { return out }
        let reference = GemmReferenceProbe.element(g, t, flatIndex)
        let bound = GemmReferenceProbe.bound(g, reference.absSum, descriptor.arithmetic)
        c.setValue(replacement(reference.value, bound, c.value(at: flatIndex)), at: flatIndex, overflow: .ieee)
        out.tensors["c"] = c
        return out
    }
}

/// A device that breaks in a stated way, to show the harness survives it.
public struct BrokenDevice: DeviceAdapter {
    public enum Breakage: Sendable { case throwsBroken, wrongShape, noOutput }
    public let breakage: Breakage
    public init(breakage: Breakage) { self.breakage = breakage }
    public var descriptor: DeviceDescriptor { SystolicEmulator().descriptor }

    public func run(_ benchmarkCase: BenchmarkCase, inputs: CaseInputs) throws(DeviceError) -> DeviceOutput {
        switch breakage {
        case .throwsBroken: throw .broken("adapter crashed (signal 11)")
        case .noOutput: return DeviceOutput(tensors: [:], metrics: [:])
        case .wrongShape: return DeviceOutput(tensors: ["c": Tensor(type: .fp32, shape: [1, 1, 1])], metrics: [:])
        }
    }
}

import SystolicCheck

/// One element's reference value and bound, straight from the check engine's own functions.
public enum GemmReferenceProbe {
    public static func element(_ g: GemmCase, _ t: GemmInputs, _ index: Int) -> (value: Double, absSum: Double) {
        let r = GemmReference.compute(g, t)
        return (r.value[index], r.absSum[index])
    }

    public static func bound(_ g: GemmCase, _ absSum: Double, _ arithmetic: DeclaredArithmetic) -> Double {
        GemmBound(k: g.k, arithmetic: arithmetic).hard(absSum)
    }
}

/// A device that runs as `inner` does and declares the matrix engines `declared`: an honest device
/// when they are what `inner` runs, a device doing worse than it declares otherwise.
public struct DeclaringDevice: DeviceAdapter {
    public let inner: any DeviceAdapter
    public let declared: [MatrixArithmetic]
    public init(inner: any DeviceAdapter, declared: [MatrixArithmetic]) { self.inner = inner; self.declared = declared }
    public var descriptor: DeviceDescriptor {
        var d = inner.descriptor
        d.arithmetic.matrixEngine = declared
        return d
    }
    public func run(_ benchmarkCase: BenchmarkCase, inputs: CaseInputs) throws(DeviceError) -> DeviceOutput {
        try inner.run(benchmarkCase, inputs: inputs)
    }
    public func unsupported(_ benchmarkCase: BenchmarkCase) -> String? { inner.unsupported(benchmarkCase) }
    public func shutdown() {}
    public var log: String? { nil }
}

/// A bf16 engine doing worse than it declares in one way (`parameter`, a fingerprint parameter's
/// name): the engine it runs and the one it declares. Rounded products show only where a bf16
/// product (16 bits) is longer than F + 1 bits and rounds differently, so that lie uses a narrow
/// truncating engine.
public func engineLie(_ parameter: String) -> (actual: MatrixArithmetic, declared: MatrixArithmetic) {
    var honest = MatrixArithmetic(inputTypes: [.bf16], blockSize: 16, alignment: .extraBits(2), fractionBits: 13, blockRounding: .nearestEven)
    if parameter == "products" { honest = MatrixArithmetic(inputTypes: [.bf16], blockSize: 4, alignment: .extraBits(3), fractionBits: 5, blockRounding: .towardZero) }
    var actual = honest, declared = honest
    switch parameter {
    case "fraction_bits": actual.fractionBits -= 1
    case "block_size": actual.blockSize = 32
    case "subnormal_inputs": actual.subnormalInputs = .flush
    case "subnormal_outputs": actual.subnormalOutputs = .flush
    case "rounding": actual.blockRounding = .towardZero
    case "extra_alignment_bits": actual.alignment = .extraBits(1)
    case "promote_every": declared.promoteEvery = 128
    case "c_position": actual.cPosition = .last
    case "products": actual.products = .rounded
    default: preconditionFailure("no lie about \(parameter)")
    }
    return (actual, declared)
}
