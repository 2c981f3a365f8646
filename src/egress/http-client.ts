import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { AddressRange } from './address';
import { parseIp } from './address';
import { checkAddress, type EgressDecision, type EgressPolicy } from './policy';

/**
 * HTTP requests that connect only where the egress policy allows: the name is resolved once,
 * every address it resolves to is checked, and the socket connects to one of those checked
 * addresses (no second lookup, so no DNS-rebinding window). Redirects are followed only when
 * asked, re-checked on every hop. The body is streamed and capped: once the cap is reached the
 * socket is destroyed, so a huge or endless response costs the cap, never more.
 */

/** Thrown before any connection is made to an address the policy refuses. */
export class EgressDeniedError extends Error {
  override readonly name = 'EgressDeniedError';
  constructor(
    /** The host as the URL names it. */
    readonly host: string,
    /** The refused address (the host itself when it is a literal). */
    readonly address: string,
    readonly range: AddressRange,
    readonly reason: string,
  ) {
    super(
      host === address
        ? `${address} is refused: ${reason}`
        : `${host} resolves to ${address}, which is refused: ${reason}`,
    );
  }
}

function refuse(host: string, decision: Extract<EgressDecision, { allowed: false }>): EgressDeniedError {
  return new EgressDeniedError(host, decision.address, decision.range, decision.reason);
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** How names are resolved: dns.lookup with `all: true` (getaddrinfo, as Node itself does). */
export type Resolver = (
  hostname: string,
  options: LookupOptions & { all: true },
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/**
 * A `lookup` for net.connect: resolves every address of the name and fails the connection
 * with {@link EgressDeniedError} if any of them is refused; otherwise hands back exactly the
 * addresses it checked, so the socket connects to a checked address.
 */
export function guardedLookup(policy: EgressPolicy, resolve: Resolver = dnsLookup) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    resolve(
      hostname,
      { family: options.family ?? 0, ...(options.hints === undefined ? {} : { hints: options.hints }), all: true },
      (err, addresses) => {
        if (err !== null) return callback(err, []);
        for (const a of addresses) {
          const ip = parseIp(a.address);
          const decision: EgressDecision =
            ip === undefined
              ? { allowed: false, range: 'reserved', address: a.address, reason: 'not an IP address' }
              : checkAddress(policy, ip, hostname);
          if (!decision.allowed) return callback(refuse(hostname, decision) as NodeJS.ErrnoException, []);
        }
        if (addresses.length === 0)
          return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
        if (options.all === true) return callback(null, addresses);
        const first = addresses[0]!;
        return callback(null, first.address, first.family);
      },
    );
  };
}

export interface GuardedRequest {
  readonly url: string;
  readonly method: string;
  /** Sent on every hop unless the job's own headers set them (User-Agent, Accept). */
  readonly defaultHeaders?: Readonly<Record<string, string>>;
  /** Sent on every hop, over any other. */
  readonly headers: Readonly<Record<string, string>>;
  /** The job's own headers (credentials among them): sent only to the first URL's origin. */
  readonly originHeaders?: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly signal?: AbortSignal;
  /** Bytes of (decoded) body kept; the rest is not read. */
  readonly maxBodyBytes: number;
  /** Redirects followed, each checked like the first URL; 0 returns the 3xx as it is. */
  readonly maxRedirects: number;
}

export interface GuardedResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** At most maxBodyBytes. */
  readonly body: Buffer;
  /** True when the response had more than maxBodyBytes: the rest was never read. */
  readonly truncated: boolean;
  /** The URL that answered (after redirects). */
  readonly url: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Sends a request under the policy. @throws EgressDeniedError, network and abort errors. */
export async function sendGuarded(policy: EgressPolicy, req: GuardedRequest): Promise<GuardedResponse> {
  const first = new URL(req.url);
  let url = first;
  let method = req.method;
  let body = req.body;
  for (let hop = 0; ; hop++) {
    const res = await sendOnce(
      policy,
      url,
      method,
      hopHeaders(req, url.origin === first.origin, body !== undefined),
      body,
      req,
    );
    const location = res.headers.location;
    if (!REDIRECTS.has(res.status) || location === undefined || hop >= req.maxRedirects) return res;
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      return res; // a Location that is no URL: the 3xx is the answer
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') return res;
    // As browsers do: 303, and 301/302 after a POST, continue as a GET without the body.
    if (res.status === 303 ? method !== 'HEAD' : (res.status === 301 || res.status === 302) && method === 'POST') {
      method = 'GET';
      body = undefined;
    }
    url = next;
  }
}

/**
 * The headers of one hop: the job's own only on the first URL's origin (they may carry its
 * credentials), except the body's content type while a body is sent; Sundial's on every hop.
 */
function hopHeaders(req: GuardedRequest, sameOrigin: boolean, withBody: boolean): Record<string, string> {
  const own = Object.entries(req.originHeaders ?? {}).filter(([k]) =>
    k.toLowerCase() === 'content-type' ? withBody : sameOrigin,
  );
  return { ...req.defaultHeaders, ...Object.fromEntries(own), ...req.headers };
}

function decoded(res: IncomingMessage): Readable {
  switch ((res.headers['content-encoding'] ?? '').trim().toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return res.pipe(createGunzip());
    case 'deflate':
      return res.pipe(createInflate());
    case 'br':
      return res.pipe(createBrotliDecompress());
    default:
      return res;
  }
}

function sendOnce(
  policy: EgressPolicy,
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  opts: GuardedRequest,
): Promise<GuardedResponse> {
  // Node connects to an IP literal without a lookup: check it here.
  const literal = parseIp(url.hostname);
  if (literal !== undefined) {
    const decision = checkAddress(policy, literal);
    if (!decision.allowed) return Promise.reject(refuse(url.hostname, decision));
  }
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<GuardedResponse>((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
    };
    // A fresh agent per request: no pooled socket outlives the check that opened it.
    const req = send(
      url,
      {
        method,
        headers,
        agent: false,
        lookup: guardedLookup(policy),
        ...(opts.signal === undefined ? {} : { signal: opts.signal }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        const stream = decoded(res);
        const done = (truncated: boolean) =>
          settle(() =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks, kept),
              truncated,
              url: url.toString(),
            }),
          );
        const fail = (err: Error) => settle(() => reject(err));
        stream.on('data', (chunk: Buffer) => {
          if (settled) return;
          const room = opts.maxBodyBytes - kept;
          if (chunk.length > room) {
            if (room > 0) chunks.push(chunk.subarray(0, room));
            kept += Math.max(room, 0);
            done(true);
            // Stop reading: the rest of the body is never transferred into memory.
            stream.destroy();
            res.destroy();
            req.destroy();
            return;
          }
          chunks.push(chunk);
          kept += chunk.length;
        });
        stream.on('end', () => done(false));
        stream.on('error', fail);
        res.on('error', fail);
        res.on('aborted', () => fail(Object.assign(new Error('the response was cut off'), { code: 'ECONNRESET' })));
      },
    );
    req.on('error', (err) => settle(() => reject(err)));
    req.end(body);
  });
}
