import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { ApiKey } from '../config/env';
import { sendProblem } from './problem';

const digest = (key: string): Buffer => createHash('sha256').update(key, 'utf8').digest();

/** Methods that only read; everything else needs the write role. */
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The role of a presented key among `keys`, undefined for none. Keys are kept as SHA-256 digests
 * and compared in constant time against every configured key, the write role winning.
 */
export function keyRoles(keys: readonly ApiKey[]): (presented: string) => ApiKey['role'] | undefined {
  const stored = keys.map((k) => ({ role: k.role, digest: digest(k.key) }));
  return (presented) => {
    const d = digest(presented);
    let role: ApiKey['role'] | undefined;
    for (const k of stored) {
      // No early exit: the time taken does not depend on which key matched.
      if (timingSafeEqual(d, k.digest) && (role === undefined || k.role === 'write')) role = k.role;
    }
    return role;
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
  const roleOf = keyRoles(keys);
  return (req: Request, res: Response, next: NextFunction): void => {
    if (keys.length === 0) return next();
    const token = bearerToken(req.header('authorization'));
    const role = token === undefined ? undefined : roleOf(token);
    if (role === undefined) {
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
      sendProblem(res, { type: 'https://sundial.dev/problems/forbidden', title: 'Forbidden', status: 403, detail: 'this API key has the read role; this route needs write' });
      return;
    }
    next();
  };
}
