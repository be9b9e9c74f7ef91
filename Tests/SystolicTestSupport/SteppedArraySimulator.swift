import SystolicData
import SystolicDevice
import SystolicEmulation
import SystolicNumerics
import SystolicSuite

/// A PE-level simulator of one systolic array, stepped cycle by cycle, that exists to prove the
/// fast path: its outputs come from values moving through PEs and its cycle count from stepping,
/// never from a formula. Slow by design; arrays up to 32×32, one MAC per PE per cycle, serial
/// weight loading, folds one after another.
///
/// - Weight stationary: per fold, the K-tile's weights shift in from the top, one row per cycle
///   (R cycles); then rows of A enter from the left, row i delayed by i cycles, and move one PE
///   right per cycle, while partial sums move one PE down per cycle from +0 at the top; a PE with
///   no weight (a K-tile shorter than R) passes the partial sum on unchanged. Partial sums leave
///   the bottom row into the accumulator (first K-tile stored, later ones added). The fold ends
///   when every row of A has left every column.
/// - Output stationary: per fold, row i of the M-block enters from the left delayed by i cycles,
///   column j of the N-block from the top delayed by j; each PE keeps a running sum. The fold ends
///   when the last PE has taken its K-th pair.
///
/// The reported count is the index of the last busy cycle (cycles stepped minus one), the
/// convention SCALE-Sim reports.
public struct SteppedArraySimulator: Sendable {
    public let rows: Int
    public let cols: Int
    public let dataflow: DeviceConfig.Dataflow

    public init(rows: Int, cols: Int, dataflow: DeviceConfig.Dataflow) {
        precondition((1...32).contains(rows) && (1...32).contains(cols), "the stepped simulator handles arrays up to 32×32")
        self.rows = rows; self.cols = cols; self.dataflow = dataflow
    }

    public struct Outcome: Sendable {
        public var output: Tensor
        public var cycles: Int
    }

    public func run(_ g: GemmCase, _ inputs: GemmInputs) -> Outcome {
        if g.types.a.isInteger {
            let a = inputs.a.decoded().map { Int32($0) }, b = inputs.b.decoded().map { Int32($0) }
            let (acc, cycles) = simulate(g, a, b)
            var c = Tensor(type: g.types.output, shape: [g.batch, g.m, g.n])
            for (i, v) in acc.enumerated() { c.setBits(UInt32(bitPattern: v), at: i) }
            return Outcome(output: c, cycles: cycles)
        }
        let (acc, cycles) = simulate(g, inputs.a.decodedFloats(), inputs.b.decodedFloats())
        let c = Tensor(type: g.types.output, shape: [g.batch, g.m, g.n], values: acc.map(Double.init), overflow: g.overflow)
        return Outcome(output: c, cycles: cycles)
    }

    /// A value moving between PEs: `nil` is an empty register.
    private struct Token<T> {
        var value: T
        var row: Int
    }

    private func simulate<T: SteppedValue>(_ g: GemmCase, _ a: [T], _ b: [T]) -> ([T], Int) {
        var out = [T](repeating: .zero, count: g.batch * g.m * g.n)
        var stepped = 0
        func bAt(_ batch: Int, _ k: Int, _ n: Int) -> T {
            g.layoutB == .kn ? b[(batch * g.k + k) * g.n + n] : b[(batch * g.n + n) * g.k + k]
        }
        for batch in 0..<g.batch {
            let aAt = { (m: Int, k: Int) -> T in a[(batch * g.m + m) * g.k + k] }
            switch dataflow {
            case .weightStationary:
                for n0 in stride(from: 0, to: g.n, by: cols) {
                    for k0 in stride(from: 0, to: g.k, by: rows) {
                        stepped += weightStationaryFold(g, k0: k0, n0: n0, aAt: aAt, bAt: { bAt(batch, $0, $1) }) { m, j, p in
                            let index = (batch * g.m + m) * g.n + n0 + j
                            out[index] = k0 == 0 ? p : out[index].adding(p)
                        }
                    }
                }
            case .outputStationary:
                for m0 in stride(from: 0, to: g.m, by: rows) {
                    for n0 in stride(from: 0, to: g.n, by: cols) {
                        stepped += outputStationaryFold(g, m0: m0, n0: n0, aAt: aAt, bAt: { bAt(batch, $0, $1) }) { i, j, acc in
                            out[(batch * g.m + m0 + i) * g.n + n0 + j] = acc
                        }
                    }
                }
            }
        }
        return (out, stepped - 1)
    }

    /// Steps one weight-stationary fold; returns the cycles it took.
    private func weightStationaryFold<T: SteppedValue>(_ g: GemmCase, k0: Int, n0: Int, aAt: (Int, Int) -> T, bAt: (Int, Int) -> T,
                                                       emit: (_ m: Int, _ j: Int, _ p: T) -> Void) -> Int {
        var cycles = 0
        // Weight load: the tile's last row enters first; after R shifts row i holds k0 + i.
        var weight = [[T?]](repeating: [T?](repeating: nil, count: cols), count: rows)
        for t in 0..<rows {
            for i in stride(from: rows - 1, to: 0, by: -1) { weight[i] = weight[i - 1] }
            let k = k0 + rows - 1 - t
            weight[0] = (0..<cols).map { j in k < g.k && n0 + j < g.n ? bAt(k, n0 + j) : nil }
            cycles += 1
        }
        // Stream: inputs move right, partial sums move down, one PE per cycle.
        var input = [[Token<T>?]](repeating: [Token<T>?](repeating: nil, count: cols), count: rows)
        var psum = input
        var collected = 0
        var s = 0
        while collected < g.m * cols {
            var nextInput = input, nextPsum = psum
            for i in 0..<rows {
                for j in 0..<cols {
                    let arriving: Token<T>?
                    if j == 0 {
                        let m = s - i
                        arriving = m >= 0 && m < g.m ? Token(value: k0 + i < g.k ? aAt(m, k0 + i) : .zero, row: m) : nil
                    } else {
                        arriving = input[i][j - 1]
                    }
                    nextInput[i][j] = arriving
                    guard let x = arriving else { nextPsum[i][j] = nil; continue }
                    let above = i == 0 ? T.zero : psum[i - 1][j]!.value
                    if let w = weight[i][j] {
                        nextPsum[i][j] = Token(value: above.mac(x.value, w), row: x.row)
                    } else {
                        nextPsum[i][j] = Token(value: above, row: x.row)
                    }
                }
            }
            input = nextInput
            psum = nextPsum
            for j in 0..<cols {
                if let p = psum[rows - 1][j] {
                    collected += 1
                    if n0 + j < g.n { emit(p.row, j, p.value) }
                }
            }
            s += 1
            cycles += 1
        }
        return cycles
    }

    /// Steps one output-stationary fold; returns the cycles it took.
    private func outputStationaryFold<T: SteppedValue>(_ g: GemmCase, m0: Int, n0: Int, aAt: (Int, Int) -> T, bAt: (Int, Int) -> T,
                                                       emit: (_ i: Int, _ j: Int, _ acc: T) -> Void) -> Int {
        var acc = [[T]](repeating: [T](repeating: .zero, count: cols), count: rows)
        var taken = [[Int]](repeating: [Int](repeating: 0, count: cols), count: rows)
        var left = [[T?]](repeating: [T?](repeating: nil, count: cols), count: rows)
        var top = left
        var cycles = 0
        var s = 0
        while taken[rows - 1][cols - 1] < g.k {
            var nextLeft = left, nextTop = top
            for i in 0..<rows {
                for j in 0..<cols {
                    let x: T?
                    if j == 0 {
                        let k = s - i
                        x = k >= 0 && k < g.k ? (m0 + i < g.m ? aAt(m0 + i, k) : .zero) : nil
                    } else {
                        x = left[i][j - 1]
                    }
                    let y: T?
                    if i == 0 {
                        let k = s - j
                        y = k >= 0 && k < g.k ? (n0 + j < g.n ? bAt(k, n0 + j) : .zero) : nil
                    } else {
                        y = top[i - 1][j]
                    }
                    nextLeft[i][j] = x
                    nextTop[i][j] = y
                    if let x, let y {
                        acc[i][j] = acc[i][j].mac(x, y)
                        taken[i][j] += 1
                    }
                }
            }
            left = nextLeft
            top = nextTop
            s += 1
            cycles += 1
        }
        for i in 0..<rows where m0 + i < g.m {
            for j in 0..<cols where n0 + j < g.n { emit(i, j, acc[i][j]) }
        }
        return cycles
    }
}

/// The arithmetic of a PE: fp32 with fused multiply-add, or int32 (wrapping, as hardware does).
protocol SteppedValue {
    static var zero: Self { get }
    /// self + a·b, rounded once.
    func mac(_ a: Self, _ b: Self) -> Self
    func adding(_ other: Self) -> Self
}

extension Float: SteppedValue {
    func mac(_ a: Float, _ b: Float) -> Float { addingProduct(a, b) }
    func adding(_ other: Float) -> Float { self + other }
}

extension Int32: SteppedValue {
    func mac(_ a: Int32, _ b: Int32) -> Int32 { self &+ a &* b }
    func adding(_ other: Int32) -> Int32 { self &+ other }
}
