'use strict';
// startEmulator(): the in-process emulator users put in their own tests,
// checked by real refunds through the real client against it.

const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const { test } = require('node:test');
const util = require('node:util');

const refundkit = require('..');
const { SECRETS, rejection, remember, secretScan } = require('./support.js');

/** Starts an emulator for one test; its key joins the secret scan. */
async function withEmulator(body) {
  const emulator = await refundkit.startEmulator();
  SECRETS.push(emulator.secretKey);
  try {
    return await body(emulator);
  } finally {
    await emulator.close();
  }
}

function clientOf(emulator, options = {}) {
  return new refundkit.Client(emulator.secretKey, { baseUrl: emulator.url, ...options });
}

test('a paid checkout is refunded and the ledger shows it', () => withEmulator(async (emulator) => {
  assert.equal(emulator.url, `http://127.0.0.1:${emulator.port}`);
  assert.match(emulator.secretKey, /^sk_live_/);
  remember(emulator);
  const checkoutId = emulator.paidCheckout(5_000);
  const refund = await clientOf(emulator).refund(checkoutId, { amount: 1_200, metadata: { order: '42' } });
  remember(refund, emulator.faults({}));

  const [row, ...others] = emulator.refunds(checkoutId);
  remember(row);
  assert.deepEqual(others, []);
  assert.equal(row.refundId, refund.refundId);
  assert.equal(row.amount, 1_200);
  assert.equal(row.status, 'succeeded');
  assert.equal(row.idempotencyKey, refund.idempotencyKey);
  assert.deepEqual(row.metadata, { order: '42' });
  assert.deepEqual(emulator.refunds(), [row]);
}));

test('a bad amount and unknown fault names throw TypeErrors', () => withEmulator(async (emulator) => {
  assert.throws(() => emulator.paidCheckout(199), { name: 'TypeError', message: /at least 200/ });
  assert.throws(() => emulator.faults({ error_500: 1 }), { name: 'TypeError', message: /unknown field `error_500`.*error_5xx/ });
  assert.throws(() => emulator.faults({ drop_before: 2 }), { name: 'TypeError', message: /drop_before must be a probability/ });
}));

test('a lost answer is retried with the same key and refunds once', () => withEmulator(async (emulator) => {
  const checkoutId = emulator.paidCheckout(5_000);
  assert.equal(emulator.faults({ drop_after: 1 }).drop_after, 1);
  const error = await rejection(refundkit.NetworkError, clientOf(emulator, { maxRetries: 2 }).refund(checkoutId));
  remember(error);
  assert.equal(error.outcomeUnknown, true);
  assert.equal(error.attempts, 3);
  assert.deepEqual(emulator.refunds(checkoutId).map((r) => r.idempotencyKey), [error.idempotencyKey]);

  emulator.faults({});
  const again = await clientOf(emulator).refund(checkoutId, { idempotencyKey: error.idempotencyKey });
  assert.equal(again.replayed, true);
  assert.equal(emulator.refunds(checkoutId).length, 1);
}));

test('a refund event is signed and sent to a registered url', () => withEmulator(async (emulator) => {
  const received = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      received.push(Buffer.concat(chunks));
      res.writeHead(204).end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${server.address().port}/hooks`;
    const subscription = emulator.registerWebhook(url);
    SECRETS.push(subscription.secret);
    remember(subscription);
    const checkoutId = emulator.paidCheckout(5_000);
    const refund = await clientOf(emulator).refund(checkoutId, { amount: 500 });

    const [delivery] = await emulator.waitForDeliveries('refund.succeeded');
    remember(delivery, emulator.deliveries());
    assert.equal(delivery.status, 204);
    assert.equal(delivery.error, null);
    const event = new refundkit.WebhookVerifier(subscription.secret).verify(delivery.headers, delivery.body);
    remember(event);
    assert.equal(event.type, 'refund.succeeded');
    assert.equal(event.refundId, refund.refundId);
    assert.ok(received.some((body) => body.equals(delivery.body)));
    await assert.rejects(emulator.waitForDeliveries('refund.failed', { timeoutMs: 50 }), { code: 'ETIMEDOUT' });
  } finally {
    server.close();
  }
}));

test('two emulators at once are separate', async () => {
  const [one, two] = await Promise.all([refundkit.startEmulator(), refundkit.startEmulator()]);
  SECRETS.push(one.secretKey, two.secretKey);
  try {
    remember(one, two);
    assert.notEqual(one.port, two.port);
    const checkoutId = one.paidCheckout(1_000);
    await clientOf(one).refund(checkoutId);
    assert.equal(one.refunds().length, 1);
    assert.deepEqual(two.refunds(), []);
    await rejection(refundkit.NotFoundError, clientOf(two).refund(checkoutId));
  } finally {
    await Promise.all([one.close(), two.close()]);
  }
});

test('closing frees the port', async () => {
  const emulator = await refundkit.startEmulator();
  SECRETS.push(emulator.secretKey);
  const { port } = emulator;
  await clientOf(emulator).refund(emulator.paidCheckout(1_000));
  await emulator.close();
  assert.equal(emulator.closed, true);
  assert.match(util.inspect(emulator), /closed/);
  assert.throws(() => emulator.refunds(), /closed/);
  const server = net.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  await new Promise((resolve) => server.close(resolve));
});

secretScan();
