import XCTest
import RefundKit

/// The secret key appears in no text the binding produces.
final class SecretRedactionTests: XCTestCase {
    private let secretPart = String(CliEmulator.liveKey.dropFirst("sk_live_".count).dropLast(4))

    private func assertHidden(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(text.contains(secretPart), "the secret key leaked into: \(text)", file: file, line: line)
    }

    func testConfigAndClientTextShowTheKeyMasked() throws {
        let config = ClientConfig(secretKey: CliEmulator.liveKey, baseUrl: CliEmulator.baseUrl)
        let client = try RefundClient(config: config)
        assertHidden("\(config)")
        assertHidden(String(reflecting: config))
        assertHidden("\(client)")
        XCTAssertTrue("\(config)".contains("sk_live_…WXYZ"))
    }

    func testErrorsNeverCarryTheKey() async throws {
        let wrongKey = "sk_live_notAKeyTheEmulatorKnows0000"
        let hidden = String(wrongKey.dropFirst("sk_live_".count).dropLast(4))
        let checkout = try await CliEmulator.paidCheckout()
        let client = try CliEmulator.client(key: wrongKey)
        let error = await expectRefundError { try await client.refund(checkoutId: checkout) }
        for text in ["\(error!)", error!.localizedDescription, "\(error!.info())"] {
            XCTAssertFalse(text.contains(hidden), "the secret key leaked into: \(text)")
        }
        let config = await expectRefundError {
            try RefundClient(config: ClientConfig(secretKey: "sk_live_\(self.secretPart)\n", baseUrl: CliEmulator.baseUrl))
        }
        assertHidden("\(config!)")
    }

    func testRefundsAndVerifiersNeverCarrySecrets() async throws {
        let refund = try await CliEmulator.client().refund(checkoutId: try await CliEmulator.paidCheckout(), amount: 1)
        assertHidden("\(refund)")
        let verifier = try WebhookVerifier(secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        XCTAssertFalse("\(verifier)".contains("MfKQ9r8G"))
    }
}
