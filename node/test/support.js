'use strict';
// Test helpers: the real `refundkit emulator` process and its control API
// (plain fetch), the shared vectors, and the record of every text the suite
// produced, scanned for secrets by each file's last test.

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const { test } = require('node:test');
const util = require('node:util');

const refundkit = require('..');

const REPO = path.resolve(__dirname, '..', '..');
const VECTORS = path.join(REPO, 'tests', 'vectors');

// The keys the emulator accepts. Nothing the package produces may contain them.
const LIVE_KEY = 'sk_live_nodeT3stKEYmustNEVERleak0042';
const TEST_KEY = 'sk_test_nodeT3stKEYmustNEVERleak0042';
// Well formed, but refused by the emulator (403).
const OTHER_KEY = 'sk_live_someoneELSEsKeyNEVERleak9876';
// For clients aimed at scripted servers and closed ports.
const DEFAULT_KEY = 'sk_live_0123456789abcdefghij';

const SECRETS = [LIVE_KEY, TEST_KEY, OTHER_KEY, DEFAULT_KEY];
const PRODUCED = [];

/** Records the message, stack and `util.inspect` text of each object. */
function remember(...objects) {
  for (const object of objects) {
    PRODUCED.push(util.inspect(object, { depth: 5, showHidden: true }));
    PRODUCED.push(String(object));
    if (object instanceof Error) PRODUCED.push(object.message, String(object.stack));
    try {
      PRODUCED.push(JSON.stringify(object) ?? '');
    } catch {
      // Not serialisable: inspect covered it.
    }
  }
}

/** Awaits `promise`, asserts it rejects with exactly `ErrorClass`, records it. */
async function rejection(ErrorClass, promise) {
  let result;
  try {
    result = await promise;
  } catch (error) {
    remember(error);
    assert.equal(error.constructor, ErrorClass, `expected ${ErrorClass.name}, got ${error.name}: ${error.message}`);
    return error;
  }
  assert.fail(`expected ${ErrorClass.name}, got a result: ${util.inspect(result)}`);
}

/** Calls `call`, asserts it throws exactly `ErrorClass`, records it. */
function thrown(ErrorClass, call) {
  try {
    call();
  } catch (error) {
    remember(error);
    assert.equal(error.constructor, ErrorClass, `expected ${ErrorClass.name}, got ${error.name}: ${error.message}`);
    return error;
  }
  assert.fail(`expected ${ErrorClass.name}, got no error`);
}

/** What no text may contain: a mask keeps at most the prefix and the
 * last four characters. */
function secretMaterial(secret) {
  for (const prefix of ['sk_live_', 'sk_test_', 'whsec_']) {
    if (secret.startsWith(prefix)) return secret.slice(prefix.length, -4);
  }
  return secret;
}

/** The last test of a file: no secret in anything the file produced. */
function secretScan() {
  test('no secret appears in any message, stack or util.inspect output', () => {
    assert.ok(PRODUCED.length > 20, 'too little text was recorded for this check to mean anything');
    for (const secret of new Set(SECRETS)) {
      const material = secretMaterial(secret);
      // Too short to tell from ordinary text (the malformed-key vectors).
      if (material.length < 8) continue;
      const leak = PRODUCED.find((text) => text.includes(material));
      assert.equal(leak, undefined, `a secret ending ${secret.slice(-4)} leaked`);
    }
  });
}

function loadVectors(name) {
  return JSON.parse(fs.readFileSync(path.join(VECTORS, `${name}.json`), 'utf8'));
}

/** The CLI: $REFUNDKIT_BIN, else the newest of target/{release,debug}/refundkit. */
function findBinary() {
  if (process.env.REFUNDKIT_BIN) return process.env.REFUNDKIT_BIN;
  const found = ['release', 'debug']
    .map((profile) => path.join(REPO, 'target', profile, 'refundkit'))
    .filter((candidate) => fs.existsSync(candidate));
  if (found.length === 0) {
    throw new Error('the refundkit CLI is not built: run `cargo build -p refundkit-cli` or set REFUNDKIT_BIN');
  }
  return found.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
}

/** A running `refundkit emulator` and its control endpoints. */
class Emulator {
  static async start(binary = findBinary()) {
    const child = spawn(binary, [
      'emulator', '--port', '0',
      '--secret-key', LIVE_KEY, '--secret-key', TEST_KEY,
      '--webhook-time-scale', '0.001',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    const output = [];
    child.stderr.on('data', (chunk) => output.push(String(chunk)));
    const lines = readline.createInterface({ input: child.stdout });
    const first = await new Promise((resolve, reject) => {
      lines.once('line', resolve);
      child.once('exit', (code) => reject(new Error(`the emulator exited (${code}): ${output.join('')}`)));
    });
    lines.on('line', (line) => output.push(line));
    const prefix = 'listening on ';
    if (!first.startsWith(prefix)) {
      child.kill();
      throw new Error(`the emulator did not start: ${first}`);
    }
    return new Emulator(child, first.slice(prefix.length), output, binary);
  }

  constructor(child, url, output, binary) {
    this.child = child;
    this.url = url;
    this.output = output;
    /** The CLI binary, for its other subcommands (the relay). */
    this.binary = binary;
  }

  async stop() {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
    PRODUCED.push(...this.output);
  }

  async call(method, urlPath, body, key) {
    const headers = { 'content-type': 'application/json' };
    if (key !== undefined) headers.authorization = `Bearer ${key}`;
    const response = await fetch(this.url + urlPath, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${urlPath}: HTTP ${response.status}`);
    return text ? JSON.parse(text) : null;
  }

  async createCheckout(amount = 10_000, key = LIVE_KEY, metadata = undefined) {
    const checkout = await this.call('POST', '/api/checkouts', { amount, currency: 'ZAR', metadata }, key);
    return checkout.id;
  }

  async paidCheckout(amount = 10_000, key = LIVE_KEY) {
    const id = await this.createCheckout(amount, key);
    await this.call('POST', `/_emulator/checkouts/${id}/pay`);
    return id;
  }

  async ledger(checkoutId) {
    return (await this.call('GET', `/_emulator/refunds?checkoutId=${checkoutId}`)).refunds;
  }

  async ledgerKeys(checkoutId) {
    return (await this.ledger(checkoutId)).map((row) => row.idempotencyKey);
  }

  setFaults(faults) {
    return this.call('PUT', '/_emulator/faults', faults);
  }

  clearFaults() {
    return this.call('PUT', '/_emulator/faults', {});
  }

  stats() {
    return this.call('GET', '/_emulator/stats');
  }

  async refundRequests() {
    return (await this.stats()).refundRequests;
  }

  /** Clears the faults once the emulator has injected one more `counter`
   * fault, so that exactly the first attempt(s) fail. */
  async clearFaultsAfter(counter) {
    const before = (await this.stats()).faults[counter];
    for (let i = 0; i < 3000; i += 1) {
      if ((await this.stats()).faults[counter] > before) return this.clearFaults();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    throw new Error(`the emulator never injected a ${counter} fault`);
  }

  client(key = LIVE_KEY, options = {}) {
    const client = new refundkit.Client(key, { baseUrl: this.url, ...options });
    remember(client);
    return client;
  }
}

/** A URL on which nothing listens (bound then released). */
async function closedPortUrl() {
  const net = require('node:net');
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

module.exports = {
  REPO,
  LIVE_KEY,
  TEST_KEY,
  OTHER_KEY,
  DEFAULT_KEY,
  SECRETS,
  Emulator,
  closedPortUrl,
  loadVectors,
  rejection,
  remember,
  secretScan,
  thrown,
};
