import XCTest
import RefundKit

/// Every case of the shared vectors in `tests/vectors/`, through the Swift binding.
final class VectorTests: XCTestCase {
    func testKeyVectors() throws {
        let doc = try Vectors.document("keys")
        for c in doc["cases"] as! [[String: Any]] {
            let key = try idempotencyKeyFor(namespace: c.str("namespace")!, parts: c["parts"] as! [String])
            XCTAssertEqual(key, c.str("key"), c.str("name")!)
        }
        for c in doc["invalid"] as! [[String: Any]] {
            XCTAssertThrowsError(try idempotencyKeyFor(namespace: c.str("namespace")!, parts: c["parts"] as! [String])) { error in
                XCTAssertEqual((error as? RefundError)?.fieldName, c.str("field"), c.str("name")!)
            }
        }
    }

    func testTheDefaultsAreTheSharedVector() throws {
        let d = try Vectors.document("defaults")["defaults"] as! [String: Any]
        let core = defaults()
        XCTAssertEqual(d.str("base_url"), core.baseUrl)
        XCTAssertEqual(d.int("max_retries").map { UInt32($0) }, core.maxRetries)
        XCTAssertEqual(d.int("timeout_seconds").map { UInt64($0 * 1000) }, core.timeoutMs)
        XCTAssertEqual(d.int("total_timeout_seconds").map { UInt64($0 * 1000) }, core.totalTimeoutMs)
        XCTAssertEqual(d.int("webhook_tolerance_seconds").map { UInt64($0) }, core.webhookToleranceSecs)
    }

    func testWebhookVectors() throws {
        for c in try Vectors.cases("webhooks") {
            let name = c.str("name")!
            let secrets = (c["secrets"] as? [String]) ?? [c.str("secret")!]
            let verifier = try WebhookVerifier(secrets: secrets, toleranceSecs: c.int("tolerance").map { UInt64($0) })
            let headers = c.strings("headers")!
            let body = Data(c.str("body")!.utf8)
            let now = Int64(c.int("now")!)
            let expect = c.obj("expect")!
            if expect.bool("ok") == true {
                let event = try verifier.verifyAt(headers: headers, body: body, now: now)
                XCTAssertEqual(event.id, expect.str("id"), name)
                XCTAssertEqual(event.eventType, expect.str("type"), name)
                XCTAssertEqual(event.createdDate, expect.str("created_date"), name)
                XCTAssertEqual(event.refundId, expect.str("refund_id"), name)
                XCTAssertEqual(event.checkoutId, expect.str("checkout_id"), name)
                XCTAssertEqual(event.amount, expect.int("amount").map { Int64($0) }, name)
                XCTAssertEqual(event.status, expect.str("status"), name)
                XCTAssertEqual(event.failureReason, expect.str("failure_reason"), name)
            } else {
                do {
                    _ = try verifier.verifyAt(headers: headers, body: body, now: now)
                    XCTFail("\(name): verified, expected a failure")
                } catch let error as RefundError {
                    XCTAssertEqual(error.kind(), "webhook_verification", name)
                    let wanted = expect.str("error_contains")!
                    XCTAssertTrue(error.detail.contains(wanted), "\(name): '\(error.detail)' lacks '\(wanted)'")
                }
            }
        }
    }

    func testErrorVectors() async throws {
        let server = ScriptedServer()
        defer { server.stop() }
        let client = try RefundClient(config: ClientConfig(
            secretKey: "sk_live_vectorTests0123456789WXYZ", baseUrl: server.baseUrl, maxRetries: 0
        ))
        let checkoutId = try Vectors.document("errors")["checkout_id"] as! String
        for c in try Vectors.cases("errors") {
            let name = c.str("name")!
            let status = c.int("status")!
            server.script(status: status, headers: c.strings("headers")!, body: c.str("body")!)
            let expect = c.obj("expect")!
            if expect.bool("ok") == true {
                let refund = try await client.refund(checkoutId: checkoutId, idempotencyKey: "vector-key")
                XCTAssertEqual(refund.checkoutId, expect.str("checkout_id"), name)
                XCTAssertEqual(refund.refundId, expect.str("refund_id"), name)
                XCTAssertEqual(refund.status, expect.str("status"), name)
                XCTAssertEqual(refund.message, expect.str("message"), name)
                XCTAssertEqual(refund.replayed, expect.bool("replayed"), name)
                XCTAssertEqual(refund.requestId, expect.str("request_id"), name)
                XCTAssertEqual(refund.idempotencyKey, "vector-key", name)
            } else {
                guard let error = await expectRefundError({
                    try await client.refund(checkoutId: checkoutId, idempotencyKey: "vector-key")
                }) else { continue }
                XCTAssertEqual(error.kind(), expect.str("kind"), name)
                XCTAssertEqual(error.detail, expect.str("message"), name)
                XCTAssertEqual(error.retryable, expect.bool("retryable"), name)
                XCTAssertEqual(error.outcomeUnknown, expect.bool("outcome_unknown"), name)
                XCTAssertEqual(error.errorCode, expect.str("error_code"), name)
                XCTAssertEqual(error.requestId, expect.str("request_id"), name)
                XCTAssertEqual(error.idempotencyKey, "vector-key", name)
                XCTAssertEqual(error.status, Int32(status), name)
                XCTAssertEqual(error.attempts, 1, name)
            }
            XCTAssertEqual(server.receivedKeys.last ?? nil, "vector-key", name)
        }
    }

    /// Invalid input is refused before any I/O: those cases point at the
    /// real emulator, whose refund counter must not move. Valid cases point
    /// at a closed loopback port and may fail only at the network.
    func testValidationVectors() async throws {
        for c in try Vectors.cases("validation") {
            let name = c.str("name")!
            let input = c.obj("input")!
            let expect = c.obj("expect")!
            let kind = expect.str("kind")
            let key = input.str("secret_key") ?? "sk_live_0123456789abcdefghij"
            let baseUrl = input.str("base_url") ?? (kind == nil ? "http://127.0.0.1:9" : CliEmulator.baseUrl)
            var before = 0
            if kind != nil { before = try await CliEmulator.refundRequests() }
            let error = await expectRefundError {
                let client = try RefundClient(config: ClientConfig(
                    secretKey: key, baseUrl: baseUrl, maxRetries: 0, timeoutMs: 2_000
                ))
                return try client.refundBlocking(
                    checkoutId: input.str("checkout_id")!,
                    amount: input.int("amount").map { Int64($0) },
                    metadata: input.strings("metadata"),
                    idempotencyKey: input.str("idempotency_key")
                )
            }
            guard let error else { continue }
            if let kind {
                XCTAssertEqual(error.kind(), kind, name)
                XCTAssertEqual(error.fieldName, expect.str("field"), name)
                XCTAssertEqual(error.attempts, 0, name)
                let after = try await CliEmulator.refundRequests()
                XCTAssertEqual(after, before, "\(name): a refund request reached the emulator")
                if key.count > 12 {
                    XCTAssertFalse("\(error)".contains(key), "\(name): the secret leaked")
                }
            } else {
                XCTAssertEqual(error.kind(), "network", "\(name): a valid input may fail only at the network")
            }
        }
    }
}
