package dev.refundkit

import com.sun.net.httpserver.HttpServer
import java.net.ConnectException
import java.net.InetSocketAddress
import java.net.ServerSocket
import java.net.Socket
import java.util.concurrent.CopyOnWriteArrayList
import kotlin.test.assertEquals
import kotlin.test.assertNotEquals
import kotlin.test.assertNull
import kotlin.test.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/**
 * The in-process [Emulator] users put in their own tests, checked by real
 * refunds through the real client against it.
 */
class EmulatorTest {
    private fun Emulator.client(maxRetries: UInt = 0u): RefundClient =
        RefundClient(ClientConfig(secretKey = secretKey(), baseUrl = url(), maxRetries = maxRetries))

    @Test
    fun `a paid checkout is refunded and the ledger shows it`() = Emulator.start().use { emulator ->
        assertEquals("http://127.0.0.1:${emulator.port()}", emulator.url())
        assertTrue(emulator.secretKey().startsWith("sk_live_"))
        val checkout = emulator.paidCheckout(5_000)
        val refund = emulator.client().refundBlocking(checkout, amount = 1_200, metadata = mapOf("order" to "42"))

        val row = emulator.refunds(checkout).single()
        assertEquals(refund.refundId, row.refundId)
        assertEquals(1_200L, row.amount)
        assertEquals("succeeded", row.status)
        assertEquals(refund.idempotencyKey, row.idempotencyKey)
        assertEquals(mapOf("order" to "42"), row.metadata)
        assertEquals(listOf(row), emulator.refunds())
    }

    @Test
    fun `a bad amount is invalid input`() = Emulator.start().use { emulator ->
        val e = assertThrows<RefundException.InvalidInput> { emulator.paidCheckout(199) }
        assertTrue(e.detail.contains("at least 200"), e.detail)
    }

    @Test
    fun `a lost answer is retried with the same key and refunds once`() = Emulator.start().use { emulator ->
        val checkout = emulator.paidCheckout(5_000)
        emulator.faults(EmulatorFaults(dropAfter = 1.0))
        val e = assertThrows<RefundException.Network> { emulator.client(maxRetries = 2u).refundBlocking(checkout) }
        assertTrue(e.outcomeUnknown)
        assertEquals(3, e.attempts)
        assertEquals(e.idempotencyKey, emulator.refunds(checkout).single().idempotencyKey)

        emulator.faults(EmulatorFaults())
        val again = emulator.client().refundBlocking(checkout, idempotencyKey = e.idempotencyKey)
        assertTrue(again.replayed)
        assertEquals(listOf(again.refundId), emulator.refunds(checkout).map { it.refundId })
    }

    @Test
    fun `faults outside zero to one are invalid input`() = Emulator.start().use { emulator ->
        val e = assertThrows<RefundException.InvalidInput> { emulator.faults(EmulatorFaults(error5xx = 1.5)) }
        assertTrue(e.detail.contains("error_5xx must be a probability"), e.detail)
    }

    @Test
    fun `a refund event is signed and sent to a registered url`() = Emulator.start().use { emulator ->
        val received = CopyOnWriteArrayList<ByteArray>()
        val server = HttpServer.create(InetSocketAddress("127.0.0.1", 0), 0)
        server.createContext("/hooks") { exchange ->
            received.add(exchange.requestBody.readBytes())
            exchange.sendResponseHeaders(204, -1)
            exchange.close()
        }
        server.start()
        try {
            val url = "http://127.0.0.1:${server.address.port}/hooks"
            val subscription = emulator.registerWebhook(url)
            assertTrue(!subscription.toString().contains(subscription.secret()))
            val checkout = emulator.paidCheckout(5_000)
            val refund = emulator.client().refundBlocking(checkout, amount = 500)

            val delivery = emulator.waitForDeliveries("refund.succeeded").single()
            assertEquals(204.toUShort(), delivery.status)
            assertNull(delivery.error)
            val event = WebhookVerifier(listOf(subscription.secret())).verify(delivery.headers, delivery.body)
            assertEquals("refund.succeeded", event.eventType)
            assertEquals(refund.refundId, event.refundId)
            assertTrue(received.any { it.contentEquals(delivery.body) })
        } finally {
            server.stop(0)
        }
    }

    @Test
    fun `waiting for a delivery that never comes times out`() {
        Emulator.start().use { emulator ->
            assertThrows<RefundException.Timeout> { emulator.waitForDeliveries("refund.succeeded", timeoutMs = 50uL) }
        }
    }

    @Test
    fun `two emulators at once are separate`() {
        Emulator.start().use { one ->
            Emulator.start().use { two ->
                assertNotEquals(one.port(), two.port())
                assertNotEquals(one.secretKey(), two.secretKey())
                val checkout = one.paidCheckout(1_000)
                one.client().refundBlocking(checkout)
                assertEquals(1, one.refunds().size)
                assertEquals(0, two.refunds().size)
                assertThrows<RefundException.NotFound> { two.client().refundBlocking(checkout) }
            }
        }
    }

    @Test
    fun `closing frees the port`() {
        val emulator = Emulator.start()
        val port = emulator.port().toInt()
        emulator.client().refundBlocking(emulator.paidCheckout(1_000))
        emulator.close()
        assertThrows<ConnectException> { Socket("127.0.0.1", port).close() }
        ServerSocket().use { socket ->
            socket.reuseAddress = true
            socket.bind(InetSocketAddress("127.0.0.1", port))
        }
    }
}
