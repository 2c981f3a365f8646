import { createHash } from 'node:crypto';

/** Bytes of the check in front of a page token. */
const TOKEN_CHECK_BYTES = 8;

function tokenCheck(query: string | undefined, token: Uint8Array): Buffer {
  return createHash('sha256')
    .update(query ?? '')
    .update('\0')
    .update(token)
    .digest()
    .subarray(0, TOKEN_CHECK_BYTES);
}

/**
 * The API's page token: Temporal's, behind a check of it and of the query it continues (job
 * lists and run lists alike). Temporal answers a page token it cannot read with an internal
 * error, and one from another query with pages of that other query; the check turns both into a
 * client error. Not a secret: it guards against mistakes and blind forgery, not a forger who
 * reads this code (whose token is then Temporal's to refuse).
 */
export function sealPageToken(token: Uint8Array, query: string | undefined): string {
  return Buffer.concat([tokenCheck(query, token), token]).toString('base64url');
}

/** Temporal's page token inside a sealed one; undefined when it is not one of this query's. */
export function openPageToken(sealed: string, query: string | undefined): Uint8Array | undefined {
  const raw = Buffer.from(sealed, 'base64url');
  if (raw.length <= TOKEN_CHECK_BYTES) return undefined;
  const token = raw.subarray(TOKEN_CHECK_BYTES);
  return tokenCheck(query, token).equals(raw.subarray(0, TOKEN_CHECK_BYTES)) ? token : undefined;
}
