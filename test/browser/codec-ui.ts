/**
 * The Temporal Web UI decodes Sundial's encrypted payloads through the API's codec endpoint,
 * and only with a valid key: a headless-Chromium check with screenshots. Not part of `npm test`
 * (it needs Chromium: `apt-get install -y chromium`, and takes about a minute).
 *
 * Usage: `npm run build && node --experimental-websocket dist/test/browser/codec-ui.js [out-dir]`
 * (CHROMIUM=/path/to/chromium to choose the browser; out-dir defaults to ../secrets-shots).
 *
 * What it does: a dev server with the Web UI pointed at the API's /codec (`--ui-codec-endpoint`),
 * codec keys on in the API and worker, one job run whose input holds a marker. Chromium opens the
 * run in the Web UI with the UI's codec setting "include cross-origin credentials" on (stored in
 * the UI's localStorage, as its settings dialog does): first without a session (the codec
 * answers 401: the marker must not show), then after `POST /codec/session` with a write key
 * (the marker must show). Exits 1 when either check fails; writes codec-ui-no-key.png and
 * codec-ui-with-key.png.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createApp } from '../../src/api/app';
import { startApi } from '../../src/api/server';
import { defineJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import { createLogger } from '../../src/observability/logger';
import { ensureTemporalCli } from '../../src/temporal/cli';
import type { CodecKey } from '../../src/temporal/codec';
import { startDevServer } from '../../src/temporal/dev-server';
import { freePort } from '../support/ports';
import { startTestWorker, testClient, unique, waitFor } from '../support/temporal';

const WRITE_KEY = `write-${randomBytes(12).toString('hex')}`;
const MARKER = unique('decoded-through-the-codec');

/** The few DevTools-protocol calls this check needs, over one browser websocket (flattened sessions). */
interface Socket {
  send(data: string): void;
  close(): void;
  addEventListener(type: 'message', fn: (e: { data: unknown }) => void): void;
  addEventListener(type: 'open' | 'error', fn: () => void): void;
}

async function devtools(url: string) {
  const WebSocketCtor = (globalThis as unknown as { WebSocket?: new (u: string) => Socket }).WebSocket;
  if (WebSocketCtor === undefined) throw new Error('run with node --experimental-websocket (Node 20) or Node 22+');
  const ws = new WebSocketCtor(url);
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve());
    ws.addEventListener('error', () => reject(new Error(`cannot connect to ${url}`)));
  });
  let next = 0;
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  ws.addEventListener('message', (e) => {
    const msg = JSON.parse(String(e.data)) as { id?: number; result?: unknown; error?: { message: string } };
    const p = msg.id === undefined ? undefined : pending.get(msg.id);
    if (p === undefined) return;
    pending.delete(msg.id!);
    if (msg.error !== undefined) p.reject(new Error(msg.error.message));
    else p.resolve(msg.result);
  });
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<any> =>
    new Promise((resolve, reject) => {
      const id = ++next;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params, ...(sessionId === undefined ? {} : { sessionId }) }));
    });
  return { send, close: () => ws.close() };
}

async function launchChromium(): Promise<{ child: ChildProcess; wsUrl: string; dir: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sundial-chromium-'));
  const child = spawn(
    process.env.CHROMIUM ?? 'chromium',
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      `--user-data-dir=${dir}`,
      '--remote-debugging-port=0',
      '--window-size=1400,1100',
      'about:blank',
    ],
    { stdio: 'ignore' },
  );
  const active = await waitFor('Chromium DevTools', 30_000, () => {
    try {
      const [port, wsPath] = readFileSync(path.join(dir, 'DevToolsActivePort'), 'utf8').split('\n');
      return port && wsPath ? `ws://127.0.0.1:${port}${wsPath}` : undefined;
    } catch {
      return undefined;
    }
  });
  return { child, wsUrl: active, dir };
}

async function main(): Promise<number> {
  const outDir = path.resolve(process.argv[2] ?? path.join(__dirname, '..', '..', '..', '..', 'secrets-shots'));
  mkdirSync(outDir, { recursive: true });
  const keys: CodecKey[] = [{ id: 'ui', key: randomBytes(32) }];
  const codecStatuses: number[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk
        .toString()
        .split('\n')
        .filter((l) => l !== '')) {
        const l = JSON.parse(line) as { method?: string; route?: string; status?: number };
        if (l.method === 'POST' && l.route === '/codec/decode' && typeof l.status === 'number')
          codecStatuses.push(l.status);
      }
      done();
    },
  });
  const logger = createLogger('info', sink);
  const cli = await ensureTemporalCli();
  const apiPort = await freePort();
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const dev = await startDevServer({
    cliPath: cli.path,
    dataDir: undefined,
    port: await freePort(),
    uiPort: await freePort(),
    uiCodecEndpoint: `${apiUrl}/codec`,
    namespace: 'default',
    logger: createLogger('error'),
  });
  process.env.SUNDIAL_TEST_TEMPORAL_ADDRESS = dev.address;
  const taskQueue = unique('codec-ui');
  const registry = JobRegistry.create([
    defineJob({
      id: 'codec-ui-echo',
      schedule: { intervals: [{ every: '1h' }] },
      run: (ctx) => ({ echoed: ctx.args }),
    }),
  ]);
  const client = await testClient(keys);
  const worker = await startTestWorker(registry, taskQueue, { codecKeys: keys });
  const app = createApp({
    client,
    logger,
    registry,
    taskQueue,
    webUiUrl: dev.uiUrl!,
    apiKeys: [{ role: 'write', key: WRITE_KEY }],
  });
  const api = await startApi(app, '127.0.0.1', apiPort);
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  try {
    const authz = { authorization: `Bearer ${WRITE_KEY}`, 'content-type': 'application/json' };
    const id = unique('codec-ui');
    const created = await fetch(`${apiUrl}/api/v1/jobs`, {
      method: 'POST',
      headers: authz,
      body: JSON.stringify({
        id,
        schedule: { cron: '0 0 1 1 *' },
        task: { type: 'codec-ui-echo', args: { marker: MARKER } },
      }),
    });
    if (created.status !== 201) throw new Error(`create: ${created.status} ${await created.text()}`);
    const { workflowId } = (await (
      await fetch(`${apiUrl}/api/v1/jobs/${id}/trigger`, { method: 'POST', headers: authz, body: '{}' })
    ).json()) as { workflowId: string };
    const run = await waitFor('the run', 30_000, async () => {
      const r = (await (
        await fetch(`${apiUrl}/api/v1/runs/${encodeURIComponent(workflowId)}`, { headers: authz })
      ).json()) as { status: string; runId: string };
      return r.status === 'succeeded' ? r : undefined;
    });
    const runPage = `${dev.uiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}/${run.runId}/history`;

    browser = await launchChromium();
    const cdp = await devtools(browser.wsUrl);
    const { targetId } = await cdp.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await cdp.send('Target.attachToTarget', { targetId, flatten: true });
    const page = (method: string, params: Record<string, unknown> = {}) => cdp.send(method, params, sessionId);
    await page('Page.enable');
    await page('Emulation.setDeviceMetricsOverride', {
      width: 1400,
      height: 1100,
      deviceScaleFactor: 1,
      mobile: false,
    });
    const evaluate = async (expression: string): Promise<unknown> =>
      (await page('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true })).result?.value;
    const open = async (url: string) => {
      await page('Page.navigate', { url });
      await waitFor(`${url} to load`, 30_000, async () =>
        (await evaluate('document.readyState')) === 'complete' ? true : undefined,
      );
    };
    const bodyText = async () => String(await evaluate('document.body.innerText'));
    const shoot = async (name: string) => {
      const { data } = await page('Page.captureScreenshot', { format: 'png' });
      const file = path.join(outDir, name);
      writeFileSync(file, Buffer.from(data as string, 'base64'));
      return file;
    };

    // The UI's own codec settings, as its settings dialog stores them: send cookies to the codec.
    await open(`${dev.uiUrl}/namespaces/default/workflows`);
    await evaluate(
      `localStorage.setItem('endpoint', ${JSON.stringify(JSON.stringify(`${apiUrl}/codec`))});` +
        `localStorage.setItem('includeCredentials', 'true'); localStorage.setItem('passAccessToken', 'false');` +
        `localStorage.setItem('overrideRemoteCodecConfiguration', 'true'); true`,
    );

    // 1. No session: the codec answers 401, the UI cannot show the marker.
    await open(runPage);
    await waitFor('the UI to ask the codec', 30_000, () => (codecStatuses.length > 0 ? true : undefined));
    await new Promise((r) => setTimeout(r, 3_000));
    const withoutKey = await bodyText();
    const noKeyShot = await shoot('codec-ui-no-key.png');
    const statusesWithoutKey = [...codecStatuses];

    // 2. Signed in on the API's /codec page with a write key (once per browser): decoded.
    await open(`${apiUrl}/codec`);
    await evaluate(
      `document.getElementById('k').value = ${JSON.stringify(WRITE_KEY)}; document.getElementById('f').requestSubmit(); true`,
    );
    const session = await waitFor('the sign-in', 15_000, async () => {
      const status = String(await evaluate(`document.getElementById('s').textContent`));
      return status === '' ? undefined : status;
    });
    await open(runPage);
    const withKey = await waitFor('the marker in the UI', 30_000, async () => {
      const text = await bodyText();
      return text.includes(MARKER) ? text : undefined;
    }).catch(() => undefined);
    const keyShot = await shoot('codec-ui-with-key.png');
    cdp.close();

    const ok =
      !withoutKey.includes(MARKER) &&
      statusesWithoutKey.every((s) => s === 401) &&
      session.startsWith('Signed in') &&
      withKey !== undefined &&
      codecStatuses.includes(200);
    process.stdout.write(
      `${JSON.stringify({ ok, runPage, markerWithoutKey: withoutKey.includes(MARKER), codecStatusesWithoutKey: statusesWithoutKey, session, markerWithKey: withKey !== undefined, codecStatuses, shots: [noKeyShot, keyShot] }, null, 2)}\n`,
    );
    await fetch(`${apiUrl}/api/v1/jobs/${id}`, { method: 'DELETE', headers: authz });
    return ok ? 0 : 1;
  } finally {
    if (browser !== undefined) {
      const exited = new Promise((r) => browser!.child.once('exit', r));
      browser.child.kill();
      await exited;
      try {
        rmSync(browser.dir, { recursive: true, force: true, maxRetries: 3 });
      } catch {
        /* a profile folder left in tmp is harmless */
      }
    }
    // Every step runs, whatever failed before it: the dev server must not outlive the check.
    for (const step of [() => api.stop(), () => worker.stop(), () => client.connection.close(), () => dev.stop()]) {
      await step().catch((err: unknown) => process.stderr.write(`cleanup: ${(err as Error).message}\n`));
    }
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
