package dev.refundkit

import java.io.File
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.booleanOrNull
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive

/** The shared test vectors in `tests/vectors/`, which every language's tests load. */
object Vectors {
    private val dir = File(
        System.getProperty("refundkit.vectors") ?: error("system property refundkit.vectors is not set"),
    )

    /** The array [key] (`cases` by default) of `tests/vectors/<name>.json`. */
    fun cases(name: String, key: String = "cases"): List<JsonObject> =
        document(name)[key]!!.jsonArray.map { it.jsonObject }

    /** The whole of `tests/vectors/<name>.json`. */
    fun document(name: String): JsonObject = Json.parseToJsonElement(File(dir, "$name.json").readText()).jsonObject
}

/** The string at [key], or null when absent or JSON null. */
fun JsonObject.str(key: String): String? = (this[key] as? JsonPrimitive)?.takeIf { it !is JsonNull }?.content

/** The integer at [key], or null when absent or not a `Long` (kotlinx's `longOrNull` wraps 2^64 to 0). */
fun JsonObject.long(key: String): Long? = (this[key] as? JsonPrimitive)?.takeIf { it !is JsonNull }?.content?.toLongOrNull()

fun JsonObject.bool(key: String): Boolean? = (this[key] as? JsonPrimitive)?.booleanOrNull

fun JsonObject.obj(key: String): JsonObject? = this[key] as? JsonObject

/** A JSON object of strings as a map. */
fun JsonElement.stringMap(): Map<String, String> = jsonObject.mapValues { it.value.jsonPrimitive.content }
