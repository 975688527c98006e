// Receive and verify refund webhooks with node:http (no framework).
//   WEBHOOK_SECRET=whsec_… node webhook-server.js  (after compiling with tsc)
import { createServer, type IncomingMessage } from 'node:http';

import { WebhookVerificationError, WebhookVerifier, type WebhookEvent } from 'refundkit';

const verifier = new WebhookVerifier(process.env.WEBHOOK_SECRET ?? '', { toleranceSeconds: 300 });
const seen = new Set<string>();

/** The body exactly as received: signatures cover these bytes. */
async function rawBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function handle(event: WebhookEvent): void {
  if (seen.has(event.webhookId)) return; // deliveries repeat: deduplicate
  seen.add(event.webhookId);
  if (event.type === 'refund.succeeded') {
    console.log(`refund ${event.refundId} of ${event.checkoutId}: ${event.amount} cents`);
  } else if (event.type === 'refund.failed') {
    console.log(`refund ${event.refundId} failed: ${event.failureReason ?? 'no reason given'}`);
  }
}

createServer(async (req, res) => {
  try {
    handle(verifier.verify(req.headers, await rawBody(req)));
    res.writeHead(204).end();
  } catch (error) {
    if (error instanceof WebhookVerificationError) {
      res.writeHead(400).end(error.message);
      return;
    }
    res.writeHead(500).end();
  }
}).listen(Number(process.env.PORT ?? 8080), '127.0.0.1');
