package dev.refundkit

import java.lang.management.ManagementFactory
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test

/**
 * Every suspend `refund` is resumed by a call from a Rust runtime thread into
 * the JVM. JNA would attach that thread for the call and detach it after,
 * building a new `java.lang.Thread` each time; the generated bindings keep
 * the runtime's threads attached instead (ADR 0022).
 */
class CallbackThreadTest {
    @Test
    fun `suspend refunds do not start a JVM thread per call`() = runBlocking {
        val client = CliEmulator.client()
        val checkout = CliEmulator.paidCheckout(1_000_000)
        // Warm up: the runtime's worker threads attach once, on first use.
        (1..20).map { async(Dispatchers.Default) { client.refund(checkout, amount = 1) } }.awaitAll()
        val threads = ManagementFactory.getThreadMXBean()
        val before = threads.totalStartedThreadCount
        val refunds = (1..300).map { async(Dispatchers.Default) { client.refund(checkout, amount = 1) } }.awaitAll()
        val started = threads.totalStartedThreadCount - before
        assertEquals(300, refunds.map { it.refundId }.toSet().size)
        assertTrue(started < 30, "$started JVM threads started for 300 suspend refunds")
        val names = Thread.getAllStackTraces().keys.filter { it.name.startsWith("refundkit-rust") }
        assertTrue(names.all { it.isDaemon }, "the runtime's attached threads must not keep the JVM alive")
    }
}
