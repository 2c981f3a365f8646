import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { ApiKey } from '../config/env';
import { sendProblem } from './problem';

const digest = (key: string): Buffer => createHash('sha256').update(key, 'utf8').digest();

/**
 * A key's id, as the audit and a triggered run record who acted: the first 12 hex digits of the
 * key's SHA-256 (`printf %s "$KEY" | sha256sum | cut -c1-12`), so an operator holding the key
 * can tell it, and the record never holds the key itself. 48 bits say nothing useful about a key
 * of 16 or more random characters (the config's minimum length).
 */
export function apiKeyId(key: string): string {
  return digest(key).toString('hex').slice(0, 12);
}

/** Who sent a request: set by {@link apiKeyAuth} on `res.locals.caller`. */
export interface Caller {
  /** The key's id ({@link apiKeyId}); null on an API without keys (loopback only). */
  readonly keyId: string | null;
  readonly role: ApiKey['role'] | null;
}

/** The caller of a request that passed {@link apiKeyAuth}. */
export function callerOf(res: Response): Caller {
  return (res.locals as { caller?: Caller }).caller ?? { keyId: null, role: null };
}

/** Methods that only read; everything else needs the write role. */
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The role of a presented key among `keys`, undefined for none. Keys are kept as SHA-256 digests
 * and compared in constant time against every configured key, the write role winning.
 */
export function keyRoles(keys: readonly ApiKey[]): (presented: string) => ApiKey['role'] | undefined {
  const match = matchKey(keys);
  return (presented) => match(presented)?.role;
}

/** The matching key's role and id ({@link keyRoles}), undefined for none. */
function matchKey(keys: readonly ApiKey[]): (presented: string) => { role: ApiKey['role']; keyId: string } | undefined {
  const stored = keys.map((k) => ({ role: k.role, digest: digest(k.key), keyId: apiKeyId(k.key) }));
  return (presented) => {
    const d = digest(presented);
    let found: { role: ApiKey['role']; keyId: string } | undefined;
    for (const k of stored) {
      // No early exit: the time taken does not depend on which key matched.
      if (timingSafeEqual(d, k.digest) && (found === undefined || k.role === 'write'))
        found = { role: k.role, keyId: k.keyId };
    }
    return found;
  };
}

/** The key of an `Authorization: Bearer <key>` header; undefined when absent or malformed. */
export function bearerToken(header: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
}

/**
 * Bearer API keys with a read or write role. Keys are kept as SHA-256 digests and compared in
 * constant time against every configured key; neither the presented key nor a stored one is
 * ever logged or echoed. With no keys configured, every request passes (the server then
 * refuses to listen on anything but loopback: see config).
 */
export function apiKeyAuth(keys: readonly ApiKey[]) {
  const match = matchKey(keys);
  return (req: Request, res: Response, next: NextFunction): void => {
    if (keys.length === 0) return next();
    const token = bearerToken(req.header('authorization'));
    const found = token === undefined ? undefined : match(token);
    const role = found?.role;
    if (found === undefined) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="sundial"');
      sendProblem(res, {
        type: 'https://sundial.dev/problems/unauthorized',
        title: 'Unauthorized',
        status: 401,
        detail: token === undefined ? 'send an API key as "Authorization: Bearer <key>"' : 'unknown API key',
      });
      return;
    }
    if (role === 'read' && !READ_METHODS.has(req.method)) {
      sendProblem(res, {
        type: 'https://sundial.dev/problems/forbidden',
        title: 'Forbidden',
        status: 403,
        detail: 'this API key has the read role; this route needs write',
      });
      return;
    }
    (res.locals as { caller?: Caller }).caller = { keyId: found.keyId, role: found.role };
    next();
  };
}
