import Foundation
import SystolicTestSupport
import Testing
@testable import SystolicHarness
@testable import SystolicProcess
import SystolicProtocol

/// A second reply to an answered case is matched to its request and discarded, not charged to the
/// next, innocent case (hardening #26, item 14).
struct StaleReplyTests {
    @Test(arguments: ["double-reply", "late-reply"])
    func aStaleReplyIsNotChargedToTheNextCase(misbehaviour: String) throws {
        let adapter = try ProcessAdapterTests.adapter(misbehaviour)
        let (results, _) = try ProcessAdapterTests.run(adapter)
        #expect(results.cases.map(\.verdict) == [.pass, .pass, .pass], "\(results.cases.map { $0.reason ?? "" })")
        #expect(adapter.notes.count == 1 && adapter.notes[0].contains("adapter/second"), "\(adapter.notes)")
        #expect(results.deviceLog?.contains("harness: discarded a") == true)
    }
}
