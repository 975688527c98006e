package dev.refundkit

import java.io.File
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.time.Duration
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit
import kotlin.concurrent.thread
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.long

/**
 * The real emulator (`refundkit emulator --port 0`), started once per test
 * JVM and stopped when it exits. It accepts only [LIVE_KEY] and [TEST_KEY],
 * so any other well-formed key gets a real 403.
 *
 * Tests that need a separate process, a shared test-mode key or the control
 * endpoints over HTTP use this; the others start the in-process [Emulator]
 * of the library itself.
 */
object CliEmulator {
    const val LIVE_KEY = "sk_live_kotlinTests0123456789WXYZ"
    const val TEST_KEY = "sk_test_kotlinTests0123456789WXYZ"

    /** `http://127.0.0.1:PORT`. */
    val baseUrl: String by lazy { start() }

    private val http: HttpClient = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()

    private fun start(): String {
        val cli = System.getProperty("refundkit.cli")
            ?: error("system property refundkit.cli is not set (run through Maven)")
        check(File(cli).canExecute()) {
            "no CLI binary at $cli: build it with `cargo build --release -p refundkit-cli`"
        }
        val process = ProcessBuilder(
            cli, "emulator", "--port", "0",
            "--secret-key", LIVE_KEY, "--secret-key", TEST_KEY,
        ).redirectError(ProcessBuilder.Redirect.INHERIT).start()
        Runtime.getRuntime().addShutdownHook(Thread {
            process.destroy()
            process.waitFor(5, TimeUnit.SECONDS)
        })
        val stdout = process.inputStream.bufferedReader()
        val first = CompletableFuture.supplyAsync { stdout.readLine() }.get(60, TimeUnit.SECONDS)
            ?: error("the emulator exited before announcing its address")
        val url = Regex("^listening on (http://\\S+)$").find(first.trim())?.groupValues?.get(1)
            ?: error("unexpected first line from the emulator: $first")
        // Keep draining stdout so the emulator can never block on a full pipe.
        thread(isDaemon = true, name = "emulator-stdout") { stdout.lineSequence().forEach { } }
        return url
    }

    /** A client of the emulator with [maxRetries] (0 by default, so failures show at once). */
    fun client(
        maxRetries: UInt = 0u,
        key: String = LIVE_KEY,
        timeoutMs: ULong = 10_000u,
        totalTimeoutMs: ULong = 30_000u,
    ): RefundClient = RefundClient(
        ClientConfig(
            secretKey = key,
            baseUrl = baseUrl,
            maxRetries = maxRetries,
            timeoutMs = timeoutMs,
            totalTimeoutMs = totalTimeoutMs,
        ),
    )

    /** Creates an unpaid checkout of [amount] cents; returns its id. */
    fun createCheckout(amount: Long = 10_000, key: String = LIVE_KEY): String {
        val created = send("POST", "/api/checkouts", """{"amount":$amount,"currency":"ZAR"}""", key)
        return created["id"]!!.jsonPrimitive.content
    }

    /** Completes checkout [id], as a customer paying would. */
    fun pay(id: String) {
        send("POST", "/_emulator/checkouts/$id/pay", "{}")
    }

    /** A paid live checkout of [amount] cents. */
    fun paidCheckout(amount: Long = 10_000, key: String = LIVE_KEY): String =
        createCheckout(amount, key).also(::pay)

    /** The refunds actually made for [checkoutId] (the emulator's ledger). */
    fun ledger(checkoutId: String): JsonArray =
        send("GET", "/_emulator/refunds?checkoutId=$checkoutId", null)["refunds"]!!.jsonArray

    /** Replaces the refund endpoint's faults, e.g. `{"error_5xx": 1.0}`; `{}` clears them. */
    fun faults(json: String) {
        send("PUT", "/_emulator/faults", json)
    }

    /** How many refund requests reached the emulator so far. */
    fun refundRequests(): Long = send("GET", "/_emulator/stats", null)["refundRequests"]!!.jsonPrimitive.long

    private fun send(method: String, path: String, body: String?, key: String? = null): JsonObject {
        val request = HttpRequest.newBuilder(URI.create(baseUrl + path))
            .timeout(Duration.ofSeconds(10))
            .header("Content-Type", "application/json")
            .apply { if (key != null) header("Authorization", "Bearer $key") }
            .method(method, body?.let(HttpRequest.BodyPublishers::ofString) ?: HttpRequest.BodyPublishers.noBody())
            .build()
        val response = try {
            http.send(request, HttpResponse.BodyHandlers.ofString())
        } catch (e: java.io.IOException) {
            // The emulator (hyper) closes a connection idle for 30 s; a pooled
            // one picked at that instant is reset. Control calls are safe to
            // repeat once on a fresh connection.
            http.send(request, HttpResponse.BodyHandlers.ofString())
        }
        check(response.statusCode() in 200..299) { "$method $path: HTTP ${response.statusCode()} ${response.body()}" }
        return Json.parseToJsonElement(response.body()).jsonObject
    }
}
