package dev.refundkit

import java.util.concurrent.CopyOnWriteArrayList
import java.util.logging.Handler
import java.util.logging.Level
import java.util.logging.LogRecord
import java.util.logging.Logger
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/**
 * refundkit's log records through the default sink into
 * `java.util.logging` logger `dev.refundkit`, against the real emulator
 * with faults: one record per attempt with its fields, a WARNING when the
 * outcome is unknown, levels honoured, and no key or token in any record.
 */
class LoggingTest {
    private class Captured : Handler() {
        val records = CopyOnWriteArrayList<LogRecord>()
        override fun publish(record: LogRecord) { records += record }
        override fun flush() {}
        override fun close() {}

        @Suppress("UNCHECKED_CAST")
        fun fields(record: LogRecord): Map<String, String> = record.parameters[0] as Map<String, String>
        fun attempts() = records.filter { it.message.startsWith("refund attempt") }
        fun warnings() = records.filter { it.level == Level.WARNING }

        fun assertNoSecret(vararg secrets: String) {
            for (record in records) {
                val text = record.message + fields(record)
                for (secret in listOf(CliEmulator.LIVE_KEY, CliEmulator.TEST_KEY) + secrets) {
                    assertFalse(text.contains(secret), "a secret is in a log record: $text")
                }
            }
        }
    }

    private val logger = Logger.getLogger(RefundKitLogging.LOGGER_NAME)
    private val captured = Captured()

    @BeforeEach
    fun capture() {
        logger.addHandler(captured)
        logger.level = Level.FINE
        RefundKitLogging.useJavaLogging()
    }

    @AfterEach
    fun release() {
        CliEmulator.faults("{}")
        RefundKitLogging.off()
        logger.removeHandler(captured)
        logger.level = null
        captured.assertNoSecret()
    }

    @Test
    fun `each attempt of a retried refund is a FINE record with its fields`() = runBlocking {
        val checkout = CliEmulator.paidCheckout()
        CliEmulator.faults("""{"error_5xx": 1.0}""")
        val key = "kotlin-logs-5xx-$checkout"
        val failure = runCatching { CliEmulator.client(maxRetries = 2u).refund(checkout, idempotencyKey = key) }
        assertTrue(failure.exceptionOrNull() is RefundException.Server, failure.toString())
        val attempts = captured.attempts()
        assertEquals(listOf("1", "2", "3"), attempts.map { captured.fields(it)["attempt"] })
        for (record in attempts) {
            assertEquals(Level.FINE, record.level)
            assertEquals("dev.refundkit", record.loggerName)
            assertEquals("dev.refundkit", record.sourceClassName)
            val fields = captured.fields(record)
            assertEquals(checkout, fields["checkout_id"])
            assertEquals(key, fields["idempotency_key"])
            assertEquals("500", fields["status"])
            assertEquals("server", fields["outcome"])
            assertTrue(fields.containsKey("elapsed_ms"), fields.toString())
            assertTrue(record.message.contains("idempotency_key=$key"), record.message)
        }
        assertEquals(listOf("retry", "retry", "stop"), attempts.map { captured.fields(it)["decision"] })
        val warning = captured.warnings().single()
        assertEquals(key, captured.fields(warning)["idempotency_key"])
        assertEquals("3", captured.fields(warning)["attempts"])
    }

    @Test
    fun `a connection cut after commit logs a WARNING naming the key`() {
        val checkout = CliEmulator.paidCheckout()
        CliEmulator.faults("""{"drop_after": 1.0}""")
        val error = assertThrows<RefundException> { CliEmulator.client(maxRetries = 1u).refundBlocking(checkout) }
        assertTrue(error.outcomeUnknown)
        assertEquals(listOf("retry", "stop"), captured.attempts().map { captured.fields(it)["decision"] })
        val warning = captured.warnings().single()
        assertTrue(warning.message.startsWith("refund outcome unknown"), warning.message)
        assertEquals(error.idempotencyKey, captured.fields(warning)["idempotency_key"])
    }

    @Test
    fun `levels are honoured in Rust and in java util logging`() {
        logger.level = Level.WARNING
        RefundKitLogging.useJavaLogging()
        assertEquals(LogLevel.WARN, logLevel())
        CliEmulator.client().refundBlocking(CliEmulator.paidCheckout())
        assertTrue(captured.records.isEmpty())

        CliEmulator.faults("""{"drop_after": 1.0}""")
        assertThrows<RefundException> { CliEmulator.client().refundBlocking(CliEmulator.paidCheckout()) }
        assertEquals(listOf(Level.WARNING), captured.records.map { it.level })

        logger.level = Level.SEVERE // raising the level applies at once
        assertThrows<RefundException> { CliEmulator.client().refundBlocking(CliEmulator.paidCheckout()) }
        assertEquals(1, captured.records.size)

        RefundKitLogging.off()
        assertNull(logLevel())
        logger.level = Level.FINE
        assertThrows<RefundException> { CliEmulator.client().refundBlocking(CliEmulator.paidCheckout()) }
        assertEquals(1, captured.records.size)
    }

    @Test
    fun `a server echoing the key in the request id never puts it in a record`() {
        ScriptedServer().use { server ->
            val client = RefundClient(ClientConfig(secretKey = CliEmulator.LIVE_KEY, baseUrl = server.baseUrl, maxRetries = 0u))
            server.script(500, mapOf("x-request-id" to "req_${CliEmulator.LIVE_KEY}"), "{}")
            assertThrows<RefundException.Server> { client.refundBlocking("ch_1") }
        }
        val record = captured.attempts().single()
        assertTrue(captured.fields(record)["request_id"]!!.startsWith("req_sk_live_…"), record.message)
        captured.assertNoSecret(CliEmulator.LIVE_KEY)
    }

    @Test
    fun `token mode logs no token`() = runBlocking {
        val tokens = CopyOnWriteArrayList<String>()
        val provider = object : TokenProvider {
            override suspend fun token(forceRefresh: Boolean): String = Relay.jwt("kotlin-logs").also { tokens += it }
        }
        val client = RefundClient.forRelay(Relay.url, provider, maxRetries = 0u)
        client.refund(CliEmulator.paidCheckout(5_000), amount = 100)
        assertEquals(1, captured.attempts().size)
        captured.assertNoSecret(*tokens.toTypedArray())
    }
}
