package dev.refundkit

import java.net.ServerSocket
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotEquals
import kotlin.test.assertTrue
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** The Kotlin binding against the real emulator. */
class RefundClientTest {
    @AfterEach
    fun clearFaults() = CliEmulator.faults("{}")

    /** A client of an in-process [Emulator]. */
    private fun Emulator.client(): RefundClient = RefundClient(ClientConfig(secretKey = secretKey(), baseUrl = url()))

    @Test
    fun `refunds from a coroutine`() = Emulator.start().use { emulator ->
        runBlocking {
            val checkout = emulator.paidCheckout(5_000)
            val refund = emulator.client().refund(checkout)
            assertEquals(checkout, refund.checkoutId)
            assertTrue(refund.refundId.startsWith("rfd_"), refund.refundId)
            assertEquals("successful", refund.status)
            assertEquals("Your refund has been processed", refund.message)
            assertFalse(refund.replayed)
            assertEquals(1, refund.attempts)
            assertTrue(refund.succeeded)
            assertTrue(refund.elapsedMs >= 0)
            assertTrue(refund.requestId!!.isNotEmpty())
            assertTrue(refund.idempotencyKey.isNotEmpty())
            assertEquals(listOf(5_000L), emulator.refunds(checkout).map { it.amount })
        }
    }

    @Test
    fun `refunds while blocking the calling thread`() = Emulator.start().use { emulator ->
        val checkout = emulator.paidCheckout(5_000)
        val refund = emulator.client().refundBlocking(checkout, amount = 1_250, metadata = mapOf("order" to "42"))
        assertTrue(refund.refundId.startsWith("rfd_"))
        val made = emulator.refunds(checkout).single()
        assertEquals(1_250L, made.amount)
        assertEquals(mapOf("order" to "42"), made.metadata)
    }

    @Test
    fun `the same key replays the first answer and refunds once`() = Emulator.start().use { emulator ->
        runBlocking {
            val checkout = emulator.paidCheckout(10_000)
            val client = emulator.client()
            val first = client.refund(checkout, amount = 100, idempotencyKey = "kotlin-replay-$checkout")
            val again = client.refund(checkout, amount = 100, idempotencyKey = "kotlin-replay-$checkout")
            assertEquals(first.refundId, again.refundId)
            assertFalse(first.replayed)
            assertTrue(again.replayed)
            assertEquals(listOf("kotlin-replay-$checkout"), emulator.refunds(checkout).map { it.idempotencyKey })
        }
    }

    @Test
    fun `a wrong key is an authentication error`() {
        val e = assertThrows<RefundException.Authentication> {
            CliEmulator.client(key = "sk_live_notAKeyTheEmulatorKnows0000").refundBlocking(CliEmulator.paidCheckout())
        }
        assertEquals(403, e.status)
        assertFalse(e.retryable)
        assertFalse(e.outcomeUnknown)
        assertEquals(1, e.attempts)
    }

    @Test
    fun `an unknown checkout is not found`() {
        val e = assertThrows<RefundException.NotFound> { CliEmulator.client().refundBlocking("ch_doesNotExist000000000000") }
        assertEquals(404, e.status)
        assertFalse(e.retryable)
        assertEquals("not_found", e.kind())
        assertEquals("checkout not found: Checkout not found. (HTTP 404)", e.toString())
    }

    @Test
    fun `an unpaid checkout is refused`() {
        val e = assertThrows<RefundException.InvalidRequest> { CliEmulator.client().refundBlocking(CliEmulator.createCheckout()) }
        assertEquals(400, e.status)
        assertEquals("Checkout has not been paid.", e.detail)
    }

    @Test
    fun `a test-mode checkout is refused`() {
        val checkout = CliEmulator.paidCheckout(key = CliEmulator.TEST_KEY)
        val e = assertThrows<RefundException.InvalidRequest> {
            CliEmulator.client(key = CliEmulator.TEST_KEY).refundBlocking(checkout)
        }
        assertEquals(400, e.status)
        assertTrue(e.detail.contains("test-mode"), e.detail)
    }

    @Test
    fun `a second full refund is already refunded`() {
        val checkout = CliEmulator.paidCheckout()
        val client = CliEmulator.client()
        client.refundBlocking(checkout)
        val e = assertThrows<RefundException.AlreadyRefunded> { client.refundBlocking(checkout) }
        assertEquals(400, e.status)
        assertEquals("Payment has already been refunded.", e.detail)
    }

    @Test
    fun `a key reused for a different request is a mismatch`() {
        val checkout = CliEmulator.paidCheckout()
        val client = CliEmulator.client()
        client.refundBlocking(checkout, amount = 100, idempotencyKey = "kotlin-422-$checkout")
        val e = assertThrows<RefundException.IdempotencyMismatch> {
            client.refundBlocking(checkout, amount = 200, idempotencyKey = "kotlin-422-$checkout")
        }
        assertEquals(422, e.status)
        assertFalse(e.retryable)
    }

    @Test
    fun `a key still in flight is a conflict`() = runBlocking {
        val checkout = CliEmulator.paidCheckout()
        val client = CliEmulator.client()
        val key = "kotlin-409-$checkout"
        CliEmulator.faults("""{"delay": 1.0, "delay_ms": 1500}""")
        val first = async(Dispatchers.IO) { client.refund(checkout, amount = 100, idempotencyKey = key) }
        delay(400)
        val e = assertThrows<RefundException.IdempotencyConflict> {
            client.refundBlocking(checkout, amount = 100, idempotencyKey = key)
        }
        assertEquals(409, e.status)
        assertTrue(e.retryable)
        assertEquals(key, e.idempotencyKey)
        assertTrue(first.await().refundId.startsWith("rfd_"))
    }

    @Test
    fun `a 5xx without retries is a server error whose outcome is unknown`() {
        val checkout = CliEmulator.paidCheckout()
        CliEmulator.faults("""{"error_5xx": 1.0}""")
        val e = assertThrows<RefundException.Server> { CliEmulator.client(maxRetries = 0u).refundBlocking(checkout) }
        assertEquals(500, e.status)
        assertTrue(e.retryable)
        assertTrue(e.outcomeUnknown)
        assertEquals(1, e.attempts)
        assertTrue(e.toString().contains("retry with idempotency key ${e.idempotencyKey}"), e.toString())
    }

    @Test
    fun `5xx is retried with the same key up to max retries`() {
        val checkout = CliEmulator.paidCheckout()
        CliEmulator.faults("""{"error_5xx": 1.0}""")
        val e = assertThrows<RefundException.Server> { CliEmulator.client(maxRetries = 2u).refundBlocking(checkout) }
        assertEquals(3, e.attempts)
    }

    @Test
    fun `a 429 is rate limited with the server's retry-after and nothing refunded`() {
        val checkout = CliEmulator.paidCheckout()
        CliEmulator.faults("""{"rate_limit": 1.0, "retry_after_secs": 7}""")
        val e = assertThrows<RefundException.RateLimited> { CliEmulator.client(maxRetries = 0u).refundBlocking(checkout) }
        assertEquals(429, e.status)
        assertEquals("rate_limited", e.errorCode)
        assertEquals(7_000L, e.retryAfterMs)
        assertTrue(e.retryable)
        assertFalse(e.outcomeUnknown, "a 429 is answered before processing")
        assertEquals(1, e.attempts)
        assertEquals(0, CliEmulator.ledger(checkout).size)
    }

    @Test
    fun `a dropped answer is recovered by retrying with the error's key`() {
        val checkout = CliEmulator.paidCheckout()
        val client = CliEmulator.client(maxRetries = 0u)
        CliEmulator.faults("""{"drop_after": 1.0}""")
        val e = assertThrows<RefundException.Network> { client.refundBlocking(checkout, amount = 300) }
        assertTrue(e.outcomeUnknown, "the refund was committed before the connection was cut")
        CliEmulator.faults("{}")
        val recovered = client.refundBlocking(checkout, amount = 300, idempotencyKey = e.idempotencyKey)
        assertTrue(recovered.replayed)
        assertEquals(1, CliEmulator.ledger(checkout).size, "refunded exactly once")
    }

    @Test
    fun `a closed port is a network error and nothing was sent`() {
        val port = ServerSocket(0).use { it.localPort }
        val client = RefundClient(ClientConfig(secretKey = CliEmulator.LIVE_KEY, baseUrl = "http://127.0.0.1:$port", maxRetries = 0u))
        val e = assertThrows<RefundException.Network> { client.refundBlocking("ch_1") }
        assertNotEquals(null, e.idempotencyKey)
        assertFalse(e.outcomeUnknown, "a refused connection proves nothing was sent")
        assertEquals(null, e.status)
    }

    @Test
    fun `fifty concurrent coroutines share one client`() = runBlocking {
        val checkout = CliEmulator.paidCheckout(100_000)
        val client = CliEmulator.client(maxRetries = 2u)
        val refunds = coroutineScope {
            (1..50).map { async(Dispatchers.Default) { client.refund(checkout, amount = 10) } }.awaitAll()
        }
        assertEquals(50, refunds.map { it.refundId }.toSet().size)
        assertEquals(50, refunds.map { it.idempotencyKey }.toSet().size)
        assertEquals(50, CliEmulator.ledger(checkout).size)
    }

    @Test
    fun `cancelling a coroutine mid-refund leaves the client usable`() = runBlocking {
        val client = CliEmulator.client()
        CliEmulator.faults("""{"delay": 1.0, "delay_ms": 3000}""")
        assertThrows<TimeoutCancellationException> {
            runBlocking { withTimeout(300.milliseconds) { client.refund(CliEmulator.paidCheckout(), amount = 100) } }
        }
        CliEmulator.faults("{}")
        val checkout = CliEmulator.paidCheckout()
        val refund = withTimeout(10.seconds) { client.refund(checkout, amount = 100) }
        assertTrue(refund.refundId.startsWith("rfd_"))
        assertEquals(1, CliEmulator.ledger(checkout).size)
    }

    @Test
    fun `a cancelled prepared refund still tells its key and resending it refunds once`() = runBlocking {
        val client = CliEmulator.client(maxRetries = 6u)
        val checkout = CliEmulator.paidCheckout()
        val prepared = client.prepare(checkout, amount = 100)
        val key = prepared.idempotencyKey()
        assertEquals(36, key.length, key)
        CliEmulator.faults("""{"delay": 1.0, "delay_ms": 1500}""")
        assertThrows<TimeoutCancellationException> {
            runBlocking { withTimeout(300.milliseconds) { prepared.send() } }
        }
        CliEmulator.faults("{}")
        // The first request may still be in flight (409, retried) or done (replayed).
        val refund = withTimeout(20.seconds) { prepared.send() }
        assertEquals(key, refund.idempotencyKey)
        assertEquals(1, CliEmulator.ledger(checkout).size)
    }

    @Test
    fun `prepare refuses bad input before anything is sent`() {
        val e = assertThrows<RefundException.InvalidInput> { CliEmulator.client().prepare("ch 1") }
        assertEquals("checkout_id", e.fieldName)
    }

    @Test
    fun `the kotlin-friendly factory takes durations`() = runBlocking {
        val client = RefundClient(CliEmulator.LIVE_KEY, baseUrl = CliEmulator.baseUrl, maxRetries = 0, timeout = 5.seconds)
        assertTrue(client.refund(CliEmulator.paidCheckout(), amount = 1).refundId.startsWith("rfd_"))
        val e = assertThrows<RefundException.Configuration> { RefundClient(CliEmulator.LIVE_KEY, maxRetries = -1) }
        assertEquals("max_retries", e.fieldName)
    }

    @Test
    fun `a non-https base url off loopback is refused`() {
        val e = assertThrows<RefundException.Configuration> {
            RefundClient(ClientConfig(secretKey = CliEmulator.LIVE_KEY, baseUrl = "http://payments.example.com"))
        }
        assertEquals("base_url", e.fieldName)
    }
}
