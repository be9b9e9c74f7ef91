import SystolicNumerics
import SystolicDevice
import SystolicSuite

/// What one attention case costs on an emulated chip.
public struct AttentionCost: Sendable, Equatable {
    public var cycles: Int
    /// Cycles the array is busy (both products).
    public var arrayCycles: Int
    /// Cycles of the vector unit (softmax, rescales, the final division and conversion).
    public var vectorCycles: Int
    /// Cycles spent waiting for HBM beyond the compute.
    public var stallCycles: Int
    /// MACs the array executes (whole kv blocks, masked positions inside a block included).
    public var arrayMacs: Int
    public var vectorOps: Int
    public var hbmReadBytes: Int
    public var hbmWriteBytes: Int
    public var sramBytes: Int
    public var joules: Double
    public var seconds: Double
}

/// The analytical model of flash-style attention on the emulated chip (docs/attention.md, "On the
/// emulator").
///
/// **Mapping.** Work is split per sequence and kv head (a unit); a unit's rows are the query
/// positions of every query head sharing the kv head (GQA packs the group into the array's
/// streamed dimension), in blocks of at most 2048 rows that fit the unified buffer. For each query
/// block, kv blocks of C keys (the array width) are visited until the block's last row's
/// causal limit; fully masked kv blocks are skipped. Each block runs S = Q·Kᵀ and O += P·V on the
/// array and the online softmax on the vector unit.
///
/// **Array cycles** of a product: either operand may be held stationary; the model takes the
/// cheaper. With w weight tiles (R·r deep, C wide) and s rows streamed through each, over `count`
/// arrays: double-buffered weight loading takes max(⌈w/count⌉·R, ⌈w·s/count⌉) (loads hide behind
/// streaming), serial ⌈w/count⌉·(2R + C − 2) + ⌈w·s/count⌉. Holding Q stationary while keys
/// stream is what makes decode (a few query rows) run at the speed of the KV cache.
///
/// **Vector cycles**: 3 operations per score (scale and subtract the max, exp, round to P and add
/// to the row sum), 1 per accumulator element per kv block (the rescale) and 2 per output element
/// (divide, convert), at lanes × ops per cycle. The vector unit works on one block while the array
/// computes the next, so a query block takes max(array, vector) cycles of compute.
///
/// **HBM traffic**: Q once, K and V once per query block that reads them, the output once, and
/// for the paged layout 4 bytes of page table per page visited. A query block takes max(compute,
/// bytes ÷ bytes-per-cycle) cycles (double buffering); the first kv block's load is not hidden.
///
/// **Energy** (modelled): array MACs × energy per MAC of the input type + SRAM bytes + HBM bytes +
/// vector ops × their energies + static power × time.
public enum AttentionCostModel {
    static let maxQueryBlockRows = 2048

    public static func cost(_ a: AttentionCase, on config: DeviceConfig) -> AttentionCost? {
        guard let rate = config.arithmetic.rate(a.inputType), let kvRate = config.arithmetic.rate(a.kvType) else { return nil }
        let r = config.array.rows, c = config.array.cols, count = config.array.count
        let depth = r * min(rate, kvRate)
        let serial = config.array.weightLoading == .serial
        let (qBytes, kvBytes, outBytes, pBytes) = (a.inputType.byteWidth, a.kvType.byteWidth, a.outputType.byteWidth,
                                                   a.probabilityType.byteWidth)
        let d = a.headDim, group = a.groupSize
        let lanes = config.vectorUnit.lanes * config.vectorUnit.opsPerCycle
        let bytesPerCycle = config.memory.hbmBytesPerSecond / config.clockHz

        func arrayCycles(weightTiles w: Int, streamed s: Int) -> Int {
            let loads = (w + count - 1) / count, stream = (w * s + count - 1) / count
            return serial ? loads * (2 * r + c - 2) + stream : max(loads * r, stream)
        }
        func tiles(_ k: Int, _ n: Int) -> Int { ((k + depth - 1) / depth) * ((n + c - 1) / c) }
        func memoryCycles(_ bytes: Int) -> Int { bytesPerCycle > 0 ? Int((Double(bytes) / bytesPerCycle).rounded(.up)) : 0 }

        // SRAM per query row: Q, the fp32 accumulator, and an fp32 score tile; plus K and V blocks, double-buffered.
        let kvBlockBytes = 4 * c * d * kvBytes
        let perRow = d * qBytes + d * 4 + c * 4
        let fit = max(1, (config.memory.unifiedBufferBytes - kvBlockBytes) / perRow)
        let queryBlock = max(1, min(maxQueryBlockRows, fit))

        var total = 0, arrayTotal = 0, vectorTotal = 0, computeTotal = 0
        var macs = 0, vectorOps = 0, read = 0, write = 0, sram = 0
        for b in 0..<a.batch {
            let n = a.kvLengths[b]
            for _ in 0..<a.kvHeads {
                // Rows ordered by query position, then head: a query block covers consecutive positions.
                let rows = group * a.queryLength
                var r0 = 0
                while r0 < rows {
                    let m = min(queryBlock, rows - r0)
                    let lastPosition = (r0 + m - 1) / group
                    let keys = a.visibleKeys(row: lastPosition, kvLength: n)
                    let blocks = (keys + c - 1) / c
                    let span = min(n, blocks * c)
                    // S = Q·Kᵀ: keys stationary (Q streams), or Q stationary (keys stream).
                    let qk = min(arrayCycles(weightTiles: blocks * tiles(d, c), streamed: m),
                                 arrayCycles(weightTiles: tiles(d, m), streamed: span))
                    // O += P·V: V stationary (P streams), or Pᵀ stationary (Vᵀ streams).
                    let pv = min(arrayCycles(weightTiles: blocks * tiles(c, d), streamed: m),
                                 arrayCycles(weightTiles: blocks * tiles(c, m), streamed: d))
                    let ops = 3 * m * span + blocks * m * d + 2 * m * d
                    let vector = (ops + lanes - 1) / lanes
                    let readBytes = m * d * qBytes + 2 * span * d * kvBytes + (a.layout == .paged ? 4 * ((span + a.pageSize - 1) / a.pageSize) : 0)
                    let writeBytes = m * d * outBytes
                    let compute = max(qk + pv, vector)
                    total += max(compute, memoryCycles(readBytes + writeBytes))
                    computeTotal += compute
                    arrayTotal += qk + pv
                    vectorTotal += vector
                    macs += 2 * m * span * d
                    vectorOps += ops
                    read += readBytes
                    write += writeBytes
                    // Operands into the array, scores out, P in, the accumulator read and written per block.
                    sram += m * d * qBytes + 2 * span * d * kvBytes + m * span * (4 + pBytes) + 2 * blocks * m * d * 4
                    r0 += m
                }
            }
        }
        sram += read + write
        // The first K and V blocks arrive before anything can start.
        let prologue = memoryCycles(2 * min(c, a.kvLength) * d * kvBytes)
        let cycles = total + prologue
        let seconds = Double(cycles) / config.clockHz
        let e = config.energy
        let joules = Double(macs) * (e.macJoules[a.inputType.rawValue] ?? 0) + Double(sram) * e.sramByteJoules
            + Double(read + write) * e.hbmByteJoules + Double(vectorOps) * e.vectorOpJoules + e.staticWatts * seconds
        return AttentionCost(cycles: cycles, arrayCycles: arrayTotal, vectorCycles: vectorTotal, stallCycles: total - computeTotal,
                             arrayMacs: macs, vectorOps: vectorOps, hbmReadBytes: read, hbmWriteBytes: write, sramBytes: sram,
                             joules: joules, seconds: seconds)
    }
}
