import Foundation
import XCTest
import RefundKit

/// The Swift binding against the real emulator (mirrors the Kotlin suite).
final class RefundClientTests: XCTestCase {
    override func tearDown() async throws {
        try await CliEmulator.faults("{}")
    }

    func testRefundsWithAsyncAwait() async throws {
        let checkout = try await CliEmulator.paidCheckout(amount: 5_000)
        let refund = try await CliEmulator.client().refund(checkoutId: checkout)
        XCTAssertEqual(refund.checkoutId, checkout)
        XCTAssertTrue(refund.refundId.hasPrefix("rfd_"))
        XCTAssertEqual(refund.status, "successful")
        XCTAssertEqual(refund.message, "Your refund has been processed")
        XCTAssertFalse(refund.replayed)
        XCTAssertEqual(refund.attempts, 1)
        XCTAssertFalse(refund.idempotencyKey.isEmpty)
        let ledger = try await CliEmulator.ledger(checkout)
        XCTAssertEqual(ledger.count, 1)
        XCTAssertEqual(jsonInt(ledger[0]["amount"]), 5_000)
    }

    func testRefundsWhileBlockingTheCallingThread() async throws {
        let checkout = try await CliEmulator.paidCheckout(amount: 5_000)
        let refund = try CliEmulator.client().refundBlocking(checkoutId: checkout, amount: 1_250, metadata: ["order": "42"])
        XCTAssertTrue(refund.refundId.hasPrefix("rfd_"))
        let ledger = try await CliEmulator.ledger(checkout)
        XCTAssertEqual(ledger.count, 1)
        XCTAssertEqual(jsonInt(ledger[0]["amount"]), 1_250)
    }

    func testTheSameKeyReplaysTheFirstAnswerAndRefundsOnce() async throws {
        let checkout = try await CliEmulator.paidCheckout()
        let client = try CliEmulator.client()
        let first = try await client.refund(checkoutId: checkout, amount: 100, idempotencyKey: "swift-replay-\(checkout)")
        let again = try await client.refund(checkoutId: checkout, amount: 100, idempotencyKey: "swift-replay-\(checkout)")
        XCTAssertEqual(first.refundId, again.refundId)
        XCTAssertFalse(first.replayed)
        XCTAssertTrue(again.replayed)
        let ledger = try await CliEmulator.ledger(checkout)
        XCTAssertEqual(ledger.count, 1)
    }

    func testAWrongKeyIsAnAuthenticationError() async throws {
        let checkout = try await CliEmulator.paidCheckout()
        let client = try CliEmulator.client(key: "sk_live_notAKeyTheEmulatorKnows0000")
        let error = await expectRefundError { try await client.refund(checkoutId: checkout) }
        XCTAssertEqual(error?.kind(), "authentication")
        XCTAssertEqual(error?.status, 403)
        XCTAssertEqual(error?.retryable, false)
        XCTAssertEqual(error?.outcomeUnknown, false)
        XCTAssertEqual(error?.attempts, 1)
    }

    func testAnUnknownCheckoutIsNotFound() async throws {
        let client = try CliEmulator.client()
        let error = await expectRefundError { try await client.refund(checkoutId: "ch_doesNotExist000000000000") }
        XCTAssertEqual(error?.kind(), "not_found")
        XCTAssertEqual(error?.status, 404)
        XCTAssertEqual(error.map { "\($0)" }, "checkout not found: Checkout not found. (HTTP 404)")
    }

    func testAnUnpaidCheckoutIsRefused() async throws {
        let checkout = try await CliEmulator.createCheckout()
        let client = try CliEmulator.client()
        let error = await expectRefundError { try await client.refund(checkoutId: checkout) }
        XCTAssertEqual(error?.kind(), "invalid_request")
        XCTAssertEqual(error?.status, 400)
        XCTAssertEqual(error?.detail, "Checkout has not been paid.")
    }

    func testATestModeCheckoutIsRefused() async throws {
        let checkout = try await CliEmulator.paidCheckout(key: CliEmulator.testKey)
        let client = try CliEmulator.client(key: CliEmulator.testKey)
        let error = await expectRefundError { try await client.refund(checkoutId: checkout) }
        XCTAssertEqual(error?.kind(), "invalid_request")
        XCTAssertTrue(error?.detail.contains("test-mode") ?? false)
    }

    func testASecondFullRefundIsAlreadyRefunded() async throws {
        let checkout = try await CliEmulator.paidCheckout()
        let client = try CliEmulator.client()
        _ = try await client.refund(checkoutId: checkout)
        let error = await expectRefundError { try await client.refund(checkoutId: checkout) }
        XCTAssertEqual(error?.kind(), "already_refunded")
        XCTAssertEqual(error?.detail, "Payment has already been refunded.")
    }

    func testAKeyReusedForADifferentRequestIsAMismatch() async throws {
        let checkout = try await CliEmulator.paidCheckout()
        let client = try CliEmulator.client()
        _ = try await client.refund(checkoutId: checkout, amount: 100, idempotencyKey: "swift-422-\(checkout)")
        let error = await expectRefundError {
            try await client.refund(checkoutId: checkout, amount: 200, idempotencyKey: "swift-422-\(checkout)")
        }
        XCTAssertEqual(error?.kind(), "idempotency_mismatch")
        XCTAssertEqual(error?.status, 422)
    }

    func testAKeyStillInFlightIsAConflict() async throws {
        let checkout = try await CliEmulator.paidCheckout()
        let client = try CliEmulator.client()
        let key = "swift-409-\(checkout)"
        try await CliEmulator.faults(#"{"delay": 1.0, "delay_ms": 1500}"#)
        let first = Task { try await client.refund(checkoutId: checkout, amount: 100, idempotencyKey: key) }
        try await Task.sleep(nanoseconds: 400_000_000)
        let error = await expectRefundError {
            try await client.refund(checkoutId: checkout, amount: 100, idempotencyKey: key)
        }
        XCTAssertEqual(error?.kind(), "idempotency_conflict")
        XCTAssertEqual(error?.status, 409)
        XCTAssertEqual(error?.retryable, true)
        XCTAssertEqual(error?.idempotencyKey, key)
        let made = try await first.value
        XCTAssertTrue(made.refundId.hasPrefix("rfd_"))
    }

    func testA5xxWithoutRetriesIsAServerErrorWhoseOutcomeIsUnknown() async throws {
        let checkout = try await CliEmulator.paidCheckout()
        try await CliEmulator.faults(#"{"error_5xx": 1.0}"#)
        let client = try CliEmulator.client(maxRetries: 0)
        let error = await expectRefundError { try await client.refund(checkoutId: checkout) }
        XCTAssertEqual(error?.kind(), "server")
        XCTAssertEqual(error?.status, 500)
        XCTAssertEqual(error?.retryable, true)
        XCTAssertEqual(error?.outcomeUnknown, true)
        XCTAssertEqual(error?.attempts, 1)
        XCTAssertTrue("\(error!)".contains("retry with idempotency key \(error!.idempotencyKey!)"))
    }

    func testADroppedAnswerIsRecoveredByRetryingWithTheErrorsKey() async throws {
        let checkout = try await CliEmulator.paidCheckout()
        let client = try CliEmulator.client(maxRetries: 0)
        try await CliEmulator.faults(#"{"drop_after": 1.0}"#)
        let error = await expectRefundError { try await client.refund(checkoutId: checkout, amount: 300) }
        XCTAssertEqual(error?.kind(), "network")
        XCTAssertEqual(error?.outcomeUnknown, true)
        try await CliEmulator.faults("{}")
        let recovered = try await client.refund(checkoutId: checkout, amount: 300, idempotencyKey: error?.idempotencyKey)
        XCTAssertTrue(recovered.replayed)
        let ledger = try await CliEmulator.ledger(checkout)
        XCTAssertEqual(ledger.count, 1)
    }

    func testAClosedPortIsANetworkErrorAndNothingWasSent() async throws {
        let client = try RefundClient(config: ClientConfig(
            secretKey: CliEmulator.liveKey, baseUrl: "http://127.0.0.1:9", maxRetries: 0
        ))
        let error = await expectRefundError { try await client.refund(checkoutId: "ch_1") }
        XCTAssertEqual(error?.kind(), "network")
        XCTAssertNotNil(error?.idempotencyKey)
        XCTAssertEqual(error?.outcomeUnknown, false)
        XCTAssertNil(error?.status)
    }

    func testFiftyConcurrentTasksShareOneClient() async throws {
        let checkout = try await CliEmulator.paidCheckout(amount: 100_000)
        let client = try CliEmulator.client(maxRetries: 2)
        let refunds = try await withThrowingTaskGroup(of: Refund.self) { group in
            for _ in 0..<50 {
                group.addTask { try await client.refund(checkoutId: checkout, amount: 10) }
            }
            var all: [Refund] = []
            for try await refund in group { all.append(refund) }
            return all
        }
        XCTAssertEqual(Set(refunds.map(\.refundId)).count, 50)
        XCTAssertEqual(Set(refunds.map(\.idempotencyKey)).count, 50)
        let ledger = try await CliEmulator.ledger(checkout)
        XCTAssertEqual(ledger.count, 50)
    }

    /// UniFFI's Swift futures do not propagate cancellation: a cancelled
    /// task's refund runs to its end. The client must stay usable.
    func testCancellingATaskMidRefundLeavesTheClientUsable() async throws {
        let client = try CliEmulator.client()
        let slow = try await CliEmulator.paidCheckout()
        try await CliEmulator.faults(#"{"delay": 1.0, "delay_ms": 1500}"#)
        let task = Task { try await client.refund(checkoutId: slow, amount: 100) }
        try await Task.sleep(nanoseconds: 200_000_000)
        task.cancel()
        _ = await task.result
        try await CliEmulator.faults("{}")
        let checkout = try await CliEmulator.paidCheckout()
        let refund = try await client.refund(checkoutId: checkout, amount: 100)
        XCTAssertTrue(refund.refundId.hasPrefix("rfd_"))
    }

    func testAPreparedRefundTellsItsKeyBeforeItIsSentAndResendingRefundsOnce() async throws {
        let client = try CliEmulator.client(maxRetries: 6)
        let checkout = try await CliEmulator.paidCheckout()
        let prepared = try client.prepare(checkoutId: checkout, amount: 100)
        let key = prepared.idempotencyKey()
        XCTAssertEqual(key.count, 36)
        let first = try await prepared.send()
        let again = try await prepared.send()
        XCTAssertEqual(first.idempotencyKey, key)
        XCTAssertEqual(again.refundId, first.refundId)
        XCTAssertTrue(again.replayed)
        let ledger = try await CliEmulator.ledger(checkout)
        XCTAssertEqual(ledger.count, 1)
    }

    func testTheSwiftFriendlyInitTakesSeconds() async throws {
        let client = try RefundClient(secretKey: CliEmulator.liveKey, baseUrl: CliEmulator.baseUrl, maxRetries: 0, timeout: 5)
        let refund = try await client.refund(checkoutId: try await CliEmulator.paidCheckout(), amount: 1)
        XCTAssertTrue(refund.refundId.hasPrefix("rfd_"))
        let error = await expectRefundError { try RefundClient(secretKey: CliEmulator.liveKey, timeout: -1) }
        XCTAssertEqual(error?.kind(), "configuration")
        XCTAssertEqual(error?.fieldName, "timeout")
    }

    func testANonHttpsBaseUrlOffLoopbackIsRefused() async throws {
        let error = await expectRefundError {
            try RefundClient(config: ClientConfig(secretKey: CliEmulator.liveKey, baseUrl: "http://payments.example.com"))
        }
        XCTAssertEqual(error?.kind(), "configuration")
        XCTAssertEqual(error?.fieldName, "base_url")
    }
}
