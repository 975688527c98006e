'use strict';
// Every error class, each from a real emulator answer (or a real network
// failure), with the fields a handler relies on.

const assert = require('node:assert/strict');
const http = require('node:http');
const { after, afterEach, before, test } = require('node:test');

const refundkit = require('..');
const {
  LIVE_KEY, OTHER_KEY, TEST_KEY, Emulator, closedPortUrl, rejection, remember, secretScan, thrown,
} = require('./support.js');

let emulator;
before(async () => {
  emulator = await Emulator.start();
});
afterEach(() => emulator.clearFaults());
after(() => emulator.stop());

test('a wrong key rejects with AuthenticationError', async () => {
  const checkoutId = await emulator.paidCheckout();
  const error = await rejection(refundkit.AuthenticationError, emulator.client(OTHER_KEY).refund(checkoutId));
  assert.equal(error.status, 403);
  assert.equal(error.errorCode, 'invalid_secret_key');
  assert.equal(error.retryable, false);
  assert.equal(error.outcomeUnknown, false);
  assert.ok(error.idempotencyKey);
  assert.ok(error instanceof refundkit.ApiError);
  assert.deepEqual(await emulator.ledger(checkoutId), []);
});

test('an unknown checkout rejects with NotFoundError carrying the body', async () => {
  const error = await rejection(refundkit.NotFoundError, emulator.client().refund('ch_doesNotExist000000000000'));
  assert.equal(error.status, 404);
  assert.ok(error.errorCode);
  assert.ok(error.body.includes(error.errorCode));
});

test('an unpaid checkout rejects with InvalidRequestError', async () => {
  const checkoutId = await emulator.createCheckout();
  const error = await rejection(refundkit.InvalidRequestError, emulator.client().refund(checkoutId));
  assert.equal(error.status, 400);
  assert.equal(error.explanation, 'Checkout has not been paid.');
  assert.equal(error.retryable, false);
});

test('a test-mode checkout rejects with InvalidRequestError', async () => {
  const checkoutId = await emulator.paidCheckout(10_000, TEST_KEY);
  const error = await rejection(refundkit.InvalidRequestError, emulator.client(TEST_KEY).refund(checkoutId));
  assert.equal(error.status, 400);
  assert.ok(error.explanation.includes('test-mode'));
});

test('refunding twice rejects with AlreadyRefundedError', async () => {
  const checkoutId = await emulator.paidCheckout();
  const client = emulator.client();
  await client.refund(checkoutId);
  const error = await rejection(refundkit.AlreadyRefundedError, client.refund(checkoutId));
  assert.ok(error instanceof refundkit.InvalidRequestError);
  assert.equal(error.status, 400);
  assert.equal(error.explanation, 'Payment has already been refunded.');
  assert.equal((await emulator.ledger(checkoutId)).length, 1);
});

test('the same key for a different request rejects with IdempotencyMismatchError', async () => {
  const checkoutId = await emulator.paidCheckout();
  const client = emulator.client();
  await client.refund(checkoutId, { amount: 100, idempotencyKey: 'mismatch-key' });
  const error = await rejection(refundkit.IdempotencyMismatchError,
    client.refund(checkoutId, { amount: 200, idempotencyKey: 'mismatch-key' }));
  assert.equal(error.status, 422);
  assert.equal(error.idempotencyKey, 'mismatch-key');
  assert.equal(error.retryable, false);
  assert.equal((await emulator.ledger(checkoutId)).length, 1);
});

test('the same key in flight rejects with IdempotencyConflictError (calls overlap)', async () => {
  // Two calls from the one event loop, held by the emulator: they can only
  // meet a 409 if neither waits for the other.
  const checkoutId = await emulator.paidCheckout();
  await emulator.setFaults({ delay: 1.0, delay_ms: 1500 });
  const client = emulator.client(LIVE_KEY, { maxRetries: 0 });
  const options = { amount: 100, idempotencyKey: 'conflict-key' };
  const outcomes = await Promise.allSettled([client.refund(checkoutId, options), client.refund(checkoutId, options)]);
  remember(...outcomes.map((o) => o.value ?? o.reason));
  const refunds = outcomes.filter((o) => o.status === 'fulfilled');
  const conflicts = outcomes.filter((o) => o.reason instanceof refundkit.IdempotencyConflictError);
  assert.equal(refunds.length, 1);
  assert.equal(conflicts.length, 1);
  const conflict = conflicts[0].reason;
  assert.equal(conflict.status, 409);
  assert.equal(conflict.retryable, true);
  assert.equal(conflict.idempotencyKey, 'conflict-key');
  assert.deepEqual(await emulator.ledgerKeys(checkoutId), ['conflict-key']);
});

test('a 5xx without retries rejects with ServerError', async () => {
  const checkoutId = await emulator.paidCheckout();
  await emulator.setFaults({ error_5xx: 1.0 });
  const error = await rejection(refundkit.ServerError,
    emulator.client(LIVE_KEY, { maxRetries: 0 }).refund(checkoutId));
  assert.equal(error.status, 500);
  assert.equal(error.retryable, true);
  assert.equal(error.outcomeUnknown, true);
  assert.equal(error.attempts, 1);
  assert.deepEqual(await emulator.ledger(checkoutId), []);
});

test('a 429 rejects with RateLimitError carrying Retry-After', async () => {
  const checkoutId = await emulator.paidCheckout();
  await emulator.setFaults({ rate_limit: 1.0, retry_after_secs: 7 });
  const error = await rejection(refundkit.RateLimitError,
    emulator.client(LIVE_KEY, { maxRetries: 0 }).refund(checkoutId));
  assert.ok(error instanceof refundkit.ApiError);
  assert.equal(error.status, 429);
  assert.equal(error.errorCode, 'rate_limited');
  assert.equal(error.retryAfterMs, 7000);
  assert.equal(error.retryable, true);
  assert.equal(error.outcomeUnknown, false);
  assert.deepEqual(await emulator.ledger(checkoutId), []);
});

test('a closed port rejects with NetworkError', async () => {
  const client = new refundkit.Client(LIVE_KEY, { baseUrl: await closedPortUrl(), maxRetries: 0 });
  const error = await rejection(refundkit.NetworkError, client.refund('ch_1'));
  assert.equal(error.status, null);
  assert.equal(error.retryable, true);
  assert.equal(error.outcomeUnknown, false);
  assert.equal(error.attempts, 1);
  assert.ok(error.idempotencyKey);
});

test('a slow answer rejects with TimeoutError, and its key settles it later', async () => {
  const checkoutId = await emulator.paidCheckout();
  await emulator.setFaults({ delay: 1.0, delay_ms: 2000 });
  const error = await rejection(refundkit.TimeoutError,
    emulator.client(LIVE_KEY, { maxRetries: 0, timeoutMs: 200 }).refund(checkoutId));
  assert.ok(error instanceof refundkit.NetworkError);
  assert.equal(error.outcomeUnknown, true);
  assert.equal(error.retryable, true);
  assert.ok(error.message.includes(error.idempotencyKey));

  await emulator.clearFaults();
  const retried = await emulator.client(LIVE_KEY, { maxRetries: 6 })
    .refund(checkoutId, { idempotencyKey: error.idempotencyKey });
  assert.equal(retried.idempotencyKey, error.idempotencyKey);
  assert.deepEqual(await emulator.ledgerKeys(checkoutId), [error.idempotencyKey]);
});

test('an undocumented answer rejects with UnexpectedResponseError', async () => {
  // The emulator only gives documented answers; a real HTTP server stands
  // in for a captive portal that answers 200 with a web page.
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<html>Sign in to the hotel Wi-Fi</html>');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const client = new refundkit.Client(LIVE_KEY, { baseUrl: `http://127.0.0.1:${server.address().port}`, maxRetries: 0 });
    const error = await rejection(refundkit.UnexpectedResponseError, client.refund('ch_1'));
    assert.ok(error instanceof refundkit.ApiError);
    assert.equal(error.status, 200);
    assert.ok(error.body.includes('hotel'));
    assert.ok(error.idempotencyKey);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test('bad configuration throws ConfigurationError and bad input rejects with InvalidInputError', async () => {
  const config = thrown(refundkit.ConfigurationError, () => new refundkit.Client('sk_live_x y'));
  assert.equal(config.field, 'secret_key');
  const timeout = thrown(refundkit.ConfigurationError, () => new refundkit.Client(LIVE_KEY, { timeoutMs: -1 }));
  assert.equal(timeout.field, 'timeoutMs');
  const input = await rejection(refundkit.InvalidInputError, emulator.client().refund('ch_1', { amount: '100' }));
  assert.equal(input.field, 'amount');
  assert.equal(input.idempotencyKey, null);
  for (const amount of [Number.NaN, Number.POSITIVE_INFINITY, true, [1], { cents: 1 }]) {
    const error = await rejection(refundkit.InvalidInputError, emulator.client().refund('ch_1', { amount }));
    assert.equal(error.field, 'amount');
  }
  assert.equal((await rejection(refundkit.InvalidInputError, emulator.client().refund(42))).field, 'checkout_id');
  assert.equal((await rejection(refundkit.InvalidInputError,
    emulator.client().refund('ch_1', { idempotencyKey: 7 }))).field, 'idempotency_key');
  thrown(TypeError, () => new refundkit.Client(42));
});

test('a bad webhook throws WebhookVerificationError', () => {
  const verifier = new refundkit.WebhookVerifier('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
  const error = thrown(refundkit.WebhookVerificationError, () => verifier.verify({}, '{}'));
  assert.equal(error.kind, 'webhook_verification');
  assert.equal(error.status, null);
  assert.equal(error.retryable, false);
});

test('every kind has its class, and every class is a RefundKitError', () => {
  const { CLASS_BY_KIND } = require('../errors.js');
  assert.equal(Object.keys(CLASS_BY_KIND).length, 14);
  for (const [kind, ErrorClass] of Object.entries(CLASS_BY_KIND)) {
    const error = new ErrorClass({ kind, message: 'm', display: 'd', retryable: false, outcomeUnknown: false, attempts: 0 });
    assert.ok(error instanceof refundkit.RefundKitError);
    assert.equal(error.name, ErrorClass.name);
    assert.equal(refundkit[ErrorClass.name], ErrorClass);
  }
});

secretScan();
