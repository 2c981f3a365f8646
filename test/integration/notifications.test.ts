import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { RunningApi } from '../../src/api/server';
import { JobRegistry } from '../../src/jobs/registry';
import { notifyWorkflowId } from '../../src/notify/plan';
import { call, startTestApi, TEST_WEB_UI } from '../support/api';
import { FIXTURES, killGroup, startSundial, type SundialProcess } from '../support/processes';
import { startTestWorker, testAddress, testClient, unique, waitFor, type TestWorker } from '../support/temporal';

/**
 * Notifications end to end: a real dev server, a Sundial worker, and a webhook receiver on
 * loopback (which the tests' egress policy allows). The receiver does not deduplicate: it counts
 * every 2xx answer per idempotency key, so a delivery made twice would show.
 */

/** The signing secret in the Standard Webhooks form (`whsec_` + base64 of the key). */
const SIGNING_KEY = randomBytes(24);
const SIGNING_SECRET = `whsec_${SIGNING_KEY.toString('base64')}`;
/** The Slack URL's token: it must reach the receiver and nothing else. */
const SLACK_TOKEN = `T0KEN${randomBytes(8).toString('hex')}`;

interface Received {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly at: number;
}

/**
 * Verifies a delivery with the recipe of docs/notifications.md, written out again here:
 * HMAC-SHA256 keyed with the base64-decoded part after `whsec_`, over `id.timestamp.body`,
 * base64, compared with each `v1,` entry of webhook-signature; the timestamp within 5 minutes.
 */
function verifiesWithRecipe(r: Received): boolean {
  const id = String(r.headers['webhook-id']);
  const timestamp = String(r.headers['webhook-timestamp']);
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  const expected = createHmac('sha256', SIGNING_KEY).update(`${id}.${timestamp}.${r.body}`).digest('base64');
  return String(r.headers['webhook-signature'])
    .split(' ')
    .some((s) => s === `v1,${expected}`);
}

describe('notifications', () => {
  let client: Client;
  let api: RunningApi;
  let worker: TestWorker;
  let server: Server;
  let base: string;
  const taskQueue = unique('notify');
  const registry = JobRegistry.create([]);
  const received: Received[] = [];
  /** 2xx answers per idempotency key. */
  const accepted = new Map<string, number>();
  /** The statuses the next calls of a job's HTTP task get (`/task/<jobId>`); then 200. */
  const taskAnswers = new Map<string, number[]>();
  /** A path whose first delivery is held unanswered; `onHold` is told when it arrives. */
  let hold: { path: string; onHold: () => void; held?: ServerResponse } | undefined;
  const responses: string[] = [];
  const jobIds: string[] = [];
  const processes: SundialProcess[] = [];
  const servers: Server[] = [];

  function handle(req: IncomingMessage, res: ServerResponse): void {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const url = req.url ?? '/';
      if (url.startsWith('/task/')) {
        const [, , jobId, slow] = url.split('/');
        const status = taskAnswers.get(jobId!)?.shift() ?? 200;
        const answer = () => res.writeHead(status, { 'content-type': 'application/json' }).end('{"ok":true}');
        if (slow === 'slow') setTimeout(answer, 5_000);
        else answer();
        return;
      }
      received.push({ path: url, headers: req.headers, body, at: Date.now() });
      if (hold !== undefined && hold.held === undefined && url === hold.path) {
        hold.held = res; // never answered: the worker dies while it waits
        hold.onHold();
        return;
      }
      const key = String(req.headers['webhook-id'] ?? req.headers['idempotency-key']);
      accepted.set(key, (accepted.get(key) ?? 0) + 1);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  }

  async function api_(method: string, p: string, body?: unknown): Promise<{ status: number; body: any }> {
    const r = await call(api, method, p, body);
    responses.push(JSON.stringify(r.body ?? null));
    return r;
  }

  async function createJob(id: string, notify: unknown, opts: { slow?: boolean; queue?: string } = {}): Promise<void> {
    jobIds.push(id);
    const created = await api_('POST', '/api/v1/jobs', {
      id,
      schedule: { cron: '0 0 1 1 *' },
      paused: true,
      retry: { maximumAttempts: 1 },
      task: {
        type: 'http',
        method: 'POST',
        url: `${base}/task/${id}${opts.slow === true ? '/slow' : ''}`,
        timeout: '30s',
      },
      notify,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
  }

  /** Starts a run now (a keyed trigger: two in one second are two runs) and returns its workflow id. */
  async function trigger(id: string, targetApi = api): Promise<string> {
    const res = await call(targetApi, 'POST', `/api/v1/jobs/${id}/trigger`, {}, { 'idempotency-key': unique('k') });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body.workflowId as string;
  }

  async function runToEnd(workflowId: string, timeoutMs = 30_000): Promise<any> {
    return waitFor(`run ${workflowId}`, timeoutMs, async () => {
      const r = await api_('GET', `/api/v1/runs/${encodeURIComponent(workflowId)}`);
      return r.status === 200 && r.body.status !== 'running' ? r.body : undefined;
    });
  }

  const deliveriesOf = (jobId: string) => received.filter((r) => r.headers['sundial-job-id'] === jobId);
  const payload = (r: Received): any => JSON.parse(r.body);

  async function deliveriesArrive(jobId: string, count: number, timeoutMs = 30_000): Promise<Received[]> {
    return waitFor(`${count} deliveries of ${jobId}`, timeoutMs, () =>
      deliveriesOf(jobId).length >= count ? deliveriesOf(jobId) : undefined,
    );
  }

  before(async () => {
    server = createServer(handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    client = await testClient();
    worker = await startTestWorker(registry, taskQueue, {
      secrets: new Map([
        ['HOOK_SECRET', SIGNING_SECRET],
        ['SLACK_URL', `${base}/slack/${SLACK_TOKEN}`],
      ]),
      webUiUrl: TEST_WEB_UI,
    });
    api = await startTestApi(client, { registry, taskQueue });
  });

  after(async () => {
    for (const p of processes) killGroup(p);
    hold?.held?.destroy();
    for (const id of jobIds) await call(api, 'DELETE', `/api/v1/jobs/${id}`).catch(() => undefined);
    await api?.stop();
    await worker?.stop();
    await client?.connection.close();
    for (const s of [server, ...servers]) await new Promise((r) => s?.close(r));
  });

  it('when runs fail, fail again and succeed, then failed, consecutive_failures:2 and recovered each fire once, signed per the documented recipe', async () => {
    const id = unique('notify-events');
    taskAnswers.set(id, [500, 500, 500, 200, 200]);
    await createJob(id, [
      {
        on: ['failed', 'recovered', 'consecutive_failures:2'],
        to: { type: 'webhook', url: `${base}/hook`, secret: { secret: 'HOOK_SECRET' } },
      },
      { on: ['failed'], to: { type: 'slack', webhookUrl: { secret: 'SLACK_URL' } } },
    ]);
    const runs: Array<{ workflowId: string; runId: string }> = [];
    // Deliveries expected after each run, counted together: webhook failed + Slack failed;
    // + failed, consecutive_failures:2, Slack; + failed, Slack; + recovered; nothing.
    const expectedAfter = [2, 5, 7, 8, 8];
    const statuses = ['failed', 'failed', 'failed', 'succeeded', 'succeeded'];
    for (let i = 0; i < 5; i++) {
      const wf = await trigger(id);
      const run = await runToEnd(wf);
      assert.equal(run.status, statuses[i], JSON.stringify(run));
      runs.push({ workflowId: wf, runId: run.runId as string });
      await deliveriesArrive(id, expectedAfter[i]!);
    }
    // Nothing more arrives: each event of each run once.
    await new Promise((r) => setTimeout(r, 3_000));
    const all = deliveriesOf(id);
    assert.equal(all.length, 8, all.map((r) => `${r.path} ${String(r.headers['sundial-event'])}`).join('\n'));
    const keys = all.map((r) => String(r.headers['idempotency-key']));
    assert.equal(new Set(keys).size, 8, 'every delivery has its own idempotency key');
    for (const k of keys) assert.equal(accepted.get(k), 1, `key ${k} accepted once`);

    const hooks = all.filter((r) => r.path === '/hook');
    const slack = all.filter((r) => r.path.startsWith('/slack/'));
    const events = (rs: Received[]) =>
      rs.map((r) => `${payload(r).run.runId as string}:${payload(r).event as string}`).sort();
    assert.deepEqual(
      events(hooks),
      [
        `${runs[0]!.runId}:failed`,
        `${runs[1]!.runId}:consecutive_failures:2`,
        `${runs[1]!.runId}:failed`,
        `${runs[2]!.runId}:failed`,
        `${runs[3]!.runId}:recovered`,
      ].sort(),
    );
    for (const h of hooks)
      assert.ok(verifiesWithRecipe(h), `signature of ${h.headers['webhook-id'] as string} verifies`);
    // A body changed in transit does not verify.
    assert.equal(verifiesWithRecipe({ ...hooks[0]!, body: hooks[0]!.body.replace('"failed"', '"succeeded"') }), false);

    const first = payload(hooks.find((h) => payload(h).run.runId === runs[0]!.runId)!);
    assert.deepEqual(
      {
        version: first.version,
        event: first.event,
        job: first.job,
        status: first.status,
        attempts: first.attempts,
        errorType: first.error.type,
        workflowId: first.run.workflowId,
      },
      {
        version: 1,
        event: 'failed',
        job: { id },
        status: 'failed',
        attempts: 1,
        errorType: 'HttpServerError',
        workflowId: runs[0]!.workflowId,
      },
    );
    assert.equal(first.id, hooks.find((h) => payload(h).run.runId === runs[0]!.runId)!.headers['webhook-id']);
    assert.ok(String(first.webUrl).startsWith(`${TEST_WEB_UI}/namespaces/default/workflows/`), first.webUrl);
    const streak = payload(hooks.find((h) => payload(h).event === 'consecutive_failures:2')!);
    assert.equal(streak.consecutiveFailures, 2);
    const recovered = payload(hooks.find((h) => payload(h).event === 'recovered')!);
    assert.deepEqual([recovered.status, recovered.error], ['succeeded', null]);

    assert.equal(slack.length, 3);
    const message = JSON.parse(slack[0]!.body) as { text: string; blocks: unknown[] };
    assert.match(message.text, new RegExp(`\\*${id}\\* :x: failed`));
    assert.match(
      message.text,
      /<http:\/\/127\.0\.0\.1:8233\/namespaces\/default\/workflows\/[^|]+\|Open the run in Temporal>/,
    );
    assert.ok(message.blocks.length >= 2);

    // Visible in the API: one item per run and event, all delivered.
    const list = await waitFor('the notifications, delivered', 20_000, async () => {
      const r = await api_('GET', `/api/v1/jobs/${id}/notifications`);
      return r.status === 200 && r.body.items.length === 5 && r.body.items.every((n: any) => n.status === 'delivered')
        ? r.body
        : undefined;
    });
    const slackItems = list.items.filter((n: any) => n.deliveries.some((d: any) => d.target === 'slack'));
    assert.equal(slackItems.length, 3);
    assert.ok(list.items.every((n: any) => n.deliveries.every((d: any) => d.attempts === 1 && d.httpStatus === 200)));

    // The Slack URL and the signing secret are credentials: never in Temporal nor the API.
    const histories = await Promise.all(
      list.items.map(async (n: any) =>
        Buffer.from(
          temporal.api.history.v1.History.encode(
            await client.workflow.getHandle(notifyWorkflowId(id, n.runId, n.event)).fetchHistory(),
          ).finish(),
        ),
      ),
    );
    const bytes = Buffer.concat(histories).toString('latin1');
    for (const secret of [SLACK_TOKEN, SIGNING_SECRET, SIGNING_KEY.toString('base64')]) {
      assert.ok(!bytes.includes(secret), 'a credential is in a notification workflow history');
      assert.ok(!responses.some((r) => r.includes(secret)), 'a credential is in an API response');
    }
  });

  it('when the receiver is down, then the run ends promptly with its outcome and the delivery is retried until it arrives once', async (t) => {
    // A port that nobody listens on, until the receiver comes up on it.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const id = unique('notify-down');
    taskAnswers.set(id, [500]);
    await createJob(id, [{ on: ['failed'], to: { type: 'webhook', url: `http://127.0.0.1:${port}/down-hook` } }]);
    const triggeredAt = Date.now();
    const run = await runToEnd(await trigger(id), 15_000);
    assert.equal(run.status, 'failed');
    // The run's own time is its attempt, not the delivery's retries.
    assert.ok(run.durationMs < 5_000, `the run took ${run.durationMs} ms`);
    assert.ok(
      Date.parse(run.closedAt) - triggeredAt < 10_000,
      `the run closed ${Date.parse(run.closedAt) - triggeredAt} ms after the trigger`,
    );
    // For the record: the same failing run without rules.
    const control = unique('notify-none');
    taskAnswers.set(control, [500]);
    await createJob(control, []);
    const plain = await runToEnd(await trigger(control), 15_000);
    t.diagnostic(
      `failed run, receiver down: ${run.durationMs} ms (closed ${Date.parse(run.closedAt) - triggeredAt} ms after the trigger); the same run without rules: ${plain.durationMs} ms`,
    );
    const pending = await waitFor('the notification, pending', 15_000, async () => {
      const r = await api_('GET', `/api/v1/jobs/${id}/notifications`);
      return r.body.items?.[0]?.status === 'pending' ? r.body.items[0] : undefined;
    });
    assert.equal(pending.event, 'failed');
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal(deliveriesOf(id).length, 0);

    const late = createServer(handle);
    servers.push(late);
    await new Promise<void>((r) => late.listen(port, '127.0.0.1', r));
    const [delivery] = await deliveriesArrive(id, 1, 60_000);
    assert.equal(payload(delivery!).event, 'failed');
    const done = await waitFor('the notification, delivered', 20_000, async () => {
      const r = await api_('GET', `/api/v1/jobs/${id}/notifications`);
      return r.body.items?.[0]?.status === 'delivered' ? r.body.items[0] : undefined;
    });
    assert.ok(done.deliveries[0].attempts > 1, `delivered at attempt ${done.deliveries[0].attempts}`);
    await new Promise((r) => setTimeout(r, 2_000));
    assert.equal(deliveriesOf(id).length, 1);
    assert.equal(accepted.get(String(delivery!.headers['webhook-id'])), 1);
  });

  it('when the worker is killed while the receiver holds the delivery, then a new worker delivers it and the receiver accepts it once', async () => {
    const queue = unique('notify-kill');
    const killApi = await startTestApi(client, { registry, taskQueue: queue });
    try {
      const old = startSundial('worker', {
        TEMPORAL_ADDRESS: testAddress(),
        TEMPORAL_TASK_QUEUE: queue,
        SUNDIAL_JOBS_MODULE: path.join(FIXTURES, 'no-jobs.js'),
      });
      processes.push(old);
      await old.waitForLog((l) => l.msg === 'worker running', 60_000);
      const id = unique('notify-kill');
      taskAnswers.set(id, [500]);
      jobIds.push(id);
      const created = await call(killApi, 'POST', '/api/v1/jobs', {
        id,
        schedule: { cron: '0 0 1 1 *' },
        paused: true,
        retry: { maximumAttempts: 1 },
        task: { type: 'http', method: 'POST', url: `${base}/task/${id}` },
        notify: [{ on: ['failed'], to: { type: 'webhook', url: `${base}/held-hook` } }],
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const held = new Promise<void>((resolve) => (hold = { path: '/held-hook', onHold: resolve }));
      const wf = await trigger(id, killApi);
      await waitFor('the held delivery', 30_000, async () =>
        (await Promise.race([held.then(() => true), new Promise((r) => setTimeout(() => r(undefined), 100))]))
          ? true
          : undefined,
      );
      killGroup(old);
      await old.exited;
      const fresh = await startTestWorker(registry, queue);
      try {
        const deliveries = await deliveriesArrive(id, 2, 60_000);
        const key = String(deliveries[0]!.headers['webhook-id']);
        assert.ok(
          deliveries.every((d) => d.headers['webhook-id'] === key),
          'the retry carries the same idempotency key',
        );
        await new Promise((r) => setTimeout(r, 2_000));
        assert.equal(deliveriesOf(id).length, 2, 'the held attempt and one retry');
        assert.equal(accepted.get(key), 1);
        const run = await runToEnd(wf);
        assert.equal(run.status, 'failed');
      } finally {
        await fresh.stop();
      }
    } finally {
      await killApi.stop();
    }
  });

  it('when a run is still running past late:2s, then late fires once while it runs, and the run ends as it would', async () => {
    const id = unique('notify-late');
    await createJob(id, [{ on: ['late:2s', 'failed'], to: { type: 'webhook', url: `${base}/late-hook` } }], {
      slow: true,
    });
    const wf = await trigger(id);
    const [late] = await deliveriesArrive(id, 1, 20_000);
    const body = payload(late!);
    assert.deepEqual([body.event, body.status, body.run.finishedAt, body.error], ['late:2s', 'running', null, null]);
    const run = await runToEnd(wf);
    assert.equal(run.status, 'succeeded');
    assert.ok(late!.at < Date.parse(run.closedAt), 'late arrived before the run ended');
    await new Promise((r) => setTimeout(r, 2_000));
    assert.equal(deliveriesOf(id).length, 1);
  });

  it('when a target names a secret the worker does not have, then the delivery gives up at once and says so, and the run is unaffected', async () => {
    const id = unique('notify-nosecret');
    taskAnswers.set(id, [500]);
    await createJob(id, [{ on: ['failed'], to: { type: 'slack', webhookUrl: { secret: 'NOT_ON_THIS_WORKER' } } }]);
    const run = await runToEnd(await trigger(id));
    assert.equal(run.status, 'failed');
    assert.equal(run.error.type, 'HttpServerError');
    const item = await waitFor('the notification, given up', 20_000, async () => {
      const r = await api_('GET', `/api/v1/jobs/${id}/notifications`);
      return r.body.items?.[0]?.status === 'failed' ? r.body.items[0] : undefined;
    });
    assert.equal(item.deliveries[0].error.type, 'SecretMissing');
    assert.match(item.deliveries[0].error.message, /NOT_ON_THIS_WORKER/);
  });

  it('when notify is invalid, then the API answers 400 naming each field', async () => {
    const spec = (notify: unknown) => ({
      id: unique('notify-bad'),
      schedule: { cron: '0 0 1 1 *' },
      task: { type: 'http', url: `${base}/task/x` },
      notify,
    });
    const cases: Array<[unknown, string]> = [
      [[{ on: ['exploded'], to: { type: 'webhook', url: `${base}/h` } }], 'notify.0.on.0'],
      [[{ on: ['consecutive_failures:0'], to: { type: 'webhook', url: `${base}/h` } }], 'notify.0.on.0'],
      [[{ on: ['late:0s'], to: { type: 'webhook', url: `${base}/h` } }], 'notify.0.on.0'],
      [[{ on: [], to: { type: 'webhook', url: `${base}/h` } }], 'notify.0.on'],
      [[{ on: ['failed'], to: { type: 'webhook', url: 'ftp://example.com/x' } }], 'notify.0.to.url'],
      [
        [{ on: ['failed'], to: { type: 'webhook', url: `${base}/h`, secret: 'plain-text-secret' } }],
        'notify.0.to.secret',
      ],
      [
        [{ on: ['failed'], to: { type: 'slack', webhookUrl: 'https://hooks.slack.com/services/T/B/X' } }],
        'notify.0.to.webhookUrl',
      ],
      [[{ on: ['failed'], to: { type: 'pager' } }], 'notify.0.to.type'],
      [[{ on: ['failed'], to: { type: 'webhook', url: 'http://169.254.169.254/latest' } }], 'notify.0.to.url'],
      [{ on: ['failed'] }, 'notify'],
    ];
    for (const [notify, field] of cases) {
      const res = await api_('POST', '/api/v1/jobs', spec(notify));
      assert.equal(res.status, 400, `${JSON.stringify(notify)}: ${JSON.stringify(res.body)}`);
      assert.ok(
        (res.body.errors as Array<{ path: string }>).some((e) => e.path === field),
        `${JSON.stringify(notify)} names ${field}: ${JSON.stringify(res.body.errors)}`,
      );
      assert.ok(
        !JSON.stringify(res.body).includes('plain-text-secret') &&
          !JSON.stringify(res.body).includes('hooks.slack.com'),
        'a refused credential is not echoed',
      );
    }
  });
});
