package dev.refundkit

import com.sun.net.httpserver.HttpServer
import java.net.InetAddress
import java.net.InetSocketAddress

/**
 * A loopback HTTP server that answers every request with one scripted
 * response: how the `errors.json` vectors reach the real client.
 */
class ScriptedServer : AutoCloseable {
    @Volatile private var status = 500
    @Volatile private var headers: Map<String, String> = emptyMap()
    @Volatile private var body = ""

    /** Idempotency keys of the requests received, in order. */
    val receivedKeys: MutableList<String?> = java.util.Collections.synchronizedList(mutableListOf())

    private val server = HttpServer.create(InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0).apply {
        createContext("/") { exchange ->
            exchange.requestBody.readAllBytes()
            receivedKeys += exchange.requestHeaders.getFirst("Idempotency-Key")
            headers.forEach { (name, value) -> exchange.responseHeaders.add(name, value) }
            val bytes = body.toByteArray()
            exchange.sendResponseHeaders(status, if (bytes.isEmpty()) -1 else bytes.size.toLong())
            if (bytes.isNotEmpty()) exchange.responseBody.use { it.write(bytes) }
            exchange.close()
        }
        start()
    }

    val baseUrl: String get() = "http://127.0.0.1:${server.address.port}"

    /** Answers every following request with [status], [headers] and [body]. */
    fun script(status: Int, headers: Map<String, String>, body: String) {
        this.status = status
        this.headers = headers
        this.body = body
    }

    override fun close() = server.stop(0)
}
