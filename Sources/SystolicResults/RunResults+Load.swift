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
        for (i, c) in r.cases.enumerated() { try Metric.validate(c.metrics, file: path, place: "cases[\(i)].metrics") }
        return r
    }
}
