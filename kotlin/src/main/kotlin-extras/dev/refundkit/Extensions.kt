// Hand-written, thin Kotlin conveniences over the generated bindings
// (src/main/kotlin/dev/refundkit/refundkit.kt). No behaviour lives here:
// every rule is in the Rust core.
package dev.refundkit

import kotlin.time.Duration

/**
 * A [RefundClient] configured with plain Kotlin types. A `null` setting
 * takes the core's default ([defaults]: 2 retries, 30 s, 90 s).
 *
 * Server-side only: a secret key must never ship inside an app. Apps use
 * token mode through the merchant's relay instead.
 *
 * Out-of-range values (a negative [maxRetries], a zero or negative timeout)
 * are refused by the core with [RefundException.Configuration], like every
 * other bad setting.
 */
fun RefundClient(
    secretKey: String,
    baseUrl: String? = null,
    maxRetries: Int? = null,
    timeout: Duration? = null,
    totalTimeout: Duration? = null,
): RefundClient = RefundClient(
    ClientConfig(
        secretKey = secretKey,
        baseUrl = baseUrl,
        maxRetries = maxRetries?.toUInt(),
        timeoutMs = timeout?.toMillisForRust(),
        totalTimeoutMs = totalTimeout?.toMillisForRust(),
        platform = "kotlin JVM ${System.getProperty("java.version")}",
    ),
)

/** A [WebhookVerifier] for one secret, with a [Duration] tolerance (`null`: the core's 5 minutes). */
fun WebhookVerifier(secret: String, tolerance: Duration? = null): WebhookVerifier =
    WebhookVerifier(listOf(secret), tolerance?.inWholeSeconds?.coerceAtLeast(0)?.toULong())

/** Negative durations map to 0 ms, which the core refuses by name. */
private fun Duration.toMillisForRust(): ULong = inWholeMilliseconds.coerceAtLeast(0).toULong()

// The fields every RefundException subclass carries, readable on the base
// type (one call into Rust each; errors are not a hot path).

/** What went wrong: the server's text when it gave one. */
val RefundException.detail: String get() = info().detail

/** The HTTP status, when the server answered. */
val RefundException.status: Int? get() = info().status

/** The server's `errorCode`, when it sent one. */
val RefundException.errorCode: String? get() = info().errorCode

/** The server's request id, when it sent one. */
val RefundException.requestId: String? get() = info().requestId

/** The idempotency key that was sent: retry later with it and nothing is refunded twice. */
val RefundException.idempotencyKey: String? get() = info().idempotencyKey

/** For invalid input and configuration: the argument at fault. */
val RefundException.fieldName: String? get() = info().fieldName

/** Whether retrying the same request (same key) later may succeed. */
val RefundException.retryable: Boolean get() = info().retryable

/** Whether the refund may have been made although the call failed. */
val RefundException.outcomeUnknown: Boolean get() = info().outcomeUnknown

/** HTTP attempts made (0 when nothing was sent). */
val RefundException.attempts: Int get() = info().attempts
