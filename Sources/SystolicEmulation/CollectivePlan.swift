import SystolicSuite

/// The steps of a collective's algorithm on the emulated system: which rank sends which elements
/// to which, and whether the receiver reduces them into its buffer or stores them.
///
/// Every rank has a work buffer (`workCount` elements) that starts as `CollectivePlan.initialise`
/// says and ends holding its output (reduce-scatter keeps its own chunk of it). Algorithms, chosen
/// by size as collective libraries do:
/// - all-reduce: **recursive doubling** (log₂n steps, each rank exchanges its whole buffer with
///   rank r xor 2ᵏ and both reduce) when n is a power of two and S ≤ 64 KiB; otherwise **ring**:
///   a reduce-scatter then an all-gather, 2(n−1) steps of S/n.
/// - reduce-scatter, all-gather: **ring**, n−1 steps of S/n (at step s rank r sends chunk
///   r − s − 1, resp. r − s, to r + 1; reduce-scatter leaves the full sum of chunk r on rank r).
/// - all-to-all: **pairwise**, n−1 steps (at step s rank r sends its block for r + s there).
/// - broadcast: **binomial tree** (⌈log₂n⌉ steps of S) when S ≤ 64 KiB, else a **pipelined ring**
///   of K = min(64, ⌈S / 64 KiB⌉) chunks, n − 2 + K steps of S/K.
/// - send/recv: one step, each rank r sends its buffer to r + 1 (as nccl-tests' sendrecv).
public struct CollectivePlan: Sendable {
    public enum Source: Sendable { case input, work }

    public struct Transfer: Sendable, Equatable {
        public var source: Int
        public var destination: Int
        public var from: Source
        public var sourceOffset: Int
        public var destinationOffset: Int
        public var count: Int
        public var reduce: Bool
    }

    public var algorithm: String
    public var workCount: Int
    public var steps: [[Transfer]]

    /// Below this many bytes, latency-bound algorithms are used.
    public static let smallMessageBytes = 65536

    /// Chunk k of n over `count` elements; `offByOne` is the fault that lets a chunk run one element into the next.
    static func chunk(_ k: Int, of n: Int, count: Int, offByOne: Bool = false) -> Range<Int> {
        let start = k * count / n
        var end = (k + 1) * count / n
        if offByOne && k < n - 1 { end = min(count, end + 1) }
        return start..<end
    }

    public init(_ c: CollectiveCase, offByOne: Bool = false) {
        let n = c.ranks
        func ring(_ count: Int, reduce: Bool, shift: Int) -> [[Transfer]] {
            (0..<(n - 1)).map { s in
                (0..<n).map { r in
                    let k = ((r - s - shift) % n + n) % n
                    let range = Self.chunk(k, of: n, count: count, offByOne: offByOne)
                    return Transfer(source: r, destination: (r + 1) % n, from: .work, sourceOffset: range.lowerBound,
                                    destinationOffset: range.lowerBound, count: range.count, reduce: reduce)
                }
            }
        }
        switch c.operation {
        case .allReduce:
            workCount = c.outputCount
            if n & (n - 1) == 0 && c.bytes <= Self.smallMessageBytes {
                algorithm = "recursive_doubling"
                var steps: [[Transfer]] = []
                var bit = 1
                while bit < n {
                    let b = bit
                    steps.append((0..<n).map { r in
                        Transfer(source: r, destination: r ^ b, from: .work, sourceOffset: 0, destinationOffset: 0, count: c.outputCount, reduce: true)
                    })
                    bit <<= 1
                }
                self.steps = steps
            } else {
                algorithm = "ring"
                steps = ring(c.outputCount, reduce: true, shift: 1) + ring(c.outputCount, reduce: false, shift: 0)
            }
        case .reduceScatter:
            algorithm = "ring"
            workCount = c.inputCount
            steps = ring(c.inputCount, reduce: true, shift: 1)
        case .allGather:
            algorithm = "ring"
            workCount = c.outputCount
            steps = ring(c.outputCount, reduce: false, shift: 0)
        case .allToAll:
            algorithm = "pairwise"
            workCount = c.outputCount
            let block = c.inputCount / n
            steps = (1..<n).map { s in
                (0..<n).map { r in
                    let to = (r + s) % n
                    return Transfer(source: r, destination: to, from: .input, sourceOffset: to * block, destinationOffset: r * block,
                                    count: block, reduce: false)
                }
            }
        case .broadcast:
            workCount = c.outputCount
            if c.bytes <= Self.smallMessageBytes {
                algorithm = "binomial_tree"
                var steps: [[Transfer]] = []
                var span = 1
                while span < n {
                    let reach = span
                    steps.append((0..<reach).compactMap { v in
                        guard v + reach < n else { return nil }
                        return Transfer(source: (c.root + v) % n, destination: (c.root + v + reach) % n, from: .work, sourceOffset: 0,
                                        destinationOffset: 0, count: c.outputCount, reduce: false)
                    })
                    span <<= 1
                }
                self.steps = steps
            } else {
                algorithm = "pipelined_ring"
                let chunks = Swift.min(64, Swift.max(1, (c.bytes + Self.smallMessageBytes - 1) / Self.smallMessageBytes), c.outputCount)
                steps = (0..<(n - 2 + chunks)).map { t in
                    (0..<(n - 1)).compactMap { d in
                        let j = t - d
                        guard j >= 0 && j < chunks else { return nil }
                        let range = Self.chunk(j, of: chunks, count: c.outputCount, offByOne: offByOne)
                        return Transfer(source: (c.root + d) % n, destination: (c.root + d + 1) % n, from: .work,
                                        sourceOffset: range.lowerBound, destinationOffset: range.lowerBound, count: range.count, reduce: false)
                    }
                }
            }
        case .sendRecv:
            algorithm = "direct"
            workCount = c.outputCount
            steps = [(0..<n).map { r in
                Transfer(source: r, destination: (r + 1) % n, from: .input, sourceOffset: 0, destinationOffset: 0, count: c.inputCount, reduce: false)
            }]
        }
    }
}

extension CollectivePlan {
    /// The plan's time on `interconnect` (the sum of its steps' times, see `Interconnect`) and the
    /// bytes × links it moves, for `width`-byte elements.
    public func cost(on interconnect: Interconnect, width: Int) -> (seconds: Double, linkBytes: Double) {
        var seconds = 0.0, linkBytes = 0.0
        for step in steps {
            let c = interconnect.cost(of: step.map { Interconnect.Message(source: $0.source, destination: $0.destination, bytes: $0.count * width) })
            seconds += c.seconds
            linkBytes += c.linkBytes
        }
        return (seconds, linkBytes)
    }
}
