import SystolicDevice
import SystolicNumerics

/// The declared block-FMA arithmetic (docs/arithmetic.md, "The declaration") for sparse dot
/// products: the fingerprint's model of what a declaration predicts. Written from the document,
/// apart from the emulator's C model (`block_fma.c`), so that nothing that judges a device shares
/// the emulator's arithmetic (.ci/check-seams.py); the fingerprint tests run the one against the
/// other on every probe. Products of two inputs of at most 24 significant bits are exact in
/// binary64, and a block's aligned terms are integers below 2^120 times 2^q, so every step is exact
/// but the declared roundings. No NaN or infinity: probes send finite values.
struct BlockDotModel {
    let engine: MatrixArithmetic
    let input: NumberType
    let accumulator: FloatFormat
    /// The block result's rounding: the declaration's two, or one the fingerprint measured that no
    /// declaration names (so that such an engine is still reproduced probe by probe).
    let rounding: Rounding

    /// The roundings the fingerprint recognises (docs/fingerprint.md, "rounding"), by the names
    /// its report uses.
    enum Rounding: String {
        case nearestEven = "nearest_even", nearestAway = "nearest_away", towardZero = "toward_zero", up, down
    }

    init(_ engine: MatrixArithmetic, input: NumberType, rounding: Rounding? = nil) {
        self.engine = engine
        self.input = input
        accumulator = engine.accumulate.floatFormat!
        self.rounding = rounding ?? (engine.blockRounding == .nearestEven ? .nearestEven : .towardZero)
    }

    /// A finite nonzero value's exponent ⌊log₂|v|⌋.
    static func exponent(_ v: Double) -> Int { Int(v.exponent) }

    /// D = C + Σ aₖbₖ over `k` positions, zero except `pairs` (position, a, b).
    func dot(k: Int, pairs: [(Int, Double, Double)], c: Double) -> Double {
        var a = [Double](repeating: 0, count: k), b = a
        for (i, x, y) in pairs { a[i] = x; b[i] = y }
        let format = input.floatFormat!
        // Subnormal inputs read as zero when the engine flushes them (C too, as an fp32 input).
        if engine.subnormalInputs == .flush {
            for i in 0..<k {
                if a[i] != 0, abs(a[i]) < format.minNormal { a[i] = a[i].sign == .minus ? -0.0 : 0 }
                if b[i] != 0, abs(b[i]) < format.minNormal { b[i] = b[i].sign == .minus ? -0.0 : 0 }
            }
        }
        var cv = c
        if engine.subnormalInputs == .flush, cv != 0, abs(cv) < FloatFormat.fp32.minNormal { cv = cv.sign == .minus ? -0.0 : 0 }
        let n = engine.blockSize
        let cLast = engine.cPosition == .last
        if let every = engine.promoteEvery {
            // Chunks of `every` products summed from zero on the engine, each added to an fp32
            // accumulator (started at C, or at +0 with C added last) by one fp32 addition.
            var outer = Float(cLast ? 0 : cv)
            for p0 in stride(from: 0, to: k, by: every) {
                let p1 = min(k, p0 + every)
                var partial = 0.0
                for k0 in stride(from: p0, to: p1, by: n) { partial = block([partial], a, b, k0..<min(p1, k0 + n)) }
                outer = outer + Float(partial)
            }
            return Double(cLast ? outer + Float(cv) : outer)
        }
        var acc = cLast ? 0.0 : cv
        for k0 in stride(from: 0, to: k, by: n) { acc = block([acc], a, b, k0..<min(k, k0 + n)) }
        if cLast { acc = block([acc, cv], a, b, 0..<0) }
        return acc
    }

    /// One block: the accumulator terms and the products of `range`, aligned to the largest
    /// exponent among them (a product's is e_a + e_b), truncated toward zero at 2^(e_max − F − x),
    /// summed exactly and rounded once.
    func block(_ terms: [Double], _ a: [Double], _ b: [Double], _ range: Range<Int>) -> Double {
        var exponents: [Int] = []
        var negativeZero = terms.allSatisfy { $0.sign == .minus }
        for t in terms where t != 0 { exponents.append(Self.exponent(t)) }
        var products: [Double] = []
        for i in range {
            if a[i] != 0 && b[i] != 0 {
                exponents.append(Self.exponent(a[i]) + Self.exponent(b[i]))
                var p = a[i] * b[i]
                if engine.products == .rounded { p = Self.round(p, significantBits: engine.fractionBits + 1) }
                products.append(p)
            } else if (a[i].sign == .minus) == (b[i].sign == .minus) {
                negativeZero = false   // a +0 product
            }
        }
        guard let emax = exponents.max() else { return negativeZero ? -0.0 : 0 }
        let window: Int
        switch engine.alignment {
        // Exact alignment: wide enough for any probe (a term's multiple of 2^q stays below
        // 2^120, and probes span less than 100 binades below the largest term).
        case .exact: window = 100
        case .extraBits(let x): window = min(engine.fractionBits + x, 100)
        }
        let q = emax - window
        let unit = Double(sign: .plus, exponent: q, significand: 1)
        var total: Int128 = 0
        for t in terms.filter({ $0 != 0 }) + products {
            let kept = Int128((abs(t) / unit).rounded(.towardZero))
            total += t < 0 ? -kept : kept
        }
        if total == 0 { return 0 }
        return roundBlock(magnitude: total.magnitude, q: q, negative: total < 0)
    }

    /// mag·2^q rounded to F fraction bits (the accumulator's subnormal quantum below its normals),
    /// by the declared rounding; ±∞ beyond its range; flushed below its normals when declared.
    func roundBlock(magnitude: UInt128, q: Int, negative: Bool) -> Double {
        let top = 127 - magnitude.leadingZeroBitCount
        let quantum = max(top + q, accumulator.minExponent) - engine.fractionBits
        var r: Double
        if quantum <= q {
            r = Double(magnitude) * Double(sign: .plus, exponent: q, significand: 1)
        } else {
            let shift = quantum - q
            var t = shift >= 128 ? 0 : magnitude >> UInt128(shift)
            let rest = shift >= 128 ? magnitude : magnitude & ((1 << UInt128(shift)) - 1)
            // The rest against half a unit: below, at, or above (beyond 128 bits it is below).
            let half: UInt128? = shift <= 128 ? 1 << UInt128(shift - 1) : nil
            let aboveHalf = half.map { rest > $0 } ?? false, atHalf = half.map { rest == $0 } ?? false
            switch rounding {
            case .towardZero: break
            case .nearestEven: if aboveHalf || (atHalf && t & 1 == 1) { t += 1 }
            case .nearestAway: if aboveHalf || atHalf { t += 1 }
            case .up: if rest != 0 && !negative { t += 1 }
            case .down: if rest != 0 && negative { t += 1 }
            }
            r = Double(t) * Double(sign: .plus, exponent: quantum, significand: 1)
        }
        if r >= Double(sign: .plus, exponent: Int(accumulator.maxFinite.exponent) + 1, significand: 1) { r = .infinity }
        if engine.subnormalOutputs == .flush && r < accumulator.minNormal { r = 0 }
        return negative ? -r : r
    }

    /// `v` rounded to nearest-even to `bits` significant bits.
    static func round(_ v: Double, significantBits bits: Int) -> Double {
        guard v != 0, v.isFinite else { return v }
        let e = exponent(v)
        let scale = Double(sign: .plus, exponent: bits - 1 - e, significand: 1)
        return (v * scale).rounded(.toNearestOrEven) / scale
    }
}
