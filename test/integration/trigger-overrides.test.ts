import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { apiKeyId } from '../../src/api/auth';
import type { RunningApi } from '../../src/api/server';
import { defineJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import { TRIGGER_MEMO_KEY } from '../../src/jobs/run-types';
import { call, startTestApi } from '../support/api';
import { startTestWorker, testClient, unique, waitFor, type TestWorker } from '../support/temporal';

const WRITE_KEY = `write-${randomUUID()}`;
const READ_KEY = `read-${randomUUID()}`;
const SECRET_VALUE = `resolved-${randomUUID()}`;
const HEADER_VALUE = `header-${randomUUID()}`;

/** The args each run's code saw, by workflow id. */
const seen = new Map<string, unknown>();

const jobs = [
  defineJob({
    id: 'counter',
    schedule: { intervals: [{ every: '1h' }] },
    paused: true,
    argsSchema: z
      .object({ count: z.number().int().min(1), label: z.string().optional(), token: z.string().optional() })
      .strict(),
    args: { count: 1 },
    run: (ctx) => {
      seen.set(ctx.workflowId, ctx.args);
      return { counted: (ctx.args as { count: number }).count };
    },
  }),
];
const registry = JobRegistry.create(jobs);

const auth = (key = WRITE_KEY) => ({ authorization: `Bearer ${key}` });

/** Every string in a Temporal history, payloads decoded as UTF-8: what Temporal holds of the run. */
function historyText(value: unknown): string {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (Array.isArray(value)) return value.map(historyText).join('\n');
  if (value !== null && typeof value === 'object') return Object.values(value).map(historyText).join('\n');
  return String(value);
}

describe('POST /api/v1/jobs/{id}/trigger with args and a reason', () => {
  let client: Client;
  let worker: TestWorker;
  let api: RunningApi;
  let dependency: Server;
  let depUrl = '';
  const received: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
  const taskQueue = unique('trigger-overrides');
  const codeJob = unique('override-code');
  const httpJob = unique('override-http');

  before(async () => {
    dependency = createServer((req, res) => {
      received.push({ url: req.url ?? '', headers: req.headers });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    await new Promise<void>((r) => dependency.listen(0, '127.0.0.1', r));
    depUrl = `http://127.0.0.1:${(dependency.address() as AddressInfo).port}`;
    client = await testClient();
    worker = await startTestWorker(registry, taskQueue, { secrets: new Map([['TRIGGER_TOKEN', SECRET_VALUE]]) });
    api = await startTestApi(client, {
      registry,
      taskQueue,
      apiKeys: [
        { role: 'write', key: WRITE_KEY },
        { role: 'read', key: READ_KEY },
      ],
    });
    // Paused and hourly: every run in this test is a trigger's.
    const hourly = { intervals: [{ every: '1h' }] };
    let res = await call(
      api,
      'POST',
      '/api/v1/jobs',
      { id: codeJob, schedule: hourly, paused: true, task: { type: 'counter', args: { count: 1, label: 'base' } } },
      auth(),
    );
    assert.equal(res.status, 201, JSON.stringify(res.body));
    res = await call(
      api,
      'POST',
      '/api/v1/jobs',
      {
        id: httpJob,
        schedule: hourly,
        paused: true,
        task: { type: 'http', url: `${depUrl}/base`, headers: { 'X-Token': HEADER_VALUE } },
      },
      auth(),
    );
    assert.equal(res.status, 201, JSON.stringify(res.body));
  });
  after(async () => {
    for (const id of [codeJob, httpJob])
      await client?.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined);
    await api?.stop();
    await worker?.stop();
    await client?.connection.close();
    dependency?.close();
  });

  it('When a trigger carries valid args and a reason, then the run gets the merged args and records who, why and the overrides, never the key', async () => {
    const res = await call(
      api,
      'POST',
      `/api/v1/jobs/${codeJob}/trigger`,
      { args: { count: 5 }, reason: 'reprocess after the fix' },
      auth(),
    );
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const workflowId: string = res.body.workflowId;
    assert.ok(workflowId.startsWith(`${codeJob}:trigger:`), workflowId);
    assert.deepEqual(
      await waitFor('the run', 30_000, () => seen.get(workflowId)),
      { count: 5, label: 'base' },
      "the override merged into the job's args",
    );

    const run = await waitFor('the run to succeed', 30_000, async () => {
      const got = await call(api, 'GET', `/api/v1/runs/${encodeURIComponent(workflowId)}`, undefined, auth(READ_KEY));
      return got.status === 200 && got.body.status === 'succeeded' ? got.body : undefined;
    });
    assert.deepEqual(run.result, { counted: 5 });
    assert.deepEqual(run.trigger.by, { keyId: apiKeyId(WRITE_KEY), role: 'write' });
    assert.equal(run.trigger.reason, 'reprocess after the fix');
    assert.deepEqual(run.trigger.overrides, { count: 5 });
    assert.ok(!Number.isNaN(Date.parse(run.trigger.at)));
    assert.equal(run.trigger.requestHash, undefined, 'the body hash is not shown');
    assert.equal(apiKeyId(WRITE_KEY).length, 12);

    // The Web UI shows the memo; neither it nor anything else Temporal holds has the key.
    const handle = client.workflow.getHandle(workflowId);
    const desc = await handle.describe();
    assert.equal((desc.memo?.[TRIGGER_MEMO_KEY] as { reason?: string }).reason, 'reprocess after the fix');
    const history = historyText(await handle.fetchHistory());
    assert.ok(history.includes(apiKeyId(WRITE_KEY)), 'the key id is in the history');
    assert.ok(!history.includes(WRITE_KEY), 'the key is not');
    assert.ok(!JSON.stringify(run).includes(WRITE_KEY));

    // Listed with the job's runs, with the same record.
    const listed = await waitFor('the run in the list', 15_000, async () => {
      const page = await call(api, 'GET', `/api/v1/jobs/${codeJob}/runs`, undefined, auth(READ_KEY));
      return page.body.items.find((r: { workflowId: string }) => r.workflowId === workflowId);
    });
    assert.equal(listed.trigger.reason, 'reprocess after the fix');
  });

  it('When args are invalid, then 400 names each field and no run starts', async () => {
    const runsBefore = seen.size;
    const cases: Array<[unknown, string[]]> = [
      [{ args: { count: 'many' } }, ['args.count']],
      [{ args: { count: 0 } }, ['args.count']],
      [{ args: { count: 2, colour: 'red' } }, ['args.colour']],
      [{ args: { token: { secret: 'lower-case' } } }, ['args.token.secret']],
      [{ args: { count: 2 }, reason: 'r'.repeat(501) }, ['reason']],
      [{ args: { count: 2 }, overlap: 'skip' }, ['overlap']],
    ];
    for (const [body, paths] of cases) {
      const res = await call(api, 'POST', `/api/v1/jobs/${codeJob}/trigger`, body, auth());
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
      assert.deepEqual(
        res.body.errors.map((e: { path: string }) => e.path),
        paths,
        JSON.stringify(body),
      );
    }
    const http = await call(
      api,
      'POST',
      `/api/v1/jobs/${httpJob}/trigger`,
      { args: { url: 'ftp://example.com/' } },
      auth(),
    );
    assert.equal(http.status, 400);
    assert.deepEqual(
      http.body.errors.map((e: { path: string }) => e.path),
      ['args.url'],
    );
    const type = await call(api, 'POST', `/api/v1/jobs/${httpJob}/trigger`, { args: { type: 'counter' } }, auth());
    assert.deepEqual(
      type.body.errors.map((e: { path: string }) => e.path),
      ['args.type'],
    );
    const notObject = await call(
      api,
      'POST',
      `/api/v1/jobs/${httpJob}/trigger`,
      { args: 'https://example.com/' },
      auth(),
    );
    assert.deepEqual(
      notObject.body.errors.map((e: { path: string }) => e.path),
      ['args'],
    );
    const method = await call(
      api,
      'POST',
      `/api/v1/jobs/${httpJob}/trigger`,
      { args: { method: 'GET', body: 'x' } },
      auth(),
    );
    assert.deepEqual(
      method.body.errors.map((e: { path: string }) => e.path),
      ['args.body'],
    );
    const readOnly = await call(api, 'POST', `/api/v1/jobs/${codeJob}/trigger`, { args: { count: 2 } }, auth(READ_KEY));
    assert.equal(readOnly.status, 403);

    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(seen.size, runsBefore, 'no run started');
    const running = await client.workflow.count(`SundialJobId = "${httpJob}"`);
    assert.equal(running.count, 0, 'no run of the HTTP job started');
  });

  it('When a keyed trigger with args is sent again, then the same body answers with the one run and another body is refused with 422', async () => {
    const key = randomUUID();
    const send = (body: unknown) =>
      call(api, 'POST', `/api/v1/jobs/${codeJob}/trigger`, body, { ...auth(), 'Idempotency-Key': key });
    const first = await send({ args: { count: 7, label: 'keyed' }, reason: 'backfill customer 42' });
    assert.equal(first.status, 202, JSON.stringify(first.body));
    assert.equal(first.body.workflowId, `${codeJob}:trigger:${key}`);
    // Same body, keys in another order, in turn and at once.
    const again = await Promise.all([
      send({ reason: 'backfill customer 42', args: { label: 'keyed', count: 7 } }),
      send({ args: { count: 7, label: 'keyed' }, reason: 'backfill customer 42' }),
    ]);
    for (const res of again) {
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.equal(res.body.workflowId, first.body.workflowId);
      assert.equal(res.headers.get('idempotent-replayed'), 'true');
    }
    for (const other of [
      { args: { count: 8, label: 'keyed' }, reason: 'backfill customer 42' },
      { args: { count: 7, label: 'keyed' } },
      {},
    ]) {
      const res = await send(other);
      assert.equal(res.status, 422, JSON.stringify(other));
      assert.equal(res.body.type, 'https://sundial.dev/problems/idempotency-key-reused');
      assert.ok(res.body.detail.includes(first.body.workflowId));
    }
    assert.deepEqual(await waitFor('the run', 30_000, () => seen.get(first.body.workflowId)), {
      count: 7,
      label: 'keyed',
    });
    await new Promise((r) => setTimeout(r, 1_000));
    const runs = [...seen.keys()].filter((wf) => wf.includes(key));
    assert.deepEqual(runs, [first.body.workflowId], 'exactly one run for the key');
    const run = await call(api, 'GET', `/api/v1/runs/${encodeURIComponent(first.body.workflowId)}`, undefined, auth());
    assert.equal(run.body.trigger.idempotencyKey, key);

    // A keyed trigger without a body still replays as before (no args, no reason).
    const bare = randomUUID();
    const a = await call(api, 'POST', `/api/v1/jobs/${codeJob}/trigger`, {}, { ...auth(), 'Idempotency-Key': bare });
    const b = await call(api, 'POST', `/api/v1/jobs/${codeJob}/trigger`, undefined, {
      ...auth(),
      'Idempotency-Key': bare,
    });
    assert.equal(a.status, 202);
    assert.equal(b.body.workflowId, a.body.workflowId);
    assert.equal(b.headers.get('idempotent-replayed'), 'true');
  });

  it('When an HTTP job is triggered with request overrides, then the call uses them and the run shows them with header values hidden', async () => {
    const res = await call(
      api,
      'POST',
      `/api/v1/jobs/${httpJob}/trigger`,
      { args: { url: `${depUrl}/override`, headers: { 'X-Extra': `extra-${HEADER_VALUE}` } }, reason: 'probe' },
      auth(),
    );
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const call1 = await waitFor('the overridden call', 30_000, () => received.find((r) => r.url === '/override'));
    assert.equal(call1.headers['x-extra'], `extra-${HEADER_VALUE}`);
    assert.equal(call1.headers['x-token'], HEADER_VALUE, "the job's own headers are kept");
    const run = await waitFor('the run to succeed', 30_000, async () => {
      const got = await call(api, 'GET', `/api/v1/runs/${encodeURIComponent(res.body.workflowId)}`, undefined, auth());
      return got.body.status === 'succeeded' ? got.body : undefined;
    });
    assert.deepEqual(run.trigger.overrides, { url: `${depUrl}/override`, headers: { 'X-Extra': '[redacted]' } });
    assert.ok(!JSON.stringify(run).includes(HEADER_VALUE), 'no header value in the run');
  });

  it('When args hold a secret reference, then the code gets the value and the run records the reference', async () => {
    const res = await call(
      api,
      'POST',
      `/api/v1/jobs/${codeJob}/trigger`,
      { args: { token: { secret: 'TRIGGER_TOKEN' } } },
      auth(),
    );
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.deepEqual(await waitFor('the run', 30_000, () => seen.get(res.body.workflowId)), {
      count: 1,
      label: 'base',
      token: SECRET_VALUE,
    });
    const run = await waitFor('the run to finish', 30_000, async () => {
      const got = await call(api, 'GET', `/api/v1/runs/${encodeURIComponent(res.body.workflowId)}`, undefined, auth());
      return got.body.status === 'running' ? undefined : got.body;
    });
    assert.deepEqual(run.trigger.overrides, { token: { secret: 'TRIGGER_TOKEN' } });
    const history = historyText(await client.workflow.getHandle(res.body.workflowId).fetchHistory());
    assert.ok(!history.includes(SECRET_VALUE), 'the secret value never reaches Temporal');
    assert.ok(!JSON.stringify(run).includes(SECRET_VALUE));
  });

  it('When a job relies on the notification defaults, then a run triggered with args is told to them as its scheduled runs are', async () => {
    // An API whose registry has SUNDIAL_NOTIFY_DEFAULTS; the run's notify plan is made there.
    const defaults = [
      { on: ['failed' as const], to: { type: 'slack' as const, webhookUrl: { secret: 'SLACK_HOOK' } } },
    ];
    const withDefaults = JobRegistry.create(jobs, { notifyDefaults: defaults });
    const other = await startTestApi(client, {
      registry: withDefaults,
      taskQueue,
      apiKeys: [{ role: 'write', key: WRITE_KEY }],
    });
    const id = unique('override-notify');
    try {
      const created = await call(
        other,
        'POST',
        '/api/v1/jobs',
        { id, schedule: { intervals: [{ every: '1h' }] }, paused: true, task: { type: 'counter', args: { count: 1 } } },
        auth(),
      );
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const scheduled = (await client.schedule.getHandle(id).describe()).action as {
        args?: Array<{ notify?: unknown }>;
      };
      assert.ok(scheduled.args?.[0]?.notify !== undefined, "the schedule's runs carry the defaults");

      const res = await call(other, 'POST', `/api/v1/jobs/${id}/trigger`, { args: { count: 2 } }, auth());
      assert.equal(res.status, 202, JSON.stringify(res.body));
      const history = await client.workflow.getHandle(res.body.workflowId).fetchHistory();
      const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
      const input = JSON.parse(Buffer.from(payload!.data!).toString('utf8')) as {
        notify?: unknown;
        task?: { args?: unknown };
      };
      assert.deepEqual(input.task?.args, { count: 2 });
      assert.deepEqual(input.notify, scheduled.args?.[0]?.notify);
    } finally {
      await client.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined);
      await other.stop();
    }
  });
});
