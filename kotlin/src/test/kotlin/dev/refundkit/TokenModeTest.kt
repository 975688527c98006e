package dev.refundkit

import java.io.File
import java.nio.file.Files
import java.util.Base64
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.TimeUnit
import javax.crypto.Mac
import javax.crypto.spec.SecretKeySpec
import kotlin.concurrent.thread
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/**
 * Token mode end to end: the Kotlin client → `refundkit relay` → the
 * emulator, real processes over loopback HTTP. The relay holds the secret
 * key; the app only ever has a JWT.
 */
class TokenModeTest {
    /** A provider that records each call's `forceRefresh`. */
    private class Tokens(private val next: (Boolean) -> String) : TokenProvider {
        val calls = CopyOnWriteArrayList<Boolean>()

        override suspend fun token(forceRefresh: Boolean): String {
            calls += forceRefresh
            delay(1) // a real suspension, as a token refresh over the network would be
            return next(forceRefresh)
        }
    }

    @Test
    fun `a suspend provider refunds through the relay`() = runBlocking {
        val tokens = Tokens { Relay.jwt("kotlin-cashier-1") }
        val client = RefundClient.forRelay(Relay.url, tokens, maxRetries = 0u)
        val checkout = CliEmulator.paidCheckout(5_000)
        val refund = client.refund(checkout, amount = 1_250)
        assertTrue(refund.succeeded)
        assertTrue(refund.refundId.startsWith("rfd_"))
        assertEquals(listOf(false), tokens.calls.toList())
        assertEquals(1, CliEmulator.ledger(checkout).size)
        assertTrue(client.toString().contains("token_provider"), client.toString())
    }

    @Test
    fun `an expired token is refreshed once and the attempt repeats with the same key`() = runBlocking {
        val tokens = Tokens { force -> if (force) Relay.jwt("kotlin-cashier-2") else Relay.jwt("kotlin-cashier-2", lifetimeSeconds = -3600) }
        val client = RefundClient.forRelay(Relay.url, tokens, maxRetries = 0u)
        val checkout = CliEmulator.paidCheckout(5_000)
        val refund = client.refund(checkout, amount = 100, idempotencyKey = "kotlin-token-refresh-$checkout")
        assertEquals(listOf(false, true), tokens.calls.toList())
        assertEquals(2, refund.attempts)
        val again = client.refund(checkout, amount = 100, idempotencyKey = "kotlin-token-refresh-$checkout")
        assertTrue(again.replayed)
        assertEquals(refund.refundId, again.refundId)
        assertEquals(1, CliEmulator.ledger(checkout).size)
    }

    @Test
    fun `a secret key as the token is refused before anything is sent`() {
        val client = RefundClient.forRelay(Relay.url, Tokens { CliEmulator.LIVE_KEY }, maxRetries = 0u)
        val before = CliEmulator.refundRequests()
        val e = assertThrows<RefundException.Configuration> { client.refundBlocking(CliEmulator.paidCheckout()) }
        assertEquals("token", e.fieldName)
        assertEquals(0, e.attempts)
        assertFalse(e.toString().contains(CliEmulator.LIVE_KEY.removePrefix("sk_live_").dropLast(4)))
        assertEquals(before, CliEmulator.refundRequests())
    }
}

/** `refundkit relay` in front of the test emulator, started once per JVM. */
object Relay {
    private const val SECRET = "kotlin-token-mode-tests-secret-0123456789ab"
    private const val ISSUER = "https://auth.example.com"
    private const val AUDIENCE = "refundkit-relay"

    val url: String by lazy { start() }

    private fun start(): String {
        val cli = System.getProperty("refundkit.cli") ?: error("system property refundkit.cli is not set")
        val dir = Files.createTempDirectory("refundkit-relay").toFile()
        val auth = File(dir, "auth.toml").apply {
            writeText(
                "[jwt]\nissuer = \"$ISSUER\"\naudience = \"$AUDIENCE\"\nhs256_secret_env = \"RELAY_JWT_SECRET\"\nleeway_seconds = 0\n\n" +
                    "[[roles]]\nname = \"cashier\"\nmax_amount = 50000\nallow_full = true\n",
            )
        }
        val builder = ProcessBuilder(
            cli, "relay", "--upstream", CliEmulator.baseUrl, "--auth", auth.path,
            "--port", "0", "--journal", File(dir, "relay.db").path,
        ).redirectError(ProcessBuilder.Redirect.INHERIT)
        builder.environment()["REFUNDKIT_SECRET_KEY"] = CliEmulator.LIVE_KEY
        builder.environment()["RELAY_JWT_SECRET"] = SECRET
        val process = builder.start()
        Runtime.getRuntime().addShutdownHook(Thread {
            process.destroy()
            process.waitFor(5, TimeUnit.SECONDS)
        })
        val stdout = process.inputStream.bufferedReader()
        val first = CompletableFuture.supplyAsync { stdout.readLine() }.get(60, TimeUnit.SECONDS)
            ?: error("the relay exited before announcing its address")
        val found = Regex("^listening on (http://\\S+)$").find(first.trim())?.groupValues?.get(1)
            ?: error("unexpected first line from the relay: $first")
        thread(isDaemon = true, name = "relay-stdout") { stdout.lineSequence().forEach { } }
        return found
    }

    /** An HS256 JWT for [sub] with the cashier role; negative [lifetimeSeconds] make it expired. */
    fun jwt(sub: String, lifetimeSeconds: Long = 600): String {
        val b64 = Base64.getUrlEncoder().withoutPadding()
        val header = b64.encodeToString("""{"alg":"HS256","typ":"JWT"}""".toByteArray())
        val exp = System.currentTimeMillis() / 1000 + lifetimeSeconds
        val claims = """{"iss":"$ISSUER","aud":"$AUDIENCE","sub":"$sub","roles":["cashier"],"exp":$exp}"""
        val payload = b64.encodeToString(claims.toByteArray())
        val mac = Mac.getInstance("HmacSHA256").apply { init(SecretKeySpec(SECRET.toByteArray(), "HmacSHA256")) }
        return "$header.$payload.${b64.encodeToString(mac.doFinal("$header.$payload".toByteArray()))}"
    }
}
