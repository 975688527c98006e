'use strict';
// WebhookVerifier beyond the vectors: the header and body shapes Node
// servers hand over, the helpful error for an already parsed body,
// rotation, and a real delivery from the emulator.

const assert = require('node:assert/strict');
const http = require('node:http');
const { after, before, test } = require('node:test');
const util = require('node:util');

const refundkit = require('..');
const { LIVE_KEY, SECRETS, Emulator, loadVectors, remember, secretScan, thrown } = require('./support.js');

const CASE = loadVectors('webhooks').cases.find((c) => c.name === 'refund_succeeded');
const { secret: SECRET, now: NOW, body: BODY } = CASE;
const OTHER_SECRET = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';
SECRETS.push(SECRET, OTHER_SECRET);

let emulator;
before(async () => {
  emulator = await Emulator.start();
});
after(() => emulator.stop());

test('headers may be an object, a fetch Headers, a Map or a list of pairs', () => {
  const verifier = new refundkit.WebhookVerifier(SECRET);
  const capitalised = Object.fromEntries(Object.entries(CASE.headers).map(([k, v]) => [k.toUpperCase(), v]));
  for (const headers of [
    CASE.headers,
    capitalised,
    new Headers(CASE.headers),
    new Map(Object.entries(CASE.headers)),
    Object.entries(CASE.headers),
  ]) {
    const event = verifier.verify(headers, Buffer.from(BODY), { now: NOW });
    remember(event);
    assert.equal(event.refundId, 'rfd_abc');
  }
});

test('array header values (as node:http gives duplicates) stay separate, so duplicates are refused', () => {
  const verifier = new refundkit.WebhookVerifier(SECRET);
  const headers = { ...CASE.headers, 'webhook-id': [CASE.headers['webhook-id'], 'msg_other'] };
  thrown(refundkit.WebhookVerificationError, () => verifier.verify(headers, BODY, { now: NOW }));
});

test('the body may be a Buffer, a Uint8Array, an ArrayBuffer or a string', () => {
  const verifier = new refundkit.WebhookVerifier(SECRET);
  const bytes = Buffer.from(BODY);
  for (const body of [bytes, new Uint8Array(bytes), bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length), BODY]) {
    assert.equal(verifier.verify(CASE.headers, body, { now: NOW }).id, 'evt_1');
  }
});

test('an already parsed body gets an error saying to pass the raw bytes', () => {
  const verifier = new refundkit.WebhookVerifier(SECRET);
  const error = thrown(TypeError, () => verifier.verify(CASE.headers, JSON.parse(BODY), { now: NOW }));
  assert.match(error.message, /raw/);
  assert.match(error.message, /already parsed/);
  assert.match(error.message, /express\.raw/);
  thrown(TypeError, () => verifier.verify(CASE.headers, 42, { now: NOW }));
  thrown(TypeError, () => verifier.verify({ 'webhook-id': 1 }, BODY, { now: NOW }));
});

test('the event carries the payload and typed fields', () => {
  const event = new refundkit.WebhookVerifier(SECRET).verify(CASE.headers, BODY, { now: NOW });
  assert.deepEqual(event.payload, JSON.parse(BODY).payload);
  assert.equal(event.payload, event.payload); // parsed once
  assert.ok(event instanceof refundkit.WebhookEvent);
  assert.deepEqual(JSON.parse(JSON.stringify(event)).payload, JSON.parse(BODY).payload);
  assert.equal(event.paymentId, 'p_xyz');
  assert.equal(event.currency, 'ZAR');
  assert.equal(event.mode, 'live');
  assert.equal(event.failureReason, null);
});

test('the default clock rejects an old delivery', () => {
  const error = thrown(refundkit.WebhookVerificationError,
    () => new refundkit.WebhookVerifier(SECRET).verify(CASE.headers, BODY));
  assert.ok(error.message.includes('too old'));
  assert.equal(error.retryable, false);
});

test('rotation: any of several secrets verifies', () => {
  const event = new refundkit.WebhookVerifier([OTHER_SECRET, SECRET]).verify(CASE.headers, BODY, { now: NOW });
  assert.equal(event.id, 'evt_1');
});

test('bad secrets and options are refused', () => {
  assert.equal(thrown(refundkit.ConfigurationError, () => new refundkit.WebhookVerifier('whsec_not base64!')).field, 'secret');
  assert.equal(thrown(refundkit.ConfigurationError, () => new refundkit.WebhookVerifier([])).field, 'secret');
  assert.equal(thrown(refundkit.ConfigurationError,
    () => new refundkit.WebhookVerifier(SECRET, { toleranceSeconds: -1 })).field, 'toleranceSeconds');
  thrown(TypeError, () => new refundkit.WebhookVerifier(42));
});

test('util.inspect of a verifier shows no secret', () => {
  const verifier = new refundkit.WebhookVerifier([SECRET, OTHER_SECRET], { toleranceSeconds: 180 });
  remember(verifier);
  assert.equal(util.inspect(verifier), 'WebhookVerifier { secrets: 2, toleranceSeconds: 180 }');
});

test('a real refund webhook from the emulator verifies and matches the refund', async () => {
  const deliveries = [];
  let arrived;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      deliveries.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(204).end();
      arrived?.();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const registered = await emulator.call('POST', '/api/webhooks',
    { name: 'node-tests', url: `http://127.0.0.1:${server.address().port}/hook` }, LIVE_KEY);
  SECRETS.push(registered.secret);
  try {
    const verifier = new refundkit.WebhookVerifier(registered.secret);
    const checkoutId = await emulator.paidCheckout(3_000);
    const refund = await emulator.client().refund(checkoutId, { amount: 1_000 });
    let event;
    for (let i = 0; i < 100 && event?.type !== 'refund.succeeded'; i += 1) {
      if (deliveries.length === 0) await new Promise((resolve) => { arrived = resolve; setTimeout(resolve, 300); });
      const delivery = deliveries.shift();
      if (!delivery) continue;
      event = verifier.verify(delivery.headers, delivery.body);
      // The same delivery with one byte changed is refused.
      const tampered = Buffer.from(delivery.body);
      tampered[tampered.length - 2] ^= 1;
      const error = thrown(refundkit.WebhookVerificationError, () => verifier.verify(delivery.headers, tampered));
      assert.match(error.message, /signature/);
    }
    remember(event);
    assert.equal(event.type, 'refund.succeeded');
    assert.equal(event.refundId, refund.refundId);
    assert.equal(event.checkoutId, checkoutId);
    assert.equal(event.amount, 1_000);
    assert.equal(event.status, 'succeeded');
    assert.equal(event.failureReason, null);
  } finally {
    await emulator.call('DELETE', `/api/webhooks/${registered.id}`, undefined, LIVE_KEY);
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

secretScan();
