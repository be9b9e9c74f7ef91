import SystolicDevice
import SystolicJSON

extension RunResults {
    /// Reads and validates a results file; errors name the file, the place and the value.
    public static func load(_ path: String) throws(InputFileError) -> RunResults {
        let r = try JSONFile.decode(RunResults.self, from: path)
        guard r.format == formatTag else {
            throw InputFileError(file: path, place: "format", message: "expected \"\(formatTag)\", found \"\(r.format)\"")
        }
        for (i, c) in r.cases.enumerated() { try Metric.validate(c.metrics, file: path, place: "cases[\(i)].metrics") }
        return r
    }
}
