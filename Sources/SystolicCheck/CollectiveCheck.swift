import Dispatch
import SystolicData
import SystolicResults
import SystolicDevice
import SystolicNumerics
import SystolicSuite

/// Judges a collective's outputs ([ranks, output count]) against what each rank must hold, as
/// nccl-tests does with its `#wrong` count:
/// - all-reduce: every rank holds ⊕ₖ xₖ[i]; reduce-scatter: rank r holds ⊕ₖ xₖ[r·c + i];
///   all-gather: rank r holds x_⌊i/c⌋[i mod c]; all-to-all: rank r holds x_⌊i/c⌋[r·c + i mod c];
///   broadcast: x_root[i]; send/recv: rank r holds x_{r−1}[i].
/// - **exact** rule (crafted data, max and min, integer types, and the ops that only move data):
///   the bits must be the exact result (integer sums wrapped in the type).
/// - **interval** rule (random data summed in a floating-point type): within
///   [conv(ŝ − E), conv(ŝ + E)], E = (n−1)·u·Σₖ|xₖ| + 2n·u₆₄·Σₖ|xₖ|, u the type's unit roundoff
///   (each of the n − 1 additions rounds to the type, in any order).
/// - all-reduce, all-gather and broadcast also require every rank's bits to equal rank 0's; the
///   elements where they do not are `rank_disagreements`, and any fails the case.
public enum CollectiveCheck {
    public static func verify(output: Tensor, inputs: CollectiveInputs, collective c: CollectiveCase) -> CheckReport {
        let start = DispatchTime.now().uptimeNanoseconds
        let n = c.ranks, out = c.outputCount, inCount = c.inputCount, t = c.type, width = t.byteWidth
        let exact = c.data == nil || c.reduction != .sum || t.isInteger || !c.operation.reduces
        let block = c.operation == .allToAll ? inCount / n : (c.operation == .allGather ? inCount : out)
        let mustAgree = [.allReduce, .allGather, .broadcast].contains(c.operation)
        let unit = t.unitRoundoff ?? 0
        let chunks = max(1, min(256, out / 4096))
        var tallies = [Tally](repeating: Tally(), count: chunks)
        inputs.buffers.storage.withUnsafeBytes { xRaw in output.storage.withUnsafeBytes { oRaw in tallies.withUnsafeMutableBufferPointer { tp in
            let shared = Shared(x: xRaw, o: oRaw, tallies: tp.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                var tally = Tally()
                func x(_ k: Int, _ j: Int) -> UInt32 { Tensor.bits(at: k * inCount + j, width: width, in: shared.x) }
                for i in (chunk * out / chunks)..<((chunk + 1) * out / chunks) {
                    for r in 0..<n {
                        // The contributions to rank r's element i.
                        let expectedBits: UInt32, low: Double, high: Double, exactValue: Double, bound: Double
                        switch c.operation {
                        case .allReduce, .reduceScatter:
                            let j = c.operation == .allReduce ? i : r * out + i
                            if r > 0 && c.operation == .allReduce {
                                // Same expectation as rank 0: judged below against it.
                                expectedBits = tally.lastExpected; low = tally.lastLow; high = tally.lastHigh
                                exactValue = tally.lastExact; bound = tally.lastBound
                            } else {
                                (expectedBits, low, high, exactValue, bound) = reduced(n, { x($0, j) }, c, exact: exact, unit: unit)
                                tally.remember(expectedBits, low, high, exactValue, bound)
                            }
                        case .allGather, .allToAll, .broadcast, .sendRecv:
                            let k: Int, j: Int
                            switch c.operation {
                            case .allGather: (k, j) = (i / block, i % block)
                            case .allToAll: (k, j) = (i / block, r * block + i % block)
                            case .broadcast: (k, j) = (c.root, i)
                            default: (k, j) = ((r - 1 + n) % n, i)
                            }
                            expectedBits = x(k, j)
                            exactValue = t.decode(expectedBits); low = exactValue; high = exactValue; bound = 0
                        }
                        let deviceBits = Tensor.bits(at: r * out + i, width: width, in: shared.o)
                        let device = t.decode(deviceBits)
                        let inside = exact ? deviceBits == expectedBits || (device.isNaN && exactValue.isNaN)
                                           : (!device.isNaN && device >= low && device <= high)
                        tally.elements += 1
                        if !inside { tally.mismatches += 1 }
                        if mustAgree && r > 0 && deviceBits != Tensor.bits(at: i, width: width, in: shared.o) { tally.disagreements += 1 }
                        var ratio = inside ? (bound > 0 ? abs(device - exactValue) / bound : 0) : .infinity
                        if ratio.isNaN { ratio = .infinity }
                        if tally.worst == nil || ratio > tally.worst!.ratio {
                            tally.worst = ElementReport(index: [r, i], device: device, exact: exactValue, low: low, high: high, bound: bound,
                                                        ratio: ratio, ulpsOutside: inside ? 0 : GemmCheck.ulpsOutside(device, low, high, t))
                        }
                    }
                }
                shared.tallies[chunk] = tally
            }
        } } }
        var total = Tally()
        for t in tallies { total.merge(t) }
        var report = CheckReport(rule: exact ? "exact" : "interval", mode: "full", elements: total.elements, mismatches: total.mismatches,
                                 unverifiable: 0, maxRatioToBound: exact ? nil : total.worst?.ratio ?? 0, worst: total.worst, suspect: false,
                                 suspectElements: 0, maxRatioToProbabilisticBound: nil)
        report.rankDisagreements = mustAgree ? total.disagreements : nil
        report.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return report
    }

    private struct Shared: @unchecked Sendable {
        let x: UnsafeRawBufferPointer
        let o: UnsafeRawBufferPointer
        let tallies: UnsafeMutablePointer<Tally>
    }

    /// The expected reduction of `values` (bit patterns of the case's type): its bits (exact rule),
    /// or the interval, ŝ and E (interval rule).
    static func reduced(_ count: Int, _ value: (Int) -> UInt32, _ c: CollectiveCase, exact: Bool, unit: Double)
        -> (bits: UInt32, low: Double, high: Double, exact: Double, bound: Double) {
        let t = c.type
        if t.isInteger {
            func integer(_ v: UInt32) -> Int64 { t == .int8 ? Int64(Int8(truncatingIfNeeded: v)) : Int64(Int32(truncatingIfNeeded: v)) }
            var acc: Int64 = c.reduction == .sum ? 0 : integer(value(0))
            for k in 0..<count {
                let x = integer(value(k))
                switch c.reduction {
                case .sum: acc &+= x
                case .max: acc = max(acc, x)
                case .min: acc = min(acc, x)
                }
            }
            let bits = t == .int8 ? UInt32(UInt8(truncatingIfNeeded: acc)) : UInt32(truncatingIfNeeded: acc)
            let value = t.decode(bits)
            return (bits, value, value, value, 0)
        }
        switch c.reduction {
        case .max, .min:
            var v = t.decode(value(0))
            for k in 1..<max(count, 1) { let x = t.decode(value(k)); v = c.reduction == .max ? max(v, x) : min(v, x) }
            return (t.encode(v, overflow: .ieee), v, v, v, 0)
        case .sum:
            var s = 0.0, a = 0.0
            for k in 0..<count { let v = t.decode(value(k)); s += v; a += abs(v) }
            if exact { let bits = t.encode(s, overflow: .ieee); return (bits, s, s, s, 0) }
            let n = Double(count)
            let e = (n - 1) * unit * a + 2 * n * 0x1p-53 * a
            let low = t.round(e == 0 ? s : (s - e).nextDown, overflow: .ieee), high = t.round(e == 0 ? s : (s + e).nextUp, overflow: .ieee)
            return (t.encode(s, overflow: .ieee), low, high, s, e)
        }
    }

    /// Counts of one chunk of elements, and its worst element.
    struct Tally {
        var elements = 0, mismatches = 0, disagreements = 0
        var worst: ElementReport?
        var lastExpected: UInt32 = 0, lastLow = 0.0, lastHigh = 0.0, lastExact = 0.0, lastBound = 0.0

        mutating func remember(_ bits: UInt32, _ low: Double, _ high: Double, _ exact: Double, _ bound: Double) {
            (lastExpected, lastLow, lastHigh, lastExact, lastBound) = (bits, low, high, exact, bound)
        }

        mutating func consider(_ e: ElementReport) {
            if let w = worst, !(e.ratio > w.ratio) { return }
            worst = e
        }

        mutating func merge(_ other: Tally) {
            elements += other.elements; mismatches += other.mismatches; disagreements += other.disagreements
            if let w = other.worst { consider(w) }
        }
    }
}
