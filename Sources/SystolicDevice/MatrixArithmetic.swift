import SystolicNumerics
import SystolicSuite

/// How a matrix engine computes one dot product D = C + Σₖ aₖbₖ (declared arithmetic v2,
/// docs/arithmetic.md): what real tensor cores and systolic arrays do, as measured by Fasi,
/// Higham, Mikaitis and Pranesh (PeerJ CS 7:e330, 2021) and Khattak and Mikaitis (ACM TACO 2026,
/// arXiv 2512.07004). The products of a block (`blockSize` of them) and the running accumulator
/// are aligned to the largest exponent among them, kept to `fractionBits + extraAlignmentBits`
/// bits below it and truncated there, summed exactly, normalised and rounded once to
/// `fractionBits` fraction bits; blocks follow one another in the accumulator.
///
/// A device declares one entry per group of input types sharing an accumulate type; a GEMM whose
/// types no entry names is judged by the v1 declaration (`DeclaredArithmetic.accumulator`), which
/// is the entry `plain(accumulator:subnormals:)`: a chain of fused multiply-adds rounded to nearest,
/// in any order.
public struct MatrixArithmetic: Sendable, Codable, Equatable {
    public enum Products: String, Sendable, Codable, CaseIterable {
        /// Every product exact (what every engine measured so far does).
        case exact
        /// Each product rounded to nearest-even to fractionBits + 1 significant bits before alignment.
        case rounded
    }

    public enum Rounding: String, Sendable, Codable, CaseIterable {
        case nearestEven = "nearest_even"
        case towardZero = "toward_zero"
    }

    public enum Alignment: Sendable, Equatable, Hashable {
        /// Nothing is lost in alignment (an IEEE fused multiply-add).
        case exact
        /// Terms truncated toward zero at 2^(e_max − fractionBits − bits).
        case extraBits(Int)
    }

    public enum CPosition: String, Sendable, Codable, CaseIterable {
        /// C is the accumulator's first value and joins the first block (NVIDIA's MMA).
        case firstBlock = "first_block"
        /// C is added after every product, in a block of its own.
        case last
    }

    /// The ops whose matrix products an entry describes: GEMM, and attention's two products
    /// (Q·Kᵀ on the entry for Q's type, P·V on the entry for P's type; the softmax runs on the
    /// vector unit, declared by `exp_ulps` and the v1 accumulator).
    public enum Op: String, Sendable, Codable, CaseIterable {
        case gemm, attention
    }

    public typealias Subnormals = DeclaredArithmetic.Subnormals

    /// The GEMM input types this entry describes (A's type decides).
    public var inputTypes: [NumberType]
    /// The accumulate type of the cases it covers (a case's `types.accumulate`): fp32 or fp16. Its
    /// exponent range is the accumulator's; `fractionBits` may be fewer than its own.
    public var accumulate: NumberType
    public var products: Products
    /// Products summed before one normalisation (1: a chain of fused multiply-adds).
    public var blockSize: Int
    public var alignment: Alignment
    /// Fraction bits each block result keeps (23 for a full fp32 accumulator; 13 for Hopper's fp8 path).
    public var fractionBits: Int
    public var blockRounding: Rounding
    /// After this many products the partial sum joins an fp32 accumulator with one nearest-even
    /// fp32 addition and starts again at zero (DeepSeek-V3 §3.3.2's promotion, every 128); nil: never.
    public var promoteEvery: Int?
    public var subnormalInputs: Subnormals
    public var subnormalOutputs: Subnormals
    public var cPosition: CPosition
    /// The ops this entry describes (`ops`; both unless the declaration says otherwise): a device
    /// whose attention kernels use the matrix engine differently from its GEMMs (another block
    /// size, promotion in software) declares one entry per op.
    public var ops: [Op]

    enum CodingKeys: String, CodingKey {
        case products, alignment
        case inputTypes = "input_types"
        case accumulate
        case blockSize = "block_size"
        case extraAlignmentBits = "extra_alignment_bits"
        case fractionBits = "fraction_bits"
        case blockRounding = "block_rounding"
        case promoteEvery = "promote_every"
        case subnormalInputs = "subnormal_inputs"
        case subnormalOutputs = "subnormal_outputs"
        case cPosition = "c_position"
        case ops
    }

    /// Limits the loader enforces (the schema's): larger blocks or windows describe no engine.
    public static let maxBlockSize = 1024
    public static let maxExtraAlignmentBits = 64

    public init(inputTypes: [NumberType], accumulate: NumberType = .fp32, products: Products = .exact, blockSize: Int,
                alignment: Alignment, fractionBits: Int = 23, blockRounding: Rounding, promoteEvery: Int? = nil,
                subnormalInputs: Subnormals = .preserve, subnormalOutputs: Subnormals = .preserve, cPosition: CPosition = .firstBlock,
                ops: [Op] = Op.allCases) {
        self.inputTypes = inputTypes; self.accumulate = accumulate; self.products = products; self.blockSize = blockSize
        self.alignment = alignment; self.fractionBits = fractionBits; self.blockRounding = blockRounding
        self.promoteEvery = promoteEvery; self.subnormalInputs = subnormalInputs; self.subnormalOutputs = subnormalOutputs
        self.cPosition = cPosition
        self.ops = ops
    }

    /// What a v1 declaration means: exact products, each added with one nearest-even rounding to
    /// the accumulator's precision, in any order (the rule for it is Jeannerod and Rump's). A v1
    /// `flush` flushes products and partial sums (its bound's 2K·ν), never the inputs.
    public static func plain(accumulator: NumberType, subnormals: Subnormals, inputTypes: [NumberType] = []) -> MatrixArithmetic {
        MatrixArithmetic(inputTypes: inputTypes, accumulate: accumulator, blockSize: 1, alignment: .exact,
                         fractionBits: accumulator.floatFormat?.mantissaBits ?? 23, blockRounding: .nearestEven,
                         subnormalInputs: .preserve, subnormalOutputs: subnormals)
    }

    /// True for the v1 meaning: one nearest-even rounding per product, nothing else lost.
    public var isPlain: Bool {
        products == .exact && blockSize == 1 && alignment == .exact && blockRounding == .nearestEven && promoteEvery == nil
            && cPosition == .firstBlock && fractionBits == (accumulate.floatFormat?.mantissaBits ?? 23)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        inputTypes = try c.decode([NumberType].self, forKey: .inputTypes)
        accumulate = try c.decode(NumberType.self, forKey: .accumulate)
        products = try c.decode(Products.self, forKey: .products)
        blockSize = try c.decode(Int.self, forKey: .blockSize)
        if let bits = try? c.decode(Int.self, forKey: .extraAlignmentBits) {
            alignment = .extraBits(bits)
        } else if let word = try? c.decode(String.self, forKey: .extraAlignmentBits), word == "exact" {
            alignment = .exact
        } else {
            throw DecodingError.dataCorruptedError(forKey: .extraAlignmentBits, in: c,
                                                   debugDescription: "expected an integer 0…\(Self.maxExtraAlignmentBits) or \"exact\"")
        }
        fractionBits = try c.decode(Int.self, forKey: .fractionBits)
        blockRounding = try c.decode(Rounding.self, forKey: .blockRounding)
        promoteEvery = try c.decodeIfPresent(Int.self, forKey: .promoteEvery)
        subnormalInputs = try c.decode(Subnormals.self, forKey: .subnormalInputs)
        subnormalOutputs = try c.decode(Subnormals.self, forKey: .subnormalOutputs)
        cPosition = try c.decode(CPosition.self, forKey: .cPosition)
        ops = try c.decodeIfPresent([Op].self, forKey: .ops) ?? Op.allCases
        if let problem = problem {
            throw DecodingError.dataCorrupted(DecodingError.Context(codingPath: decoder.codingPath, debugDescription: problem))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(inputTypes, forKey: .inputTypes)
        try c.encode(accumulate, forKey: .accumulate)
        try c.encode(products, forKey: .products)
        try c.encode(blockSize, forKey: .blockSize)
        switch alignment {
        case .exact: try c.encode("exact", forKey: .extraAlignmentBits)
        case .extraBits(let n): try c.encode(n, forKey: .extraAlignmentBits)
        }
        try c.encode(fractionBits, forKey: .fractionBits)
        try c.encode(blockRounding, forKey: .blockRounding)
        try c.encodeIfPresent(promoteEvery, forKey: .promoteEvery)
        try c.encode(subnormalInputs, forKey: .subnormalInputs)
        try c.encode(subnormalOutputs, forKey: .subnormalOutputs)
        try c.encode(cPosition, forKey: .cPosition)
        // Written only when it narrows the default, so v2 declarations without it read back the same.
        if ops != Op.allCases { try c.encode(ops, forKey: .ops) }
    }

    /// Why this entry describes no engine, or nil: the limits of the schema that JSON Schema
    /// cannot state (a fraction width within the accumulate type's, promotion in whole blocks).
    public var problem: String? {
        guard let format = accumulate.floatFormat, accumulate == .fp32 || accumulate == .fp16 else {
            return "accumulate \(accumulate.rawValue) is not a floating-point accumulator (fp32 or fp16)"
        }
        if inputTypes.isEmpty { return "input_types is empty" }
        if let t = inputTypes.first(where: { $0.floatFormat == nil }) {
            return "input type \(t.rawValue) is an integer type: integer engines are exact and take no declaration"
        }
        if Set(inputTypes).count != inputTypes.count { return "input_types names a type twice" }
        if !(1...Self.maxBlockSize).contains(blockSize) { return "block_size \(blockSize) is outside 1…\(Self.maxBlockSize)" }
        if case .extraBits(let n) = alignment, !(0...Self.maxExtraAlignmentBits).contains(n) {
            return "extra_alignment_bits \(n) is outside 0…\(Self.maxExtraAlignmentBits)"
        }
        if !(1...format.mantissaBits).contains(fractionBits) {
            return "fraction_bits \(fractionBits) is outside 1…\(format.mantissaBits) (\(accumulate.rawValue)'s fraction)"
        }
        if ops.isEmpty { return "ops is empty" }
        if Set(ops).count != ops.count { return "ops names an op twice" }
        if let p = promoteEvery, p < blockSize || p % blockSize != 0 || p > 1 << 24 {
            return "promote_every \(p) is not a whole number of blocks of \(blockSize)"
        }
        return nil
    }
}

extension DeclaredArithmetic {
    /// The declared entry for products of `op` with A of type `input` accumulating in `accumulate`,
    /// or nil (then the v1 declaration's plain accumulator judges them).
    public func declaredEngine(input: NumberType, accumulate: NumberType, op: MatrixArithmetic.Op) -> MatrixArithmetic? {
        matrixEngine?.first(where: { $0.accumulate == accumulate && $0.inputTypes.contains(input) && $0.ops.contains(op) })
    }

    /// The engine a GEMM (or attention's product, `op`) with A of type `input` accumulating in
    /// `accumulate` runs on: the declared entry naming them, else the v1 declaration's plain accumulator.
    public func engine(input: NumberType, accumulate: NumberType, op: MatrixArithmetic.Op = .gemm) -> MatrixArithmetic {
        declaredEngine(input: input, accumulate: accumulate, op: op)
            ?? .plain(accumulator: accumulator, subnormals: subnormals, inputTypes: [input])
    }

    /// Why `matrix_engine` is inconsistent (two entries for one input type, accumulate type and
    /// op), or nil.
    var matrixEngineProblem: String? {
        var seen = Set<String>()
        for e in matrixEngine ?? [] {
            for t in e.inputTypes {
                for op in e.ops where !seen.insert("\(t.rawValue)/\(e.accumulate.rawValue)/\(op.rawValue)").inserted {
                    return "matrix_engine declares input type \(t.rawValue) accumulating in \(e.accumulate.rawValue) for \(op.rawValue) twice"
                }
            }
        }
        return nil
    }
}

extension DeclaredArithmetic {
    /// The engine GEMM `g` runs on (A's type and the case's accumulate type decide).
    public func engine(for g: GemmCase) -> MatrixArithmetic { engine(input: g.types.a, accumulate: g.types.accumulate) }
}

extension DeclaredArithmetic {
    /// The declared engines of attention `a`'s two products: Q·Kᵀ on the entry for Q's type, P·V on
    /// the entry for P's type (nil where none is declared for attention: the v1 rule judges them).
    public func attentionEngines(_ a: AttentionCase) -> (score: MatrixArithmetic?, value: MatrixArithmetic?) {
        (declaredEngine(input: a.inputType, accumulate: a.accumulateType, op: .attention),
         declaredEngine(input: a.probabilityType, accumulate: a.accumulateType, op: .attention))
    }
}
