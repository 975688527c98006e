// Refund a checkout and handle every outcome.
//   REFUNDKIT_SECRET_KEY=sk_live_… node refund.js ch_…  (after compiling with tsc)
import {
  AbortError,
  AlreadyRefundedError,
  Client,
  InvalidInputError,
  RefundKitError,
  idempotencyKeyFor,
  type Refund,
} from 'refundkit';

const client = new Client(process.env.REFUNDKIT_SECRET_KEY ?? '', {
  baseUrl: process.env.REFUNDKIT_BASE_URL,
  maxRetries: 3,
  timeoutMs: 10_000,
});

async function refundOrder(checkoutId: string, orderId: string, cents?: number): Promise<Refund | null> {
  // A key derived from the order survives a crash: rerunning replays.
  const idempotencyKey = idempotencyKeyFor('shop-refunds', orderId);
  try {
    const refund = await client.refund(checkoutId, {
      amount: cents,
      metadata: { orderId },
      idempotencyKey,
      signal: AbortSignal.timeout(60_000),
    });
    console.log(`refund ${refund.refundId}: ${refund.status}${refund.replayed ? ' (replayed)' : ''}`);
    return refund;
  } catch (error) {
    if (error instanceof AlreadyRefundedError) return null;
    if (error instanceof InvalidInputError) throw new Error(`bad ${error.field}: ${error.message}`);
    if (error instanceof AbortError || (error instanceof RefundKitError && error.outcomeUnknown)) {
      // Maybe made: store the key and retry later with it.
      console.error(`retry later with idempotency key ${error.idempotencyKey}`);
      return null;
    }
    if (error instanceof RefundKitError) {
      console.error(`${error.kind} (HTTP ${error.status ?? '-'}, request ${error.requestId ?? '-'})`);
    }
    throw error;
  }
}

const [checkoutId = 'ch_example', orderId = 'order-42'] = process.argv.slice(2);
refundOrder(checkoutId, orderId).catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
