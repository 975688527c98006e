'use strict';
// startEmulator(): the emulator of the Checkout API for users' own tests,
// running inside this process on the addon's threads (bindings/node
// emulator.rs). This file converts arguments and results only.

const util = require('node:util');
const native = require('./native.js');

/** Webhook retry delays are multiplied by this: 5 minutes become 0.3 s. */
const DEFAULT_WEBHOOK_TIME_SCALE = 0.001;

/** Runs a native call; its errors become `TypeError`s (bad arguments). */
function argumentCall(call) {
  try {
    return call();
  } catch (thrown) {
    throw new TypeError(thrown.message);
  }
}

function delivery(fields) {
  const { bodyText, ...rest } = fields;
  return { ...rest, body: Buffer.from(bodyText, 'utf8') };
}

/** A registered webhook; `secret` verifies its deliveries and is never shown. */
class WebhookSubscription {
  #secret;

  constructor({ id, url, secret }) {
    this.id = id;
    this.url = url;
    this.#secret = secret;
  }

  /** `whsec_…`: give it to `WebhookVerifier`. */
  get secret() {
    return this.#secret;
  }

  [util.inspect.custom]() {
    return `WebhookSubscription { id: '${this.id}', url: '${this.url}' }`;
  }
}

/** A running emulator; see `startEmulator()`. */
class Emulator {
  #native;

  constructor(nativeEmulator) {
    this.#native = nativeEmulator;
  }

  /** `http://127.0.0.1:PORT`: the `baseUrl` of your client. */
  get url() {
    return this.#native.url;
  }

  /** The port it listens on. */
  get port() {
    return this.#native.port;
  }

  /** The one key it accepts (`sk_live_…`, made up per emulator). */
  get secretKey() {
    return this.#native.secretKey;
  }

  /** Whether `close()` was called. */
  get closed() {
    return this.#native.closed;
  }

  /** Creates and pays a live checkout of `amount` cents; returns its id. */
  paidCheckout(amount, metadata) {
    if (!Number.isSafeInteger(amount)) throw new TypeError('amount must be a whole number of cents');
    return argumentCall(() => this.#native.paidCheckout(amount, metadata ?? undefined));
  }

  /** The ledger, oldest first: refunds actually made, of one checkout or all. */
  refunds(checkoutId) {
    return this.#native.refunds(checkoutId ?? undefined);
  }

  /**
   * Replaces the refund endpoint's faults (names as the emulator's faults
   * JSON: `drop_before`, `drop_after`, `error_5xx`, `rate_limit`,
   * `retry_after_secs`, `delay`, `delay_ms`, `seed`) and returns them;
   * `faults({})` clears them. Unknown names throw a `TypeError`.
   */
  faults(probabilities = {}) {
    return JSON.parse(argumentCall(() => this.#native.setFaults(JSON.stringify(probabilities))));
  }

  /** Registers `url`: later events are signed and POSTed there (and logged). */
  registerWebhook(url, name = 'refundkit tests') {
    return new WebhookSubscription(argumentCall(() => this.#native.registerWebhook(url, name)));
  }

  /** Every delivery attempt so far, with the exact signed headers and body. */
  deliveries() {
    return this.#native.deliveries().map(delivery);
  }

  /**
   * Resolves with the attempts of `eventType` (any when null) once there
   * are at least `count`; rejects after `timeoutMs`.
   */
  async waitForDeliveries(eventType, { count = 1, timeoutMs = 10_000 } = {}) {
    const log = await this.#native.waitForDeliveries(eventType ?? undefined, count, timeoutMs);
    if (log === null) {
      const error = new Error(`fewer than ${count} deliveries of ${eventType ?? 'any type'} within ${timeoutMs} ms`);
      error.code = 'ETIMEDOUT';
      throw error;
    }
    return log.map(delivery);
  }

  /** Forgets every checkout, refund, key, webhook, delivery and fault. */
  reset() {
    this.#native.reset();
  }

  /** Stops the server; the promise resolves once the port is free. */
  async close() {
    await this.#native.close();
  }

  [util.inspect.custom]() {
    return `Emulator { url: '${this.closed ? 'closed' : this.url}' }`;
  }
}

/**
 * Starts an emulator on 127.0.0.1 and a free port, inside this process.
 * `options.webhookTimeScale` multiplies webhook retry delays (0.001).
 */
async function startEmulator(options = {}) {
  const scale = options.webhookTimeScale ?? DEFAULT_WEBHOOK_TIME_SCALE;
  if (typeof scale !== 'number') throw new TypeError('webhookTimeScale must be a number');
  return new Emulator(new native.NativeEmulator(scale));
}

module.exports = { Emulator, WebhookSubscription, startEmulator };
