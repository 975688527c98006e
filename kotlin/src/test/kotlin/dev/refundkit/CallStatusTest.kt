package dev.refundkit

import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test

/**
 * The generated bindings reuse each thread's call statuses and read one only
 * when its call failed (ADR 0025). Failures and successes interleaved on one
 * thread must each come back as themselves: a failure never leaks into the
 * next call, and a success never hides the next failure.
 */
class CallStatusTest {
    private fun missingCheckout(i: Int) = "ch_doesNotExist%012d".format(i)

    @Test
    fun `failures and successes alternate on one thread without leaking into each other`() {
        val client = CliEmulator.client()
        val checkout = CliEmulator.paidCheckout(1_000_000)
        val keys = mutableSetOf<String>()
        repeat(40) { i ->
            val invalid = assertFailsWith<RefundException.InvalidInput> { client.prepare("ch $i") }
            assertEquals("checkout_id", invalid.fieldName)
            val refund = client.refundBlocking(checkout, amount = 1)
            assertTrue(refund.refundId.startsWith("rfd_"), refund.refundId)
            keys += refund.idempotencyKey
            // A Rust error raised by the server's answer, then a plain call that succeeds.
            val missing = assertFailsWith<RefundException.NotFound> { client.refundBlocking(missingCheckout(i), amount = 1) }
            assertEquals(404, missing.status)
            assertEquals(36, idempotencyKeyFor("orders", listOf("o-$i")).length)
        }
        assertEquals(40, keys.size)
    }

    @Test
    fun `suspend failures and successes alternate on one coroutine`() = runBlocking {
        val client = CliEmulator.client()
        val checkout = CliEmulator.paidCheckout(1_000_000)
        repeat(40) { i ->
            val missing = assertFailsWith<RefundException.NotFound> { client.refund(missingCheckout(i), amount = 1) }
            assertEquals(404, missing.status)
            val refund = client.refund(checkout, amount = 1)
            assertTrue(refund.refundId.startsWith("rfd_"), refund.refundId)
            val invalid = assertFailsWith<RefundException.InvalidInput> { client.refund(checkout, amount = -1) }
            assertEquals("amount", invalid.fieldName)
        }
    }
}
