import CSystolicPlatform
import Dispatch
import Foundation
import SystolicCheck
import SystolicData
import SystolicDevice
import SystolicSuite

/// How fast a device's functional GEMM and the host reference run (`systolic-bench bench`):
/// seconds per call on generated inputs, the median of the repeats after one warm-up. Data
/// generation and checking are not timed.
public enum GemmSpeed {
    /// The instruction set the C kernels use on this machine.
    public static var kernelPath: String { pathNames[Int(sb_kernels_vectorised())] }

    /// The kernel paths by level (sb_kernels_limit's), and their names on the command line.
    public static let pathNames = ["portable C", "AVX2+FMA", "AVX-512"]
    public static let pathKeys = ["portable", "avx2", "avx512"]

    /// The best path this CPU offers (its level).
    public static var bestPath: Int {
        sb_kernels_limit(2)
        return Int(sb_kernels_vectorised())
    }

    /// Runs `body` with the kernels capped at `level` (every path gives the same bits: only the
    /// time changes), restoring the best path after.
    public static func onPath<T>(_ level: Int, _ body: () throws -> T) rethrows -> T {
        sb_kernels_limit(Int32(level))
        defer { sb_kernels_limit(2) }
        return try body()
    }

    /// One shape and type: the device's and the reference's median seconds (nil when not timed)
    /// and the case's operation count.
    public struct Figures: Sendable {
        public var deviceSeconds: Double?
        public var referenceSeconds: Double?
        public var operations: Double

        public var deviceRate: Double? { deviceSeconds.map { operations / $0 } }
        public var referenceRate: Double? { referenceSeconds.map { operations / $0 } }
    }

    /// Times `g` on `device` (when given) and the host reference (when `reference`), each
    /// `repeats` times after a warm-up, on inputs generated from seed 1.
    public static func measure(_ g: GemmCase, device: (any DeviceAdapter)?, reference: Bool, threads: Int, repeats: Int) throws -> Figures {
        let c = BenchmarkCase(id: "bench/\(g.m)x\(g.n)x\(g.k)/\(g.types.label)", suite: "bench", name: "bench", profiles: [], workload: .gemm(g))
        let inputs = GemmInputs(g, caseId: c.id, generator: DataGenerator(seed: 1))
        var figures = Figures(deviceSeconds: nil, referenceSeconds: nil, operations: g.work.count)
        if let device {
            figures.deviceSeconds = try median(repeats) { _ = try device.run(c, inputs: .gemm(inputs)) }
        }
        if reference {
            // A block-scaled case's reference is its groups' (what the check computes).
            figures.referenceSeconds = try median(repeats) {
                _ = g.scales.isBlocked ? GemmReference.judged(g, inputs) : GemmReference.compute(g, inputs, threads: threads)
            }
        }
        return figures
    }

    /// The median time of `repeats` calls of `body`, after one untimed call.
    public static func median(_ repeats: Int, _ body: () throws -> Void) throws -> Double {
        try body()
        var times: [Double] = []
        for _ in 0..<max(repeats, 1) {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        times.sort()
        return times[times.count / 2]
    }
}
