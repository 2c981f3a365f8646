import { createHmac, timingSafeEqual } from 'node:crypto';
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { z } from 'zod';
import type { ApiKey } from '../config/env';
import { bearerToken, keyRoles } from './auth';
import { sendProblem } from './problem';

/**
 * Temporal's codec-server protocol (POST `/codec/encode`, `/codec/decode`, body
 * `{ payloads: [{ metadata: { k: base64 }, data: base64 }] }`), so the Temporal Web UI and CLI can
 * show payloads the workers encrypted. It runs the API's own client codecs, so it decodes
 * exactly what Sundial encodes.
 *
 * Decoding shows what payloads hold (inputs, results, plain header values), so it needs a
 * write key, like every other route that reveals header values would: read-only keys never see
 * them. A key is presented as `Authorization: Bearer <key>` (the CLI's `--codec-auth`), or as the
 * session cookie that `POST /codec/session` sets for a browser (the Web UI sends cookies, not
 * our keys, when its "include cross-origin credentials" codec setting is on). Cross-origin
 * requests are answered only for the Web UI's origin.
 */

/** The session cookie's name and lifetime. */
export const CODEC_SESSION_COOKIE = 'sundial_codec_session';
const SESSION_SECONDS = 12 * 3600;
/** Largest codec request body: history pages hold many payloads, each up to the run result's cap. */
const CODEC_BODY_LIMIT = '8mb';

const base64 = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'must be base64');
const codecBody = z
  .object({
    payloads: z
      .array(z.object({ metadata: z.record(z.string(), base64).optional(), data: base64.optional() }).loose())
      .max(10_000),
  })
  .loose();

const toPayload = (p: z.output<typeof codecBody>['payloads'][number]): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});

const fromPayload = (p: Payload) => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d{1,5})?$/i;

/** The origins allowed to call the codec from a browser: the Web UI's, and its loopback alias. */
export function codecOrigins(webUiUrl: string): Set<string> {
  const origins = new Set<string>();
  try {
    const url = new URL(webUiUrl);
    origins.add(url.origin);
    const alias = url.hostname === '127.0.0.1' ? 'localhost' : url.hostname === 'localhost' ? '127.0.0.1' : undefined;
    if (alias !== undefined) origins.add(`${url.protocol}//${alias}${url.port === '' ? '' : `:${url.port}`}`);
  } catch {
    /* no valid UI URL: no browser origin is allowed */
  }
  return origins;
}

/** Stateless browser sessions: `<expiry>.<HMAC of it under a write key>`, valid while that key is configured. */
function sessions(keys: readonly ApiKey[]) {
  const writeKeys = keys.filter((k) => k.role === 'write').map((k) => k.key);
  const mac = (key: string, expiry: string) =>
    createHmac('sha256', key).update(`sundial-codec-session:${expiry}`).digest();
  return {
    issue(key: string, now = Date.now()): string {
      const expiry = String(Math.floor(now / 1000) + SESSION_SECONDS);
      return `${expiry}.${mac(key, expiry).toString('base64url')}`;
    },
    valid(token: string, now = Date.now()): boolean {
      const [expiry, sig] = token.split('.');
      if (expiry === undefined || sig === undefined || !/^\d{1,12}$/.test(expiry) || Number(expiry) * 1000 < now)
        return false;
      const presented = Buffer.from(sig, 'base64url');
      let ok = false;
      for (const key of writeKeys) {
        const expected = mac(key, expiry);
        if (presented.length === expected.length && timingSafeEqual(presented, expected)) ok = true;
      }
      return ok;
    },
  };
}

function cookie(req: Request, name: string): string | undefined {
  for (const part of (req.header('cookie') ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const SIGN_IN_PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>Sundial codec sign-in</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:3em auto">
<h1>Sundial codec</h1>
<p>Lets the Temporal Web UI in this browser decode Sundial's encrypted payloads for 12 hours. Needs a write API key.
In the Web UI's codec settings, turn on "Include cross-origin credentials".</p>
<form id="f"><input id="k" type="password" autocomplete="off" placeholder="API key" size="40"> <button>Sign in</button>
<button id="out" type="button">Sign out</button></form><p id="s" role="status"></p>
<script src="/codec/sign-in.js"></script></body></html>`;

const SIGN_IN_SCRIPT = `const s = document.getElementById('s');
document.getElementById('f').addEventListener('submit', async (e) => {
  e.preventDefault();
  const r = await fetch('/codec/session', { method: 'POST', headers: { authorization: 'Bearer ' + document.getElementById('k').value } });
  document.getElementById('k').value = '';
  s.textContent = r.status === 204 ? 'Signed in: reload the Web UI.' : 'Refused (' + r.status + '): a write API key is needed.';
});
document.getElementById('out').addEventListener('click', async () => {
  await fetch('/codec/session', { method: 'DELETE' });
  s.textContent = 'Signed out.';
});`;

const unauthorized = (res: Response, detail: string): void => {
  res.setHeader('WWW-Authenticate', 'Bearer realm="sundial"');
  sendProblem(res, { type: 'https://sundial.dev/problems/unauthorized', title: 'Unauthorized', status: 401, detail });
};

export interface CodecRouteDeps {
  readonly codecs: readonly PayloadCodec[];
  readonly namespace: string;
  readonly webUiUrl: string;
  readonly apiKeys: readonly ApiKey[];
}

/** The `/codec` routes; mount them only when the client has codecs. */
export function codecRoutes(deps: CodecRouteDeps): Router {
  const r = Router();
  const origins = codecOrigins(deps.webUiUrl);
  const roleOf = keyRoles(deps.apiKeys);
  const session = sessions(deps.apiKeys);
  const open = deps.apiKeys.length === 0;

  // CORS for the Web UI: its requests carry Content-Type: application/json and X-Namespace, so
  // the browser asks first (OPTIONS, without credentials), then sends cookies when told it may.
  r.use((req: Request, res: Response, next: NextFunction) => {
    // Without keys, a page whose name was rebound to 127.0.0.1 would be "same origin": a keyless
    // codec answers only requests addressed to a loopback name.
    if (open && !LOOPBACK_HOST.test(req.header('host') ?? '')) {
      sendProblem(res, {
        type: 'https://sundial.dev/problems/forbidden',
        title: 'Forbidden',
        status: 403,
        detail: 'without API keys the codec answers requests to a loopback address only',
      });
      return;
    }
    const origin = req.header('origin');
    res.vary('Origin');
    // Browsers send Origin on same-origin POSTs too (a sign-in page served by the API itself).
    const sameOrigin = origin !== undefined && origin === `${req.protocol}://${req.header('host') ?? ''}`;
    if (origin !== undefined && !sameOrigin) {
      if (!origins.has(origin)) {
        sendProblem(res, {
          type: 'https://sundial.dev/problems/forbidden',
          title: 'Forbidden',
          status: 403,
          detail: 'this origin may not call the codec: only the Temporal Web UI (TEMPORAL_UI_URL) may',
        });
        return;
      }
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
    }
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Methods', 'POST, DELETE');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
      res.setHeader('Access-Control-Max-Age', '600');
      res.status(204).end();
      return;
    }
    next();
  });

  r.post('/session', (req, res) => {
    const token = bearerToken(req.header('authorization'));
    if (open) {
      res.status(204).end();
      return;
    }
    if (token === undefined || roleOf(token) !== 'write') {
      unauthorized(
        res,
        token === undefined ? 'send a write API key as "Authorization: Bearer <key>"' : 'not a write API key',
      );
      return;
    }
    res.setHeader(
      'Set-Cookie',
      `${CODEC_SESSION_COOKIE}=${session.issue(token)}; Path=/codec; HttpOnly; SameSite=Strict; Max-Age=${SESSION_SECONDS}${req.secure ? '; Secure' : ''}`,
    );
    res.status(204).end();
  });

  // A page an operator opens once per browser to sign the Web UI in: it posts the key to
  // /codec/session (same origin), which sets the cookie; the key itself is not kept.
  r.get('/', (_req, res) => {
    res.setHeader(
      'Content-Security-Policy',
      "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'",
    );
    res.type('html').send(SIGN_IN_PAGE);
  });
  r.get('/sign-in.js', (_req, res) => {
    res.type('application/javascript').send(SIGN_IN_SCRIPT);
  });

  r.delete('/session', (req, res) => {
    res.setHeader(
      'Set-Cookie',
      `${CODEC_SESSION_COOKIE}=; Path=/codec; HttpOnly; SameSite=Strict; Max-Age=0${req.secure ? '; Secure' : ''}`,
    );
    res.status(204).end();
  });

  const authorize = (req: Request, res: Response, next: NextFunction): void => {
    if (open) return next();
    const token = bearerToken(req.header('authorization'));
    const fromCookie = cookie(req, CODEC_SESSION_COOKIE);
    if (token !== undefined) {
      const role = roleOf(token);
      if (role === 'write') return next();
      if (role === 'read') {
        sendProblem(res, {
          type: 'https://sundial.dev/problems/forbidden',
          title: 'Forbidden',
          status: 403,
          detail: 'the codec shows what payloads hold: it needs a write API key',
        });
        return;
      }
      return unauthorized(res, 'unknown API key');
    }
    if (fromCookie !== undefined && session.valid(fromCookie)) return next();
    unauthorized(
      res,
      fromCookie !== undefined
        ? 'the codec session expired or its key was removed: sign in again (POST /codec/session)'
        : 'send a write API key as "Authorization: Bearer <key>", or sign in (POST /codec/session)',
    );
  };

  const requireJson = (req: Request, res: Response, next: NextFunction): void => {
    if (req.is('application/json')) return next();
    sendProblem(res, {
      type: 'https://sundial.dev/problems/unsupported-media-type',
      title: 'Unsupported Media Type',
      status: 415,
      detail: 'send the payloads as application/json',
    });
  };

  const convert = (direction: 'encode' | 'decode') => async (req: Request, res: Response) => {
    const ns = req.header('x-namespace');
    if (ns !== undefined && ns !== deps.namespace) {
      sendProblem(res, {
        type: 'https://sundial.dev/problems/invalid-request',
        title: 'Invalid request',
        status: 400,
        detail: `header X-Namespace: this codec serves namespace ${JSON.stringify(deps.namespace)}`,
        problems: [{ path: 'header.X-Namespace', message: `must be ${JSON.stringify(deps.namespace)}` }],
      });
      return;
    }
    const parsed = codecBody.safeParse(req.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const path = ['body', ...issue.path.map(String)].join('.');
      sendProblem(res, {
        type: 'https://sundial.dev/problems/invalid-request',
        title: 'Invalid request',
        status: 400,
        detail: `${path}: ${issue.message}`,
        problems: [{ path, message: issue.message }],
      });
      return;
    }
    let payloads = parsed.data.payloads.map(toPayload);
    try {
      if (direction === 'encode') for (const c of deps.codecs) payloads = await c.encode(payloads);
      else for (const c of [...deps.codecs].reverse()) payloads = await c.decode(payloads);
    } catch (err) {
      // A payload this process cannot decrypt (unknown key id, tampered): a client-side problem.
      sendProblem(res, {
        type: 'https://sundial.dev/problems/invalid-request',
        title: 'Invalid request',
        status: 400,
        detail: `body.payloads: ${(err as Error).message}`,
        problems: [{ path: 'body.payloads', message: (err as Error).message }],
      });
      return;
    }
    res.json({ payloads: payloads.map(fromPayload) });
  };

  const json = express.json({ limit: CODEC_BODY_LIMIT });
  r.post('/encode', authorize, requireJson, json, convert('encode'));
  r.post('/decode', authorize, requireJson, json, convert('decode'));
  return r;
}
