package dev.refundkit

import java.util.Base64
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.int
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonPrimitive
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.TestFactory

/**
 * `tests/vectors/hostile.json` through the Kotlin binding: every hostile
 * input throws the typed [RefundException] the vector names, and nothing
 * reaches the emulator.
 */
class HostileTest {
    /**
     * Cases whose input Kotlin's types cannot express are left out, as the
     * Rust suite leaves them out: they are the `"representable_in_rust": false`
     * ones, an `amount` that is no `Long` (`u64_overflow_amount` 2^64,
     * `fractional_amount` 1.5, `string_amount` "100") and `metadata` that is
     * no `Map<String, String>` (`integer_metadata_value`, `null_metadata_value`,
     * `nested_metadata_value`, `list_metadata`). Which ones is decided from
     * the values, not from the flag, so a new case Kotlin can express runs.
     */
    @TestFactory
    fun refunds(): List<DynamicTest> = Vectors.cases("hostile", "refund_cases").filter(::expressibleInKotlin).map { case ->
        DynamicTest.dynamicTest(case.str("name")!!) {
            val input = case.obj("input")!!
            val client = case.obj("client")!!
            val expect = case.obj("expect")!!
            val key = client.str("secret_key") ?: "sk_live_0123456789abcdefghij"
            val before = CliEmulator.refundRequests()
            val result = runCatching {
                RefundClient(ClientConfig(secretKey = key, baseUrl = client.str("base_url") ?: CliEmulator.baseUrl, maxRetries = 0u))
                    .refundBlocking(
                        checkoutId = input.str("checkout_id")!!,
                        amount = input.long("amount"),
                        metadata = input["metadata"]?.stringMap() ?: input.obj("metadata_generate")?.let(::generatedMetadata),
                        idempotencyKey = input.str("idempotency_key"),
                    )
            }
            val thrown = result.exceptionOrNull()
            val expected = when (expect.str("kind")) {
                "invalid_input" -> RefundException.InvalidInput::class
                "configuration" -> RefundException.Configuration::class
                else -> error("unexpected kind in ${case.str("name")}")
            }
            assertEquals(expected, thrown?.let { it::class }, "got $result")
            thrown as RefundException
            assertEquals(expect.str("field"), thrown.fieldName)
            assertEquals(0, thrown.attempts)
            assertEquals(before, CliEmulator.refundRequests(), "a hostile input reached the emulator")
            assertTrue(thrown.toString().length < 1024, "the error echoes the hostile input")
            if (client.str("secret_key") != null) {
                assertFalse(thrown.toString().contains(key) || thrown.message!!.contains(key), "the secret leaked: $thrown")
            }
        }
    }

    /**
     * Headers are a `Map` here, which cannot hold one name twice: cases
     * whose `header_pairs` repeat a name exactly (`duplicated_id_header`)
     * are left out. Names differing in case (`duplicated_signature_header`)
     * are distinct keys, reach the verifier and run.
     */
    @TestFactory
    fun webhooks(): List<DynamicTest> = Vectors.cases("hostile", "webhook_cases").filter(::expressibleAsMap).map { case ->
        DynamicTest.dynamicTest(case.str("name")!!) {
            val expect = case.obj("expect")!!
            val result = runCatching {
                WebhookVerifier(case.str("secret")!!).verifyAt(headerMap(case), body(case), case.long("now")!!)
            }
            val thrown = result.exceptionOrNull()
            when (expect.str("kind")) {
                "webhook_verification" -> {
                    assertTrue(thrown is RefundException.WebhookVerification, "got $result")
                    val wanted = expect.str("error_contains")!!
                    assertTrue(thrown.toString().contains(wanted), "'$thrown' should contain '$wanted'")
                }
                "configuration" -> {
                    assertTrue(thrown is RefundException.Configuration, "got $result")
                    assertEquals(expect.str("field"), thrown.fieldName)
                }
                else -> error("unexpected kind in ${case.str("name")}")
            }
        }
    }

    private fun expressibleInKotlin(case: JsonObject): Boolean {
        val input = case.obj("input")!!
        val amount = input["amount"]
        val metadata = input["metadata"]
        val amountFits = amount == null || (amount is JsonPrimitive && !amount.isString && input.long("amount") != null)
        val metadataFits = metadata == null ||
            (metadata is JsonObject && metadata.values.all { it is JsonPrimitive && it.isString })
        return amountFits && metadataFits
    }

    private fun expressibleAsMap(case: JsonObject): Boolean = headerMap(case).size == case["header_pairs"]!!.jsonArray.size

    private fun headerMap(case: JsonObject): Map<String, String> =
        case["header_pairs"]!!.jsonArray.associate { pair ->
            val (name, value) = pair.jsonArray.map { it.jsonPrimitive.content }
            name to value
        }

    private fun body(case: JsonObject): ByteArray {
        case.str("body")?.let { return it.toByteArray(Charsets.UTF_8) }
        case.str("body_base64")?.let { return Base64.getDecoder().decode(it) }
        val g = case.obj("body_generate")!!
        return (g.str("prefix")!! + g.str("repeat")!!.repeat(g.long("count")!!.toInt()) + g.str("suffix")!!)
            .toByteArray(Charsets.UTF_8)
    }

    /** `{k0…: v…}` with `entries` entries of `key_bytes`/`value_bytes` ASCII bytes, as the vector says. */
    private fun generatedMetadata(spec: JsonObject): Map<String, String> {
        val keyBytes = spec["key_bytes"]!!.jsonPrimitive.int
        val value = "v".repeat(spec["value_bytes"]!!.jsonPrimitive.int)
        return (0 until spec["entries"]!!.jsonPrimitive.int).associate { i -> "k$i".padEnd(keyBytes, 'k') to value }
    }
}
