import Dispatch
import SystolicData
import SystolicDevice
import SystolicNumerics
import SystolicSuite

/// Runs a `CollectivePlan` on real buffers: each rank's work buffer lives in one allocation, each
/// step first copies every message out of its sender (so a step reads the buffers as they were
/// before it, like links that carry data in flight), then delivers them, in parallel, each
/// receiver storing or reducing. Reductions are done in the buffer's type, element by element:
/// `received ⊕ local`, computed exactly and rounded once to the type (nearest-even, overflow to
/// ±inf), so bf16 and fp16 sums are rounded at every hop; integer sums wrap (two's complement in
/// the type, as NCCL adds them). Faults change what is sent or reduced, never what is declared.
struct CollectiveEngine {
    struct Faults: Sendable {
        var dropsRank = false
        var ranksDisagree = false
        var wrongPeer = false
        var chunkOffByOne = false
    }

    private struct Pointers: @unchecked Sendable {
        let work: UnsafeMutableRawPointer
        let input: UnsafeRawPointer
        let staging: UnsafeMutableRawPointer
    }

    /// The outputs, [ranks, output count].
    static func run(_ c: CollectiveCase, _ inputs: CollectiveInputs, faults: Faults) -> Tensor {
        let n = c.ranks, width = c.type.byteWidth
        var plan = CollectivePlan(c, offByOne: faults.chunkOffByOne)
        if faults.wrongPeer, var first = plan.steps.first, let i = first.firstIndex(where: { $0.count > 0 }) {
            // The first message goes one rank too far.
            let wrong = (first[i].destination + 1) % n
            if wrong != first[i].source { first[i].destination = wrong; plan.steps[0] = first }
        }
        let workCount = plan.workCount
        var work = [UInt8](repeating: 0, count: n * workCount * width)
        let inputCount = c.inputCount
        inputs.buffers.storage.withUnsafeBytes { inRaw in
            work.withUnsafeMutableBytes { workRaw in
                let w = workRaw.baseAddress!, input = inRaw.baseAddress!
                // Starting contents of the work buffers.
                for r in 0..<n {
                    let dst = w + r * workCount * width, src = input + r * inputCount * width
                    switch c.operation {
                    case .allReduce, .reduceScatter: dst.copyMemory(from: src, byteCount: inputCount * width)
                    case .allGather: (dst + r * inputCount * width).copyMemory(from: src, byteCount: inputCount * width)
                    case .allToAll:
                        let block = inputCount / n
                        (dst + r * block * width).copyMemory(from: src + r * block * width, byteCount: block * width)
                    case .broadcast: if r == c.root { dst.copyMemory(from: src, byteCount: inputCount * width) }
                    case .sendRecv: break
                    }
                }
                if faults.dropsRank && n > 1 {
                    // Rank 1's data never enters: its buffer holds the reduction's identity.
                    let identity = Self.identity(c)
                    for i in 0..<workCount { Tensor.store(identity, at: 1 * workCount + i, width: width, in: workRaw) }
                }
                let largestStep = plan.steps.map { $0.reduce(0) { $0 + $1.count } }.max() ?? 0
                let staging = UnsafeMutableRawPointer.allocate(byteCount: max(1, largestStep * width), alignment: 16)
                defer { staging.deallocate() }
                let p = Pointers(work: w, input: input, staging: staging)
                for step in plan.steps {
                    var starts: [Int] = []
                    var total = 0
                    for t in step { starts.append(total); total += t.count }
                    let offsets = starts
                    DispatchQueue.concurrentPerform(iterations: step.count) { i in
                        let t = step[i]
                        let base = t.from == .input ? p.input + t.source * inputCount * width : UnsafeRawPointer(p.work + t.source * workCount * width)
                        (p.staging + offsets[i] * width).copyMemory(from: base + t.sourceOffset * width, byteCount: t.count * width)
                    }
                    DispatchQueue.concurrentPerform(iterations: step.count) { i in
                        let t = step[i]
                        let dst = p.work + (t.destination * workCount + t.destinationOffset) * width
                        let src = UnsafeRawPointer(p.staging + offsets[i] * width)
                        if t.reduce { Self.reduce(into: dst, from: src, count: t.count, c) } else { dst.copyMemory(from: src, byteCount: t.count * width) }
                    }
                }
                if faults.ranksDisagree && c.operation == .allReduce {
                    // Odd ranks sum the inputs themselves, last rank first: a different order.
                    for r in stride(from: 1, to: n, by: 2) {
                        let dst = w + r * workCount * width
                        dst.copyMemory(from: input + (n - 1) * inputCount * width, byteCount: inputCount * width)
                        for k in stride(from: n - 2, through: 0, by: -1) {
                            Self.reduce(into: dst, from: input + k * inputCount * width, count: inputCount, c)
                        }
                    }
                }
            }
        }
        if c.operation == .reduceScatter {
            let out = c.outputCount
            var kept = [UInt8](repeating: 0, count: n * out * width)
            for r in 0..<n {
                let from = (r * workCount + r * out) * width
                kept.replaceSubrange((r * out * width)..<((r + 1) * out * width), with: work[from..<(from + out * width)])
            }
            return Tensor(type: c.type, shape: [n, out], storage: kept)
        }
        return Tensor(type: c.type, shape: [n, workCount], storage: work)
    }

    /// The element of the case's type that leaves a reduction unchanged.
    static func identity(_ c: CollectiveCase) -> UInt32 {
        switch c.reduction {
        case .sum: return c.type.encode(0, overflow: .ieee)
        case .max: return c.type.isInteger ? c.type.encode(-Double.greatestFiniteMagnitude, overflow: .saturate) : c.type.encode(-.infinity, overflow: .ieee)
        case .min: return c.type.isInteger ? c.type.encode(Double.greatestFiniteMagnitude, overflow: .saturate) : c.type.encode(.infinity, overflow: .ieee)
        }
    }

    /// dst[i] = src[i] ⊕ dst[i], in the type.
    static func reduce(into dst: UnsafeMutableRawPointer, from src: UnsafeRawPointer, count: Int, _ c: CollectiveCase) {
        switch (c.type, c.reduction) {
        case (.fp32, .sum):
            let d = dst.assumingMemoryBound(to: Float.self), s = src.assumingMemoryBound(to: Float.self)
            for i in 0..<count { d[i] = s[i] + d[i] }
        case (.fp32, .max):
            let d = dst.assumingMemoryBound(to: Float.self), s = src.assumingMemoryBound(to: Float.self)
            for i in 0..<count { d[i] = Swift.max(s[i], d[i]) }
        case (.fp32, .min):
            let d = dst.assumingMemoryBound(to: Float.self), s = src.assumingMemoryBound(to: Float.self)
            for i in 0..<count { d[i] = Swift.min(s[i], d[i]) }
        case (.int32, _):
            let d = dst.assumingMemoryBound(to: Int32.self), s = src.assumingMemoryBound(to: Int32.self)
            for i in 0..<count { d[i] = combine(s[i], d[i], c.reduction) }
        case (.int8, _):
            let d = dst.assumingMemoryBound(to: Int8.self), s = src.assumingMemoryBound(to: Int8.self)
            for i in 0..<count { d[i] = combine(s[i], d[i], c.reduction) }
        default:
            // bf16, fp16: the exact sum (or max, min) of two values, rounded once to the type.
            let width = c.type.byteWidth, t = c.type
            let raw = UnsafeMutableRawBufferPointer(start: dst, count: count * width)
            let source = UnsafeRawBufferPointer(start: src, count: count * width)
            for i in 0..<count {
                let a = t.decode(Tensor.bits(at: i, width: width, in: source))
                let b = t.decode(Tensor.bits(at: i, width: width, in: UnsafeRawBufferPointer(raw)))
                let v: Double
                switch c.reduction {
                case .sum: v = a + b
                case .max: v = Swift.max(a, b)
                case .min: v = Swift.min(a, b)
                }
                Tensor.store(t.encode(v, overflow: .ieee), at: i, width: width, in: raw)
            }
        }
    }

    @inline(__always)
    static func combine<T: FixedWidthInteger>(_ a: T, _ b: T, _ op: CollectiveCase.Reduction) -> T {
        switch op {
        case .sum: return a &+ b
        case .max: return Swift.max(a, b)
        case .min: return Swift.min(a, b)
        }
    }
}
