import Foundation
import SystolicData
import SystolicDevice
import SystolicNumerics
import SystolicSuite

/// The reference systolic emulator: the default device.
///
/// GEMM numerics, per output element C[b, i, j], re-computable anywhere:
/// - **Weight stationary** (K-tile T = rows × MACs per PE per cycle of the input type): K is cut
///   into tiles of T in order; inside a tile the partial sum starts at +0 and flows down the
///   column, `p = fma(a[i,k], b[k,j], p)` in fp32 for k in order (products of fp16, bf16 and fp8
///   are exact in fp32, so this is an exact product and one fp32 rounding); tiles are added in
///   order into an fp32 accumulator, `acc = p₀`, then `acc = acc + pₜ`.
/// - **Output stationary**: one running fp32 sum per PE over all of K in order from +0,
///   `acc = fma(a[i,k], b[k,j], acc)`.
/// - **Block scales** (fp8 with one fp32 scale per block of A and of B): each K group of the
///   blocks is summed as above as a GEMM of its own (K-tiles of at most the group), giving p; then
///   on the vector unit in fp32, s = sa·sb (one multiply of the two fp32 scales), acc = p·s for
///   the first group and acc = acc + p·s for the next, groups in order; an output scale is then
///   one fp32 multiply by fp32(1/scale_out).
/// - **Leading dimensions**: rows of A and B are read at lda and ldb (padding never read); C's
///   rows are written into the caller's buffer at ldc, its padding left as it was.
/// - The output is `acc` rounded to the output type (nearest-even, the case's overflow mode).
/// - int8 × int8 sums the same way in int32 (exact for K ≤ 131072).
///
/// Timing, traffic and energy come from `GemmCostModel`.
///
/// Attention numerics, per query row (flash-style, kv blocks of C keys, C the array width):
/// - S = Q·Kᵀ for the block on the array as a GEMM (K = head_dim, the order above), then in fp32 on
///   the vector unit: t = S·f with f = fp32(scale·k_scale); masked keys are skipped; the new row
///   maximum m' = max(m, tⱼ); α = exp(m − m') (0 for the first block a row sees); pⱼ = exp(tⱼ − m')
///   rounded to the case's P type; l = α·l + Σⱼ pⱼ (in order); acc = α·acc.
/// - acc = acc + P·V for the block (the array GEMM, K = the block's keys, the order above).
/// - After the last block: o = acc / l, times fp32(v_scale) when it is not 1, rounded to the
///   output type; a row that sees no key outputs +0.
/// - exp is `VectorMath.exp` (binary64 evaluation rounded once to fp32, ≤ 0.5 ulp + 2⁻⁵⁰; the
///   preset declares `exp_ulps`).
///
/// Timing, traffic and energy of attention come from `AttentionCostModel`.
public struct SystolicEmulator: DeviceAdapter {
    /// How the emulator's attention is computed: the documented flash order, or an alternative
    /// that is just as correct (tests prove the check accepts every one).
    public struct AttentionVariant: Sendable, Equatable {
        public enum KVBlock: Sendable, Equatable {
            /// Blocks as wide as the array (the documented order).
            case arrayWidth
            /// Blocks of this many keys.
            case keys(Int)
            /// One block of every key: a full softmax in fp32, P normalised before P·V.
            case fullSoftmax
        }
        public var kvBlock: KVBlock = .arrayWidth
        /// Keep P in fp32 where the case allows rounding it to a narrower type.
        public var keepProbabilitiesInFP32 = false
        /// Run query heads from last to first.
        public var reverseHeads = false
        public init(kvBlock: KVBlock = .arrayWidth, keepProbabilitiesInFP32: Bool = false, reverseHeads: Bool = false) {
            self.kvBlock = kvBlock; self.keepProbabilitiesInFP32 = keepProbabilitiesInFP32; self.reverseHeads = reverseHeads
        }
    }

    public let config: DeviceConfig
    public let faults: [EmulatorFault]
    public var attentionVariant = AttentionVariant()

    /// Outputs by shape, kept only for the `cachedResult` fault.
    private let cache: ResultCache?
    /// Worker threads for the functional GEMM (all cores when nil); outputs do not depend on it.
    public let threads: Int?

    /// The emulator for `config`, with the faults its file names and any given here.
    public init(config: DeviceConfig, faults: [EmulatorFault] = [], threads: Int? = nil) {
        self.config = config
        self.threads = threads
        let faults = (config.faults ?? []).compactMap(EmulatorFault.init) + faults
        self.faults = faults
        self.cache = faults.contains(.cachedResult) ? ResultCache() : nil
    }

    /// The emulator with its default preset.
    public init(faults: [EmulatorFault] = []) {
        // The preset ships inside the module; failing to read it is a broken installation.
        guard let config = try? DeviceConfig.preset(DeviceConfig.defaultPresetName) else {
            preconditionFailure("the \(DeviceConfig.defaultPresetName) preset is missing from the SystolicDevice resources")
        }
        self.init(config: config, faults: faults)
    }

    /// Version of the numeric and timing model; it changes whenever any output bit or figure would.
    public static let modelVersion = "2.10.0"

    public var descriptor: DeviceDescriptor {
        var peaks: [String: Double] = [:]
        for t in config.arithmetic.inputTypes { peaks[t.rawValue] = config.peakOpsPerSecond(t) }
        return DeviceDescriptor(
            name: "emulator-\(config.name)", vendor: "SystolicBench", product: "reference systolic emulator: \(config.description)",
            driverVersion: Self.modelVersion, kind: "emulator",
            arithmetic: DeclaredArithmetic(accumulator: config.arithmetic.accumulator, subnormals: config.arithmetic.subnormals,
                                           overflowModes: config.arithmetic.overflowModes, inputTypes: config.arithmetic.inputTypes,
                                           expUlps: config.vectorUnit.expUlps, matrixEngine: config.arithmetic.matrixEngine,
                                           scaleRounding: config.arithmetic.scaleRounding),
            ops: config.chips.count > 1 ? ["gemm", "attention", "collective"] : ["gemm", "attention"],
            array: ArrayGeometry(rows: config.array.rows, cols: config.array.cols, dataflow: config.array.dataflow.rawValue,
                                 clockHz: config.clockHz),
            peakOpsPerSecond: peaks)
    }

    public func run(_ benchmarkCase: BenchmarkCase, inputs: CaseInputs) throws(DeviceError) -> DeviceOutput {
        switch (benchmarkCase.workload, inputs) {
        case let (.gemm(gemm), .gemm(tensors)):
            return try runGemm(gemm, tensors)
        case (.gemm, _):
            throw .broken("GEMM case given inputs of another family")
        case let (.attention(attention), .attention(tensors)):
            return try runAttention(attention, tensors)
        case (.attention, _):
            throw .broken("attention case given inputs of another family")
        case let (.collective(collective), .collective(tensors)):
            return try runCollective(collective, tensors)
        case let (.collective(collective), .none) where collective.timingOnly:
            return try runCollective(collective, nil)
        case (.collective, _):
            throw .broken("collective case given inputs of another family")
        }
    }

    private func runGemm(_ g: GemmCase, _ inputs: GemmInputs) throws(DeviceError) -> DeviceOutput {
        for t in [g.types.a, g.types.b] where config.arithmetic.rate(t) == nil {
            throw .notSupported("input type \(t.rawValue) is not supported by \(config.name)")
        }
        if !g.scales.isUnit && g.types.a.isInteger && g.blockFormat == nil {
            throw .notSupported("scales on int8 GEMMs are given by requantize, not scales")
        }
        if g.types.a.isInteger, g.activation != .none {
            throw .notSupported("activations on int8 GEMMs are not modelled by emulator model \(Self.modelVersion)")
        }
        if g.types.a.isInteger, g.blockFormat == nil, g.types.output != .int32, g.types.output != .int8 {
            throw .notSupported("int8 GEMM output \(g.types.output.rawValue) is not modelled by emulator model \(Self.modelVersion)")
        }
        let footprint = g.batch * (g.m * g.k * g.types.a.byteWidth + g.k * g.n * g.types.b.byteWidth + g.m * g.n * g.types.output.byteWidth)
        if footprint > config.memory.hbmCapacityBytes {
            throw .notSupported("the case's \(footprint) bytes of tensors exceed \(config.name)'s \(config.memory.hbmCapacityBytes) bytes of memory")
        }
        guard let cost = GemmCostModel.cost(g, on: config) else { throw .notSupported("input types not supported") }
        if faults.contains(.cachedResult), let cached = cache?.lookup(g) {
            return DeviceOutput(tensors: [g.output.role: cached], metrics: metrics(g, cost))
        }
        var inputs = blockFormatted(g, inputs)
        if faults.contains(.ignoresBias) { inputs.epilogue?.bias = nil }
        if faults.contains(.batchesShareWeights), g.batch > 1, g.groups == nil {
            // Batch 0's weights, whatever the batch: a B batch stride of zero.
            let perBatch = inputs.b.storage.count / g.batch
            let first = inputs.b.storage.prefix(perBatch)
            inputs.b = Tensor(type: inputs.b.type, shape: inputs.b.shape, storage: Array((0..<g.batch).map { _ in first }.joined()))
        }
        var c: Tensor
        if let (wide, wideInputs) = inputs.widenedIntegerElements(g, reading: faults.contains(.int4SignExtension) ? .otherSignedness : .declared,
                                                                 mxint8AsInteger: faults.contains(.mxint8AsInteger)) {
            // int4 weights and MXINT8: the block-scaled GEMM of their values on the array
            // (`widenedIntegerElements`).
            c = GemmKernel.multiply(wide, wideInputs, behaviour: behaviour(for: wide, runAs: g))
        } else if !g.leading.isPacked {
            c = stridedProduct(g, inputs)
        } else if g.groups != nil {
            // Each expert is a GEMM of its own rows and weights; the outputs stack in row order.
            var storage: [UInt8] = []
            storage.reserveCapacity(g.m * g.n * g.types.output.byteWidth)
            let experts = g.groups!.count
            for (e, first, sub) in g.groupCases {
                let weights = faults.contains(.misroutedGroups) ? (e + 1) % experts : e
                storage += GemmKernel.multiply(sub, inputs.expert(weights, firstRow: first, rows: sub.m, g), behaviour: behaviour(for: sub)).storage
            }
            c = Tensor(type: g.types.output, shape: [1, g.m, g.n], storage: storage)
        } else {
            c = GemmKernel.multiply(g, inputs, behaviour: behaviour(for: g))
        }
        if faults.contains(.wrongOutputShape) { c = Tensor(type: c.type, shape: [c.shape[0], c.count / max(c.shape[0], 1)], storage: c.storage) }
        cache?.store(g, c)
        return DeviceOutput(tensors: [g.output.role: c], metrics: metrics(g, cost))
    }

    /// A block-scaled case's inputs as this chip reads them: A quantised by the declared scale
    /// rounding where the chip quantises it (`a_from`), then the faults that live in reading
    /// block-scaled operands.
    private func blockFormatted(_ g: GemmCase, _ inputs: GemmInputs) -> GemmInputs {
        guard let format = g.blockFormat else { return inputs }
        let declared = config.arithmetic.scaleRounding ?? ScaleRoundings()
        var out = inputs.quantisingA(g, rounding: faults.contains(.undeclaredScaleRounding) ? declared.flipped : declared)
        if faults.contains(.swappedNibbles) {
            func swapped(_ t: Tensor) -> Tensor {
                guard t.type == .fp4_e2m1 || t.type.isNibble else { return t }
                var bytes = t.storage
                for i in stride(from: 0, to: bytes.count - 1, by: 2) { bytes.swapAt(i, i + 1) }
                return Tensor(type: t.type, shape: t.shape, storage: bytes)
            }
            out.a = swapped(out.a)
            out.b = swapped(out.b)
        }
        if faults.contains(.scaleNaNAsNumber), format.scheme == .mx, var scales = out.blockScales {
            func asNumber(_ t: Tensor?) -> Tensor? {
                t.map { t in Tensor(type: .fp32, shape: t.shape, values: (0..<t.count).map { t.value(at: $0).isNaN ? .infinity : t.value(at: $0) },
                                    overflow: .ieee) }
            }
            scales.a = asNumber(scales.a)
            scales.b = asNumber(scales.b)
            out.blockScales = scales
        }
        if faults.contains(.ignoresTensorScale) {
            out.blockScales?.tensorA = 1
            out.blockScales?.tensorB = 1
        }
        return out
    }

    /// A GEMM over strided rows: the DMA reads each row of A and B at its leading dimension, the
    /// arithmetic is the packed GEMM's, and C's rows are written into the caller's buffer at ldc,
    /// its padding untouched.
    private func stridedProduct(_ g: GemmCase, _ inputs: GemmInputs) -> Tensor {
        let ignoresStrides = faults.contains(.ignoresLeadingDimension)
        var packed = ignoresStrides ? inputs : inputs.packed(g)
        if ignoresStrides {
            // Rows read back to back from the start of the buffer, as if they were packed.
            let rowsB = g.layoutB == .kn ? g.k : g.n, lengthB = g.layoutB == .kn ? g.n : g.k
            packed.a = Tensor(type: inputs.a.type, shape: [g.batch, g.m, g.k], storage: Array(inputs.a.storage.prefix(g.batch * g.m * g.k * inputs.a.type.byteWidth)))
            packed.b = Tensor(type: inputs.b.type, shape: [g.batch, rowsB, lengthB],
                              storage: Array(inputs.b.storage.prefix(g.batch * rowsB * lengthB * inputs.b.type.byteWidth)))
        }
        var c = GemmKernel.multiply(g.packed, packed, behaviour: behaviour(for: g))
        if let background = inputs.c {
            if ignoresStrides {
                var storage = background.storage
                storage.replaceSubrange(0..<c.storage.count, with: c.storage)
                c = Tensor(type: c.type, shape: background.shape, storage: storage)
            } else {
                c = c.placedInRows(of: background)
            }
        }
        return c
    }

    private func runAttention(_ a: AttentionCase, _ inputs: AttentionInputs) throws(DeviceError) -> DeviceOutput {
        for t in [a.inputType, a.kvType] where config.arithmetic.rate(t) == nil {
            throw .notSupported("input type \(t.rawValue) is not supported by \(config.name)")
        }
        if a.accumulateType != config.arithmetic.accumulator {
            throw .notSupported("accumulation in \(a.accumulateType.rawValue) is not offered by \(config.name) (it accumulates in \(config.arithmetic.accumulator.rawValue))")
        }
        let footprint = inputs.q.storage.count + inputs.k.storage.count + inputs.v.storage.count
            + a.batch * a.heads * a.queryLength * a.headDim * a.outputType.byteWidth
        if footprint > config.memory.hbmCapacityBytes {
            throw .notSupported("the case's \(footprint) bytes of tensors exceed \(config.name)'s \(config.memory.hbmCapacityBytes) bytes of memory")
        }
        guard let cost = AttentionCostModel.cost(a, on: config) else { throw .notSupported("input types not supported") }
        let rate = min(config.arithmetic.rate(a.inputType)!, config.arithmetic.rate(a.kvType)!)
        var b = AttentionKernel.Behaviour(kTile: config.array.dataflow == .outputStationary ? max(a.headDim, config.array.cols) : config.array.rows * rate)
        switch attentionVariant.kvBlock {
        case .arrayWidth: b.kvBlock = config.array.cols
        case let .keys(n): b.kvBlock = max(1, n)
        case .fullSoftmax: b.kvBlock = nil
        }
        b.keepProbabilitiesInFP32 = attentionVariant.keepProbabilitiesInFP32
        b.reverseHeads = attentionVariant.reverseHeads
        if let threads { b.threads = max(1, threads) }
        for fault in faults {
            switch fault {
            case .causalOffByOne: b.causalOffByOne = true
            case .causalTopLeft: b.topLeftCausal = true
            case .softmaxWithoutMax: b.noMaxSubtraction = true
            case .gqaHeadModulo: b.moduloHeadMapping = true
            default: break
            }
        }
        var asRun = a
        if faults.contains(.attentionDefaultScale) { asRun.scale = nil }
        // A declared engine that flushes subnormal inputs reads them as zero (the products
        // themselves run in fp32, at least as accurate as any engine the bound allows).
        let engines = descriptor.arithmetic.attentionEngines(a)
        var read = inputs
        if engines.score?.subnormalInputs == .flush { read.q = read.q.flushingSubnormals(); read.k = read.k.flushingSubnormals() }
        if engines.value?.subnormalInputs == .flush {
            read.v = read.v.flushingSubnormals()
            b.flushProbabilities = true
        }
        let o = AttentionKernel.run(asRun, read, behaviour: b)
        return DeviceOutput(tensors: [a.output.role: o], metrics: attentionMetrics(a, cost))
    }

    /// A collective over the first `ranks` chips: the plan's messages really move between the
    /// chips' buffers (unless the case asks for timing alone), timed by the interconnect model.
    private func runCollective(_ c: CollectiveCase, _ inputs: CollectiveInputs?) throws(DeviceError) -> DeviceOutput {
        guard c.ranks <= config.chips.count else {
            throw .notSupported("\(c.ranks) ranks exceed \(config.name)'s \(config.chips.count) chips")
        }
        var f = CollectiveEngine.Faults()
        for fault in faults {
            switch fault {
            case .collectiveDropsRank: f.dropsRank = true
            case .collectiveRanksDisagree: f.ranksDisagree = true
            case .collectiveWrongPeer: f.wrongPeer = true
            case .collectiveChunkOffByOne: f.chunkOffByOne = true
            default: break
            }
        }
        let interconnect = Interconnect(ranks: c.ranks, chips: config.chips)
        let plan = CollectivePlan(c, offByOne: f.chunkOffByOne)
        let (seconds, linkBytes) = plan.cost(on: interconnect, width: c.type.byteWidth)
        let joules = linkBytes * config.energy.linkByteJoules + config.energy.staticWatts * seconds * Double(c.ranks)
        let (algbw, busbw) = c.bandwidths(seconds: seconds)
        let metrics: [Metric: MetricValue] = [
            .time: .modelled(seconds, "s"),
            .algbw: .modelled(algbw, "B/s"),
            .busbw: .modelled(busbw, "B/s"),
            .steps: .modelled(Double(plan.steps.count), "count"),
            .linkBytes: .modelled(linkBytes, "B"),
            .energy: .modelled(joules, "J", source: "modelled"),
        ]
        guard let inputs else { return DeviceOutput(tensors: [:], metrics: metrics) }
        let out = CollectiveEngine.run(c, inputs, faults: f)
        return DeviceOutput(tensors: [c.output!.role: out], metrics: metrics)
    }

    private func attentionMetrics(_ a: AttentionCase, _ cost: AttentionCost) -> [Metric: MetricValue] {
        let flops = a.work.count
        let hbmBytes = Double(cost.hbmReadBytes + cost.hbmWriteBytes)
        let rate = min(config.arithmetic.rate(a.inputType)!, config.arithmetic.rate(a.kvType)!)
        let peak = 2 * Double(config.array.rows * config.array.cols * config.array.count * rate) * config.clockHz
        let bandwidth = config.memory.hbmBytesPerSecond
        let rooflineSeconds = max(flops / peak, bandwidth > 0 ? hbmBytes / bandwidth : 0)
        var metrics: [Metric: MetricValue] = [
            .cycles: .modelled(Double(cost.cycles), "cycles"),
            .arrayCycles: .modelled(Double(cost.arrayCycles), "cycles"),
            .vectorCycles: .modelled(Double(cost.vectorCycles), "cycles"),
            .stallCycles: .modelled(Double(cost.stallCycles), "cycles"),
            .time: .modelled(cost.seconds, "s"),
            // FLOPs count 2·head_dim per visible (query, key) pair for each product; masked pairs are not counted.
            .flops: .modelled(flops, "FLOP"),
            .throughput: .modelled(flops / cost.seconds, "FLOP/s"),
            .utilisation: .modelled(flops / (peak * cost.seconds), "ratio"),
            .hbmReadBytes: .modelled(Double(cost.hbmReadBytes), "B"),
            .hbmWriteBytes: .modelled(Double(cost.hbmWriteBytes), "B"),
            .sramBytes: .modelled(Double(cost.sramBytes), "B"),
            .achievedBandwidth: .modelled(hbmBytes / cost.seconds, "B/s"),
            .hbmUtilisation: .modelled(bandwidth > 0 ? hbmBytes / cost.seconds / bandwidth : 0, "ratio"),
            .arithmeticIntensity: .modelled(flops / hbmBytes, "FLOP/B"),
            .rooflineTime: .modelled(rooflineSeconds, "s"),
            .rooflineFraction: .modelled(rooflineSeconds / cost.seconds, "ratio"),
            .energy: .modelled(cost.joules, "J", source: "modelled"),
            .efficiency: .modelled(flops / cost.joules, "FLOP/J", source: "modelled"),
        ]
        // Decode (a few query tokens per sequence) is measured in tokens.
        if a.queryLength <= 16 {
            metrics[.tokensPerSecond] = .modelled(Double(a.batch * a.queryLength) / cost.seconds, "token/s")
        }
        return metrics
    }

    /// The datapath's behaviour for `g`: what the configuration declares, then any faults. A
    /// widened case (int4 weights, MXINT8) takes its K-tile from the case the chip runs
    /// (`runAs`: its rate for the types it was given) and its engine from the widened types.
    private func behaviour(for g: GemmCase, runAs original: GemmCase? = nil) -> GemmKernel.Behaviour {
        // Output stationary is one running sum over all of K: a single tile as deep as K.
        let rated = original ?? g
        let tile = config.array.dataflow == .outputStationary ? max(g.k, 1) : config.array.rows * config.arithmetic.rate(rated.types.a)!
        var b = GemmKernel.Behaviour(kTile: tile, cols: config.array.cols)
        if let threads { b.threads = max(1, threads) }
        b.flushSubnormals = config.arithmetic.subnormals == .flush
        if !g.types.a.isInteger {
            let declared = DeclaredArithmetic(accumulator: config.arithmetic.accumulator, subnormals: config.arithmetic.subnormals,
                                              overflowModes: [], inputTypes: [], matrixEngine: config.arithmetic.matrixEngine)
            let engine = declared.engine(for: g)
            // A declared block engine replaces the plain datapath (the loader refused any it cannot run).
            if !engine.isPlain { b.engine = BlockFMA(engine, a: g.types.a, b: g.types.b) }
        }
        for fault in faults {
            switch fault {
            case let .narrowAccumulator(t): b.narrowAccumulator = t
            case .truncatingOutput: b.output = .truncating
            case .tiesAwayOutput: b.output = .tiesAway
            case .ignoresSaturation: b.output = .ignoresSaturation
            case .swallowsNaN: b.output = .swallowsNaN
            case .int8Wrap: b.output = .int8Wrap
            case .flushSubnormals: b.flushSubnormals = true
            case let .stuckColumn(c): b.stuckColumn = c
            case let .staleColumn(c): b.staleColumn = c
            case let .droppedKTile(t): b.droppedTile = t
            case let .skewedInput(row): b.skewedRow = row
            case .transposedWeightTile: b.transposedTile = true
            case .accumulatorNotCleared: b.accumulatorNotCleared = true
            case .bitFlip: b.bitFlip = true
            case .requantIgnoresZeroPoint: b.requantization = .ignoresZeroPoint
            case .requantPerTensor: b.requantization = .perTensor
            case .geluTanhForErf: b.tanhForGeluErf = true
            case .ignoresScales: b.ignoresScales = true
            case .activationBeforeBias: b.activationBeforeBias = true
            case .blockScalesFirstGroup: b.blockScalesFirstGroup = true
            case .undeclaredScaleRounding, .scaleNaNAsNumber, .swappedNibbles, .ignoresTensorScale, .int4SignExtension, .mxint8AsInteger: break  // on the inputs (`blockFormatted`)
            case .ignoresAddend: b.ignoresAddend = true
            case .cachedResult, .wrongOutputShape, .ignoresLeadingDimension, .ignoresBias, .misroutedGroups, .batchesShareWeights,
                 .attentionDefaultScale, .causalOffByOne, .causalTopLeft, .softmaxWithoutMax, .gqaHeadModulo,
                 .collectiveDropsRank, .collectiveRanksDisagree, .collectiveWrongPeer, .collectiveChunkOffByOne: break
            }
        }
        return b
    }

    private func metrics(_ g: GemmCase, _ cost: GemmCost) -> [Metric: MetricValue] {
        let macs = Double(cost.macs)
        let ops = g.work.count
        let hbmBytes = Double(cost.hbmReadBytes + cost.hbmWriteBytes)
        let peak = config.peakOpsPerSecond(g.types.a)!
        let bandwidth = config.memory.hbmBytesPerSecond
        let rooflineSeconds = max(ops / peak, bandwidth > 0 ? hbmBytes / bandwidth : 0)
        let lanesTotal = Double(config.array.rows * config.array.cols * config.array.count * config.arithmetic.rate(g.types.a)!)
        return [
            .cycles: .modelled(Double(cost.cycles), "cycles"),
            .computeCycles: .modelled(Double(cost.computeCycles), "cycles"),
            .stallCycles: .modelled(Double(cost.stallCycles), "cycles"),
            .time: .modelled(cost.seconds, "s"),
            .macs: .modelled(macs, "MAC"),
            .throughput: .modelled(ops / cost.seconds, "op/s"),
            .utilisation: .modelled(macs / (Double(cost.cycles) * lanesTotal), "ratio"),
            .mappingEfficiency: .modelled(mappingEfficiency(g), "ratio"),
            .hbmReadBytes: .modelled(Double(cost.hbmReadBytes), "B"),
            .hbmWriteBytes: .modelled(Double(cost.hbmWriteBytes), "B"),
            .sramBytes: .modelled(Double(cost.sramBytes), "B"),
            .arithmeticIntensity: .modelled(ops / hbmBytes, "op/B"),
            .rooflineTime: .modelled(rooflineSeconds, "s"),
            .rooflineFraction: .modelled(rooflineSeconds / cost.seconds, "ratio"),
            .energy: .modelled(cost.joules, "J", source: "modelled"),
            .efficiency: .modelled(ops / cost.joules, "op/J", source: "modelled"),
        ]
    }

    /// Fraction of the PEs the shape occupies in the folds it needs (edge folds are partly idle).
    private func mappingEfficiency(_ g: GemmCase) -> Double {
        let r = config.array.rows * config.arithmetic.rate(g.types.a)!, c = config.array.cols
        switch config.array.dataflow {
        case .weightStationary:
            return Double(g.k * g.n) / Double(((g.k + r - 1) / r) * r * ((g.n + c - 1) / c) * c)
        case .outputStationary:
            let rows = config.array.rows
            return Double(g.m * g.n) / Double(((g.m + rows - 1) / rows) * rows * ((g.n + c - 1) / c) * c)
        }
    }
}

/// The memory of the `cachedResult` fault: the last output per GEMM shape and types.
final class ResultCache: @unchecked Sendable {
    private let lock = NSLock()
    private var outputs: [String: Tensor] = [:]

    private func key(_ g: GemmCase) -> String {
        "\(g.batch)x\(g.m)x\(g.n)x\(g.k) \(g.types.label) \(g.layoutB.rawValue)"
    }

    func lookup(_ g: GemmCase) -> Tensor? { lock.withLock { outputs[key(g)] } }
    func store(_ g: GemmCase, _ c: Tensor) { lock.withLock { outputs[key(g)] = c } }
}
