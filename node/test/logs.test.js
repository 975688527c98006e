'use strict';
// setLogger: refundkit's log records reach a JavaScript function, one per
// attempt with its fields and a warning when the outcome is unknown, at the
// level asked for, never holding a secret key or token.

const assert = require('node:assert/strict');
const http = require('node:http');
const { after, afterEach, before, test } = require('node:test');

const refundkit = require('..');
const { LIVE_KEY, SECRETS, Emulator, rejection } = require('./support.js');

let emulator;
before(async () => {
  emulator = await Emulator.start();
});
afterEach(() => {
  refundkit.setLogger(null);
  return emulator.clearFaults();
});
after(() => emulator.stop());

/** Records every log record; `settled()` waits for queued ones to arrive. */
function capture(options) {
  const records = [];
  refundkit.setLogger((record) => records.push(record), options);
  return {
    records,
    attempts: () => records.filter((r) => r.message.startsWith('refund attempt')),
    warnings: () => records.filter((r) => r.level === 'warn'),
    settled: () => new Promise((resolve) => setTimeout(resolve, 50)),
    assertNoSecret(...more) {
      for (const record of records) {
        const text = JSON.stringify(record);
        for (const secret of [...SECRETS, ...more]) {
          assert.ok(!text.includes(secret), `a secret is in a log record: ${text}`);
        }
      }
    },
  };
}

/** A loopback server answering each request with the next of `answers(req)`. */
async function scriptedServer(answer) {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => answer(req, res));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

test('each attempt of a retried refund is a debug record with its fields', async () => {
  const log = capture();
  const checkoutId = await emulator.paidCheckout();
  await emulator.setFaults({ error_5xx: 1.0 });
  const client = emulator.client(LIVE_KEY, { maxRetries: 2 });
  await rejection(refundkit.ServerError, client.refund(checkoutId, { idempotencyKey: `node-logs-${checkoutId}` }));
  await log.settled();
  const attempts = log.attempts();
  assert.deepEqual(attempts.map((r) => r.fields.attempt), [1, 2, 3]);
  assert.deepEqual(attempts.map((r) => r.fields.decision), ['retry', 'retry', 'stop']);
  for (const record of attempts) {
    assert.equal(record.level, 'debug');
    assert.equal(record.fields.checkout_id, checkoutId);
    assert.equal(record.fields.idempotency_key, `node-logs-${checkoutId}`);
    assert.equal(record.fields.status, 500);
    assert.equal(record.fields.outcome, 'server');
    assert.equal(typeof record.fields.elapsed_ms, 'number');
    assert.ok(record.message.includes(`checkout_id=${checkoutId}`), record.message);
  }
  const [warning] = log.warnings();
  assert.equal(warning.fields.attempts, 3);
  log.assertNoSecret();
});

test('a connection cut after commit logs a warning naming the key', async () => {
  const log = capture();
  const checkoutId = await emulator.paidCheckout();
  await emulator.setFaults({ drop_after: 1.0 });
  const error = await rejection(refundkit.NetworkError, emulator.client(LIVE_KEY, { maxRetries: 1 }).refund(checkoutId));
  assert.equal(error.outcomeUnknown, true);
  await log.settled();
  assert.deepEqual(log.attempts().map((r) => r.fields.decision), ['retry', 'stop']);
  assert.ok(log.attempts().every((r) => !('status' in r.fields)));
  const [warning] = log.warnings();
  assert.ok(warning.message.startsWith('refund outcome unknown'), warning.message);
  assert.equal(warning.fields.idempotency_key, error.idempotencyKey);
  log.assertNoSecret();
});

test('the level is honoured, and setLogger(null) stops', async () => {
  const log = capture({ level: 'warn' });
  await emulator.client().refund(await emulator.paidCheckout());
  await emulator.setFaults({ drop_after: 1.0 });
  await rejection(refundkit.NetworkError, emulator.client().refund(await emulator.paidCheckout()));
  await log.settled();
  assert.deepEqual(log.records.map((r) => r.level), ['warn']);
  refundkit.setLogger(null);
  await rejection(refundkit.NetworkError, emulator.client().refund(await emulator.paidCheckout()));
  await log.settled();
  assert.equal(log.records.length, 1);
  assert.throws(() => refundkit.setLogger(() => {}, { level: 'verbose' }), TypeError);
  assert.throws(() => refundkit.setLogger('console'), TypeError);
});

test('a logger that throws never fails the refund', async () => {
  refundkit.setLogger(() => {
    throw new Error('broken logger');
  });
  const refund = await emulator.client().refund(await emulator.paidCheckout());
  assert.equal(refund.succeeded, true);
  await new Promise((resolve) => setTimeout(resolve, 50));
});

test('neither a key nor a token echoed in x-request-id reaches a record', async () => {
  const log = capture();
  let answered = 0;
  const server = await scriptedServer((req, res) => {
    answered += 1;
    const credential = (req.headers.authorization || '').replace(/^Bearer /, '');
    const status = answered % 2 === 1 ? 500 : 202;
    res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': `req_${credential}` });
    res.end(status === 202 ? '{"id":"ch_1","refundId":"rfd_1","message":"ok","status":"successful"}' : '{}');
  });
  const token = 'node-logs-token-0123456789abcdef';
  try {
    const keyed = new refundkit.Client(LIVE_KEY, { baseUrl: server.url, maxRetries: 1 });
    assert.equal((await keyed.refund('ch_1')).attempts, 2);
    const relayed = refundkit.Client.forRelay(server.url, async () => token, { maxRetries: 1 });
    assert.equal((await relayed.refund('ch_1')).attempts, 2);
  } finally {
    await server.close();
  }
  await log.settled();
  const attempts = log.attempts();
  assert.equal(attempts.length, 4);
  assert.ok(attempts.every((r) => r.fields.request_id.startsWith('req_')), JSON.stringify(attempts));
  assert.equal(attempts[0].fields.request_id, 'req_sk_live_…0042');
  log.assertNoSecret(token);
});
