'use strict';
// Every case of tests/vectors/*.json through the public Node API: webhooks,
// errors (a scripted HTTP server answers, the real client parses),
// validation and hostile input (refused before any request reaches the
// real emulator).

const assert = require('node:assert/strict');
const http = require('node:http');
const util = require('node:util');
const { after, before, describe, test } = require('node:test');

const refundkit = require('..');
const pkg = require('../package.json');
const {
  DEFAULT_KEY, SECRETS, Emulator, closedPortUrl, loadVectors, rejection, remember, secretScan, thrown,
} = require('./support.js');

const CLASS_BY_KIND = {
  configuration: refundkit.ConfigurationError,
  invalid_input: refundkit.InvalidInputError,
  authentication: refundkit.AuthenticationError,
  not_found: refundkit.NotFoundError,
  invalid_request: refundkit.InvalidRequestError,
  already_refunded: refundkit.AlreadyRefundedError,
  idempotency_conflict: refundkit.IdempotencyConflictError,
  idempotency_mismatch: refundkit.IdempotencyMismatchError,
  rate_limited: refundkit.RateLimitError,
  server: refundkit.ServerError,
  network: refundkit.NetworkError,
  timeout: refundkit.TimeoutError,
  unexpected_response: refundkit.UnexpectedResponseError,
  webhook_verification: refundkit.WebhookVerificationError,
};

const WEBHOOK_CASES = loadVectors('webhooks').cases;
const ERROR_CASES = loadVectors('errors').cases;
const VALIDATION_CASES = loadVectors('validation').cases;
const HOSTILE = loadVectors('hostile');
const KEYS = loadVectors('keys');
const { defaults: DEFAULTS } = loadVectors('defaults');
const ECHOED_KEY = 'sk_live_echoedBackByTheServer0123';
SECRETS.push(ECHOED_KEY);

for (const c of WEBHOOK_CASES) SECRETS.push(...(c.secrets ?? [c.secret]));
for (const c of HOSTILE.webhook_cases) SECRETS.push(c.secret);
for (const c of VALIDATION_CASES) if (c.input.secret_key) SECRETS.push(c.input.secret_key);
for (const c of HOSTILE.refund_cases) if (c.client.secret_key) SECRETS.push(c.client.secret_key);

/** The refund options of a vector's snake_case input. */
function refundOptions(input) {
  const options = {};
  if ('amount' in input) options.amount = input.amount;
  if ('metadata' in input) options.metadata = input.metadata;
  if ('idempotency_key' in input) options.idempotencyKey = input.idempotency_key;
  return options;
}

let emulator;
before(async () => {
  emulator = await Emulator.start();
});
after(() => emulator.stop());

describe('webhooks.json', () => {
  for (const c of WEBHOOK_CASES) {
    test(c.name, () => {
      const verifier = new refundkit.WebhookVerifier(c.secrets ?? c.secret, { toleranceSeconds: c.tolerance ?? 300 });
      remember(verifier);
      const body = Buffer.from(c.body, 'utf8');
      if (!c.expect.ok) {
        const error = thrown(refundkit.WebhookVerificationError, () => verifier.verify(c.headers, body, { now: c.now }));
        assert.ok(error.message.includes(c.expect.error_contains), error.message);
        assert.equal(error.kind, 'webhook_verification');
        return;
      }
      const event = verifier.verify(c.headers, body, { now: c.now });
      remember(event);
      assert.equal(event.id, c.expect.id);
      assert.equal(event.type, c.expect.type);
      assert.equal(event.createdDate, c.expect.created_date);
      assert.equal(event.refundId, c.expect.refund_id);
      assert.equal(event.checkoutId, c.expect.checkout_id);
      assert.equal(event.amount, c.expect.amount);
      assert.equal(event.status, c.expect.status);
      assert.equal(event.failureReason, c.expect.failure_reason);
      assert.equal(event.webhookId, c.headers['webhook-id'] ?? event.webhookId);
      assert.deepEqual(event.payload, JSON.parse(c.body).payload ?? {});
      // The same bytes as a string verify the same way.
      assert.deepEqual(verifier.verify(c.headers, c.body, { now: c.now }), event);
    });
  }
});

describe('errors.json', () => {
  let server;
  let baseUrl;
  let scripted;
  const received = [];

  before(async () => {
    server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (chunk) => chunks.push(chunk));
      req.on('end', () => {
        received.push({ path: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() });
        res.writeHead(scripted.status, { ...scripted.headers, 'content-length': Buffer.byteLength(scripted.body) });
        res.end(scripted.body);
      });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${server.address().port}`;
  });
  after(() => new Promise((resolve) => server.close(resolve)));

  for (const c of ERROR_CASES) {
    test(c.name, async () => {
      scripted = c;
      received.length = 0;
      const client = new refundkit.Client(DEFAULT_KEY, { baseUrl, maxRetries: 0 });
      const checkoutId = 'ch_9LVKD8GnAj7f39DFbn4F16bE';
      const expect = c.expect;
      if (expect.ok) {
        const { succeeded, elapsedMs, ...refund } = await client.refund(checkoutId, { idempotencyKey: 'vector-key' });
        remember(refund);
        assert.equal(succeeded, expect.status === 'successful');
        assert.ok(elapsedMs >= 0);
        assert.deepEqual(refund, {
          checkoutId: expect.checkout_id,
          refundId: expect.refund_id,
          status: expect.status,
          message: expect.message,
          idempotencyKey: 'vector-key',
          replayed: expect.replayed,
          attempts: 1,
          requestId: expect.request_id,
        });
      } else {
        const error = await rejection(
          CLASS_BY_KIND[expect.kind], client.refund(checkoutId, { idempotencyKey: 'vector-key' }));
        assert.equal(error.kind, expect.kind);
        assert.equal(error.explanation, expect.message);
        assert.ok(error.message.includes(expect.message));
        assert.equal(error.retryable, expect.retryable);
        assert.equal(error.outcomeUnknown, expect.outcome_unknown);
        assert.equal(error.errorCode, expect.error_code);
        assert.equal(error.requestId, expect.request_id);
        assert.equal(error.status, c.status);
        assert.equal(error.idempotencyKey, 'vector-key');
        assert.equal(error.body, c.body || null);
        assert.equal(error.attempts, 1);
        assert.ok(error instanceof refundkit.ApiError);
        assert.ok(error instanceof refundkit.RefundKitError);
      }
      assert.equal(received.length, 1);
      const [request] = received;
      assert.equal(request.path, `/api/checkouts/${checkoutId}/refund`);
      assert.equal(request.headers['idempotency-key'], 'vector-key');
      assert.equal(request.headers.authorization, `Bearer ${DEFAULT_KEY}`);
      assert.ok(request.headers['user-agent'].startsWith(`refundkit/${pkg.version} (node; node ${process.versions.node})`),
        request.headers['user-agent']);
      assert.equal(request.body, '{}');
    });
  }

  for (const status of [202, 400, 500]) {
    test(`a server echoing the key everywhere (${status}) shows it nowhere`, async () => {
      const k = ECHOED_KEY;
      scripted = {
        status,
        headers: { 'x-request-id': `req_${k}` },
        body: JSON.stringify({ refundId: `rfd_${k}`, message: k, status: k, errorCode: k, errorMessage: k }),
      };
      const client = new refundkit.Client(k, { baseUrl, maxRetries: 0 });
      if (status === 202) {
        const refund = await client.refund('ch_1');
        remember(refund);
        assert.ok(refund.refundId.startsWith('rfd_sk_live_…'), refund.refundId);
      } else {
        const error = await rejection(status === 400 ? refundkit.InvalidRequestError : refundkit.ServerError,
          client.refund('ch_1'));
        remember(error.body, error.errorCode, error.requestId, error.explanation);
        assert.equal(error.requestId, 'req_sk_live_…0123');
      }
    });
  }
});

describe('validation.json', () => {
  for (const c of VALIDATION_CASES) {
    test(c.name, async () => {
      const { secret_key: secretKey = DEFAULT_KEY, base_url: givenUrl, checkout_id: checkoutId, ...rest } = c.input;
      const kind = c.expect.kind;
      // Invalid calls aim at the emulator, whose counters prove nothing was
      // sent; valid ones at a closed port, where they may only fail to connect.
      const baseUrl = givenUrl ?? (kind ? emulator.url : await closedPortUrl());
      const before = await emulator.refundRequests();
      let error;
      if (kind === 'configuration') {
        error = thrown(refundkit.ConfigurationError, () => new refundkit.Client(secretKey, { baseUrl }));
      } else {
        const client = new refundkit.Client(secretKey, { baseUrl, maxRetries: 0 });
        remember(client);
        const expected = kind === null ? refundkit.NetworkError : refundkit.InvalidInputError;
        error = await rejection(expected, client.refund(checkoutId, refundOptions(rest)));
      }
      if (kind !== null) {
        assert.equal(error.kind, kind);
        assert.equal(error.field, c.expect.field);
        assert.equal(error.status, null);
        assert.equal(error.attempts, 0);
      }
      assert.equal(await emulator.refundRequests(), before);
    });
  }
});

function generatedMetadata({ entries, key_bytes: keyBytes, value_bytes: valueBytes }) {
  const metadata = {};
  for (let i = 0; i < entries; i += 1) {
    const key = `k${i}`;
    metadata[key + 'k'.repeat(Math.max(0, keyBytes - key.length))] = 'v'.repeat(valueBytes);
  }
  return metadata;
}

function hostileBody(c) {
  if ('body' in c) return Buffer.from(c.body, 'utf8');
  if ('body_base64' in c) return Buffer.from(c.body_base64, 'base64');
  const g = c.body_generate;
  return Buffer.from(g.prefix + g.repeat.repeat(g.count) + g.suffix, 'utf8');
}

describe('hostile.json refund_cases', () => {
  for (const c of HOSTILE.refund_cases) {
    test(c.name, async () => {
      const { checkout_id: checkoutId, metadata_generate: generate, representable_in_rust: _, ...rest } = c.input;
      if (generate) rest.metadata = generatedMetadata(generate);
      const before = await emulator.refundRequests();
      const ErrorClass = CLASS_BY_KIND[c.expect.kind];
      const error = await rejection(ErrorClass, (async () => {
        const client = new refundkit.Client(c.client.secret_key ?? DEFAULT_KEY, {
          baseUrl: c.client.base_url ?? emulator.url,
          maxRetries: 0,
        });
        return client.refund(checkoutId, refundOptions(rest));
      })());
      assert.equal(error.kind, c.expect.kind);
      assert.equal(error.field, c.expect.field, error.message);
      assert.ok(error.message.length < 1024, 'the error echoes the hostile input');
      assert.equal(await emulator.refundRequests(), before);
    });
  }
});

describe('hostile.json webhook_cases', () => {
  for (const c of HOSTILE.webhook_cases) {
    test(c.name, () => {
      const ErrorClass = CLASS_BY_KIND[c.expect.kind];
      // Pairs keep duplicated names, which an object would merge.
      const error = thrown(ErrorClass, () => new refundkit.WebhookVerifier(c.secret)
        .verify(c.header_pairs, hostileBody(c), { now: c.now }));
      if (c.expect.error_contains) assert.ok(error.message.includes(c.expect.error_contains), error.message);
      if (c.expect.field) assert.equal(error.field, c.expect.field);
    });
  }
});

describe('keys.json', () => {
  for (const c of KEYS.cases) {
    test(c.name, () => {
      assert.equal(refundkit.idempotencyKeyFor(c.namespace, ...c.parts), c.key);
    });
  }
  for (const c of KEYS.invalid) {
    test(c.name, () => {
      const error = thrown(refundkit.InvalidInputError, () => refundkit.idempotencyKeyFor(c.namespace, ...c.parts));
      assert.equal(error.field, c.field);
    });
  }
});

test('defaults.json: the package and a client built with no options use these defaults', () => {
  assert.deepEqual({ ...refundkit.DEFAULTS }, {
    baseUrl: DEFAULTS.base_url,
    maxRetries: DEFAULTS.max_retries,
    timeoutMs: DEFAULTS.timeout_seconds * 1000,
    totalTimeoutMs: DEFAULTS.total_timeout_seconds * 1000,
    webhookToleranceSeconds: DEFAULTS.webhook_tolerance_seconds,
  });
  const client = new refundkit.Client(DEFAULT_KEY);
  remember(client);
  assert.equal(client.baseUrl, DEFAULTS.base_url);
  assert.equal(client.maxRetries, DEFAULTS.max_retries);
  assert.equal(client.timeoutMs, DEFAULTS.timeout_seconds * 1000);
  assert.equal(client.totalTimeoutMs, DEFAULTS.total_timeout_seconds * 1000);
  const verifier = new refundkit.WebhookVerifier('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
  assert.ok(util.inspect(verifier).includes(`toleranceSeconds: ${DEFAULTS.webhook_tolerance_seconds}`));
});

secretScan();
