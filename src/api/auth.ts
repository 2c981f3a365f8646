import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { ApiKey } from '../config/env';
import { sendProblem } from './problem';

const digest = (key: string): Buffer => createHash('sha256').update(key, 'utf8').digest();

/** Methods that only read; everything else needs the write role. */
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Bearer API keys with a read or write role. Keys are kept as SHA-256 digests and compared in
 * constant time against every configured key; neither the presented key nor a stored one is
 * ever logged or echoed. With no keys configured, every request passes (the server then
 * refuses to listen on anything but loopback: see config).
 */
export function apiKeyAuth(keys: readonly ApiKey[]) {
  const stored = keys.map((k) => ({ role: k.role, digest: digest(k.key) }));
  return (req: Request, res: Response, next: NextFunction): void => {
    if (stored.length === 0) return next();
    const header = req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    let role: ApiKey['role'] | undefined;
    if (match !== null) {
      const presented = digest(match[1]!);
      for (const k of stored) {
        // No early exit: the time taken does not depend on which key matched.
        if (timingSafeEqual(presented, k.digest) && (role === undefined || k.role === 'write')) role = k.role;
      }
    }
    if (role === undefined) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="sundial"');
      sendProblem(res, {
        type: 'https://sundial.dev/problems/unauthorized',
        title: 'Unauthorized',
        status: 401,
        detail: match === null ? 'send an API key as "Authorization: Bearer <key>"' : 'unknown API key',
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
