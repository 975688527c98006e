'use strict';
// Refunds against the real emulator: results, replay, retries under faults
// with one key, concurrency, AbortSignal, and an event loop that keeps
// running while refunds wait.

const assert = require('node:assert/strict');
const { after, afterEach, before, test } = require('node:test');
const { spawn } = require('node:child_process');
const util = require('node:util');

const refundkit = require('..');
const { LIVE_KEY, Emulator, rejection, remember, secretScan } = require('./support.js');

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let emulator;
before(async () => {
  emulator = await Emulator.start();
});
afterEach(() => emulator.clearFaults());
after(() => emulator.stop());

/** Resolves once the emulator has seen `count` more refund requests. */
async function refundRequestsReach(count) {
  for (let i = 0; i < 3000; i += 1) {
    if ((await emulator.refundRequests()) >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`the emulator never saw ${count} refund requests`);
}

test('a full refund resolves with the documented fields', async () => {
  const checkoutId = await emulator.paidCheckout(5_000);
  const refund = await emulator.client().refund(checkoutId);
  remember(refund);
  assert.deepEqual(Object.keys(refund).sort(), [
    'attempts', 'checkoutId', 'elapsedMs', 'idempotencyKey', 'message', 'refundId', 'replayed', 'requestId',
    'status', 'succeeded',
  ]);
  assert.equal(refund.succeeded, true);
  assert.ok(refund.elapsedMs > 0);
  assert.equal(refund.checkoutId, checkoutId);
  assert.match(refund.refundId, /^rfd_/);
  assert.equal(refund.status, 'successful');
  assert.equal(refund.message, 'Your refund has been processed');
  assert.match(refund.idempotencyKey, UUID_V4);
  assert.equal(refund.replayed, false);
  assert.equal(refund.attempts, 1);
  assert.equal(typeof refund.requestId, 'string');
  const [row] = await emulator.ledger(checkoutId);
  assert.equal(row.refundId, refund.refundId);
  assert.equal(row.amount, 5_000);
  assert.equal(row.idempotencyKey, refund.idempotencyKey);
});

test('a partial refund sends amount, metadata and the given key', async () => {
  const checkoutId = await emulator.paidCheckout(5_000);
  const refund = await emulator.client().refund(checkoutId, {
    amount: 150, metadata: { order: '42' }, idempotencyKey: 'order-42-r1',
  });
  assert.equal(refund.idempotencyKey, 'order-42-r1');
  const [row] = await emulator.ledger(checkoutId);
  assert.equal(row.amount, 150);
  assert.deepEqual(row.metadata, { order: '42' });
  assert.equal(row.idempotencyKey, 'order-42-r1');
});

test('the same key twice is replayed and refunds once', async () => {
  const checkoutId = await emulator.paidCheckout();
  const client = emulator.client();
  const first = await client.refund(checkoutId, { amount: 100, idempotencyKey: 'replay-me' });
  const second = await client.refund(checkoutId, { amount: 100, idempotencyKey: 'replay-me' });
  assert.equal(first.replayed, false);
  assert.equal(second.replayed, true);
  assert.equal(second.refundId, first.refundId);
  assert.deepEqual(await emulator.ledgerKeys(checkoutId), ['replay-me']);
});

test('idempotencyKeyFor keys replay across clients', async () => {
  const checkoutId = await emulator.paidCheckout();
  const key = refundkit.idempotencyKeyFor('node-tests', checkoutId, 'attempt-1');
  assert.equal(key, refundkit.idempotencyKeyFor('node-tests', checkoutId, 'attempt-1'));
  assert.notEqual(key, refundkit.idempotencyKeyFor('node-tests', checkoutId, 'attempt-2'));
  const first = await emulator.client().refund(checkoutId, { amount: 100, idempotencyKey: key });
  const again = await emulator.client().refund(checkoutId, { amount: 100, idempotencyKey: key });
  assert.equal(again.replayed, true);
  assert.equal(again.refundId, first.refundId);
  assert.deepEqual(await emulator.ledgerKeys(checkoutId), [key]);
});

test('each call without a key gets a fresh one', async () => {
  const checkoutId = await emulator.paidCheckout();
  const client = emulator.client();
  const a = await client.refund(checkoutId, { amount: 1 });
  const b = await client.refund(checkoutId, { amount: 1 });
  assert.notEqual(a.idempotencyKey, b.idempotencyKey);
  assert.notEqual(a.refundId, b.refundId);
  assert.equal((await emulator.ledger(checkoutId)).length, 2);
});

test('5xx answers are retried with the same key', async () => {
  const checkoutId = await emulator.paidCheckout();
  const injectedBefore = (await emulator.stats()).faults.error5xx;
  await emulator.setFaults({ error_5xx: 1.0 });
  const clearing = emulator.clearFaultsAfter('error5xx');
  const refund = await emulator.client(LIVE_KEY, { maxRetries: 10 }).refund(checkoutId, { amount: 100 });
  await clearing;
  const injected = (await emulator.stats()).faults.error5xx - injectedBefore;
  assert.ok(injected >= 1);
  assert.equal(refund.attempts, injected + 1);
  assert.equal(refund.replayed, false);
  assert.deepEqual(await emulator.ledgerKeys(checkoutId), [refund.idempotencyKey]);
});

test('an answer lost after the commit is retried and replayed', async () => {
  const checkoutId = await emulator.paidCheckout();
  const droppedBefore = (await emulator.stats()).faults.dropAfter;
  await emulator.setFaults({ drop_after: 1.0 });
  const clearing = emulator.clearFaultsAfter('dropAfter');
  const refund = await emulator.client(LIVE_KEY, { maxRetries: 10 }).refund(checkoutId, { amount: 100 });
  await clearing;
  const dropped = (await emulator.stats()).faults.dropAfter - droppedBefore;
  assert.ok(dropped >= 1);
  assert.equal(refund.attempts, dropped + 1);
  assert.equal(refund.replayed, true);
  const [row] = await emulator.ledger(checkoutId);
  assert.equal(row.idempotencyKey, refund.idempotencyKey);
  assert.equal(row.refundId, refund.refundId);
});

test('exhausted retries leave a key that refunds once later', async () => {
  const checkoutId = await emulator.paidCheckout();
  await emulator.setFaults({ drop_before: 1.0 });
  const error = await rejection(refundkit.NetworkError,
    emulator.client(LIVE_KEY, { maxRetries: 2 }).refund(checkoutId, { amount: 100 }));
  assert.equal(error.attempts, 3);
  assert.equal(error.outcomeUnknown, true);
  assert.equal(error.retryable, true);
  assert.deepEqual(await emulator.ledger(checkoutId), []);

  await emulator.clearFaults();
  const client = emulator.client();
  const first = await client.refund(checkoutId, { amount: 100, idempotencyKey: error.idempotencyKey });
  const again = await client.refund(checkoutId, { amount: 100, idempotencyKey: error.idempotencyKey });
  assert.equal(again.replayed, true);
  assert.equal(again.refundId, first.refundId);
  assert.deepEqual(await emulator.ledgerKeys(checkoutId), [error.idempotencyKey]);
});

test('200 concurrent refunds on one client all land once', async () => {
  const checkoutId = await emulator.paidCheckout(100_000);
  const client = emulator.client();
  const refunds = await Promise.all(Array.from({ length: 200 }, () => client.refund(checkoutId, { amount: 1 })));
  assert.equal(new Set(refunds.map((r) => r.refundId)).size, 200);
  assert.equal(new Set(refunds.map((r) => r.idempotencyKey)).size, 200);
  const ledgerKeys = (await emulator.ledgerKeys(checkoutId)).sort();
  assert.deepEqual(ledgerKeys, refunds.map((r) => r.idempotencyKey).sort());
});

test('the event loop keeps running while a refund waits', async () => {
  const checkoutId = await emulator.paidCheckout();
  await emulator.setFaults({ delay: 1.0, delay_ms: 1000 });
  const order = [];
  const refund = emulator.client().refund(checkoutId).then(() => order.push('refund'));
  const timer = new Promise((resolve) => setTimeout(resolve, 20)).then(() => order.push('timer'));
  await Promise.all([refund, timer]);
  assert.deepEqual(order, ['timer', 'refund']);
});

test('aborting through an AbortSignal rejects with the key, which settles it later', async () => {
  const checkoutId = await emulator.paidCheckout();
  await emulator.setFaults({ delay: 1.0, delay_ms: 1500 });
  const seenBefore = await emulator.refundRequests();
  const controller = new AbortController();
  const pending = emulator.client().refund(checkoutId, { amount: 100, signal: controller.signal });
  await refundRequestsReach(seenBefore + 1); // the request is at the server
  controller.abort(new Error('the user closed the page'));
  const error = await rejection(refundkit.AbortError, pending);
  assert.equal(error.name, 'AbortError');
  assert.match(error.idempotencyKey, UUID_V4);
  assert.equal(error.outcomeUnknown, true);
  assert.equal(error.cause.message, 'the user closed the page');
  assert.ok(error.message.includes(error.idempotencyKey));

  // The same key later: at most one refund, whatever the abandoned request did.
  await emulator.clearFaults();
  const refund = await emulator.client(LIVE_KEY, { maxRetries: 6 })
    .refund(checkoutId, { amount: 100, idempotencyKey: error.idempotencyKey });
  assert.equal(refund.idempotencyKey, error.idempotencyKey);
  assert.deepEqual(await emulator.ledgerKeys(checkoutId), [error.idempotencyKey]);
});

test('an already aborted signal sends nothing but still names the key', async () => {
  const before = await emulator.refundRequests();
  const error = await rejection(refundkit.AbortError, emulator.client().refund('ch_1', {
    idempotencyKey: 'never-sent', signal: AbortSignal.abort(),
  }));
  assert.equal(error.idempotencyKey, 'never-sent');
  assert.equal(await emulator.refundRequests(), before);
});

test('aborting many calls at once is harmless and later calls work', async () => {
  const checkoutId = await emulator.paidCheckout(100_000);
  await emulator.setFaults({ delay: 1.0, delay_ms: 500 });
  const client = emulator.client();
  const controller = new AbortController();
  const calls = Array.from({ length: 50 }, () => client.refund(checkoutId, { amount: 1, signal: controller.signal }));
  controller.abort();
  const outcomes = await Promise.allSettled(calls);
  assert.ok(outcomes.every((o) => o.reason instanceof refundkit.AbortError));
  assert.equal(new Set(outcomes.map((o) => o.reason.idempotencyKey)).size, 50);
  await emulator.clearFaults();
  const refund = await client.refund(checkoutId, { amount: 1 });
  assert.equal(refund.attempts, 1);
});

test('a process that exits with refunds in flight exits cleanly', async () => {
  const checkoutId = await emulator.paidCheckout(100_000);
  await emulator.setFaults({ delay: 1.0, delay_ms: 1000 });
  const script = `
    const refundkit = require(${JSON.stringify(require.resolve('..'))});
    const client = new refundkit.Client(${JSON.stringify(LIVE_KEY)}, { baseUrl: ${JSON.stringify(emulator.url)} });
    for (let i = 0; i < 20; i += 1) client.refund(${JSON.stringify(checkoutId)}, { amount: 1 }).catch(() => {});
    setTimeout(() => process.exit(7), 100);
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  const [code, signal] = await new Promise((resolve) => child.once('exit', (c, s) => resolve([c, s])));
  remember(stderr);
  assert.equal(signal, null, stderr);
  assert.equal(code, 7, stderr);
  assert.equal(stderr, '');
});

test('util.inspect, String and JSON of a client show only the masked key', () => {
  const client = emulator.client();
  const shown = util.inspect(client, { showHidden: true, depth: 10 });
  assert.equal(shown, `Client { secretKey: 'sk_live_…0042', baseUrl: '${emulator.url}' }`);
  assert.deepEqual(JSON.parse(JSON.stringify(client)), { secretKey: 'sk_live_…0042', baseUrl: emulator.url });
  assert.equal(String(client), shown);
  assert.equal(client.baseUrl, emulator.url);
});

secretScan();
