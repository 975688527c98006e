// Hand-written: refundkit's log records on the JVM. The generated bindings
// carry the LogSink interface and setLogSink/setLogLevel; this file adds the
// default sink, which writes to java.util.logging logger "dev.refundkit".
package dev.refundkit

import java.util.logging.Level
import java.util.logging.LogRecord
import java.util.logging.Logger

/**
 * Where refundkit's log records go on the JVM: nowhere until one call here.
 *
 * - [useJavaLogging]: `java.util.logging` logger `dev.refundkit` (the
 *   default sink, [JavaLoggingSink]); SLF4J and Log4j bridges pick it up.
 * - [use]: any [LogSink], e.g. a three-line SLF4J adapter.
 *
 * Records: DEBUG `refund attempt …` per attempt (fields `checkout_id`,
 * `idempotency_key`, `attempt`, `outcome`, `status`, `request_id`,
 * `elapsed_ms`, `decision`, `delay_ms`) and WARN `refund outcome unknown …`.
 * They never hold the secret key or a token. Levels the sink was not given
 * are dropped in Rust, before any call into the JVM.
 */
object RefundKitLogging {
    /** The `java.util.logging` logger name of the default sink. */
    const val LOGGER_NAME = "dev.refundkit"

    /**
     * Sends records to [logger] (default `dev.refundkit`) at the levels it
     * logs now. Call again after lowering that logger's level; raising it
     * takes effect at once.
     */
    fun useJavaLogging(logger: Logger = Logger.getLogger(LOGGER_NAME)) {
        setLogSink(JavaLoggingSink(logger), levelOf(logger))
    }

    /** Sends records up to [maxLevel] to [sink]. */
    fun use(sink: LogSink, maxLevel: LogLevel = LogLevel.DEBUG) = setLogSink(sink, maxLevel)

    /** Sends no more records anywhere. */
    fun off() = setLogSink(null, null)

    /** The refundkit level that lets through what [logger] logs now, `null` for none. */
    fun levelOf(logger: Logger): LogLevel? = when {
        logger.isLoggable(Level.FINE) -> LogLevel.DEBUG
        logger.isLoggable(Level.INFO) -> LogLevel.INFO
        logger.isLoggable(Level.WARNING) -> LogLevel.WARN
        logger.isLoggable(Level.SEVERE) -> LogLevel.ERROR
        else -> null
    }
}

/**
 * The default sink: each record becomes a `java.util.logging` record of
 * [logger] (DEBUG → FINE, INFO → INFO, WARN → WARNING, ERROR → SEVERE)
 * whose message is the one-line form and whose single parameter is the
 * field map. Never throws into refundkit.
 */
class JavaLoggingSink(private val logger: Logger = Logger.getLogger(RefundKitLogging.LOGGER_NAME)) : LogSink {
    override fun log(level: LogLevel, message: String, fields: Map<String, String>) {
        try {
            val julLevel = when (level) {
                LogLevel.DEBUG -> Level.FINE
                LogLevel.INFO -> Level.INFO
                LogLevel.WARN -> Level.WARNING
                LogLevel.ERROR -> Level.SEVERE
            }
            if (!logger.isLoggable(julLevel)) return
            val record = LogRecord(julLevel, message)
            record.loggerName = logger.name
            // Otherwise java.util.logging names this sink as the source.
            record.sourceClassName = RefundKitLogging.LOGGER_NAME
            record.sourceMethodName = "refund"
            record.parameters = arrayOf(fields)
            logger.log(record)
        } catch (_: Throwable) {
            // A failing handler loses its record, never the refund.
        }
    }
}
