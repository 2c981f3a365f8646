import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import type { RunningApi } from '../../src/api/server';
import { defineJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import { call, startTestApi } from '../support/api';
import { startTestWorker, testClient, unique, waitFor, type TestWorker } from '../support/temporal';

const calls = new Map<string, string[]>();

const registry = JobRegistry.create([
  defineJob({
    id: 'recorder',
    schedule: { intervals: [{ every: '1h' }] },
    run: (ctx) => {
      calls.set(ctx.jobId, [...(calls.get(ctx.jobId) ?? []), ctx.idempotencyKey]);
      return { ok: true };
    },
  }),
]);

describe('POST /api/v1/jobs/{id}/trigger with an Idempotency-Key', () => {
  let client: Client;
  let worker: TestWorker;
  let api: RunningApi;
  const taskQueue = unique('idem-trigger');
  const id = unique('idem-job');

  before(async () => {
    client = await testClient();
    worker = await startTestWorker(registry, taskQueue);
    api = await startTestApi(client, { registry, taskQueue });
    // Paused and hourly: every run in this test is a trigger's.
    const res = await call(api, 'POST', '/api/v1/jobs', {
      id,
      schedule: { intervals: [{ every: '1h' }] },
      paused: true,
      task: { type: 'recorder' },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
  });
  after(async () => {
    await client?.schedule
      .getHandle(id)
      .delete()
      .catch(() => undefined);
    await api?.stop();
    await worker?.stop();
    await client?.connection.close();
  });

  it('When the same trigger is sent again (in turn and at once), then one run starts and every answer names it', async () => {
    const key = randomUUID();
    const trigger = () => call(api, 'POST', `/api/v1/jobs/${id}/trigger`, {}, { 'Idempotency-Key': key });
    const first = await trigger();
    assert.equal(first.status, 202, JSON.stringify(first.body));
    assert.equal(first.body.workflowId, `${id}:trigger:${key}`);
    assert.equal(first.headers.get('idempotent-replayed'), null);
    const again = await Promise.all([trigger(), trigger(), trigger()]);
    for (const res of again) {
      assert.equal(res.status, 202);
      assert.equal(res.body.workflowId, first.body.workflowId);
      assert.equal(res.headers.get('idempotent-replayed'), 'true');
    }
    await waitFor('the run', 30_000, () => (calls.get(id)?.length === 1 ? true : undefined));
    const run = await waitFor('the run to succeed', 30_000, async () => {
      const got = await call(api, 'GET', `/api/v1/runs/${encodeURIComponent(first.body.workflowId)}`);
      return got.status === 200 && got.body.status === 'succeeded' ? got.body : undefined;
    });
    assert.equal(run.workflowId, first.body.workflowId);

    // After the run has finished, the key is still spent.
    const late = await trigger();
    assert.equal(late.body.workflowId, first.body.workflowId);
    assert.equal(late.headers.get('idempotent-replayed'), 'true');
    await new Promise((r) => setTimeout(r, 1_500));
    assert.deepEqual(calls.get(id), [first.body.workflowId], 'exactly one run, its idempotency key its workflow id');

    const listed = await call(api, 'GET', `/api/v1/jobs/${id}/runs`);
    assert.deepEqual(
      listed.body.items.map((r: { workflowId: string }) => r.workflowId),
      [first.body.workflowId],
      'the run is listed with the job',
    );
  });

  it('When another key is sent, then another run starts', async () => {
    const before = calls.get(id)?.length ?? 0;
    const res = await call(
      api,
      'POST',
      `/api/v1/jobs/${id}/trigger`,
      {},
      { 'Idempotency-Key': 'deploy-42:retry.ok_1' },
    );
    assert.equal(res.status, 202);
    assert.equal(res.body.workflowId, `${id}:trigger:deploy-42:retry.ok_1`);
    await waitFor('the second run', 30_000, () => ((calls.get(id)?.length ?? 0) === before + 1 ? true : undefined));
  });

  it('When the key is malformed or combined with another overlap policy, then 400 names the header or the field', async () => {
    const bad = await call(api, 'POST', `/api/v1/jobs/${id}/trigger`, {}, { 'Idempotency-Key': 'has spaces' });
    assert.equal(bad.status, 400);
    assert.deepEqual(
      bad.body.errors.map((e: { path: string }) => e.path),
      ['header.Idempotency-Key'],
    );
    const long = await call(api, 'POST', `/api/v1/jobs/${id}/trigger`, {}, { 'Idempotency-Key': 'k'.repeat(129) });
    assert.equal(long.status, 400);
    const overlap = await call(
      api,
      'POST',
      `/api/v1/jobs/${id}/trigger`,
      { overlap: 'skip' },
      { 'Idempotency-Key': randomUUID() },
    );
    assert.equal(overlap.status, 400);
    assert.deepEqual(
      overlap.body.errors.map((e: { path: string }) => e.path),
      ['overlap'],
    );
    const missing = await call(
      api,
      'POST',
      `/api/v1/jobs/${unique('no-such-job')}/trigger`,
      {},
      { 'Idempotency-Key': randomUUID() },
    );
    assert.equal(missing.status, 404);
  });
});
