// Token mode: an app (or any client without the secret key) refunds through
// the merchant's relay (`refundkit relay`) with short-lived bearer tokens.
import { AuthenticationError, Client } from 'refundkit';

let cached: string | undefined;

/** Your sign-in: returns a JWT the relay accepts (cached until refused). */
async function token(forceRefresh: boolean): Promise<string> {
  if (cached === undefined || forceRefresh) {
    const response = await fetch('https://auth.example.com/token', { method: 'POST' });
    cached = ((await response.json()) as { access_token: string }).access_token;
  }
  return cached;
}

const client = Client.forRelay('https://relay.example.com', token, { maxRetries: 2 });

export async function refundFromTheTill(checkoutId: string, cents: number): Promise<string | null> {
  try {
    const refund = await client.refund(checkoutId, { amount: cents });
    return refund.refundId;
  } catch (error) {
    if (error instanceof AuthenticationError && error.errorCode === 'forbidden_by_policy') {
      return null; // over this role's limit: ask a manager
    }
    throw error;
  }
}
