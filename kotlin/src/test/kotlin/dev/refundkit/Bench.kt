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
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.future.await
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.sync.Semaphore
import kotlinx.coroutines.sync.withPermit
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive

private class Row(
    val name: String,
    val concurrency: Int,
    val count: Int,
    val seconds: Double,
    val cpuSeconds: Double,
    val allocatedBytes: Long,
    val latenciesMs: DoubleArray,
) {
    fun percentile(p: Double): Double = latenciesMs.sorted().let { it[((it.size - 1) * p).toInt()] }
    val perSecond: Double get() = count / seconds
}

private val os = java.lang.management.ManagementFactory.getOperatingSystemMXBean() as com.sun.management.OperatingSystemMXBean
private val threads = java.lang.management.ManagementFactory.getThreadMXBean() as com.sun.management.ThreadMXBean

/** Wall time, this JVM's CPU time (the emulator is another process) and heap allocations of [count] refunds. */
private fun measure(name: String, concurrency: Int, count: Int, run: (record: (Long) -> Unit) -> Unit): Row {
    val latencies = DoubleArray(count)
    val next = java.util.concurrent.atomic.AtomicInteger()
    val cpu0 = os.processCpuTime
    val allocated0 = threads.totalThreadAllocatedBytes
    val started = System.nanoTime()
    run { t0 -> latencies[next.getAndIncrement()] = (System.nanoTime() - t0) / 1e6 }
    val seconds = (System.nanoTime() - started) / 1e9
    val cpuSeconds = (os.processCpuTime - cpu0) / 1e9
    val allocated = threads.totalThreadAllocatedBytes - allocated0
    check(next.get() == count) { "$name recorded ${next.get()} of $count" }
    return Row(name, concurrency, count, seconds, cpuSeconds, allocated, latencies)
}

private fun onThreads(threads: Int, count: Int, one: () -> Unit) {
    val pool = Executors.newFixedThreadPool(threads)
    repeat(count) { pool.submit(one) }
    pool.shutdown()
    check(pool.awaitTermination(10, TimeUnit.MINUTES))
}

/**
 * How the coroutine rows run [count] calls at most [concurrency] at a time on
 * [Dispatchers.Default] (one thread per core), in one of two ways an
 * application would write:
 * - `semaphore`: one coroutine per call, all started at once, each taking a
 *   permit of a [Semaphore] around the call;
 * - `workers`: [concurrency] coroutines, each taking the next call from a
 *   [Channel] until it is empty: the shape of the thread rows' fixed pool.
 */
private enum class Harness { SEMAPHORE, WORKERS }

private fun onCoroutines(harness: Harness, concurrency: Int, count: Int, one: suspend () -> Unit) = runBlocking {
    when (harness) {
        Harness.SEMAPHORE -> {
            val permits = Semaphore(concurrency)
            (1..count).map { async(Dispatchers.Default) { permits.withPermit { one() } } }.awaitAll()
        }
        Harness.WORKERS -> {
            val calls = Channel<Int>(Channel.UNLIMITED)
            repeat(count) { calls.trySend(it) }
            calls.close()
            (1..concurrency).map { async(Dispatchers.Default) { for (call in calls) one() } }.awaitAll()
        }
    }
}

private fun option(args: Array<String>, name: String): String? =
    args.indexOf(name).takeIf { it >= 0 }?.let { args[it + 1] }

/**
 * `scripts/bench_jvm [REFUNDS_PER_ROW] [--json FILE] [--only NAME,...] [--concurrency C,...] [--rounds N]`
 *
 * FILE gets refunds/s by client and concurrency (of the last round).
 * `--only` keeps the rows whose client name contains one of the NAMEs
 * (`refundBlocking`, `send`, `sendAsync`, `suspend`); `--concurrency` picks
 * the levels (default 1,4,16,64; level 1 has only the two blocking rows);
 * `--coroutines semaphore|workers` how the coroutine rows are run (default
 * semaphore, see [Harness]);
 * `--rounds` repeats the whole table, each round in the opposite order to
 * the one before, and prints each round.
 */
fun main(args: Array<String>) {
    val valued = setOf("--json", "--only", "--concurrency", "--rounds", "--coroutines")
    val count = args.filterIndexed { i, a -> a.all(Char::isDigit) && (i == 0 || args[i - 1] !in valued) }
        .firstOrNull()?.toInt() ?: 2_000
    val json = option(args, "--json")
    val only = option(args, "--only")?.split(",")
    val levels = option(args, "--concurrency")?.split(",")?.map(String::toInt) ?: listOf(1, 4, 16, 64)
    val rounds = option(args, "--rounds")?.toInt() ?: 1
    val harness = Harness.valueOf((option(args, "--coroutines") ?: "semaphore").uppercase())
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
    val warmUp = 1_000
    repeat(warmUp) { bindingBlocking {}; javaBlocking {} }
    onCoroutines(harness, 16, warmUp) { bindingSuspend {}; javaAsync {} }

    class Plan(val name: String, val concurrency: Int, val run: () -> Row)
    val plans = mutableListOf<Plan>()
    fun plan(name: String, c: Int, calls: (record: (Long) -> Unit) -> Unit) {
        plans += Plan(name, c) { measure(name, c, count, calls) }
    }
    for (c in levels) {
        if (c == 1) {
            plan("binding refundBlocking", 1) { r -> repeat(count) { bindingBlocking(r) } }
            plan("java.net.http send", 1) { r -> repeat(count) { javaBlocking(r) } }
            continue
        }
        plan("binding refundBlocking", c) { r -> onThreads(c, count) { bindingBlocking(r) } }
        plan("java.net.http send", c) { r -> onThreads(c, count) { javaBlocking(r) } }
        plan("java.net.http sendAsync", c) { r -> onCoroutines(harness, c, count) { javaAsync(r) } }
        plan("binding suspend refund", c) { r -> onCoroutines(harness, c, count) { bindingSuspend(r) } }
    }
    val chosen = plans.filter { p ->
        only == null || only.any { word -> word in p.name.split(" ") }
    }
    check(chosen.isNotEmpty()) { "--only $only matches no row" }

    var rows = emptyList<Row>()
    var made = 4 * warmUp
    for (round in 1..rounds) {
        val order = if (round % 2 == 1) chosen else chosen.reversed()
        rows = order.map { it.run() }.sortedBy { chosen.indexOfFirst { p -> p.name == it.name && p.concurrency == it.concurrency } }
        made += rows.size * count
        val load = java.io.File("/proc/loadavg").takeIf { it.canRead() }?.readText()?.split(" ")?.take(3)?.joinToString(" ")
        println()
        if (rounds > 1) println("round $round of $rounds (${if (round % 2 == 1) "table order" else "reverse order"}), load average at the round's end: $load")
        println("refunds of 1 cent against the emulator on this machine (${Runtime.getRuntime().availableProcessors()} cores, emulator on the same cores), $count per row, JVM ${System.getProperty("java.version")}, coroutine rows: ${harness.name.lowercase()} on Dispatchers.Default")
        println("| client | concurrency | refunds/s | p50 ms | p99 ms | JVM CPU µs/refund | JVM heap KB/refund |")
        println("|---|---:|---:|---:|---:|---:|---:|")
        for (row in rows) {
            println(
                "| %s | %d | %.0f | %.2f | %.2f | %.1f | %.2f |".format(
                    row.name, row.concurrency, row.perSecond, row.percentile(0.50), row.percentile(0.99),
                    row.cpuSeconds * 1e6 / row.count, row.allocatedBytes / 1024.0 / row.count,
                ),
            )
        }
        for (c in rows.map { it.concurrency }.distinct()) {
            val send = rows.firstOrNull { it.name == "java.net.http send" && it.concurrency == c } ?: continue
            val ratios = rows.filter { it.concurrency == c && it.name.startsWith("binding") }
                .joinToString(", ") { "%s %.2f×".format(it.name.removePrefix("binding "), it.perSecond / send.perSecond) }
            if (ratios.isNotEmpty()) println("c=$c vs send: $ratios")
        }
    }
    val ledger = CliEmulator.ledger(checkout).size
    check(ledger == made) { "the ledger has $ledger refunds, expected $made" }

    if (json != null) {
        val series = rows.groupBy { it.name }.entries.joinToString(",") { (name, byName) ->
            "\"$name\":{" + byName.joinToString(",") { "\"${it.concurrency}\":${it.perSecond}" } + "}"
        }
        java.io.File(json).writeText("""{"language":"Kotlin (JVM)","unit":"refunds/s","series":{$series}}""")
    }
}
