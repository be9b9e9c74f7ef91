import SystolicDevice
import SystolicJSON
import SystolicSuite

extension RunResults {
    /// Reads and validates a results file; errors name the file, the place and the value.
    public static func load(_ path: String) throws(InputFileError) -> RunResults {
        let r = try JSONFile.decode(RunResults.self, from: path)
        guard r.format == formatTag else {
            throw InputFileError(file: path, place: "format", message: "expected \"\(formatTag)\", found \"\(r.format)\"")
        }
        // Device and suite names become parts of paths (`baseline record` writes Baselines/<device>/<suite>.json).
        try PathName.checkDevice(r.device.name, file: path, place: "device.name")
        for (i, s) in r.suites.enumerated() { try PathName.checkIdentifier(s.name, file: path, place: "suites[\(i)].name") }
        try r.checkConsistency(file: path)
        return r
    }

    /// What the schema says but Codable cannot (ranges, formats), and what no schema can say: the
    /// summary counts the cases' verdicts, each case id and position appears once.
    func checkConsistency(file path: String) throws(InputFileError) {
        func fail(_ place: String, _ message: String) -> InputFileError { InputFileError(file: path, place: place, message: message) }
        if let f = fingerprint, let (place, message) = f.problem(for: device) { throw fail(place, message) }
        guard host.cpus >= 1 else { throw fail("host.cpus", "expected a positive integer, found \(host.cpus)") }
        guard StringFormats.isDateTime(startedAt) else { throw fail("started_at", "expected an RFC 3339 date-time, found \"\(startedAt)\"") }
        if let finishedAt, !StringFormats.isDateTime(finishedAt) {
            throw fail("finished_at", "expected an RFC 3339 date-time, found \"\(finishedAt)\"")
        }
        for (i, s) in suites.enumerated() {
            guard StringFormats.isSHA256(s.digest) else { throw fail("suites[\(i)].digest", "expected sha256: and 64 hexadecimal digits, found \"\(s.digest)\"") }
            guard s.cases >= 0 else { throw fail("suites[\(i)].cases", "expected a count, found \(s.cases)") }
        }
        var ids = Set<String>(), positions = Set<Int>()
        for (i, c) in cases.enumerated() {
            try Metric.validate(c.metrics, file: path, place: "cases[\(i)].metrics")
            guard ids.insert(c.id).inserted else { throw fail("cases[\(i)].id", "case \"\(c.id)\" appears twice") }
            guard c.position >= 0 else { throw fail("cases[\(i)].position", "expected a position from 0, found \(c.position)") }
            guard positions.insert(c.position).inserted else { throw fail("cases[\(i)].position", "position \(c.position) appears twice") }
            if let digest = c.check?.outputDigest, !StringFormats.isSHA256(digest) {
                throw fail("cases[\(i)].check.output_digest", "expected sha256: and 64 hexadecimal digits, found \"\(digest)\"")
            }
        }
        let counted = Self.summarize(cases)
        guard summary == counted else {
            let differing = counted.keys.sorted().filter { summary[$0] != counted[$0] }
                .map { "\($0) \(summary[$0].map(String.init) ?? "missing") (the cases have \(counted[$0]!))" }
            throw fail("summary", "the summary disagrees with the cases' verdicts: \(differing.joined(separator: ", "))")
        }
    }
}
