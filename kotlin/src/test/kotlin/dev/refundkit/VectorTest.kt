package dev.refundkit

import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows

/** Every case of the shared vectors in `tests/vectors/`, through the Kotlin binding. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class VectorTest {
    private val scripted = ScriptedServer()

    @AfterAll
    fun stop() = scripted.close()

    @TestFactory
    fun webhooks(): List<DynamicTest> = Vectors.cases("webhooks").map { case ->
        DynamicTest.dynamicTest(case.str("name")!!) {
            val secrets = case["secrets"]?.jsonArray?.map { it.jsonPrimitive.content } ?: listOf(case.str("secret")!!)
            val verifier = WebhookVerifier(secrets, case.long("tolerance")?.toULong())
            val headers = case["headers"]!!.stringMap()
            val body = case.str("body")!!.toByteArray(Charsets.UTF_8)
            val now = case.long("now")!!
            val expect = case.obj("expect")!!
            if (expect.bool("ok") == true) {
                val event = verifier.verifyAt(headers, body, now)
                assertEquals(expect.str("id"), event.id)
                assertEquals(expect.str("type"), event.eventType)
                assertEquals(expect.str("created_date"), event.createdDate)
                assertEquals(expect.str("refund_id"), event.refundId)
                assertEquals(expect.str("checkout_id"), event.checkoutId)
                assertEquals(expect.long("amount"), event.amount)
                assertEquals(expect.str("status"), event.status)
                assertEquals(expect.str("failure_reason"), event.failureReason)
                assertEquals(headers.entries.first { it.key.equals("webhook-id", true) }.value, event.webhookId)
            } else {
                val e = assertThrows<RefundException.WebhookVerification> { verifier.verifyAt(headers, body, now) }
                val wanted = expect.str("error_contains")!!
                assertTrue(e.detail.contains(wanted), "'${e.detail}' should contain '$wanted'")
            }
        }
    }

    @Test
    fun `the defaults are the shared vector`() {
        val d = Vectors.document("defaults").obj("defaults")!!
        val core = defaults()
        assertEquals(d.str("base_url"), core.baseUrl)
        assertEquals(d.long("max_retries")!!.toUInt(), core.maxRetries)
        assertEquals(d.long("timeout_seconds")!! * 1000, core.timeoutMs.toLong())
        assertEquals(d.long("total_timeout_seconds")!! * 1000, core.totalTimeoutMs.toLong())
        assertEquals(d.long("webhook_tolerance_seconds")!!, core.webhookToleranceSecs.toLong())
    }

    @TestFactory
    fun keys(): List<DynamicTest> {
        val doc = Vectors.document("keys")
        val valid = doc["cases"]!!.jsonArray.map { it.jsonObject }.map { case ->
            DynamicTest.dynamicTest(case.str("name")!!) {
                val parts = case["parts"]!!.jsonArray.map { it.jsonPrimitive.content }
                assertEquals(case.str("key"), idempotencyKeyFor(case.str("namespace")!!, parts))
            }
        }
        val invalid = doc["invalid"]!!.jsonArray.map { it.jsonObject }.map { case ->
            DynamicTest.dynamicTest(case.str("name")!!) {
                val parts = case["parts"]!!.jsonArray.map { it.jsonPrimitive.content }
                val e = assertThrows<RefundException.InvalidInput> { idempotencyKeyFor(case.str("namespace")!!, parts) }
                assertEquals(case.str("field"), e.fieldName)
            }
        }
        return valid + invalid
    }

    @TestFactory
    fun errors(): List<DynamicTest> {
        val client = RefundClient(ClientConfig(secretKey = SECRET, baseUrl = scripted.baseUrl, maxRetries = 0u))
        val checkoutId = Vectors.document("errors").str("checkout_id")!!
        return Vectors.cases("errors").map { case ->
            DynamicTest.dynamicTest(case.str("name")!!) {
                scripted.script(case.long("status")!!.toInt(), case["headers"]!!.stringMap(), case.str("body")!!)
                val expect = case.obj("expect")!!
                val call = { runBlocking { client.refund(checkoutId, idempotencyKey = "vector-key") } }
                if (expect.bool("ok") == true) {
                    val refund = call()
                    assertEquals(expect.str("checkout_id"), refund.checkoutId)
                    assertEquals(expect.str("refund_id"), refund.refundId)
                    assertEquals(expect.str("status"), refund.status)
                    assertEquals(expect.str("message"), refund.message)
                    assertEquals(expect.bool("replayed"), refund.replayed)
                    assertEquals(expect.str("request_id"), refund.requestId)
                    assertEquals(expect.str("status") in setOf("successful", "succeeded"), refund.succeeded)
                    assertEquals("vector-key", refund.idempotencyKey)
                    assertEquals(1, refund.attempts)
                } else {
                    val e = assertThrows<RefundException> { call() }
                    assertEquals(expect.str("kind"), e.kind())
                    assertEquals(expect.str("message"), e.detail)
                    assertEquals(expect.bool("retryable"), e.retryable)
                    assertEquals(expect.bool("outcome_unknown"), e.outcomeUnknown)
                    assertEquals(expect.str("error_code"), e.errorCode)
                    assertEquals(expect.str("request_id"), e.requestId)
                    assertEquals("vector-key", e.idempotencyKey)
                    assertEquals(case.long("status")!!.toInt(), e.status)
                    assertEquals(1, e.attempts)
                }
                assertEquals("vector-key", scripted.receivedKeys.last())
            }
        }
    }

    /**
     * Invalid input is refused before any I/O: the cases point at the real
     * emulator, whose counter of refund requests must not move. Valid cases
     * point at a closed loopback port and may fail only at the network.
     */
    @TestFactory
    fun validation(): List<DynamicTest> = Vectors.cases("validation").map { case ->
        DynamicTest.dynamicTest(case.str("name")!!) {
            val input = case.obj("input")!!
            val expect = case.obj("expect")!!
            val kind = expect.str("kind")
            val key = input.str("secret_key") ?: "sk_live_0123456789abcdefghij"
            val baseUrl = input.str("base_url") ?: if (kind == null) CLOSED_PORT_URL else CliEmulator.baseUrl
            val before = if (kind == null) 0 else CliEmulator.refundRequests()
            val result = runCatching {
                val client = RefundClient(ClientConfig(secretKey = key, baseUrl = baseUrl, maxRetries = 0u, timeoutMs = 2_000u))
                client.refundBlocking(
                    checkoutId = input.str("checkout_id")!!,
                    amount = input.long("amount"),
                    metadata = input["metadata"]?.stringMap(),
                    idempotencyKey = input.str("idempotency_key"),
                )
            }
            val error = result.exceptionOrNull()
            if (kind == null) {
                assertTrue(error is RefundException.Network, "a valid input may fail only at the network, got $error")
            } else {
                assertTrue(error is RefundException, "expected $kind, got $result")
                assertEquals(kind, error.kind())
                assertEquals(expect.str("field"), error.fieldName)
                assertEquals(0, error.attempts)
                assertEquals(before, CliEmulator.refundRequests(), "a refund request reached the emulator")
                if (key.length > 12) {
                    assertFalse(error.toString().contains(key) || error.message!!.contains(key), "the secret leaked: $error")
                }
            }
        }
    }

    private companion object {
        const val SECRET = "sk_live_vectorTests0123456789WXYZ"
        const val CLOSED_PORT_URL = "http://127.0.0.1:9"
    }
}
