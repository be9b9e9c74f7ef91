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

    public func bits(at index: Int) -> UInt32 {
        let w = type.byteWidth
        var v: UInt32 = 0
        for b in 0..<w { v |= UInt32(storage[index * w + b]) << UInt32(8 * b) }
        return v
    }

    public mutating func setBits(_ bits: UInt32, at index: Int) {
        let w = type.byteWidth
        for b in 0..<w { storage[index * w + b] = UInt8(truncatingIfNeeded: bits >> UInt32(8 * b)) }
    }

    /// The exact value of element `index`.
    public func value(at index: Int) -> Double { type.decode(bits(at: index)) }

    /// Stores `value` rounded to the tensor's type.
    public mutating func setValue(_ value: Double, at index: Int, overflow: OverflowMode) {
        setBits(type.encode(value, overflow: overflow), at: index)
    }

    /// Every element decoded exactly, in order.
    public func decoded() -> [Double] {
        (0..<count).map(value(at:))
    }

    /// Every element as `Float`. Exact for all types but int32 beyond 2^24.
    public func decodedFloats() -> [Float] {
        (0..<count).map { Float(value(at: $0)) }
    }
}
