import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { Client } from '@temporalio/client';
import type { RunningApi } from '../../src/api/server';
import { MAX_BODY_BYTES } from '../../src/activities/http-task';
import { parseAllowList } from '../../src/egress/policy';
import { defineJob, type DefinedJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import { call, startTestApi } from '../support/api';
import { runOnce } from '../support/runs';
import { FIXTURES, killGroup, startSundial } from '../support/processes';
import { startTestWorker, testAddress, testClient, unique, waitFor, type TestWorker } from '../support/temporal';

/** A local server that counts the TCP connections it accepts (a refused job must make none). */
interface CountingServer {
  readonly url: string;
  connections: number;
  close(): Promise<void>;
}

async function startCountingServer(
  host: string,
  handle: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<CountingServer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer(handle);
  const counting = { url: '', connections: 0, close: async () => undefined } as CountingServer;
  server.on('connection', (socket: Socket) => {
    counting.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const { port } = server.address() as AddressInfo;
  return Object.assign(counting, {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  });
}

const GiB = 1024 ** 3;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

/** What the 1 GiB endpoint managed to send before the client hung up. */
const huge = { written: 0, closedEarly: false, finished: false };

/** Writes `total` bytes in chunks, respecting backpressure, so the test itself never holds them. */
function streamHuge(res: ServerResponse, status: number, total: number): void {
  huge.written = 0;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(total) });
  res.on('close', () => {
    if (huge.written < total) huge.closedEarly = true;
  });
  const pump = () => {
    while (huge.written < total && !res.destroyed) {
      huge.written += CHUNK.length;
      if (!res.write(CHUNK)) return void res.once('drain', pump);
    }
    if (!res.destroyed) {
      huge.finished = true;
      res.end();
    }
  };
  pump();
}

describe('egress policy: where HTTP jobs may connect', () => {
  let client: Client;
  let worker: TestWorker;
  let api: RunningApi;
  /** The allowed dependency: 127.0.0.2 is allowed by the worker's policy. */
  let dep: CountingServer;
  /** A refused target: 127.0.0.1 (loopback) is not allowed by the worker's policy. */
  let refused: CountingServer;
  /** Another allowed origin, which records the headers it is sent. */
  let other: CountingServer;
  const seenHeaders: Record<string, IncomingMessage['headers']> = {};
  let registry: JobRegistry;
  const taskQueue = unique('egress');
  // The worker allows one loopback address only, so `localhost` (127.0.0.1) and 127.0.0.1 are
  // refused while the dependency on 127.0.0.2 is reachable.
  const policy = parseAllowList('127.0.0.2/32');
  const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));

  const job = (
    id: string,
    url: string,
    extra: Partial<{ followRedirects: boolean; headers: Record<string, string> }> = {},
    attempts = 3,
  ): DefinedJob =>
    defineJob({
      id,
      schedule: { intervals: [{ every: '1h' }] },
      http: { url, timeout: '60s', ...extra },
      retry: { initialInterval: '100ms', backoffCoefficient: 1, maximumAttempts: attempts },
    });

  before(async () => {
    refused = await startCountingServer('127.0.0.1', (_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"secret":"credentials"}'),
    );
    const refusedPort = new URL(refused.url).port;
    other = await startCountingServer('127.0.0.2', (req, res) => {
      seenHeaders.other = req.headers;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"other":true}');
    });
    dep = await startCountingServer('127.0.0.2', (req, res) => {
      switch (req.url) {
        case '/to-other':
          seenHeaders.first = req.headers;
          return void res.writeHead(307, { location: `${other.url}/landing` }).end();
        case '/ok':
          return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
        case '/to-refused':
          return void res.writeHead(302, { location: `http://localhost:${refusedPort}/latest/meta-data/` }).end();
        case '/to-ok':
          return void res.writeHead(307, { location: '/ok' }).end();
        case '/huge':
          return streamHuge(res, 200, GiB);
        case '/huge-error':
          return streamHuge(res, 500, GiB);
        case '/bomb':
          return void res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' }).end(bomb);
        default:
          return void res.writeHead(404).end();
      }
    });
    registry = JobRegistry.create([
      job('by-name', `http://localhost:${refusedPort}/latest/meta-data/`),
      job('literal', `${refused.url}/x`),
      job('https-by-name', `https://localhost:${refusedPort}/`),
      job('redirect-off', `${dep.url}/to-refused`),
      job('redirect-on', `${dep.url}/to-refused`, { followRedirects: true }),
      job('redirect-allowed', `${dep.url}/to-ok`, { followRedirects: true }),
      job('redirect-cross', `${dep.url}/to-other`, {
        followRedirects: true,
        headers: { Authorization: 'Bearer not-for-others', Accept: 'application/json' },
      }),
      job('huge', `${dep.url}/huge`),
      job('huge-error', `${dep.url}/huge-error`, {}, 1),
      job('bomb', `${dep.url}/bomb`),
    ]);
    client = await testClient();
    worker = await startTestWorker(registry, taskQueue, { egress: policy });
    api = await startTestApi(client, { taskQueue, egress: policy });
  });
  after(async () => {
    await worker?.stop();
    await api?.stop();
    await dep?.close();
    await refused?.close();
    await other?.close();
    await client?.connection.close();
  });

  describe('at create and PATCH time, a literal address the policy refuses is a 400 naming task.url', () => {
    const urls = [
      'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
      'http://2852039166/latest/meta-data/',
      'http://0xa9fea9fe/latest/meta-data/',
      'http://0251.0376.0251.0376/',
      'http://[::ffff:169.254.169.254]/',
      'http://[fd00:ec2::254]/latest/meta-data/',
      'http://100.100.100.200/latest/meta-data/',
      'http://127.0.0.1:9/',
      'http://localhost:9/',
      'http://10.0.0.1/',
    ];
    for (const url of urls) {
      it(`POST with ${url}: 400, nothing created`, async () => {
        const id = unique('egress-create');
        const res = await call(api, 'POST', '/api/v1/jobs', {
          id,
          schedule: { intervals: [{ every: '1h' }] },
          paused: true,
          task: { type: 'http', url },
        });
        assert.equal(res.status, 400, JSON.stringify(res.body));
        const error = (res.body.errors as Array<{ path: string; message: string }>).find((e) => e.path === 'task.url');
        assert.ok(error, `errors name task.url: ${JSON.stringify(res.body.errors)}`);
        assert.match(error.message, /refused by the egress policy/);
        assert.equal((await call(api, 'GET', `/api/v1/jobs/${id}`)).status, 404, 'no job was created');
      });
    }

    it('PATCH to a metadata URL: 400 naming task.url, the job unchanged', async () => {
      const id = unique('egress-patch');
      const task = { type: 'http', url: `${dep.url}/ok` };
      const created = await call(api, 'POST', '/api/v1/jobs', {
        id,
        schedule: { intervals: [{ every: '1h' }] },
        paused: true,
        task,
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      try {
        const res = await call(api, 'PATCH', `/api/v1/jobs/${id}`, {
          task: { url: 'http://[::ffff:a9fe:a9fe]/latest/' },
        });
        assert.equal(res.status, 400, JSON.stringify(res.body));
        assert.ok((res.body.errors as Array<{ path: string }>).some((e) => e.path === 'task.url'));
        const after = await call(api, 'GET', `/api/v1/jobs/${id}`);
        assert.equal(after.body.task.url, task.url);
        assert.equal(after.headers.get('etag'), created.headers.get('etag'), 'the schedule was not written');
      } finally {
        await call(api, 'DELETE', `/api/v1/jobs/${id}`);
      }
    });
  });

  it('a name that resolves to a refused address fails the run as EgressDenied, not retried, with no connection made', async () => {
    const before = refused.connections;
    const outcome = await runOnce(client, registry, 'by-name', taskQueue);
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.attempts, 1, 'not retried');
    assert.equal(outcome.status === 'failed' && outcome.error.type, 'EgressDenied');
    assert.match(outcome.status === 'failed' ? outcome.error.message : '', /localhost resolves to 127\.0\.0\.1/);
    assert.equal(refused.connections, before, 'the refused server saw no connection');
  });

  it('an https URL is checked the same way', async () => {
    const before = refused.connections;
    const outcome = await runOnce(client, registry, 'https-by-name', taskQueue);
    assert.equal(outcome.status === 'failed' && outcome.error.type, 'EgressDenied');
    assert.equal(refused.connections, before);
  });

  it('a refused literal in a job the registry did not check is refused at connect time too', async () => {
    const before = refused.connections;
    const outcome = await runOnce(client, registry, 'literal', taskQueue);
    assert.equal(outcome.status === 'failed' && outcome.error.type, 'EgressDenied');
    assert.equal(refused.connections, before);
  });

  it('a redirect is not followed by default: the 3xx is the answer, the target sees no connection', async () => {
    const before = refused.connections;
    const outcome = await runOnce(client, registry, 'redirect-off', taskQueue);
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.status === 'failed' && outcome.error.type, 'HttpUnexpectedStatus');
    assert.equal(refused.connections, before);
  });

  it('with followRedirects, a hop to a refused address fails as EgressDenied before connecting', async () => {
    const before = refused.connections;
    const depBefore = dep.connections;
    const outcome = await runOnce(client, registry, 'redirect-on', taskQueue);
    assert.equal(outcome.status === 'failed' && outcome.error.type, 'EgressDenied');
    assert.equal(outcome.attempts, 1);
    assert.equal(refused.connections, before, 'the redirect target saw no connection');
    assert.equal(dep.connections, depBefore + 1, 'the first hop was made');
  });

  it('with followRedirects, a hop to an allowed address is followed', async () => {
    const outcome = await runOnce(client, registry, 'redirect-allowed', taskQueue);
    assert.equal(outcome.status, 'succeeded');
    assert.deepEqual(outcome.status === 'succeeded' && outcome.result, { status: 200, body: { ok: true } });
  });

  it("with followRedirects, the job's own headers go to the first origin only", async () => {
    const outcome = await runOnce(client, registry, 'redirect-cross', taskQueue);
    assert.deepEqual(outcome.status === 'succeeded' && outcome.result, { status: 200, body: { other: true } });
    assert.equal(seenHeaders.first?.authorization, 'Bearer not-for-others');
    assert.equal(seenHeaders.first?.accept, 'application/json', 'a job header overrides the default Accept');
    assert.equal(seenHeaders.other?.authorization, undefined, 'not sent to another origin');
    assert.equal(seenHeaders.other?.accept, '*/*');
    assert.equal(seenHeaders.other?.['idempotency-key'], outcome.workflowId, "Sundial's own headers are");
  });

  it('a 1 GiB response: the result is its first 64 KiB, marked truncated; the socket is closed; the worker stays within bounded memory', async () => {
    huge.closedEarly = false;
    huge.finished = false;
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    let outcome;
    try {
      outcome = await runOnce(client, registry, 'huge', taskQueue);
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    const grewMb = (peak - rssBefore) / 2 ** 20;
    process.stderr.write(
      `# 1 GiB response: worker RSS ${(rssBefore / 2 ** 20).toFixed(0)} MB before, peak ${(peak / 2 ** 20).toFixed(0)} MB (+${grewMb.toFixed(1)} MB); server wrote ${(huge.written / 2 ** 20).toFixed(1)} MB before the client closed\n`,
    );
    assert.equal(outcome.status, 'succeeded');
    const result =
      outcome.status === 'succeeded'
        ? (outcome.result as { status: number; body: string; truncated?: boolean })
        : undefined;
    assert.equal(result?.status, 200);
    assert.equal(result?.truncated, true);
    assert.equal(typeof result?.body, 'string', 'a truncated JSON body is not parsed');
    assert.equal(result?.body.length, MAX_BODY_BYTES);
    await waitFor('the server to see the connection closed', 5_000, () => (huge.closedEarly ? true : undefined), 20);
    assert.ok(huge.closedEarly && !huge.finished, 'the client closed the connection before the end');
    assert.ok(
      huge.written < 64 * 2 ** 20,
      `the server could send only what socket buffers hold (${huge.written} bytes)`,
    );
    assert.ok(grewMb < 200, `RSS grew by ${grewMb.toFixed(1)} MB`);
  });

  it('a 1 GiB response, three times, in a worker process of its own (npm run worker): it stays up with bounded RSS', async () => {
    const queue = unique('egress-proc');
    const proc = startSundial('worker', {
      TEMPORAL_ADDRESS: testAddress(),
      TEMPORAL_TASK_QUEUE: queue,
      SUNDIAL_JOBS_MODULE: `${FIXTURES}/no-jobs.js`,
    });
    try {
      await proc.waitForLog((l) => l.msg === 'worker running', 120_000);
      const rssMb = () =>
        Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
      const baseline = rssMb();
      let peak = baseline;
      const sampler = setInterval(() => (peak = Math.max(peak, rssMb())), 20);
      const outcomes = [];
      try {
        for (let i = 0; i < 3; i++) outcomes.push(await runOnce(client, registry, 'huge', queue));
      } finally {
        clearInterval(sampler);
      }
      process.stderr.write(
        `# 1 GiB response x3, worker process ${proc.pid}: RSS ${baseline.toFixed(0)} MB before, peak ${peak.toFixed(0)} MB (+${(peak - baseline).toFixed(1)} MB)\n`,
      );
      for (const o of outcomes)
        assert.equal(o.status === 'succeeded' && (o.result as { truncated?: boolean }).truncated, true);
      assert.ok(peak - baseline < 200, `RSS grew by ${(peak - baseline).toFixed(1)} MB`);
      proc.child.kill('SIGTERM');
      assert.equal(await proc.exited, 0, 'the worker was alive and stopped cleanly');
    } finally {
      killGroup(proc);
    }
  });

  it('a 1 GiB error response: the failure message is a short excerpt', async () => {
    huge.closedEarly = false;
    const outcome = await runOnce(client, registry, 'huge-error', taskQueue);
    assert.equal(outcome.status === 'failed' && outcome.error.type, 'HttpServerError');
    assert.ok(outcome.status === 'failed' && outcome.error.message.length < 400, 'an excerpt, not the body');
    await waitFor('the server to see the connection closed', 5_000, () => (huge.closedEarly ? true : undefined), 20);
  });

  it('a compressed body is capped after decompression (64 MiB of zeros in 64 KiB of gzip)', async () => {
    const outcome = await runOnce(client, registry, 'bomb', taskQueue);
    assert.equal(outcome.status, 'succeeded');
    const result =
      outcome.status === 'succeeded' ? (outcome.result as { body: string; truncated?: boolean }) : undefined;
    assert.equal(result?.truncated, true);
    assert.equal(result?.body.length, MAX_BODY_BYTES);
  });
});
