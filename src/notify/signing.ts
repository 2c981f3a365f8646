import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures as Standard Webhooks (standardwebhooks.com, used by Svix and others) define
 * them, so a receiver can verify with a library it may already use:
 *
 *   webhook-id:        the delivery's idempotency key (the same on every retry)
 *   webhook-timestamp: Unix seconds when this attempt was signed (each retry is signed anew)
 *   webhook-signature: "v1," + base64(HMAC-SHA256(key, `${id}.${timestamp}.${body}`))
 *
 * The key is the secret's UTF-8 bytes; a secret written `whsec_<base64>` (the Standard Webhooks
 * form) is the base64-decoded rest. docs/notifications.md has the recipe and the replay window.
 */

export const SignatureHeader = {
  id: 'webhook-id',
  timestamp: 'webhook-timestamp',
  signature: 'webhook-signature',
} as const;

/** How far a receiver should accept a timestamp from its own clock, in seconds (either way). */
export const REPLAY_WINDOW_SECONDS = 300;

/** The HMAC key of a secret as configured. */
export function signingKey(secret: string): Buffer {
  return secret.startsWith('whsec_')
    ? Buffer.from(secret.slice('whsec_'.length), 'base64')
    : Buffer.from(secret, 'utf8');
}

/** The signature header's value for one attempt. Pure. */
export function sign(secret: string, id: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', signingKey(secret)).update(`${id}.${timestampSeconds}.${body}`).digest('base64');
  return `v1,${mac}`;
}

/** The three headers of one signed attempt. */
export function signatureHeaders(
  secret: string,
  id: string,
  timestampSeconds: number,
  body: string,
): Record<string, string> {
  return {
    [SignatureHeader.id]: id,
    [SignatureHeader.timestamp]: String(timestampSeconds),
    [SignatureHeader.signature]: sign(secret, id, timestampSeconds, body),
  };
}

/**
 * Verifies a delivery as a receiver would: a timestamp within the replay window and one of the
 * space-separated `v1,` signatures matching. For tests and for receivers written in TypeScript.
 */
export function verify(
  secret: string,
  headers: Readonly<Record<string, string | undefined>>,
  body: string,
  nowSeconds: number,
  windowSeconds = REPLAY_WINDOW_SECONDS,
): boolean {
  const id = headers[SignatureHeader.id];
  const ts = Number(headers[SignatureHeader.timestamp]);
  const given = headers[SignatureHeader.signature];
  if (id === undefined || given === undefined || !Number.isInteger(ts) || Math.abs(nowSeconds - ts) > windowSeconds)
    return false;
  const expected = Buffer.from(sign(secret, id, ts, body));
  return given.split(' ').some((s) => {
    const candidate = Buffer.from(s);
    return candidate.length === expected.length && timingSafeEqual(candidate, expected);
  });
}
