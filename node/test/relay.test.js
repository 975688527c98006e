'use strict';
// Token mode: Client.forRelay against the real `refundkit relay` in front of
// the real emulator, with HS256 JWTs signed here; and the force-refresh
// retry after a 401 against a scripted relay.

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { after, before, test } = require('node:test');
const util = require('node:util');

const refundkit = require('..');
const { LIVE_KEY, SECRETS, Emulator, rejection, remember, secretScan, thrown } = require('./support.js');

const HS256_SECRET = 'node-relay-tests-hs256-secret-0123456789';
const ISSUER = 'https://auth.example.com';
const AUDIENCE = 'refundkit-relay';
SECRETS.push(HS256_SECRET);

/** An HS256 JWT for `sub` acting as `role`. */
function token(sub, role, lifetimeSeconds = 600) {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode({
    iss: ISSUER, aud: AUDIENCE, sub, roles: [role], iat: now, exp: now + lifetimeSeconds,
  })}`;
  const signature = crypto.createHmac('sha256', HS256_SECRET).update(unsigned).digest('base64url');
  const jwt = `${unsigned}.${signature}`;
  SECRETS.push(jwt);
  return jwt;
}

let emulator;
let relay;
let dir;

before(async () => {
  emulator = await Emulator.start();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'refundkit-node-relay-'));
  const auth = path.join(dir, 'auth.toml');
  fs.writeFileSync(auth, [
    '[jwt]', `issuer = "${ISSUER}"`, `audience = "${AUDIENCE}"`, 'hs256_secret_env = "NODE_RELAY_JWT_SECRET"',
    'leeway_seconds = 5', '',
    '[[roles]]', 'name = "cashier"', 'max_amount = 5000', 'allow_full = false', 'rate_per_minute = 10000', '',
    '[[roles]]', 'name = "manager"', 'allow_full = true', '',
  ].join('\n'));
  const child = spawn(emulator.binary, [
    'relay', '--upstream', emulator.url, '--auth', auth, '--port', '0', '--journal', path.join(dir, 'relay.db'),
  ], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, REFUNDKIT_SECRET_KEY: LIVE_KEY, NODE_RELAY_JWT_SECRET: HS256_SECRET },
  });
  const output = [];
  child.stderr.on('data', (chunk) => output.push(String(chunk)));
  const first = await new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the relay exited (${code}): ${output.join('')}`)));
  });
  assert.ok(first.startsWith('listening on '), first);
  relay = { child, url: first.slice('listening on '.length), output };
});

after(async () => {
  const exited = new Promise((resolve) => relay.child.once('exit', resolve));
  relay.child.kill('SIGTERM');
  await exited;
  remember(relay.output.join(''));
  await emulator.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a relay client refunds through the relay with the provider\'s token', async () => {
  const checkoutId = await emulator.paidCheckout(10_000);
  const asked = [];
  const client = refundkit.Client.forRelay(relay.url, async (forceRefresh) => {
    asked.push(forceRefresh);
    return token('cashier-1', 'cashier');
  });
  remember(client);
  const refund = await client.refund(checkoutId, { amount: 1_000, idempotencyKey: 'app-key-1' });
  remember(refund);
  assert.equal(refund.checkoutId, checkoutId);
  assert.equal(refund.idempotencyKey, 'app-key-1');
  assert.equal(refund.replayed, false);
  assert.deepEqual(asked, [false]);
  const again = await client.refund(checkoutId, { amount: 1_000, idempotencyKey: 'app-key-1' });
  assert.equal(again.replayed, true);
  assert.equal(again.refundId, refund.refundId);
  const ledger = await emulator.ledger(checkoutId);
  assert.equal(ledger.length, 1);
  assert.equal(ledger[0].amount, 1_000);
});

test('an expired token is refreshed once through the real relay and the same key refunds once', async () => {
  const checkoutId = await emulator.paidCheckout(10_000);
  const asked = [];
  const client = refundkit.Client.forRelay(relay.url, async (forceRefresh) => {
    asked.push(forceRefresh);
    return forceRefresh ? token('manager-1', 'manager') : token('manager-1', 'manager', -60);
  });
  const refund = await client.refund(checkoutId);
  assert.deepEqual(asked, [false, true]);
  assert.equal(refund.attempts, 2);
  assert.deepEqual((await emulator.ledger(checkoutId)).length, 1);
});

test('the relay\'s policy refusal is an AuthenticationError naming the limit', async () => {
  const checkoutId = await emulator.paidCheckout(10_000);
  const client = refundkit.Client.forRelay(relay.url, () => token('cashier-2', 'cashier'));
  const error = await rejection(refundkit.AuthenticationError, client.refund(checkoutId, { amount: 9_000 }));
  assert.equal(error.status, 403);
  assert.equal(error.errorCode, 'forbidden_by_policy');
  assert.ok(error.idempotencyKey);
  assert.deepEqual(await emulator.ledger(checkoutId), []);
});

test('a provider that throws or returns no string fails the call before anything is sent', async () => {
  const failing = refundkit.Client.forRelay(relay.url, async () => { throw new Error('signed out'); });
  const error = await rejection(refundkit.AuthenticationError, failing.refund('ch_1', { idempotencyKey: 'k-1' }));
  assert.ok(error.message.includes('signed out'));
  assert.equal(error.idempotencyKey, 'k-1');
  const wrongType = refundkit.Client.forRelay(relay.url, async () => 42);
  await rejection(refundkit.AuthenticationError, wrongType.refund('ch_1'));
});

test('a secret key returned as a token is refused before anything is sent', async () => {
  const before = await emulator.refundRequests();
  const client = refundkit.Client.forRelay(relay.url, () => LIVE_KEY);
  const error = await rejection(refundkit.ConfigurationError, client.refund('ch_1'));
  assert.equal(error.attempts, 0);
  assert.equal(await emulator.refundRequests(), before);
});

test('after a 401 the provider is asked again with forceRefresh and the attempt repeats with the same key', async () => {
  const seen = [];
  const server = http.createServer((req, res) => {
    req.resume();
    seen.push({ authorization: req.headers.authorization, key: req.headers['idempotency-key'] });
    if (req.headers.authorization === 'Bearer stale-token') {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"errorCode":"invalid_token","errorMessage":"expired"}');
      return;
    }
    res.writeHead(202, { 'content-type': 'application/json' });
    res.end('{"id":"ch_1","refundId":"rfd_1","message":"ok","status":"successful"}');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const asked = [];
    const client = refundkit.Client.forRelay(`http://127.0.0.1:${server.address().port}`, async (forceRefresh) => {
      asked.push(forceRefresh);
      return forceRefresh ? 'fresh-token' : 'stale-token';
    });
    const refund = await client.refund('ch_1');
    assert.deepEqual(asked, [false, true]);
    assert.deepEqual(seen.map((s) => s.authorization), ['Bearer stale-token', 'Bearer fresh-token']);
    assert.equal(seen[0].key, seen[1].key);
    assert.equal(refund.idempotencyKey, seen[0].key);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test('util.inspect of a relay client shows no token, and bad arguments are refused', () => {
  const client = refundkit.Client.forRelay(relay.url, () => 'unused');
  assert.equal(util.inspect(client), `Client { tokenProvider: [Function], baseUrl: '${relay.url}' }`);
  thrown(TypeError, () => refundkit.Client.forRelay(relay.url, 'not a function'));
  thrown(refundkit.ConfigurationError, () => refundkit.Client.forRelay('http://relay.example.com', () => 't'));
});

secretScan();
