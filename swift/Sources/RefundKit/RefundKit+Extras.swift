// Hand-written, thin Swift conveniences over the generated bindings
// (Generated/RefundKit.swift). No behaviour lives here: every rule is in
// the Rust core.

import Foundation

// The generated error already has `description` (Rust's Display); declaring
// the conformance makes `print(error)`, string interpolation and
// `localizedDescription` use it.
extension RefundError: CustomStringConvertible {}

public extension RefundError {
    /// What went wrong: the server's text when it gave one.
    var detail: String { info().detail }
    /// The HTTP status, when the server answered.
    var status: Int32? { info().status }
    /// The server's `errorCode`, when it sent one.
    var errorCode: String? { info().errorCode }
    /// The server's request id, when it sent one.
    var requestId: String? { info().requestId }
    /// The idempotency key that was sent: retry later with it and nothing is refunded twice.
    var idempotencyKey: String? { info().idempotencyKey }
    /// For invalid input and configuration: the argument at fault.
    var fieldName: String? { info().fieldName }
    /// Whether retrying the same request (same key) later may succeed.
    var retryable: Bool { info().retryable }
    /// Whether the refund may have been made although the call failed.
    var outcomeUnknown: Bool { info().outcomeUnknown }
    /// HTTP attempts made (0 when nothing was sent).
    var attempts: Int32 { info().attempts }
}

public extension RefundClient {
    /// A client configured with plain Swift types (timeouts in seconds); a
    /// `nil` setting takes the core's default (`defaults()`).
    /// Server-side only: a secret key must never ship inside an app (apps
    /// use token mode through the merchant's relay).
    /// Out-of-range values are refused with `RefundError.Configuration`.
    convenience init(
        secretKey: String,
        baseUrl: String? = nil,
        maxRetries: UInt32? = nil,
        timeout: TimeInterval? = nil,
        totalTimeout: TimeInterval? = nil
    ) throws {
        try self.init(config: ClientConfig(
            secretKey: secretKey,
            baseUrl: baseUrl,
            maxRetries: maxRetries,
            timeoutMs: timeout.map(milliseconds),
            totalTimeoutMs: totalTimeout.map(milliseconds),
            platform: "swift"
        ))
    }
}

public extension WebhookVerifier {
    /// A verifier for one `whsec_…` secret; `tolerance` in seconds (`nil`:
    /// the core's default).
    convenience init(secret: String, tolerance: TimeInterval? = nil) throws {
        try self.init(secrets: [secret], toleranceSecs: tolerance.map { UInt64(max(0, $0.rounded())) })
    }
}

/// Seconds to whole milliseconds; negative or non-finite values become 0,
/// which the core refuses by name.
private func milliseconds(_ seconds: TimeInterval) -> UInt64 {
    guard seconds.isFinite, seconds > 0 else { return 0 }
    return UInt64(min(seconds * 1000, Double(UInt64.max / 2)).rounded())
}
