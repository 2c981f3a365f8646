import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Client } from '@temporalio/client';
import { apiKeyId } from '../../src/api/auth';
import type { RunningApi } from '../../src/api/server';
import {
  AUDIT_WORKFLOW_TYPE,
  auditBeginSignal,
  auditEndSignal,
  auditPageQuery,
  auditWorkflowId,
  MAX_AUDIT_CHARS,
  type AuditBegin,
} from '../../src/audit/contract';
import { JobRegistry } from '../../src/jobs/registry';
import { call, startTestApi } from '../support/api';
import { faultyClient, startTestWorker, testClient, unique, waitFor, type TestWorker } from '../support/temporal';

const ALICE = `alice-${randomUUID()}`;
const BOB = `bob-${randomUUID()}`;
const READER = `reader-${randomUUID()}`;
const HEADER_1 = `first-header-${randomUUID()}`;
const HEADER_2 = `second-header-${randomUUID()}`;
const KEYS = [
  { role: 'write' as const, key: ALICE },
  { role: 'write' as const, key: BOB },
  { role: 'read' as const, key: READER },
];
const as = (key: string) => ({ authorization: `Bearer ${key}` });

/** Every string in a Temporal history, payloads decoded as UTF-8. */
function historyText(value: unknown): string {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (Array.isArray(value)) return value.map(historyText).join('\n');
  if (value !== null && typeof value === 'object') return Object.values(value).map(historyText).join('\n');
  return String(value);
}

interface Entry {
  seq: number;
  action: string;
  by: { keyId: string | null; role: string | null };
  at: string;
  outcome: string;
  status?: number;
  request?: any;
  diff?: any;
  details?: any;
}

describe('GET /api/v1/jobs/{id}/history: the audit of changes over the API', () => {
  let client: Client;
  let worker: TestWorker;
  let api: RunningApi;
  let dependency: Server;
  let depUrl = '';
  const registry = JobRegistry.create([]);
  const taskQueue = unique('audit');
  const id = unique('audited');

  before(async () => {
    dependency = createServer((_req, res) => res.writeHead(200).end('ok'));
    await new Promise<void>((r) => dependency.listen(0, '127.0.0.1', r));
    depUrl = `http://127.0.0.1:${(dependency.address() as AddressInfo).port}`;
    client = await testClient();
    worker = await startTestWorker(registry, taskQueue);
    api = await startTestApi(client, { registry, taskQueue, apiKeys: KEYS });
  });
  after(async () => {
    await client?.schedule
      .getHandle(id)
      .delete()
      .catch(() => undefined);
    await client?.workflow
      .getHandle(auditWorkflowId(id))
      .terminate('test done')
      .catch(() => undefined);
    await api?.stop();
    await worker?.stop();
    await client?.connection.close();
    dependency?.close();
  });

  const history = async (
    on: RunningApi,
    query = '',
  ): Promise<{ items: Entry[]; nextPageToken: string | null; dropped: number }> => {
    const res = await call(on, 'GET', `/api/v1/jobs/${id}/history${query}`, undefined, as(READER));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  };

  it('When every write route is used, then each is listed with its key id and diff, and no header value or key appears anywhere', async () => {
    const spec = {
      id,
      schedule: { intervals: [{ every: '1h' }] },
      paused: true,
      task: {
        type: 'http',
        url: `${depUrl}/hook`,
        headers: { Authorization: HEADER_1, 'X-Api-Key': { secret: 'AUDIT_TOKEN' } },
      },
    };
    let res = await call(api, 'POST', '/api/v1/jobs', spec, as(ALICE));
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const etag = res.headers.get('etag')!;
    res = await call(
      api,
      'PATCH',
      `/api/v1/jobs/${id}`,
      { description: 'nightly hook', task: { headers: { Authorization: HEADER_2 } } },
      { ...as(BOB), 'If-Match': etag },
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
    res = await call(
      api,
      'PATCH',
      `/api/v1/jobs/${id}`,
      { description: 'lost race' },
      { ...as(BOB), 'If-Match': etag },
    );
    assert.equal(res.status, 412, 'a refused change is recorded as failed');
    res = await call(api, 'POST', `/api/v1/jobs/${id}/unpause`, { note: 'go' }, as(ALICE));
    assert.equal(res.status, 200);
    res = await call(api, 'POST', `/api/v1/jobs/${id}/pause`, { note: 'incident 7' }, as(ALICE));
    assert.equal(res.status, 200);
    res = await call(
      api,
      'POST',
      `/api/v1/jobs/${id}/trigger`,
      { reason: 'check the hook', args: { headers: { 'X-Extra': HEADER_1 } } },
      as(BOB),
    );
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const triggered = res.body.workflowId as string;
    const end = new Date(Date.now() - 60_000);
    res = await call(
      api,
      'POST',
      `/api/v1/jobs/${id}/backfill`,
      { start: new Date(end.getTime() - 3600_000).toISOString(), end: end.toISOString() },
      as(ALICE),
    );
    assert.equal(res.status, 202, JSON.stringify(res.body));
    res = await call(api, 'DELETE', `/api/v1/jobs/${id}`, undefined, as(BOB));
    assert.equal(res.status, 204);

    const page = await history(api, '?pageSize=100');
    const items = page.items;
    assert.deepEqual(
      items.map((e) => [e.action, e.outcome, e.status]),
      [
        ['delete', 'applied', 204],
        ['backfill', 'applied', 202],
        ['trigger', 'applied', 202],
        ['pause', 'applied', 200],
        ['unpause', 'applied', 200],
        ['patch', 'failed', 412],
        ['patch', 'applied', 200],
        ['create', 'applied', 201],
      ],
      'newest first, every write route',
    );
    assert.deepEqual(
      items.map((e) => e.seq),
      [8, 7, 6, 5, 4, 3, 2, 1],
    );
    assert.equal(page.nextPageToken, null);
    const byAction = (a: string, outcome = 'applied') => items.find((e) => e.action === a && e.outcome === outcome)!;
    const alice = { keyId: apiKeyId(ALICE), role: 'write' };
    const bob = { keyId: apiKeyId(BOB), role: 'write' };
    for (const a of ['create', 'unpause', 'pause', 'backfill']) assert.deepEqual(byAction(a).by, alice, a);
    for (const a of ['patch', 'trigger', 'delete']) assert.deepEqual(byAction(a).by, bob, a);
    for (const e of items) assert.ok(!Number.isNaN(Date.parse(e.at)), 'when');

    // What changed, as merge patches; header values hidden, secret references kept as names.
    const created = byAction('create').diff;
    assert.equal(created.id, id);
    assert.deepEqual(created.task.headers, { Authorization: '[redacted]', 'X-Api-Key': { secret: 'AUDIT_TOKEN' } });
    assert.deepEqual(
      byAction('patch').diff,
      { description: 'nightly hook', task: { headers: { Authorization: '[redacted]' } } },
      'a changed header value shows as changed, without its value',
    );
    assert.deepEqual(byAction('patch').request, {
      description: 'nightly hook',
      task: { headers: { Authorization: '[redacted]' } },
    });
    assert.deepEqual(byAction('patch', 'failed').request, { description: 'lost race' });
    assert.equal(byAction('patch', 'failed').diff, undefined);
    assert.deepEqual(byAction('pause').diff, { state: { paused: true, note: 'incident 7' } });
    assert.deepEqual(byAction('unpause').diff, { state: { paused: false, note: 'go' } });
    const trigger = byAction('trigger');
    assert.equal(trigger.details.workflowId, triggered);
    assert.deepEqual(trigger.request, { reason: 'check the hook', args: { headers: { 'X-Extra': '[redacted]' } } });
    assert.equal(byAction('backfill').request.end, end.toISOString());
    assert.equal(byAction('delete').diff, null);

    const everything =
      JSON.stringify(page) + historyText(await client.workflow.getHandle(auditWorkflowId(id)).fetchHistory());
    for (const secret of [HEADER_1, HEADER_2, ALICE, BOB, READER])
      assert.ok(!everything.includes(secret), 'no header value or API key in the entries or in Temporal');
  });

  it('When the history is read in pages, then the pages follow each other without gaps or repeats', async () => {
    const first = await history(api, '?pageSize=3');
    assert.deepEqual(
      first.items.map((e) => e.seq),
      [8, 7, 6],
    );
    assert.equal(first.nextPageToken, '6');
    const second = await history(api, `?pageSize=3&pageToken=${first.nextPageToken}`);
    assert.deepEqual(
      second.items.map((e) => e.seq),
      [5, 4, 3],
    );
    const third = await history(api, `?pageSize=3&pageToken=${second.nextPageToken}`);
    assert.deepEqual(
      third.items.map((e) => e.seq),
      [2, 1],
    );
    assert.equal(third.nextPageToken, null);
  });

  it('When the API restarts (a new app instance on the same Temporal), then the history is the same and new changes continue it', async () => {
    const before = await history(api, '?pageSize=100');
    await api.stop();
    api = await startTestApi(client, { registry, taskQueue, apiKeys: KEYS });
    const after = await history(api, '?pageSize=100');
    assert.deepEqual(after, before);

    // The job was deleted; its audit stays, and a new job with the id continues it.
    const res = await call(
      api,
      'POST',
      '/api/v1/jobs',
      { id, schedule: { intervals: [{ every: '1h' }] }, paused: true, task: { type: 'http', url: `${depUrl}/again` } },
      as(ALICE),
    );
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const latest = await waitFor('the new entry', 10_000, async () => {
      const page = await history(api, '?pageSize=1');
      return page.items[0]?.seq === 9 && page.items[0].outcome === 'applied' ? page.items[0] : undefined;
    });
    assert.equal(latest.action, 'create');
    assert.deepEqual(latest.by, { keyId: apiKeyId(ALICE), role: 'write' });
  });

  it('When the history is asked with bad input, or of a job that never existed, then 4xx names the field', async () => {
    for (const [query, path] of [
      ['?pageSize=0', 'query.pageSize'],
      ['?pageSize=101', 'query.pageSize'],
      ['?pageToken=abc', 'query.pageToken'],
      ['?pageToken=0', 'query.pageToken'],
      ['?colour=red', 'query'],
    ] as const) {
      const res = await call(api, 'GET', `/api/v1/jobs/${id}/history${query}`, undefined, as(READER));
      assert.equal(res.status, 400, query);
      assert.ok(
        res.body.errors.some((e: { path: string }) => e.path === path),
        `${query}: ${JSON.stringify(res.body.errors)}`,
      );
    }
    const missing = await call(api, 'GET', `/api/v1/jobs/${unique('never')}/history`, undefined, as(READER));
    assert.equal(missing.status, 404);
    const badId = await call(api, 'GET', '/api/v1/jobs/Not%20An%20Id/history', undefined, as(READER));
    assert.equal(badId.status, 400);
    assert.deepEqual(
      badId.body.errors.map((e: { path: string }) => e.path),
      ['path.id'],
    );
    const anonymous = await call(api, 'GET', `/api/v1/jobs/${id}/history`);
    assert.equal(anonymous.status, 401);
  });

  it('When the audit cannot be written, then the change is not made and the route answers 503', async () => {
    // A client on a namespace that does not exist: Temporal refuses the audit write, the first
    // thing a write route to an existing job does.
    const broken = new Client({ connection: client.connection, namespace: `no-such-namespace-${randomUUID()}` });
    const other = await startTestApi(broken, { registry, taskQueue, apiKeys: KEYS, temporalTimeoutMs: 3_000 });
    try {
      const res = await call(
        other,
        'POST',
        `/api/v1/jobs/${unique('unaudited')}/pause`,
        { note: 'not recorded' },
        as(ALICE),
      );
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.equal(res.body.type, 'https://sundial.dev/problems/audit-unavailable');
      assert.ok(res.headers.get('retry-after'));
    } finally {
      await other.stop();
    }
  });

  it('When a job is created, then its creation is listed at once without starting its audit entity; the next write takes it in, first', async () => {
    const jobId = unique('created');
    try {
      const spec = {
        id: jobId,
        schedule: { intervals: [{ every: '1h' }] },
        paused: true,
        task: { type: 'http', url: `${depUrl}/c`, headers: { Authorization: HEADER_1 } },
      };
      let res = await call(api, 'POST', '/api/v1/jobs', spec, as(ALICE));
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const entity = client.workflow.getHandle(auditWorkflowId(jobId));
      assert.equal(
        await entity.describe().then(
          () => 'started',
          () => 'none',
        ),
        'none',
        'a create does not start the entity',
      );
      const listed = async (query = '?pageSize=100') =>
        (await call(api, 'GET', `/api/v1/jobs/${jobId}/history${query}`, undefined, as(READER))).body;
      let page = await listed();
      assert.deepEqual(
        page.items.map((e: Entry) => [e.seq, e.action, e.outcome, e.status]),
        [[1, 'create', 'applied', 201]],
      );
      assert.deepEqual(page.items[0].by, { keyId: apiKeyId(ALICE), role: 'write' });
      assert.deepEqual(page.items[0].diff.task.headers, { Authorization: '[redacted]' });

      // A second create of the same id is refused, and recorded after the first.
      res = await call(api, 'POST', '/api/v1/jobs', spec, as(BOB));
      assert.equal(res.status, 409);
      res = await call(api, 'POST', `/api/v1/jobs/${jobId}/unpause`, {}, as(BOB));
      assert.equal(res.status, 200);
      page = await listed();
      assert.deepEqual(
        page.items.map((e: Entry) => [e.seq, e.action, e.outcome]),
        [
          [3, 'unpause', 'applied'],
          [2, 'create', 'failed'],
          [1, 'create', 'applied'],
        ],
      );
      assert.equal(page.items[2].at < page.items[1].at, true, 'the creation happened first');
      const paged = await listed('?pageSize=1');
      assert.deepEqual(
        paged.items.map((e: Entry) => e.seq),
        [3],
      );

      // A delete takes the creation in too: after it, the entity alone lists the job's life.
      res = await call(api, 'DELETE', `/api/v1/jobs/${jobId}`, undefined, as(ALICE));
      assert.equal(res.status, 204);
      page = await listed();
      assert.deepEqual(
        page.items.map((e: Entry) => [e.seq, e.action]),
        [
          [4, 'delete'],
          [3, 'unpause'],
          [2, 'create'],
          [1, 'create'],
        ],
      );
      const everything = JSON.stringify(page) + historyText(await entity.fetchHistory());
      assert.ok(!everything.includes(HEADER_1) && !everything.includes(ALICE), 'no header value or key');
    } finally {
      await client.schedule
        .getHandle(jobId)
        .delete()
        .catch(() => undefined);
      await client.workflow
        .getHandle(auditWorkflowId(jobId))
        .terminate('test done')
        .catch(() => undefined);
    }
  });

  /** A paused HTTP job, created by ALICE: the job the tests of a creation's record start from. */
  const createByAlice = async (jobId: string): Promise<void> => {
    const spec = {
      id: jobId,
      schedule: { intervals: [{ every: '1h' }] },
      paused: true,
      task: { type: 'http', url: depUrl },
    };
    const res = await call(api, 'POST', '/api/v1/jobs', spec, as(ALICE));
    assert.equal(res.status, 201, JSON.stringify(res.body));
  };

  it('When the creation cannot be read just before a delete, then the delete is not made (503), and a later one keeps the creation', async () => {
    // The schedule is the creation's only record until a write takes it in: a delete that went on
    // without it would lose it for good.
    const jobId = unique('kept');
    const faulty = await faultyClient();
    const other = await startTestApi(faulty.client, { registry, taskQueue, apiKeys: KEYS, temporalTimeoutMs: 3_000 });
    try {
      await createByAlice(jobId);
      faulty.failNext('DescribeSchedule', 1);
      let res = await call(other, 'DELETE', `/api/v1/jobs/${jobId}`, undefined, as(BOB));
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.equal((await call(api, 'GET', `/api/v1/jobs/${jobId}`, undefined, as(READER))).status, 200, 'still there');
      res = await call(other, 'DELETE', `/api/v1/jobs/${jobId}`, undefined, as(BOB));
      assert.equal(res.status, 204);
      const page = (await call(api, 'GET', `/api/v1/jobs/${jobId}/history`, undefined, as(READER))).body;
      assert.deepEqual(
        page.items.map((e: Entry) => [e.action, e.outcome, e.by.keyId]),
        [
          ['delete', 'applied', apiKeyId(BOB)],
          ['create', 'applied', apiKeyId(ALICE)],
        ],
      );
    } finally {
      await other.stop();
      await faulty.client.connection.close();
      await client.workflow
        .getHandle(auditWorkflowId(jobId))
        .terminate('test done')
        .catch(() => undefined);
      await client.schedule
        .getHandle(jobId)
        .delete()
        .catch(() => undefined);
    }
  });

  it('When a job was created and deleted with nothing between, then the delete takes its creation in', async () => {
    const jobId = unique('brief');
    try {
      await createByAlice(jobId);
      const res = await call(api, 'DELETE', `/api/v1/jobs/${jobId}`, undefined, as(BOB));
      assert.equal(res.status, 204);
      const page = (await call(api, 'GET', `/api/v1/jobs/${jobId}/history`, undefined, as(READER))).body;
      assert.deepEqual(
        page.items.map((e: Entry) => [e.seq, e.action, e.outcome, e.by.keyId]),
        [
          [2, 'delete', 'applied', apiKeyId(BOB)],
          [1, 'create', 'applied', apiKeyId(ALICE)],
        ],
      );
    } finally {
      await client.workflow
        .getHandle(auditWorkflowId(jobId))
        .terminate('test done')
        .catch(() => undefined);
    }
  });
});

describe('auditWorkflow: the audit entity', () => {
  let client: Client;
  let worker: TestWorker;
  const taskQueue = unique('audit-entity');
  const by = { keyId: 'abc123abc123', role: 'write' as const };

  before(async () => {
    client = await testClient();
    worker = await startTestWorker(JobRegistry.create([]), taskQueue);
  });
  after(async () => {
    await worker?.stop();
    await client?.connection.close();
  });

  const start = (jobId: string, keepAfterDeleteMs: number, begin: AuditBegin) =>
    client.workflow.signalWithStart(AUDIT_WORKFLOW_TYPE, {
      workflowId: auditWorkflowId(jobId),
      taskQueue,
      args: [{ jobId, keepAfterDeleteMs }],
      signal: auditBeginSignal,
      signalArgs: [begin],
    });

  it('When a signal is delivered twice, then it is recorded once; when entries outgrow the size bound, then the oldest are dropped and counted', async () => {
    const jobId = unique('entity-bound');
    const handle = await start(jobId, 3600_000, { id: 'first', action: 'create', by });
    await handle.signal(auditBeginSignal, { id: 'first', action: 'create', by });
    await handle.signal(auditEndSignal, { id: 'first', outcome: 'applied', status: 201, diff: { id: jobId } });
    await handle.signal(auditEndSignal, { id: 'first', outcome: 'failed', status: 500 });
    let page = await handle.query(auditPageQuery, { pageSize: 10 });
    assert.deepEqual(
      page.items.map((e) => [e.seq, e.outcome, e.status]),
      [[1, 'applied', 201]],
      'one entry, ended once',
    );

    // 40 entries of ~15 KiB: over MAX_AUDIT_CHARS (512 KiB) together.
    const big = 'x'.repeat(15 * 1024);
    for (let i = 0; i < 40; i++)
      await handle.signal(auditBeginSignal, { id: `big-${i}`, action: 'patch', by, request: { description: big } });
    page = await handle.query(auditPageQuery, { pageSize: 100 });
    assert.ok(page.dropped > 0, `dropped ${page.dropped}`);
    assert.equal(page.items.length + page.dropped, 41);
    assert.equal(page.items[0]!.seq, 41, 'the newest is kept');
    assert.ok(JSON.stringify(page.items).length <= MAX_AUDIT_CHARS + 10_000);
    await handle.terminate('test done');
  });

  it('When a job creation comes along with writes, then it is taken in once, first, and not again after it was dropped', async () => {
    const jobId = unique('entity-created');
    const created = { id: 'made', by, at: '2026-12-01T00:00:00.000Z', diff: { id: jobId } };
    const handle = await start(jobId, 3600_000, { id: 'p1', action: 'patch', by, created });
    await handle.signal(auditBeginSignal, { id: 'p2', action: 'pause', by, created });
    let page = await handle.query(auditPageQuery, { pageSize: 10, hasId: 'made' });
    assert.deepEqual(
      page.items.map((e) => [e.seq, e.id, e.action, e.outcome]),
      [
        [3, 'p2', 'pause', 'pending'],
        [2, 'p1', 'patch', 'pending'],
        [1, 'made', 'create', 'applied'],
      ],
    );
    assert.equal(page.items[2]!.at, created.at, 'the creation keeps its own time');
    assert.equal(page.hasId, true);
    assert.equal((await handle.query(auditPageQuery, { pageSize: 1, hasId: 'other' })).hasId, false);

    // Push the creation out with large entries, then send it again: it is not taken in twice.
    const big = 'x'.repeat(15 * 1024);
    for (let i = 0; i < 40; i++)
      await handle.signal(auditBeginSignal, { id: `big-${i}`, action: 'patch', by, request: { description: big } });
    await handle.signal(auditBeginSignal, { id: 'p3', action: 'unpause', by, created });
    page = await handle.query(auditPageQuery, { pageSize: 100, hasId: 'made' });
    assert.ok(!page.items.some((e) => e.id === 'made'), 'dropped');
    assert.equal(page.items.filter((e) => e.action === 'create').length, 0, 'not taken in again');
    assert.equal(page.hasId, true, 'still known as taken in');
    await handle.terminate('test done');
  });

  it('When its job was deleted, then the entity ends after the keep time without a new change, and a change in that time keeps it', async () => {
    const jobId = unique('entity-keep');
    const handle = await start(jobId, 3_000, { id: 'c', action: 'create', by });
    await handle.signal(auditEndSignal, { id: 'c', outcome: 'applied', status: 201 });
    await handle.signal(auditBeginSignal, { id: 'd', action: 'delete', by });
    await handle.signal(auditEndSignal, { id: 'd', outcome: 'applied', status: 204, diff: null });
    await new Promise((r) => setTimeout(r, 1_500));
    // A new change within the keep time: the entity goes on.
    await handle.signal(auditBeginSignal, { id: 'c2', action: 'create', by });
    await handle.signal(auditEndSignal, { id: 'c2', outcome: 'applied', status: 201 });
    await new Promise((r) => setTimeout(r, 4_000));
    assert.equal((await handle.describe()).status.name, 'RUNNING', 'a job that exists keeps its audit');
    await handle.signal(auditBeginSignal, { id: 'd2', action: 'delete', by });
    await handle.signal(auditEndSignal, { id: 'd2', outcome: 'applied', status: 204, diff: null });
    await waitFor('the entity to end', 20_000, async () =>
      (await handle.describe()).status.name === 'COMPLETED' ? true : undefined,
    );
    // Still readable from its closed history.
    const page = await handle.query(auditPageQuery, { pageSize: 10 });
    assert.deepEqual(
      page.items.map((e) => e.action),
      ['delete', 'create', 'delete', 'create'],
    );
  });
});
