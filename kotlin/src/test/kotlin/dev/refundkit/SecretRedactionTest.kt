package dev.refundkit

import kotlin.test.assertFalse
import kotlin.test.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** The secret key appears in no text the binding produces. */
class SecretRedactionTest {
    private val key = CliEmulator.LIVE_KEY
    private val secretPart = key.removePrefix("sk_live_").dropLast(4)

    private fun assertHidden(text: String?) {
        assertFalse(text.orEmpty().contains(secretPart), "the secret key leaked into: $text")
    }

    @Test
    fun `config and client text show the key masked`() {
        val config = ClientConfig(secretKey = key, baseUrl = CliEmulator.baseUrl)
        val client = RefundClient(config)
        assertHidden(config.toString())
        assertHidden(client.toString())
        assertTrue(config.toString().contains("sk_live_…WXYZ"), config.toString())
    }

    @Test
    fun `errors never carry the key`() {
        val wrongKey = "sk_live_notAKeyTheEmulatorKnows0000"
        val auth = assertThrows<RefundException.Authentication> {
            CliEmulator.client(key = wrongKey).refundBlocking(CliEmulator.paidCheckout())
        }
        val hidden = wrongKey.removePrefix("sk_live_").dropLast(4)
        for (text in listOf(auth.toString(), auth.message, auth.info().toString(), auth.body)) {
            assertFalse(text.orEmpty().contains(hidden), "the secret key leaked into: $text")
        }
        val config = assertThrows<RefundException.Configuration> {
            RefundClient(ClientConfig(secretKey = "sk_live_$secretPart\n", baseUrl = CliEmulator.baseUrl))
        }
        assertHidden(config.toString())
        assertHidden(config.message)
    }

    @Test
    fun `refunds and verifiers never carry secrets`() {
        val refund = CliEmulator.client(key = key).refundBlocking(CliEmulator.paidCheckout(), amount = 1)
        assertHidden(refund.toString())
        val verifier = WebhookVerifier("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        assertFalse(verifier.toString().contains("MfKQ9r8G"), verifier.toString())
    }

    @Test
    fun `a server echoing the key in every field shows it nowhere`() {
        val echoed = "sk_live_echoedBackByTheServer0123"
        val hidden = echoed.removePrefix("sk_live_").dropLast(4)
        val body = """{"refundId":"rfd_$echoed","message":"$echoed","status":"$echoed","errorCode":"$echoed","errorMessage":"$echoed"}"""
        ScriptedServer().use { server ->
            val client = RefundClient(ClientConfig(secretKey = echoed, baseUrl = server.baseUrl, maxRetries = 0u))
            server.script(202, mapOf("x-request-id" to "req_$echoed"), body)
            val refund = client.refundBlocking("ch_1")
            for (text in listOf(refund.toString(), refund.refundId, refund.status, refund.message, refund.requestId)) {
                assertFalse(text.orEmpty().contains(hidden), "the key leaked into: $text")
            }
            assertTrue(refund.refundId.startsWith("rfd_sk_live_…"), refund.refundId)
            for (status in listOf(400, 500)) {
                server.script(status, mapOf("x-request-id" to "req_$echoed"), body)
                val e = assertThrows<RefundException> { client.refundBlocking("ch_1") }
                for (text in listOf(e.toString(), e.message, e.info().toString(), e.info().body, e.errorCode, e.requestId)) {
                    assertFalse(text.orEmpty().contains(hidden), "the key leaked into: $text")
                }
            }
        }
    }
}
