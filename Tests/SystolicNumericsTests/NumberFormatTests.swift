import Foundation
import SystolicTestSupport
import Testing
@testable import SystolicNumerics

/// The shared vectors (made with ml_dtypes, an independent implementation) run row by row.
struct NumberFormatTests {
    static func rows(_ file: String) throws -> [[UInt32]] {
        let url = Repository.fixtures.appendingPathComponent("vectors/\(file)")
        let text = try String(contentsOf: url, encoding: .utf8)
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }.map { line in
            line.split(separator: ",").map { UInt32($0.dropFirst(2), radix: 16)! }
        }
    }

    @Test func encodeVectorsMatchEveryRowInBothOverflowModes() throws {
        let rows = try Self.rows("encode.csv")
        #expect(rows.count > 20_000)
        let columns: [(NumberType, OverflowMode)] = [
            (.bf16, .ieee), (.bf16, .saturate), (.fp16, .ieee), (.fp16, .saturate),
            (.fp8_e4m3, .ieee), (.fp8_e4m3, .saturate), (.fp8_e5m2, .ieee), (.fp8_e5m2, .saturate),
        ]
        var failures: [String] = []
        for row in rows {
            let input = Double(Float(bitPattern: row[0]))
            for (column, (type, mode)) in columns.enumerated() {
                let expected = row[column + 1]
                let got = type.encode(input, overflow: mode)
                let bothNaN = type.decode(got).isNaN && type.decode(expected).isNaN
                if got != expected && !bothNaN {
                    failures.append("0x\(String(row[0], radix: 16)) → \(type.rawValue) \(mode.rawValue): got 0x\(String(got, radix: 16)), expected 0x\(String(expected, radix: 16))")
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.count) mismatches, first: \(failures.prefix(5))")
    }

    @Test func fp8DecodeVectorsMatchAll256Codes() throws {
        let rows = try Self.rows("fp8-decode.csv")
        #expect(rows.count == 256)
        for row in rows {
            for (type, column) in [(NumberType.fp8_e4m3, 1), (.fp8_e5m2, 2)] {
                let expected = Double(Float(bitPattern: row[column]))
                let got = type.decode(row[0])
                #expect(got == expected || (got.isNaN && expected.isNaN), "\(type.rawValue) code 0x\(String(row[0], radix: 16))")
            }
        }
    }

    @Test(arguments: [NumberType.fp16, .bf16, .fp8_e4m3, .fp8_e5m2])
    func everyCodeRoundTrips(type: NumberType) {
        let codes = 1 << (8 * type.byteWidth)
        for code in 0..<codes {
            let v = type.decode(UInt32(code))
            if v.isNaN { continue }
            #expect(type.encode(v, overflow: .ieee) == UInt32(code), "\(type.rawValue) 0x\(String(code, radix: 16))")
        }
    }

    /// `encode` and `decode` from the bits give what the plain arithmetic of the first version gave
    /// (written out here), on every format and overflow mode, for values across the whole double
    /// range: random magnitudes, every rounding tie between neighbours, the edges of the subnormal
    /// range and of overflow, double subnormals, zeros, infinities and NaN.
    @Test(arguments: [FloatFormat.fp32, .fp16, .bf16, .e4m3fn, .e5m2, .e2m3, .e3m2, .e2m1])
    func encodeFromTheBitsMatchesThePlainArithmetic(format f: FloatFormat) {
        func plain(_ value: Double, _ overflow: OverflowMode) -> UInt32 {
            if value.isNaN { return f.encode(.nan, overflow: overflow) }
            let sign: UInt32 = value.sign == .minus ? 1 << UInt32(f.exponentBits + f.mantissaBits) : 0
            let a = value.magnitude
            if a == 0 { return sign }
            if a.isInfinite { return sign | f.encode(.infinity, overflow: overflow) }
            let e = max(Int(a.exponent), f.minExponent)
            let quantum = Double(sign: .plus, exponent: e - f.mantissaBits, significand: 1)
            let rounded = (a / quantum).rounded(.toNearestOrEven) * quantum
            if rounded > f.maxFinite { return sign | f.encode(.infinity, overflow: overflow) }
            if rounded == 0 { return sign }
            let re = Int(rounded.exponent)
            if re < f.minExponent { return sign | UInt32(rounded / f.minSubnormal) }
            let significand = UInt32(rounded / Double(sign: .plus, exponent: re - f.mantissaBits, significand: 1))
            return sign | (UInt32(re + f.bias) << UInt32(f.mantissaBits)) | (significand & ((1 << UInt32(f.mantissaBits)) - 1))
        }
        var values: [Double] = [0, .leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude, .infinity, .nan,
                                f.minSubnormal, f.minSubnormal / 2, f.minSubnormal * 0.75, f.minNormal, f.maxFinite,
                                f.maxFinite * (1 + 0x1p-30), f.maxFinite * 1.0625, f.maxFinite * 2]
        var state: UInt64 = 0x1234_5678_9ABC_DEF0
        for _ in 0..<20_000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let e = Int(state >> 54) % 300 - 160
            values.append(Double(sign: .plus, exponent: e, significand: 1 + Double(state & 0xF_FFFF_FFFF) / 0x10_0000_0000))
        }
        // Every neighbour pair of the format's finite values (sampled for fp32): their midpoints are ties.
        let width = f.exponentBits + f.mantissaBits
        for i in 0..<(min(1 << width, 1 << 16) - 1) {
            let bits = width > 16 ? (UInt32(i) << UInt32(width - 16)) | UInt32(i & 0xFF) : UInt32(i)
            let (x, y) = (f.decode(bits), f.decode(bits + 1))
            guard x.isFinite, y.isFinite else { continue }
            values += [x, (x + y) / 2, ((x + y) / 2).nextUp, ((x + y) / 2).nextDown, y]
        }
        for v in values + values.map({ -$0 }) {
            for overflow in [OverflowMode.saturate, .ieee] {
                let (mine, reference) = (f.encode(v, overflow: overflow), plain(v, overflow))
                #expect(mine == reference, "\(v) \(overflow): \(mine) against \(reference)")
            }
        }
    }

    /// The bulk decoder the kernels use (tables, shifts, copies) gives every bit pattern of every
    /// narrow type, and a sample of fp32's, the value the element decoder gives, from any offset.
    @Test(arguments: [NumberType.fp16, .bf16, .fp8_e4m3, .fp8_e5m2, .int8, .fp32])
    func bulkDecodeAgreesWithTheElementDecoder(type: NumberType) {
        let count = type.byteWidth == 4 ? 1 << 16 : 1 << (8 * type.byteWidth)
        var t = Tensor(type: type, shape: [count])
        for i in 0..<count { t.setBits(type.byteWidth == 4 ? UInt32(truncatingIfNeeded: i &* 0x9E37_79B9) : UInt32(i), at: i) }
        for range in [0..<count, 3..<(count - 1)] {
            let out = UnsafeMutablePointer<Float>.allocate(capacity: range.count)
            defer { out.deallocate() }
            t.decode(range, into: out)
            for (i, e) in range.enumerated() {
                let expected = Float(type.decode(t.bits(at: e)))
                #expect(out[i].bitPattern == expected.bitPattern || (out[i].isNaN && expected.isNaN), "\(type) pattern \(t.bits(at: e))")
            }
        }
    }

    @Test func fp32EncodeFromDoubleRoundsOnceAndHandlesSubnormals() {
        // 1 + 2^-24 is a tie between 1 and 1 + 2^-23: to even gives 1.
        #expect(NumberType.fp32.round(1 + 0x1p-24, overflow: .ieee) == 1)
        // Just above the tie rounds up: a double-rounding path through a narrower type would not.
        #expect(NumberType.fp32.round(1 + 0x1p-24 + 0x1p-50, overflow: .ieee) == 1 + 0x1p-23)
        #expect(NumberType.fp32.round(0x1p-149 * 0.75, overflow: .ieee) == 0x1p-149)
        #expect(NumberType.fp32.round(1e39, overflow: .saturate) == Double(Float.greatestFiniteMagnitude))
        #expect(NumberType.fp32.round(1e39, overflow: .ieee) == .infinity)
        #expect(NumberType.fp8_e4m3.maxFinite == 448)
        #expect(NumberType.fp8_e5m2.maxFinite == 57344)
    }

    @Test func integersRoundToNearestEvenAndSaturate() {
        #expect(NumberType.int8.round(2.5, overflow: .ieee) == 2)
        #expect(NumberType.int8.round(-3.5, overflow: .ieee) == -4)
        #expect(NumberType.int8.round(300, overflow: .ieee) == 127)
        #expect(NumberType.int8.round(-300, overflow: .saturate) == -128)
        #expect(NumberType.int32.round(1e12, overflow: .saturate) == 2_147_483_647)
        #expect(NumberType.int8.encode(-1, overflow: .saturate) == 0xFF)
    }

    @Test func tensorStoresLittleEndianBitPatterns() {
        var t = Tensor(type: .bf16, shape: [2])
        t.setValue(1.0, at: 1, overflow: .ieee)
        #expect(t.storage == [0, 0, 0x80, 0x3F])
        #expect(t.value(at: 1) == 1)
    }
}

/// The MX and NVFP4 element and scale formats against the shared vectors (ml_dtypes 0.6.0), every row.
struct NarrowFormatTests {
    static let formats: [String: FloatFormat] = ["e2m1": .e2m1, "e2m3": .e2m3, "e3m2": .e3m2]

    @Test func everyCodeOfTheElementAndScaleFormatsDecodesAsTheVectorsSay() throws {
        let url = Repository.fixtures.appendingPathComponent("vectors/narrow-decode.csv")
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }
        var seen: [String: Int] = [:]
        for line in lines {
            let fields = line.split(separator: ",").map(String.init)
            let code = UInt32(fields[1].dropFirst(2), radix: 16)!
            let expected = Double(Float(bitPattern: UInt32(fields[2].dropFirst(2), radix: 16)!))
            let got = fields[0] == "e8m0" ? ScaleE8M0.decode(UInt8(code)) : Self.formats[fields[0]]!.decode(code)
            #expect(got == expected || (got.isNaN && expected.isNaN), "\(fields[0]) code \(fields[1]): got \(got), expected \(expected)")
            seen[fields[0], default: 0] += 1
        }
        #expect(seen == ["e2m1": 16, "e2m3": 64, "e3m2": 64, "e8m0": 256])
    }

    @Test func encodeVectorsMatchEveryRowSaturating() throws {
        let rows = try NumberFormatTests.rows("narrow-encode.csv")
        #expect(rows.count > 15_000)
        var failures: [String] = []
        for row in rows {
            let input = Double(Float(bitPattern: row[0]))
            for (column, format) in [FloatFormat.e2m1, .e2m3, .e3m2].enumerated() {
                // The element formats have no infinity or NaN: both overflow modes saturate.
                for mode in OverflowMode.allCases where format.encode(input, overflow: mode) != row[column + 1] {
                    failures.append("0x\(String(row[0], radix: 16)) → column \(column + 1) \(mode): got 0x\(String(format.encode(input, overflow: mode), radix: 16)), expected 0x\(String(row[column + 1], radix: 16))")
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.count) mismatches, first: \(failures.prefix(5))")
    }

    @Test func elementFormatsRoundTripEveryCodeAndKnowTheirRange() {
        for (format, largest, smallest) in [(FloatFormat.e2m1, 6.0, 0.5), (.e2m3, 7.5, 0.125), (.e3m2, 28.0, 0.0625)] {
            #expect(format.maxFinite == largest && format.minSubnormal == smallest)
            let codes = 1 << (1 + format.exponentBits + format.mantissaBits)
            for code in 0..<UInt32(codes) {
                let v = format.decode(code)
                #expect(v.isFinite)
                #expect(format.encode(v, overflow: .ieee) == code, "0x\(String(code, radix: 16)) (\(v))")
            }
            #expect(format.decode(format.encode(.infinity, overflow: .ieee)) == largest)
            #expect(format.encode(.nan, overflow: .saturate) == 0)
        }
    }

    @Test func e8m0CodesArePowersOfTwoWithNaNAtTheTop() {
        #expect(ScaleE8M0.decode(127) == 1 && ScaleE8M0.decode(0) == 0x1p-127 && ScaleE8M0.decode(254) == 0x1p127)
        #expect(ScaleE8M0.decode(0xFF).isNaN)
        #expect(ScaleE8M0.encode(exponent: -3) == 124 && ScaleE8M0.encode(exponent: 128) == nil && ScaleE8M0.encode(exponent: -128) == nil)
    }

    @Test func int4PacksLowNibbleFirstAndSignExtends() {
        #expect(PackedInt4.pack([1, -1]) == [0xF1])
        #expect(PackedInt4.pack([-8, 7, 3]) == [0x78, 0x03])
        let all = Array(-8...7)
        let packed = PackedInt4.pack(all)
        #expect(packed.count == 8)
        #expect((0..<16).map { PackedInt4.value(at: $0, in: packed) } == all)
    }
}
