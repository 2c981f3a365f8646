import type { NextFunction, Request, Response } from 'express';
import { sendProblem } from './problem';
import { RequestValidationError } from './errors';

const TYPE = 'https://sundial.dev/problems/';

/** The media types a write route's body may have. PATCH also takes a JSON merge patch (RFC 7386). */
export const JSON_MEDIA_TYPE = 'application/json';
export const MERGE_PATCH_MEDIA_TYPE = 'application/merge-patch+json';

/** Methods that change something; their bodies must be JSON. */
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Whether the request carries a body, as body-parser decides it (a length or a chunked stream). */
function hasBody(req: Request): boolean {
  return (
    req.headers['transfer-encoding'] !== undefined ||
    (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0')
  );
}

/**
 * Write routes take JSON bodies only: `application/json`, or for PATCH `application/merge-patch+json`.
 * Anything else is 415, before any route runs: a `text/plain`, form-encoded or multipart POST is
 * what a web page can send to a loopback API without a CORS preflight, and it must not pause or
 * trigger a job. A write without a body (pause, trigger, delete) needs no content type.
 */
export function jsonBodiesOnly() {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!WRITE_METHODS.has(req.method) || !hasBody(req)) return next();
    const accepted = req.method === 'PATCH' ? [JSON_MEDIA_TYPE, MERGE_PATCH_MEDIA_TYPE] : [JSON_MEDIA_TYPE];
    const header = req.headers['content-type'];
    const [mediaType, ...params] = (header ?? '').split(';').map((p) => p.trim().toLowerCase());
    const charset = params
      .find((p) => p.startsWith('charset='))
      ?.slice('charset='.length)
      .replace(/^"(.*)"$/, '$1');
    let message: string | undefined;
    if (mediaType === undefined || !accepted.includes(mediaType)) message = `must be ${accepted.join(' or ')}`;
    else if (charset !== undefined && !UTF8.has(charset))
      message = `charset ${JSON.stringify(charset.slice(0, 40))} is not supported: send UTF-8`;
    if (message === undefined) return next();
    res.setHeader('Accept', accepted.join(', '));
    if (req.method === 'PATCH') res.setHeader('Accept-Patch', accepted.join(', '));
    sendProblem(res, {
      type: `${TYPE}unsupported-media-type`,
      title: 'Unsupported Media Type',
      status: 415,
      detail: `header content-type: ${header === undefined ? 'missing' : JSON.stringify(header.slice(0, 100))}: ${message}`,
      errors: [{ path: 'header.content-type', message }],
    });
  };
}

/** The charsets a JSON body may declare (RFC 8259: JSON exchanged between systems is UTF-8). */
const UTF8 = new Set(['utf-8', 'utf8']);

/** Host names (without port) that name this machine's loopback interface. */
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** The host part of a `Host` header or URL host (`[::1]:3000` → `[::1]`), lower case. */
function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.indexOf(':');
  return (colon < 0 ? h : h.slice(0, colon)).replace(/\.$/, '');
}

function isLoopbackHost(host: string): boolean {
  const name = hostName(host);
  return LOOPBACK_HOSTS.has(name) || /^127(\.\d{1,3}){3}$/.test(name) || name.endsWith('.localhost');
}

/**
 * Keyless mode's guard (no API keys: the API then listens on loopback only). Its requests must
 * come from this machine and not from a web page:
 * - `Host` must be a loopback name or address (any port). A DNS-rebinding page reaches a loopback
 *   API under its own host name, and is refused.
 * - an `Origin`, when sent, must be the API's own loopback origin (the Swagger UI at /docs) or one
 *   of `allowedOrigins`. Browsers send `Origin` with every cross-origin write, with or without a
 *   preflight, and `null` from sandboxed or file pages.
 * Refusals are 403 problem documents naming the header. With API keys this guard is not used:
 * a browser does not attach a bearer key by itself.
 */
export function loopbackOnly(opts: { allowedOrigins?: readonly string[] } = {}) {
  const allowed = new Set((opts.allowedOrigins ?? []).map((o) => o.replace(/\/+$/, '').toLowerCase()));
  return (req: Request, res: Response, next: NextFunction): void => {
    const host = req.headers.host;
    if (host === undefined || !isLoopbackHost(host)) {
      sendProblem(res, {
        type: `${TYPE}forbidden-host`,
        title: 'Forbidden',
        status: 403,
        detail: `header host: ${host === undefined ? 'missing' : JSON.stringify(host.slice(0, 100))} is not a loopback name; an API without keys answers only localhost, 127.0.0.1 or [::1]`,
        errors: [{ path: 'header.host', message: 'must be localhost, 127.0.0.1 or [::1]' }],
      });
      return;
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !isOwnOrigin(origin, req) && !allowed.has(origin.toLowerCase())) {
      sendProblem(res, {
        type: `${TYPE}forbidden-origin`,
        title: 'Forbidden',
        status: 403,
        detail: `header origin: ${JSON.stringify(origin.slice(0, 100))} is not this API's origin; an API without keys does not serve web pages of other origins`,
        errors: [{ path: 'header.origin', message: "must be the API's own origin, or absent" }],
      });
      return;
    }
    next();
  };
}

/** Whether `origin` is a loopback origin on the port this request came in on. */
function isOwnOrigin(origin: string, req: Request): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false; // `null`, or not a URL
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  return isLoopbackHost(url.host) && port === req.socket.localPort;
}

/** Keys that steer a plain object's prototype when a body is merged or copied. */
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** How deeply a body may nest; deeper ones would only exhaust the stack of whatever reads them. */
export const MAX_BODY_DEPTH = 32;

/**
 * Refuses a JSON body with a `__proto__`, `constructor` or `prototype` key at any depth, or one
 * nested over {@link MAX_BODY_DEPTH}: 400 naming the path. `JSON.parse` makes `__proto__` an own
 * key, which a merge or spread later turns into a prototype; no JobSpec has such a field.
 * Iterative, so a deep body cannot overflow the stack here.
 */
export function safeJsonBodies() {
  return (req: Request, _res: Response, next: NextFunction): void => {
    const problem = findUnsafeKey(req.body);
    if (problem !== undefined) throw new RequestValidationError([problem]);
    next();
  };
}

/** The first forbidden key or too-deep value in a parsed JSON value, with its dotted path. */
export function findUnsafeKey(root: unknown): { path: string; message: string } | undefined {
  const stack: Array<{ value: unknown; path: readonly (string | number)[] }> = [{ value: root, path: [] }];
  while (stack.length > 0) {
    const { value, path } = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (path.length > MAX_BODY_DEPTH)
      return { path: path.join('.'), message: `nested more than ${MAX_BODY_DEPTH} levels deep` };
    if (Array.isArray(value)) {
      value.forEach((item, i) => stack.push({ value: item, path: [...path, i] }));
      continue;
    }
    for (const key of Object.keys(value)) {
      if (PROTOTYPE_KEYS.has(key))
        return { path: [...path, key].join('.'), message: `a key named ${key} is not accepted` };
      stack.push({ value: (value as Record<string, unknown>)[key], path: [...path, key] });
    }
  }
  return undefined;
}
