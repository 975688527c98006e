// Throughput of refunds through the binding versus java.net.http doing the
// same POST, against the same emulator. A main program, not a test: run it
// with scripts/bench_jvm. Partial refunds of 1 cent on one large paid
// checkout, so every request makes a real refund.
package dev.refundkit

import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.time.Duration
import java.util.UUID
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.future.await
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.sync.Semaphore
import kotlinx.coroutines.sync.withPermit
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive

private class Row(val name: String, val concurrency: Int, val count: Int, val seconds: Double, val latenciesMs: DoubleArray) {
    fun percentile(p: Double): Double = latenciesMs.sorted().let { it[((it.size - 1) * p).toInt()] }
}

private fun measure(name: String, concurrency: Int, count: Int, run: (record: (Long) -> Unit) -> Unit): Row {
    val latencies = DoubleArray(count)
    val next = java.util.concurrent.atomic.AtomicInteger()
    val started = System.nanoTime()
    run { t0 -> latencies[next.getAndIncrement()] = (System.nanoTime() - t0) / 1e6 }
    val seconds = (System.nanoTime() - started) / 1e9
    check(next.get() == count) { "$name recorded ${next.get()} of $count" }
    return Row(name, concurrency, count, seconds, latencies)
}

private fun onThreads(threads: Int, count: Int, one: () -> Unit) {
    val pool = Executors.newFixedThreadPool(threads)
    repeat(count) { pool.submit(one) }
    pool.shutdown()
    check(pool.awaitTermination(10, TimeUnit.MINUTES))
}

private fun onCoroutines(concurrency: Int, count: Int, one: suspend () -> Unit) = runBlocking {
    val permits = Semaphore(concurrency)
    (1..count).map { async(Dispatchers.Default) { permits.withPermit { one() } } }.awaitAll()
}

/** `scripts/bench_jvm [REFUNDS_PER_ROW] [--json FILE]`: FILE gets refunds/s by client and concurrency. */
fun main(args: Array<String>) {
    val count = args.firstOrNull { it.all(Char::isDigit) }?.toInt() ?: 2_000
    val json = args.indexOf("--json").takeIf { it >= 0 }?.let { args[it + 1] }
    val concurrency = 16
    val checkout = CliEmulator.paidCheckout(1_000_000_000_000L)
    val client = CliEmulator.client(maxRetries = 0u)
    val http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build()
    val uri = URI.create("${CliEmulator.baseUrl}/api/checkouts/$checkout/refund")
    fun request(): HttpRequest = HttpRequest.newBuilder(uri)
        .timeout(Duration.ofSeconds(30))
        .header("Authorization", "Bearer ${CliEmulator.LIVE_KEY}")
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", UUID.randomUUID().toString())
        .POST(HttpRequest.BodyPublishers.ofString("""{"amount":1}"""))
        .build()
    fun parsed(response: HttpResponse<String>): String {
        check(response.statusCode() == 202) { "HTTP ${response.statusCode()}: ${response.body()}" }
        return Json.parseToJsonElement(response.body()).jsonObject["refundId"]!!.jsonPrimitive.content
    }

    val bindingBlocking = { record: (Long) -> Unit ->
        val t0 = System.nanoTime(); client.refundBlocking(checkout, amount = 1); record(t0)
    }
    val javaBlocking = { record: (Long) -> Unit ->
        val t0 = System.nanoTime(); parsed(http.send(request(), HttpResponse.BodyHandlers.ofString())); record(t0)
    }
    val bindingSuspend: suspend ((Long) -> Unit) -> Unit = { record ->
        val t0 = System.nanoTime(); client.refund(checkout, amount = 1); record(t0)
    }
    val javaAsync: suspend ((Long) -> Unit) -> Unit = { record ->
        val t0 = System.nanoTime(); parsed(http.sendAsync(request(), HttpResponse.BodyHandlers.ofString()).await()); record(t0)
    }

    // Warm up both stacks (JIT, connection pools) before measuring.
    repeat(300) { bindingBlocking {}; javaBlocking {} }
    onCoroutines(concurrency, 300) { bindingSuspend {}; javaAsync {} }

    val rows = mutableListOf(
        measure("binding refundBlocking", 1, count) { r -> repeat(count) { bindingBlocking(r) } },
        measure("java.net.http send", 1, count) { r -> repeat(count) { javaBlocking(r) } },
    )
    for (c in listOf(4, concurrency, 64)) {
        rows += measure("binding refundBlocking", c, count) { r -> onThreads(c, count) { bindingBlocking(r) } }
        rows += measure("java.net.http send", c, count) { r -> onThreads(c, count) { javaBlocking(r) } }
        rows += measure("java.net.http sendAsync", c, count) { r -> onCoroutines(c, count) { javaAsync(r) } }
        rows += measure("binding suspend refund", c, count) { r -> onCoroutines(c, count) { bindingSuspend(r) } }
    }
    val made = CliEmulator.ledger(checkout).size
    check(made == count * rows.size + 1200) { "the ledger has $made refunds" }

    println()
    println("refunds of 1 cent against the emulator on this machine (${Runtime.getRuntime().availableProcessors()} cores, emulator on the same cores), $count per row, JVM ${System.getProperty("java.version")}")
    println("| client | concurrency | refunds/s | p50 ms | p99 ms |")
    println("|---|---:|---:|---:|---:|")
    for (row in rows) {
        println(
            "| %s | %d | %.0f | %.2f | %.2f |".format(
                row.name, row.concurrency, row.count / row.seconds, row.percentile(0.50), row.percentile(0.99),
            ),
        )
    }
    if (json != null) {
        val series = rows.groupBy { it.name }.entries.joinToString(",") { (name, byName) ->
            "\"$name\":{" + byName.joinToString(",") { "\"${it.concurrency}\":${it.count / it.seconds}" } + "}"
        }
        java.io.File(json).writeText("""{"language":"Kotlin (JVM)","unit":"refunds/s","series":{$series}}""")
    }
}
