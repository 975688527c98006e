#!/usr/bin/env node
'use strict';
// Benchmarks of the Node package against what a Node user would write
// instead. One run, one emulator (`refundkit emulator`: $REFUNDKIT_BIN,
// else target/release/refundkit):
//
// - refunds/s at concurrency 1 and 32 (and 4, 16, 64 for the chart, --json FILE): `client.refund` vs `fetch` (undici,
//   built into Node) sending the same POST (1-cent partial refund of a
//   large paid checkout, fresh UUIDv4 idempotency key, keep-alive) and
//   parsing the JSON answer;
// - webhook verifications/s on a 1 KB body: `WebhookVerifier.verify` vs
//   the `standardwebhooks` npm package (whose verify includes JSON.parse).
//
// Each figure is the median of --rounds rounds; sides alternate within a
// round so that background load hits both alike. Prints a Markdown section
// (for BENCHMARKS.md) on stdout.
//
//   node scripts/bench_node.js [--rounds 5] [--requests 4000] [--verifications 50000]

const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const util = require('node:util');

const REPO = path.resolve(__dirname, '..');
const refundkit = require(path.join(REPO, 'node'));
const { Webhook } = require(path.join(REPO, 'node', 'node_modules', 'standardwebhooks'));

const KEY = 'sk_live_benchmark0000000000000000';
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
}
const ROUNDS = option('rounds', 5);
const REQUESTS = option('requests', 4000);
const VERIFICATIONS = option('verifications', 50000);

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function startEmulator() {
  const binary = process.env.REFUNDKIT_BIN ?? path.join(REPO, 'target', 'release', 'refundkit');
  if (!fs.existsSync(binary)) throw new Error(`build the CLI first: cargo build --release -p refundkit-cli (${binary})`);
  const child = spawn(binary, ['emulator', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const first = await new Promise((resolve) => readline.createInterface({ input: child.stdout }).once('line', resolve));
  if (!first.startsWith('listening on ')) throw new Error(`the emulator did not start: ${first}`);
  return { child, url: first.slice('listening on '.length) };
}

async function bigPaidCheckout(url) {
  const headers = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
  const created = await fetch(`${url}/api/checkouts`, {
    method: 'POST', headers, body: JSON.stringify({ amount: 2 ** 52, currency: 'ZAR' }),
  }).then((r) => r.json());
  await fetch(`${url}/_emulator/checkouts/${created.id}/pay`, { method: 'POST' }).then((r) => r.text());
  return created.id;
}

/** Calls/s of `n` awaits of `call()`, `concurrency` at a time, after a warm-up. */
async function timedWorkers(call, n, concurrency) {
  let left = Math.min(200, n);
  const worker = async () => {
    while (left > 0) {
      left -= 1;
      await call();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker)); // warm-up
  left = n;
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return n / (Number(process.hrtime.bigint() - started) / 1e9);
}

async function benchRefunds(url, concurrency) {
  const ours = `client.refund (c=${concurrency})`;
  const theirs = `fetch POST (c=${concurrency})`;
  const results = { [ours]: [], [theirs]: [] };
  const client = new refundkit.Client(KEY, { baseUrl: url });
  for (let round = 0; round < ROUNDS; round += 1) {
    const checkoutA = await bigPaidCheckout(url);
    results[ours].push(await timedWorkers(async () => {
      const refund = await client.refund(checkoutA, { amount: 1 });
      if (!refund.refundId) throw new Error('no refund id');
    }, REQUESTS, concurrency));

    const checkoutB = await bigPaidCheckout(url);
    const endpoint = `${url}/api/checkouts/${checkoutB}/refund`;
    results[theirs].push(await timedWorkers(async () => {
      const response = await fetch(endpoint, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${KEY}`,
          'content-type': 'application/json',
          'idempotency-key': crypto.randomUUID(),
        },
        body: '{"amount":1}',
      });
      const data = await response.json();
      if (response.status !== 202 || !data.refundId) throw new Error(`refund failed: ${response.status}`);
    }, REQUESTS, concurrency));
  }
  return [[ours, median(results[ours]), 'refunds/s', theirs], [theirs, median(results[theirs]), 'refunds/s', theirs]];
}

function webhookBody() {
  const event = {
    id: `evt_${'A'.repeat(24)}`,
    type: 'refund.succeeded',
    createdDate: '2026-11-26T09:00:00Z',
    payload: {
      id: `rfd_${'B'.repeat(24)}`,
      type: 'refund',
      createdDate: '2026-11-26T09:00:00Z',
      amount: 5000,
      currency: 'ZAR',
      paymentId: `p_${'C'.repeat(24)}`,
      status: 'succeeded',
      mode: 'live',
      metadata: { checkoutId: `ch_${'D'.repeat(24)}` },
      refundableAmount: 0,
    },
  };
  const base = JSON.stringify(event).length;
  event.payload.metadata.note = 'x'.repeat(1024 - base - ',"note":""'.length);
  const body = JSON.stringify(event);
  if (body.length !== 1024) throw new Error(`body is ${body.length} bytes`);
  return body;
}

function sequential(call, n) {
  for (let i = 0; i < Math.min(1000, n); i += 1) call();
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i += 1) call();
  return n / (Number(process.hrtime.bigint() - started) / 1e9);
}

function benchWebhooks() {
  const body = webhookBody();
  const raw = Buffer.from(body);
  const now = new Date();
  const signer = new Webhook(SECRET);
  const headers = {
    'webhook-id': 'msg_bench',
    'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
    'webhook-signature': signer.sign('msg_bench', now, body),
  };
  const ours = new refundkit.WebhookVerifier(SECRET);
  const theirs = new Webhook(SECRET);
  const a = ours.verify(headers, raw).payload;
  const b = theirs.verify(raw, headers).payload;
  if (!util.isDeepStrictEqual(a, b)) throw new Error('the verifiers disagree');
  const oursName = 'WebhookVerifier.verify (Buffer)';
  const oursPayloadName = 'verify + .payload object';
  const theirsName = 'standardwebhooks verify (+JSON.parse)';
  const results = { [oursName]: [], [oursPayloadName]: [], [theirsName]: [] };
  for (let round = 0; round < ROUNDS; round += 1) {
    results[oursName].push(sequential(() => ours.verify(headers, raw), VERIFICATIONS));
    results[oursPayloadName].push(sequential(() => ours.verify(headers, raw).payload, VERIFICATIONS));
    results[theirsName].push(sequential(() => theirs.verify(raw, headers), VERIFICATIONS));
  }
  return [oursName, oursPayloadName, theirsName]
    .map((name) => [name, median(results[name]), 'verifications/s', theirsName]);
}

async function main() {
  const emulator = await startEmulator();
  const rows = [];
  try {
    const series = { 'client.refund': {}, 'fetch POST': {} };
    for (const concurrency of [1, 4, 16, 32, 64]) {
      const measured = await benchRefunds(emulator.url, concurrency);
      series['client.refund'][concurrency] = measured[0][1];
      series['fetch POST'][concurrency] = measured[1][1];
      // The table keeps the two points; the chart gets them all.
      if (concurrency === 1 || concurrency === 32) rows.push(...measured);
    }
    const json = process.argv.indexOf('--json');
    if (json !== -1) {
      require('node:fs').writeFileSync(process.argv[json + 1], JSON.stringify({ language: 'Node', unit: 'refunds/s', series }));
    }
  } finally {
    emulator.child.kill();
  }
  rows.push(...benchWebhooks());

  const baseline = Object.fromEntries(rows.map(([name, value]) => [name, value]));
  const swVersion = require(path.join(REPO, 'node', 'node_modules', 'standardwebhooks', 'package.json')).version;
  const lines = [
    `Node ${process.versions.node}, refundkit ${require(path.join(REPO, 'node', 'package.json')).version}, ` +
      `standardwebhooks ${swVersion}; ${require('node:os').availableParallelism()} CPUs (emulator on the same cores); ` +
      `median of ${ROUNDS} rounds; ${REQUESTS} refunds per side per round; ${VERIFICATIONS} verifications per round`,
    '',
    '| benchmark | result | vs baseline |',
    '|---|---:|---:|',
  ];
  for (const [name, value, unit, base] of rows) {
    lines.push(`| ${name} | ${Math.round(value).toLocaleString('en-US')} ${unit} | ${(value / baseline[base]).toFixed(2)}x |`);
  }
  console.log(lines.join('\n'));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
