import Dispatch
import SystolicData
import SystolicResults
import SystolicDevice
import SystolicNumerics
import SystolicSuite

/// Judges an attention output element by element with the interval rule of docs/numerics.md: each
/// element must lie in [conv(o − E), conv(o + E)], o the fp64 reference and E the bound of
/// `AttentionBound`, conv the case's output conversion. A fully masked row must be exactly zero.
public enum AttentionCheck {
    public static func verify(output o: Tensor, inputs: AttentionInputs, attention a: AttentionCase,
                              arithmetic: DeclaredArithmetic, expUlps: Double) -> CheckReport {
        let start = DispatchTime.now().uptimeNanoseconds
        let bound = AttentionBound(a, arithmetic: arithmetic, expUlps: expUlps)
        // Judged against what a declared engine reads: its inputs with subnormals flushed (Q and K
        // on the score engine's, V on the P·V engine's), as GEMM's check does.
        var read = inputs
        if bound.scoreEngine?.subnormalInputs == .flush { read.q = read.q.flushingSubnormals(); read.k = read.k.flushingSubnormals() }
        if bound.valueEngine?.subnormalInputs == .flush { read.v = read.v.flushingSubnormals() }
        let reference = AttentionReference.compute(a, read)
        let d = a.headDim, out = a.outputType
        var mismatches = 0, maxRatio = 0.0
        var worst: ElementReport?
        for row in 0..<(a.batch * a.heads * a.queryLength) {
            let b = row / (a.heads * a.queryLength), h = (row / a.queryLength) % a.heads
            let column = (b * a.kvHeads + h / a.groupSize) * d
            let rowBound = bound.row(visible: reference.visible[row], scoreAbsMax: reference.scoreAbsMax[row])
            for c in 0..<d {
                let i = row * d + c
                let exact = reference.value[i]
                let e = rowBound.hard(weightedAbsSum: reference.weightedAbsSum[i], maxAbsValue: reference.maxAbsValue[column + c])
                let device = o.value(at: i)
                // The common case: the device value is within E of o, so inside the interval.
                if e > 0, device.isFinite, exact.isFinite, abs(device - exact) <= e, let w = worst, abs(device - exact) / e < w.ratio,
                   abs(device - exact) / e <= maxRatio {
                    continue
                }
                let low = out.round(e == 0 ? exact : (exact - e).nextDown, overflow: a.overflow)
                let high = out.round(e == 0 ? exact : (exact + e).nextUp, overflow: a.overflow)
                let inside = low.isNaN || high.isNaN ? device.isNaN : !device.isNaN && device >= low && device <= high
                let ratio = GemmCheck.reportedRatio(inside: inside, device: device, exact: exact, bound: e, type: out, overflow: a.overflow)
                if !inside { mismatches += 1 }
                maxRatio = max(maxRatio, ratio.isNaN ? .infinity : ratio)
                let index = [b, h, row % a.queryLength, c]
                let candidate = ElementReport(index: index, device: device, exact: exact, low: low, high: high, bound: e, ratio: ratio,
                                              ulpsOutside: inside ? 0 : GemmCheck.ulpsOutside(device, low, high, out))
                if let w = worst, !(candidate.ratio > w.ratio || (candidate.ratio == w.ratio && candidate.ulpsOutside > w.ulpsOutside)) {
                    continue
                }
                worst = candidate
            }
        }
        var report = CheckReport(rule: "interval", mode: "full", elements: o.count, mismatches: mismatches, unverifiable: 0,
                                 maxRatioToBound: maxRatio, worst: worst, suspect: false, suspectElements: 0,
                                 maxRatioToProbabilisticBound: nil)
        report.referenceMacs = reference.macs
        report.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return report
    }
}
