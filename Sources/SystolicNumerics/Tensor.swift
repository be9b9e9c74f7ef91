/// A dense row-major tensor of one `NumberType`, stored as the elements' own bit patterns
/// (little-endian, `type.byteWidth` bytes each), so digests and dumps are the same on every host.
public struct Tensor: Sendable, Equatable {
    public let type: NumberType
    public let shape: [Int]
    public private(set) var storage: [UInt8]

    /// A tensor of zeros.
    public init(type: NumberType, shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension")
        self.type = type
        self.shape = shape
        self.storage = [UInt8](repeating: 0, count: shape.reduce(1, *) * type.byteWidth)
    }

    /// A tensor over existing storage; `storage.count` must match the shape.
    public init(type: NumberType, shape: [Int], storage: [UInt8]) {
        precondition(storage.count == shape.reduce(1, *) * type.byteWidth, "storage size does not match shape")
        self.type = type
        self.shape = shape
        self.storage = storage
    }

    public var count: Int { shape.reduce(1, *) }

    /// The tensor as it travels in tensor files and dumps: the storage, except that the nibble
    /// types (int4, uint4) are packed two per byte, element 2i in bits 0–3 and 2i + 1 in bits
    /// 4–7 of byte i (an odd count leaves the last high nibble zero).
    public var fileBytes: [UInt8] {
        guard type.isNibble else { return storage }
        var out = [UInt8](repeating: 0, count: type.fileBytes(count))
        for (i, code) in storage.enumerated() { out[i / 2] |= i % 2 == 0 ? code & 0x0F : (code & 0x0F) << 4 }
        return out
    }

    /// A tensor read from a file's bytes (`fileBytes`' layout); nil when their count does not
    /// match the shape.
    public init?(type: NumberType, shape: [Int], fileBytes bytes: [UInt8]) {
        let count = shape.reduce(1, *)
        guard shape.allSatisfy({ $0 >= 0 }), bytes.count == type.fileBytes(count) else { return nil }
        guard type.isNibble else { self.init(type: type, shape: shape, storage: bytes); return }
        self.init(type: type, shape: shape, storage: (0..<count).map { i in i % 2 == 0 ? bytes[i / 2] & 0x0F : bytes[i / 2] >> 4 })
    }

    public func bits(at index: Int) -> UInt32 {
        storage.withUnsafeBytes { Self.load($0, index, width: type.byteWidth) }
    }

    @inline(__always)
    static func load(_ raw: UnsafeRawBufferPointer, _ index: Int, width: Int) -> UInt32 {
        switch width {
        case 1: return UInt32(raw[index])
        case 2: return UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self)))
        default: return UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self))
        }
    }

    public mutating func setBits(_ bits: UInt32, at index: Int) {
        let w = type.byteWidth
        storage.withUnsafeMutableBytes { Self.store($0, index, width: w, bits) }
    }

    @inline(__always)
    static func store(_ raw: UnsafeMutableRawBufferPointer, _ index: Int, width: Int, _ bits: UInt32) {
        switch width {
        case 1: raw[index] = UInt8(truncatingIfNeeded: bits)
        case 2: raw.storeBytes(of: UInt16(truncatingIfNeeded: bits).littleEndian, toByteOffset: 2 * index, as: UInt16.self)
        default: raw.storeBytes(of: bits.littleEndian, toByteOffset: 4 * index, as: UInt32.self)
        }
    }

    /// A tensor holding `values` rounded to `type` (nearest-even, the given overflow mode).
    public init(type: NumberType, shape: [Int], values: [Double], overflow: OverflowMode) {
        self.init(type: type, shape: shape)
        precondition(values.count == count, "value count does not match shape")
        let w = type.byteWidth
        storage.withUnsafeMutableBytes { raw in
            for (i, v) in values.enumerated() { Self.store(raw, i, width: w, type.encode(v, overflow: overflow)) }
        }
    }

    /// The exact value of element `index`.
    public func value(at index: Int) -> Double { type.decode(bits(at: index)) }

    /// Stores `value` rounded to the tensor's type.
    public mutating func setValue(_ value: Double, at index: Int, overflow: OverflowMode) {
        setBits(type.encode(value, overflow: overflow), at: index)
    }

    /// Every element decoded exactly, in order.
    public func decoded() -> [Double] {
        let (n, w, t) = (count, type.byteWidth, type)
        return storage.withUnsafeBytes { raw in
            [Double](unsafeUninitializedCapacity: n) { out, initialized in
                for i in 0..<n { out[i] = t.decode(Self.load(raw, i, width: w)) }
                initialized = n
            }
        }
    }

    /// Elements `range` as `Float` into `out` (exact for all types but int32 beyond 2^24), without
    /// decoding the rest of the tensor.
    public func decode(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        guard !range.isEmpty else { return }
        let (w, t) = (type.byteWidth, type)
        // Plain loops over typed pointers (storage is little-endian on every supported host), which
        // the compiler vectorises: a bf16 decode through `load` took 7 % of a 1024³ multiply.
        storage.withUnsafeBytes { raw in
            let base = raw.baseAddress!
            switch t {
            case .fp32:
                (base + 4 * range.lowerBound).withMemoryRebound(to: Float.self, capacity: range.count) { out.update(from: $0, count: range.count) }
            case .bf16:
                let bits = (base + 2 * range.lowerBound).assumingMemoryBound(to: UInt16.self)
                for i in 0..<range.count { out[i] = Float(bitPattern: UInt32(bits[i]) << 16) }
            case _ where w <= 2:
                // One- and two-byte types through a table of every bit pattern's value.
                Self.decodingTables[t]!.withUnsafeBufferPointer { tp in
                    if w == 1 {
                        let bits = (base + range.lowerBound).assumingMemoryBound(to: UInt8.self)
                        for i in 0..<range.count { out[i] = tp[Int(bits[i])] }
                    } else {
                        let bits = (base + 2 * range.lowerBound).assumingMemoryBound(to: UInt16.self)
                        for i in 0..<range.count { out[i] = tp[Int(bits[i])] }
                    }
                }
            default:
                for (i, e) in range.enumerated() { out[i] = Float(t.decode(Self.load(raw, e, width: w))) }
            }
        }
    }

    /// Calls `body` with the elements in `range` as Floats: fp32 storage in place, any other type
    /// decoded into a buffer that lives for the call.
    public func withFloats<R>(_ range: Range<Int>, _ body: (UnsafePointer<Float>) -> R) -> R {
        if type == .fp32, !range.isEmpty {
            return storage.withUnsafeBytes { raw in
                (raw.baseAddress! + 4 * range.lowerBound).withMemoryRebound(to: Float.self, capacity: range.count) { body($0) }
            }
        }
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(range.count, 1))
        defer { buffer.deallocate() }
        decode(range, into: buffer)
        return body(buffer)
    }

    /// Every bit pattern's value, for each type of one or two bytes (built once, on first use).
    static let decodingTables: [NumberType: [Float]] = Dictionary(uniqueKeysWithValues: NumberType.allCases.filter { $0.byteWidth <= 2 }.map { t in
        (t, (0..<(1 << (8 * t.byteWidth))).map { Float(t.decode(UInt32($0))) })
    })

    /// Reads an element's bit pattern from a storage buffer.
    public static func bits(at index: Int, width: Int, in raw: UnsafeRawBufferPointer) -> UInt32 {
        load(raw, index, width: width)
    }

    /// Stores element bit patterns into a storage buffer (`Tensor(type:shape:storage:)` takes the
    /// result): for code that fills disjoint parts of one tensor from several threads.
    public static func store(_ bits: UInt32, at index: Int, width: Int, in raw: UnsafeMutableRawBufferPointer) {
        store(raw, index, width: width, bits)
    }

    /// Every element as `Float`. Exact for all types but int32 beyond 2^24.
    public func decodedFloats() -> [Float] {
        let (n, w, t) = (count, type.byteWidth, type)
        if t == .fp32 {
            // Little-endian fp32 bits are the Floats themselves (every supported host is little-endian).
            return storage.withUnsafeBytes { raw in [Float](unsafeUninitializedCapacity: n) { out, initialized in
                UnsafeMutableRawBufferPointer(out).copyMemory(from: raw)
                initialized = n
            } }
        }
        if t == .bf16 {
            return storage.withUnsafeBytes { raw in [Float](unsafeUninitializedCapacity: n) { out, initialized in
                for i in 0..<n { out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16) }
                initialized = n
            } }
        }
        return storage.withUnsafeBytes { raw in
            [Float](unsafeUninitializedCapacity: n) { out, initialized in
                for i in 0..<n { out[i] = Float(t.decode(Self.load(raw, i, width: w))) }
                initialized = n
            }
        }
    }
}

extension Tensor {
    /// This tensor with every subnormal value read as zero of the same sign (a float type's; other
    /// types unchanged): what an engine that flushes subnormal inputs reads.
    public func flushingSubnormals() -> Tensor {
        guard let f = type.floatFormat else { return self }
        var out = self
        let signBit = UInt32(1) << UInt32(f.exponentBits + f.mantissaBits)
        for i in 0..<count {
            let bits = out.bits(at: i)
            let v = abs(out.value(at: i))
            if v != 0, v < f.minNormal { out.setBits(bits & signBit, at: i) }
        }
        return out
    }
}
