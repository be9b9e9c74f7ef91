import Foundation

extension Tensor {
    /// The first `length` elements of every stored row (the last dimension), packed: a tensor of
    /// shape [..., length]. This is how a strided matrix (BLAS's lda) is read.
    public func packedRows(length: Int) -> Tensor {
        guard let stride = shape.last, stride != length else { return self }
        precondition(length <= stride, "a row cannot be longer than its stride")
        let w = type.byteWidth, rows = stride == 0 ? 0 : count / stride
        var out = [UInt8](repeating: 0, count: rows * length * w)
        storage.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                for r in 0..<rows { memcpy(dst.baseAddress! + r * length * w, src.baseAddress! + r * stride * w, length * w) }
            }
        }
        return Tensor(type: type, shape: Array(shape.dropLast()) + [length], storage: out)
    }

    /// `background` with this tensor's rows written over the first elements of its rows: the
    /// inverse of `packedRows`, leaving every padding element of `background` as it was.
    public func placedInRows(of background: Tensor) -> Tensor {
        guard let length = shape.last, let stride = background.shape.last else { return background }
        precondition(type == background.type && length <= stride && count / max(length, 1) == background.count / max(stride, 1),
                     "rows do not fit the background")
        let w = type.byteWidth, rows = length == 0 ? 0 : count / length
        var out = background.storage
        storage.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                for r in 0..<rows { memcpy(dst.baseAddress! + r * stride * w, src.baseAddress! + r * length * w, length * w) }
            }
        }
        return Tensor(type: type, shape: background.shape, storage: out)
    }

    /// Columns [from, to) of every row (the last dimension), packed.
    public func columns(_ from: Int, _ to: Int) -> Tensor {
        guard let stride = shape.last else { return self }
        if from == 0 && to == stride { return self }
        let w = type.byteWidth, rows = stride == 0 ? 0 : count / stride, length = to - from
        var out = [UInt8](repeating: 0, count: rows * length * w)
        storage.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                for r in 0..<rows { memcpy(dst.baseAddress! + r * length * w, src.baseAddress! + (r * stride + from) * w, length * w) }
            }
        }
        return Tensor(type: type, shape: Array(shape.dropLast()) + [length], storage: out)
    }

    /// Rows [from, to) of every matrix (the second-to-last dimension) of a [matrices, rows, cols] tensor.
    public func rows(_ from: Int, _ to: Int) -> Tensor {
        precondition(shape.count == 3, "rows(_:_:) takes a [matrices, rows, cols] tensor")
        let (matrices, rows, cols) = (shape[0], shape[1], shape[2])
        if from == 0 && to == rows { return self }
        let w = type.byteWidth, length = (to - from) * cols * w
        var out = [UInt8]()
        out.reserveCapacity(matrices * length)
        for m in 0..<matrices {
            let start = (m * rows + from) * cols * w
            out += storage[start..<(start + length)]
        }
        return Tensor(type: type, shape: [matrices, to - from, cols], storage: out)
    }
}
