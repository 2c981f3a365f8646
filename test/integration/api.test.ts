import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import type { RunningApi } from '../../src/api/server';
import { defineJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import { call, startTestApi, TEST_WEB_UI } from '../support/api';
import { startTestWorker, testClient, unique, waitFor, type TestWorker } from '../support/temporal';

const calls = new Map<string, number>();
let slowRelease: (() => void) | undefined;

const registry = JobRegistry.create([
  defineJob({
    id: 'counter',
    description: 'counts its calls per job',
    schedule: { intervals: [{ every: '1h' }] },
    run: (ctx) => {
      calls.set(ctx.jobId, (calls.get(ctx.jobId) ?? 0) + 1);
      return { count: calls.get(ctx.jobId), args: ctx.args };
    },
  }),
  defineJob({
    id: 'always-fails',
    schedule: { intervals: [{ every: '1h' }] },
    run: (ctx) => {
      throw new RangeError(`attempt ${ctx.attempt} out of range`);
    },
  }),
  defineJob({
    id: 'slow',
    schedule: { intervals: [{ every: '1h' }] },
    run: (ctx) =>
      new Promise((resolve, reject) => {
        slowRelease = () => resolve('released');
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error));
      }),
  }),
]);

const jobSpec = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  description: 'created over the API',
  schedule: { intervals: [{ every: '1s' }] },
  policies: { overlap: 'allow_all' },
  task: { type: 'counter', args: { from: 'api' } },
  ...extra,
});

describe('REST API v1 over a real Temporal', () => {
  let client: Client;
  let worker: TestWorker;
  let api: RunningApi;
  const taskQueue = unique('api');
  const created: string[] = [];

  const create = async (id: string, extra: Record<string, unknown> = {}) => {
    created.push(id);
    const res = await call(api, 'POST', '/api/v1/jobs', jobSpec(id, extra));
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res;
  };
  const runsOf = async (id: string, status?: string) =>
    (await call(api, 'GET', `/api/v1/jobs/${id}/runs?pageSize=100${status ? `&status=${status}` : ''}`)).body
      .items as Array<Record<string, any>>;

  before(async () => {
    client = await testClient();
    worker = await startTestWorker(registry, taskQueue);
    api = await startTestApi(client, { registry, taskQueue });
  });
  after(async () => {
    for (const id of created)
      await client.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined);
    await api?.stop();
    await worker?.stop();
    await client?.connection.close();
  });

  it('creates a job (201, Location, ETag) and shows it as written, with state, next runs and a Web UI link', async () => {
    const id = unique('create');
    const res = await create(id, { paused: true });
    assert.equal(res.headers.get('location'), `/api/v1/jobs/${id}`);
    assert.match(res.headers.get('etag') ?? '', /^".+"$/);
    const got = await call(api, 'GET', `/api/v1/jobs/${id}`);
    assert.equal(got.status, 200);
    assert.equal(got.body.id, id);
    assert.deepEqual(got.body.schedule, { intervals: [{ every: '1s' }] }, 'the spec as written, no defaults filled in');
    assert.equal(got.body.origin, 'api');
    assert.deepEqual(got.body.state, { paused: true, note: 'created paused' });
    assert.equal(got.body.nextRunTimes.length, 5);
    assert.equal(got.body.webUrl, `${TEST_WEB_UI}/namespaces/default/schedules/${id}`);
    assert.deepEqual(got.body.warnings, []);
    assert.equal(got.headers.get('etag'), res.headers.get('etag'));
    assert.equal((await call(api, 'POST', '/api/v1/jobs', jobSpec(id))).status, 409);
    const list = await call(api, 'GET', '/api/v1/jobs?pageSize=100');
    assert.ok(list.body.items.some((j: { id: string }) => j.id === id));
    assert.ok('nextPageToken' in list.body);
  });

  it('a created job fires; its runs show status, attempts, result and a Web UI link', async () => {
    const id = unique('fires');
    await create(id);
    const runs = await waitFor('a succeeded run', 30_000, async () => {
      const items = await runsOf(id, 'succeeded');
      return items.length > 0 && items[0]!.attempts !== null ? items : undefined;
    });
    await call(api, 'POST', `/api/v1/jobs/${id}/pause`, {});
    const run = runs[0]!;
    assert.equal(run.jobId, id);
    assert.equal(run.attempts, 1);
    const detail = await call(api, 'GET', `/api/v1/runs/${encodeURIComponent(run.workflowId)}?runId=${run.runId}`);
    assert.equal(detail.status, 200);
    assert.equal(detail.body.status, 'succeeded');
    assert.deepEqual(detail.body.result.args, { from: 'api' });
    assert.equal(
      detail.body.webUrl,
      `${TEST_WEB_UI}/namespaces/default/workflows/${encodeURIComponent(run.workflowId)}/${run.runId}/history`,
    );
    assert.ok(Date.parse(detail.body.closedAt) >= Date.parse(detail.body.startedAt));
  });

  it("a failing job's run shows the attempts its retry policy allowed and the error", async () => {
    const id = unique('failing');
    await create(id, {
      paused: true,
      task: { type: 'always-fails' },
      retry: { initialInterval: '200ms', maximumAttempts: 2 },
    });
    const trigger = await call(api, 'POST', `/api/v1/jobs/${id}/trigger`, {});
    assert.equal(trigger.status, 202);
    assert.match(trigger.body.workflowId, new RegExp(`^${id}-`));
    const detail = await waitFor('the failed run', 30_000, async () => {
      const d = await call(api, 'GET', `/api/v1/runs/${encodeURIComponent(trigger.body.workflowId)}`);
      return d.body.status === 'failed' ? d : undefined;
    });
    assert.equal(detail.body.attempts, 2);
    assert.deepEqual(detail.body.error, { type: 'RangeError', message: 'attempt 2 out of range' });
    const listed = await waitFor('the failed run in the list', 15_000, async () => {
      const items = await runsOf(id, 'failed');
      return items.length === 1 ? items : undefined;
    });
    assert.equal(listed[0]!.attempts, 2);
  });

  it('pause stops runs; trigger while paused runs exactly once; unpause resumes; delete stops and 404s', async () => {
    const id = unique('lifecycle');
    await create(id);
    await waitFor('a first run', 30_000, async () => ((await runsOf(id)).length > 0 ? true : undefined));
    const paused = await call(api, 'POST', `/api/v1/jobs/${id}/pause`, { note: 'maintenance' });
    assert.equal(paused.status, 200);
    assert.deepEqual(paused.body.state, { paused: true, note: 'maintenance' });
    await new Promise((r) => setTimeout(r, 1_500)); // let a run started at the pause finish
    const before = calls.get(id) ?? 0;
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal(calls.get(id) ?? 0, before, 'no runs while paused');

    const trigger = await call(api, 'POST', `/api/v1/jobs/${id}/trigger`, {});
    assert.equal(trigger.status, 202);
    await waitFor('the triggered run', 15_000, () => ((calls.get(id) ?? 0) === before + 1 ? true : undefined));
    await new Promise((r) => setTimeout(r, 2_000));
    assert.equal(calls.get(id), before + 1, 'exactly one run for one trigger');

    const unpaused = await call(api, 'POST', `/api/v1/jobs/${id}/unpause`, {});
    assert.equal(unpaused.body.state.paused, false);
    await waitFor('runs to resume', 15_000, () => ((calls.get(id) ?? 0) >= before + 3 ? true : undefined));

    assert.equal((await call(api, 'DELETE', `/api/v1/jobs/${id}`)).status, 204);
    assert.equal((await call(api, 'GET', `/api/v1/jobs/${id}`)).status, 404);
    await new Promise((r) => setTimeout(r, 1_500));
    const afterDelete = calls.get(id);
    await new Promise((r) => setTimeout(r, 2_500));
    assert.equal(calls.get(id), afterDelete, 'no runs after delete');
    assert.equal((await call(api, 'DELETE', `/api/v1/jobs/${id}`)).status, 404);
  });

  it('backfill runs the ticks missed in a past range', async () => {
    const id = unique('backfill');
    await create(id, { paused: true, schedule: { intervals: [{ every: '1m' }] } });
    const end = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 1_000);
    const start = new Date(end.getTime() - 3 * 60_000);
    const res = await call(api, 'POST', `/api/v1/jobs/${id}/backfill`, {
      start: start.toISOString(),
      end: end.toISOString(),
    });
    assert.equal(res.status, 202);
    // Minute boundaries strictly inside (start, end]: exactly three.
    await waitFor('three backfilled runs', 30_000, () => ((calls.get(id) ?? 0) >= 3 ? true : undefined));
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(calls.get(id), 3);
  });

  it('two concurrent PATCHes with the same ETag: one 200, one 412', async () => {
    const id = unique('cas');
    const res = await create(id, { paused: true });
    const etag = res.headers.get('etag')!;
    const [a, b] = await Promise.all([
      call(api, 'PATCH', `/api/v1/jobs/${id}`, { description: 'from a' }, { 'if-match': etag }),
      call(api, 'PATCH', `/api/v1/jobs/${id}`, { description: 'from b' }, { 'if-match': etag }),
    ]);
    assert.deepEqual([a.status, b.status].sort(), [200, 412]);
    const winner = a.status === 200 ? a : b;
    const got = await call(api, 'GET', `/api/v1/jobs/${id}`);
    assert.equal(got.body.description, winner.body.description);
    assert.notEqual(got.headers.get('etag'), etag);
    const stale = await call(api, 'PATCH', `/api/v1/jobs/${id}`, { description: 'late' }, { 'if-match': etag });
    assert.equal(stale.status, 412);
    assert.equal(stale.headers.get('content-type')?.split(';')[0], 'application/problem+json');
  });

  it('a PATCH merges into the spec as written; a cron change leaves no old calendar', async () => {
    const id = unique('patch');
    await create(id, { paused: true, schedule: { cron: '0 3 * * *' } });
    const res = await call(api, 'PATCH', `/api/v1/jobs/${id}`, {
      schedule: { cron: '30 4 * * *' },
      retry: { maximumAttempts: 7 },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.schedule, { cron: '30 4 * * *' });
    assert.equal(res.body.retry.maximumAttempts, 7);
    assert.equal(res.body.state.paused, true, 'a PATCH keeps the paused state');
    const d = await client.schedule.getHandle(id).describe();
    assert.equal(d.spec.calendars?.length, 1);
    assert.equal((await call(api, 'PATCH', `/api/v1/jobs/${id}`, { id: 'other' })).status, 400);
    const berlin = await call(api, 'PATCH', `/api/v1/jobs/${id}`, {
      schedule: { cron: '30 2 * * *', timezone: 'Europe/Berlin' },
    });
    assert.equal(berlin.status, 200);
    assert.equal(berlin.body.warnings.length, 2, 'a 02:30 in Berlin meets both transitions of the coming year');
  });

  it('a code-defined job is 409 to PATCH unless forced', async () => {
    const { reconcileSchedules } = await import('../../src/schedules/reconcile');
    const { testLogger } = await import('../support/temporal');
    const id = unique('codejob');
    created.push(id);
    const codeRegistry = JobRegistry.create([
      defineJob({ id, schedule: { cron: '@daily' }, paused: true, run: () => null }),
    ]);
    await reconcileSchedules({ client, registry: codeRegistry, taskQueue, logger: testLogger, pruneOrphans: false });
    const codeApi = await startTestApi(client, { registry: codeRegistry, taskQueue });
    try {
      const res = await call(codeApi, 'PATCH', `/api/v1/jobs/${id}`, { description: 'x' });
      assert.equal(res.status, 409);
      assert.equal((await call(codeApi, 'GET', `/api/v1/jobs/${id}`)).body.origin, 'code');
      const forced = await call(codeApi, 'PATCH', `/api/v1/jobs/${id}?force=true`, { description: 'x' });
      assert.equal(forced.status, 200);
      assert.equal(forced.body.description, 'x');
    } finally {
      await codeApi.stop();
    }
  });

  it('cancels and terminates runs', async () => {
    const id = unique('stop');
    await create(id, { paused: true, task: { type: 'slow' }, timeouts: { startToClose: '1m' } });
    const t1 = await call(api, 'POST', `/api/v1/jobs/${id}/trigger`, {});
    await waitFor('the slow run to start', 15_000, async () =>
      (await call(api, 'GET', `/api/v1/runs/${encodeURIComponent(t1.body.workflowId)}`)).body.status === 'running'
        ? true
        : undefined,
    );
    assert.equal(
      (await call(api, 'POST', `/api/v1/runs/${encodeURIComponent(t1.body.workflowId)}/cancel`, {})).status,
      202,
    );
    await waitFor('cancelled', 15_000, async () =>
      (await call(api, 'GET', `/api/v1/runs/${encodeURIComponent(t1.body.workflowId)}`)).body.status === 'cancelled'
        ? true
        : undefined,
    );
    await new Promise((r) => setTimeout(r, 1_100)); // a second trigger in the same second would be dropped
    const t2 = await call(api, 'POST', `/api/v1/jobs/${id}/trigger`, {});
    assert.notEqual(t2.body.workflowId, t1.body.workflowId);
    assert.equal(
      (await call(api, 'POST', `/api/v1/runs/${encodeURIComponent(t2.body.workflowId)}/terminate`, {})).status,
      400,
      'a reason is required',
    );
    assert.equal(
      (await call(api, 'POST', `/api/v1/runs/${encodeURIComponent(t2.body.workflowId)}/terminate`, { reason: 'test' }))
        .status,
      202,
    );
    await waitFor('terminated', 15_000, async () =>
      (await call(api, 'GET', `/api/v1/runs/${encodeURIComponent(t2.body.workflowId)}`)).body.status === 'terminated'
        ? true
        : undefined,
    );
    assert.equal((await call(api, 'GET', '/api/v1/runs/no-such-run')).status, 404);
    slowRelease?.();
  });

  it('when a trigger comes in the second of a tick, then it still starts a run of its own', async () => {
    // Temporal names a schedule's runs by the second, so a trigger handled in a tick's second
    // gets the tick's workflow id and is dropped (temporalio/temporal#3614). Sent at a tick, the
    // trigger reaches the schedule in the tick's second: measured with a raw client, a trigger
    // handled there starts nothing.
    const id = unique('tick-trigger');
    await create(id, { schedule: { intervals: [{ every: '4s' }] } });
    const handle = client.schedule.getHandle(id);
    const tickAt = (await handle.describe()).info.nextActionTimes.find((t) => t.getTime() - Date.now() > 1_500)!;
    await new Promise((r) => setTimeout(r, tickAt.getTime() - Date.now()));
    const t = await call(api, 'POST', `/api/v1/jobs/${id}/trigger`, {});
    assert.equal(t.status, 202);
    assert.equal(typeof t.body.workflowId, 'string', JSON.stringify(t.body));
    const tick = await waitFor('the tick to be taken', 15_000, async () =>
      (await handle.describe()).info.recentActions.find((a) => a.scheduledAt.getTime() === tickAt.getTime()),
    );
    await call(api, 'POST', `/api/v1/jobs/${id}/pause`, {});
    assert.notEqual(
      t.body.workflowId,
      tick.action.workflow.workflowId,
      "the trigger answered with a run of its own, not the tick's",
    );
    // Nor with a later tick's run: a triggered action's time is when the schedule handled it.
    const action = (await handle.describe()).info.recentActions.find(
      (a) => a.action.workflow.workflowId === t.body.workflowId,
    );
    assert.ok(action !== undefined, "the run is one of the schedule's actions");
    assert.notEqual(
      (action.scheduledAt.getTime() - tickAt.getTime()) % 4_000,
      0,
      `the run ${t.body.workflowId} is not a tick of the 4 s schedule`,
    );
    const detail = await waitFor('the triggered run to succeed', 30_000, async () => {
      const r = await call(api, 'GET', `/api/v1/runs/${encodeURIComponent(t.body.workflowId)}`);
      return r.body.status === 'succeeded' ? r.body : undefined;
    });
    assert.deepEqual(detail.result.args, { from: 'api' });
  });
});
