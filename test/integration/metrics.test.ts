import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import type { RunningApi } from '../../src/api/server';
import { defineJob } from '../../src/jobs/define';
import { NonRetryableJobError } from '../../src/jobs/errors';
import { JobRegistry } from '../../src/jobs/registry';
import { BREAKER_WORKFLOW_TYPE, breakerWorkflowId } from '../../src/breaker/contract';
import { createMetrics } from '../../src/observability/metrics';
import { call, startTestApi } from '../support/api';
import { sampleValue, samples } from '../support/exposition';
import { startTestWorker, testClient, unique, waitFor, type TestWorker } from '../support/temporal';

const attemptsByKey = new Map<string, number>();
/** When each attempt of a flaky run started, by idempotency key. */
const attemptStarts = new Map<string, number[]>();
let dependencyUp = true;

const registry = JobRegistry.create([
  defineJob({ id: 'm-ok', schedule: { intervals: [{ every: '1h' }] }, run: () => 'ok' }),
  defineJob({
    id: 'm-flaky',
    schedule: { intervals: [{ every: '1h' }] },
    // Fails its first two attempts per run, then succeeds.
    run: (ctx) => {
      const n = (attemptsByKey.get(ctx.idempotencyKey) ?? 0) + 1;
      attemptsByKey.set(ctx.idempotencyKey, n);
      attemptStarts.set(ctx.idempotencyKey, [...(attemptStarts.get(ctx.idempotencyKey) ?? []), Date.now()]);
      if (n <= 2) throw new Error(`attempt ${n} fails`);
      return n;
    },
  }),
  defineJob({
    id: 'm-broken',
    schedule: { intervals: [{ every: '1h' }] },
    run: () => {
      throw new NonRetryableJobError('bad configuration');
    },
  }),
  defineJob({
    id: 'm-dep',
    schedule: { intervals: [{ every: '1h' }] },
    run: () => {
      if (!dependencyUp) throw new Error('dependency down');
      return { fresh: true };
    },
  }),
  defineJob({
    id: 'm-slow',
    schedule: { intervals: [{ every: '1h' }] },
    run: (ctx) =>
      new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error))),
  }),
]);

describe('job metrics read from Temporal', () => {
  let client: Client;
  let worker: TestWorker;
  let api: RunningApi;
  const taskQueue = unique('metrics');
  const suffix = unique('m').slice(2);
  const ids = {
    ok: `ok-${suffix}`,
    flaky: `flaky-${suffix}`,
    broken: `broken-${suffix}`,
    dep: `dep-${suffix}`,
    slow: `slow-${suffix}`,
  };
  const breakerKey = `metrics-dep-${suffix}`;

  const create = async (id: string, type: string, extra: Record<string, unknown> = {}) => {
    const res = await call(api, 'POST', '/api/v1/jobs', {
      id,
      schedule: { intervals: [{ every: '1h' }] },
      paused: true,
      task: { type },
      retry: { initialInterval: '100ms', backoffCoefficient: 1, maximumAttempts: 5 },
      ...extra,
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
  };
  /** Triggers a run and returns its workflow id (a second trigger within one second would be dropped). */
  const trigger = async (id: string): Promise<string> => {
    const res = await call(api, 'POST', `/api/v1/jobs/${id}/trigger`, {});
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.ok(typeof res.body.workflowId === 'string', JSON.stringify(res.body));
    return res.body.workflowId as string;
  };
  const finished = (workflowId: string) =>
    waitFor(`run ${workflowId} to finish`, 60_000, async () => {
      const res = await call(api, 'GET', `/api/v1/runs/${encodeURIComponent(workflowId)}`);
      return res.status === 200 && res.body.status !== 'running' ? (res.body as Record<string, any>) : undefined;
    });
  const runsOf = async (id: string) =>
    (await call(api, 'GET', `/api/v1/jobs/${id}/runs?pageSize=100`)).body.items as Array<Record<string, any>>;
  const pause = () => new Promise((r) => setTimeout(r, 1_100));

  before(async () => {
    client = await testClient();
    worker = await startTestWorker(registry, taskQueue);
    api = await startTestApi(client, { registry, taskQueue, metrics: createMetrics() });
  });
  after(async () => {
    for (const id of Object.values(ids)) await call(api, 'DELETE', `/api/v1/jobs/${id}`).catch(() => undefined);
    await api?.stop();
    await worker?.stop();
    await client?.connection.close();
  });

  it('after known runs, counters equal what the runs API reports, and each run is observed once in the histograms', async () => {
    await create(ids.ok, 'm-ok');
    await create(ids.flaky, 'm-flaky');
    await create(ids.broken, 'm-broken');
    await create(ids.dep, 'm-dep', {
      breaker: { key: breakerKey, failureThreshold: 5, openFor: '10m' },
      fallback: { type: 'cache' },
    });
    await create(ids.slow, 'm-slow', { timeouts: { startToClose: '10m' } });

    // Two successes, a success after two retryable failures, a non-retryable failure.
    const okRuns = [await trigger(ids.ok)];
    await finished(okRuns[0]!);
    await pause();
    okRuns.push(await trigger(ids.ok));
    const flaky = await finished(await trigger(ids.flaky));
    assert.equal(flaky.status, 'succeeded');
    // The lag is measured to the first of the three attempts, not to the one that succeeded.
    const starts = attemptStarts.get(flaky.workflowId as string)!;
    assert.equal(starts.length, 3);
    const scheduled = Date.parse(flaky.scheduledAt as string);
    const first = starts[0]! - scheduled;
    assert.ok(
      flaky.lagMs <= first + 1 && flaky.lagMs >= first - 25,
      `lag ${flaky.lagMs} ms, attempts started ${starts.map((t) => t - scheduled).join(', ')} ms after the tick`,
    );
    assert.equal((await finished(await trigger(ids.broken))).status, 'failed');
    assert.equal((await finished(okRuns[1]!)).status, 'succeeded');
    // A success that fills the fallback cache, then, with the breaker opened, a degraded run.
    assert.equal((await finished(await trigger(ids.dep))).status, 'succeeded');
    assert.equal((await call(api, 'POST', `/api/v1/breakers/${breakerKey}/open`)).status, 200);
    dependencyUp = false;
    await pause();
    const degraded = await finished(await trigger(ids.dep));
    assert.equal(degraded.status, 'degraded', JSON.stringify(degraded));
    // One run cancelled and one terminated while running.
    const cancelled = await trigger(ids.slow);
    await waitFor('the slow run to start', 30_000, async () =>
      (await runsOf(ids.slow)).length > 0 ? true : undefined,
    );
    assert.equal((await call(api, 'POST', `/api/v1/runs/${encodeURIComponent(cancelled)}/cancel`, {})).status, 202);
    assert.equal((await finished(cancelled)).status, 'cancelled');
    await pause();
    const terminated = await trigger(ids.slow);
    assert.equal(
      (await call(api, 'POST', `/api/v1/runs/${encodeURIComponent(terminated)}/terminate`, { reason: 'metrics test' }))
        .status,
      202,
    );
    assert.equal((await finished(terminated)).status, 'terminated');

    // What the runs API reports, per job (visibility may trail the runs' ends by a moment).
    const expectedRuns = { ok: 2, flaky: 1, broken: 1, dep: 2, slow: 2 };
    const reported: Record<string, Array<Record<string, any>>> = {};
    for (const [name, id] of Object.entries(ids)) {
      reported[name] = await waitFor(
        `${expectedRuns[name as keyof typeof expectedRuns]} finished runs of ${id} in visibility`,
        30_000,
        async () => {
          const runs = await runsOf(id);
          return runs.length === expectedRuns[name as keyof typeof expectedRuns] &&
            runs.every((r) => r.status !== 'running')
            ? runs
            : undefined;
        },
      );
    }

    // The collector reads Temporal in the background (a cycle every 250 ms here): scrape until
    // its cycles have read every run.
    const text = await waitFor('the metrics to show every run', 30_000, async () => {
      const body = await (await fetch(`${api.url}/metrics`)).text();
      const total = Object.values(ids).reduce(
        (n, id) =>
          n +
          samples(body, 'sundial_job_runs_total')
            .filter((s) => s.labels.job === id)
            .reduce((a, s) => a + s.value, 0),
        0,
      );
      return total === 8 ? body : undefined;
    });
    assert.equal(sampleValue(text, 'sundial_collector_up', {}), 1);

    for (const [name, id] of Object.entries(ids)) {
      const runs = reported[name]!;
      // Runs by status: exactly the API's statuses.
      const byStatus = new Map<string, number>();
      for (const r of runs) byStatus.set(r.status as string, (byStatus.get(r.status as string) ?? 0) + 1);
      const exported = samples(text, 'sundial_job_runs_total').filter((s) => s.labels.job === id && s.value > 0);
      assert.deepEqual(
        Object.fromEntries(exported.map((s) => [s.labels.status, s.value])),
        Object.fromEntries(byStatus),
        `runs of ${id} by status`,
      );
      // Attempts by outcome: the sum of the API's per-run outcomes.
      for (const outcome of ['success', 'retryable_error', 'non_retryable_error']) {
        const fromApi = runs.reduce((n, r) => n + ((r.attemptOutcomes?.[outcome] as number | undefined) ?? 0), 0);
        assert.equal(
          sampleValue(text, 'sundial_job_attempts_total', { job: id, outcome }) ?? 0,
          fromApi,
          `${outcome} attempts of ${id}`,
        );
      }
      // One observation per run in both histograms; durations add up to the API's.
      assert.equal(
        sampleValue(text, 'sundial_job_duration_seconds_count', { job: id }),
        runs.length,
        `duration observations of ${id}`,
      );
      assert.equal(
        sampleValue(text, 'sundial_schedule_lag_seconds_count', { job: id }),
        runs.length,
        `lag observations of ${id}`,
      );
      const durationSum = runs.reduce((n, r) => n + (r.durationMs as number), 0) / 1000;
      assert.ok(
        Math.abs(sampleValue(text, 'sundial_job_duration_seconds_sum', { job: id })! - durationSum) < 1e-6,
        `duration sum of ${id}`,
      );
    }

    // The same figures, written out: what the runs above must have produced.
    assert.equal(sampleValue(text, 'sundial_job_runs_total', { job: ids.ok, status: 'succeeded' }), 2);
    assert.equal(sampleValue(text, 'sundial_job_attempts_total', { job: ids.flaky, outcome: 'retryable_error' }), 2);
    assert.equal(sampleValue(text, 'sundial_job_attempts_total', { job: ids.flaky, outcome: 'success' }), 1);
    assert.equal(sampleValue(text, 'sundial_job_runs_total', { job: ids.broken, status: 'failed' }), 1);
    assert.equal(
      sampleValue(text, 'sundial_job_attempts_total', { job: ids.broken, outcome: 'non_retryable_error' }),
      1,
    );
    assert.equal(sampleValue(text, 'sundial_job_runs_total', { job: ids.dep, status: 'degraded' }), 1);
    assert.equal(sampleValue(text, 'sundial_fallback_served_total', { job: ids.dep }), 1);
    assert.equal(sampleValue(text, 'sundial_job_runs_total', { job: ids.slow, status: 'cancelled' }), 1);
    assert.equal(sampleValue(text, 'sundial_job_runs_total', { job: ids.slow, status: 'terminated' }), 1);
    assert.equal(sampleValue(text, 'sundial_breaker_state', { key: breakerKey }), 2);
    assert.equal(sampleValue(text, 'sundial_breaker_transitions_total', { key: breakerKey, to: 'open' }), 1);
    // Schedules' own state: all paused, an hour apart.
    assert.equal(sampleValue(text, 'sundial_schedule_paused', { job: ids.ok }), 1);
    assert.equal(sampleValue(text, 'sundial_schedule_missed_total', { job: ids.ok }), 0);
    assert.ok(
      sampleValue(text, 'sundial_job_last_success_timestamp_seconds', { job: ids.ok })! * 1000 >=
        Date.parse(reported.ok![0]!.closedAt as string) - 1,
    );

    // Later cycles, each reading the same runs again within its overlap, count nothing twice.
    await new Promise((r) => setTimeout(r, 2_000));
    const again = await (await fetch(`${api.url}/metrics`)).text();
    assert.ok(sampleValue(again, 'sundial_collector_age_seconds', { part: 'runs' })! < 30, 'the runs are current');
    for (const id of Object.values(ids)) {
      assert.deepEqual(
        samples(again, 'sundial_job_runs_total').filter((s) => s.labels.job === id),
        samples(text, 'sundial_job_runs_total').filter((s) => s.labels.job === id),
      );
    }
  });

  it('when a breaker entity cannot answer (no worker on its queue), then the collector skips it and stays up', async () => {
    // A breaker left on a task queue no worker polls any more: its state query fails.
    const stray = breakerWorkflowId(unique('stray'));
    await client.workflow.start(BREAKER_WORKFLOW_TYPE, {
      taskQueue: unique('no-worker-here'),
      workflowId: stray,
      args: [{ key: stray }],
    });
    try {
      // Several collector cycles (250 ms apart here), each of which queries the stray breaker.
      await new Promise((r) => setTimeout(r, 3_000));
      const text = await (await fetch(`${api.url}/metrics`)).text();
      assert.equal(sampleValue(text, 'sundial_collector_up', {}), 1);
    } finally {
      await client.workflow.getHandle(stray).terminate('test over');
    }
  });
});
