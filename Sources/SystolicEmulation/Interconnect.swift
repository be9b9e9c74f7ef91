/// The chips of an emulated system and the links between them, for n ranks (rank r on chip r).
///
/// - **ring**: chip r links to r ± 1 (mod n), one link per direction; with `unidirectional`, only
///   r → r + 1. Routes take the shorter way round (forward on a tie).
/// - **torus_2d**: the n chips as a rows × cols torus (the most nearly square factorisation, rows ≤
///   cols; a prime n is a ring), each chip linked to its four neighbours; routes go along the row
///   first, then the column, each the shorter way round (dimension-order routing).
/// - **fully_connected**: every chip has one port to a switch, a link each way; a route is the
///   sender's uplink then the receiver's downlink.
///
/// A **step** of an algorithm is a set of transfers started together. It takes
/// α·(most links any transfer crosses) + (most bytes any one link carries in the step) ÷ B: the
/// latency of the longest route, and the busiest link's bytes at the link bandwidth, so transfers
/// that share a link slow each other (contention).
public struct Interconnect: Sendable {
    public let ranks: Int
    public let topology: DeviceConfig.Chips.Topology
    public let unidirectional: Bool
    public let linkBytesPerSecond: Double
    public let latencySeconds: Double
    /// Torus shape (rows × cols = ranks).
    public let rows: Int
    public let cols: Int

    /// A directed link between two nodes; node `ranks` is the switch.
    public struct Link: Hashable, Sendable {
        public let from: Int
        public let to: Int
    }

    public init(ranks: Int, chips: DeviceConfig.Chips) {
        self.ranks = ranks
        topology = chips.topology
        unidirectional = chips.unidirectional ?? false
        linkBytesPerSecond = chips.linkBytesPerSecond
        latencySeconds = chips.linkLatencySeconds
        var r = 1
        var f = 1
        while f * f <= ranks { if ranks % f == 0 { r = f }; f += 1 }
        rows = r
        cols = ranks / r
    }

    /// The links a message from `source` to `destination` crosses, in order.
    public func route(_ source: Int, _ destination: Int) -> [Link] {
        guard source != destination else { return [] }
        switch topology {
        case .fullyConnected:
            return [Link(from: source, to: ranks), Link(from: ranks, to: destination)]
        case .ring:
            return ringRoute(source, destination, size: ranks, forwardOnly: unidirectional) { $0 }
        case .torus2d:
            // Along the row (the column index changes), then along the column.
            let (sr, sc) = (source / cols, source % cols), (dr, dc) = (destination / cols, destination % cols)
            var links = ringRoute(sc, dc, size: cols, forwardOnly: false) { sr * cols + $0 }
            links += ringRoute(sr, dr, size: rows, forwardOnly: false) { $0 * cols + dc }
            return links
        }
    }

    /// Hops from a to b around a ring of `size` positions, mapped to node numbers.
    private func ringRoute(_ a: Int, _ b: Int, size: Int, forwardOnly: Bool, node: (Int) -> Int) -> [Link] {
        guard a != b, size > 1 else { return [] }
        let forward = (b - a + size) % size
        let step = forwardOnly || forward <= size - forward ? 1 : -1
        var links: [Link] = []
        var at = a
        while at != b {
            let next = (at + step + size) % size
            links.append(Link(from: node(at), to: node(next)))
            at = next
        }
        return links
    }

    /// One transfer of a step: `bytes` from rank `source` to rank `destination`.
    public struct Message: Sendable, Equatable {
        public let source: Int
        public let destination: Int
        public let bytes: Int
    }

    /// What a step costs: its seconds, and the bytes × links it moved (for energy).
    public func cost(of step: [Message]) -> (seconds: Double, linkBytes: Double) {
        var load: [Link: Int] = [:]
        var hops = 0
        var linkBytes = 0.0
        for m in step where m.bytes > 0 && m.source != m.destination {
            let path = route(m.source, m.destination)
            hops = max(hops, path.count)
            for link in path { load[link, default: 0] += m.bytes }
            linkBytes += Double(m.bytes * path.count)
        }
        guard hops > 0 else { return (0, 0) }
        let busiest = load.values.max() ?? 0
        return (latencySeconds * Double(hops) + Double(busiest) / linkBytesPerSecond, linkBytes)
    }
}
