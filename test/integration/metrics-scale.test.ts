import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import type { RunningApi } from '../../src/api/server';
import { defineJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import { createMetrics } from '../../src/observability/metrics';
import { JobStore } from '../../src/schedules/job-store';
import { mapWithConcurrency } from '../../src/util/concurrency';
import { call, startTestApi, TEST_WEB_UI } from '../support/api';
import { sampleValue, samples } from '../support/exposition';
import { freePort } from '../support/ports';
import { FIXTURES, killGroup, startSundial } from '../support/processes';
import { startTestWorker, testAddress, testClient, unique, waitFor, type TestWorker } from '../support/temporal';

/**
 * The job metrics are computed in the background with bounded work per cycle: a scrape answers
 * in bounded time however many jobs exist, the values converge, series of deleted jobs go, and a
 * backlog of runs larger than a cycle's budget is counted completely and once.
 */

const JOBS = 1_000;
/**
 * A scrape only serializes what the collector computed: tens of ms. The bound is generous for a
 * two-core machine shared with other test runs (measured there, load average 24: p50 52 ms, the
 * slowest 1.3 s of 1,536); the collector that read Temporal at each scrape took 5 s and gave up.
 */
const SCRAPE_BOUND_MS = 2_500;

const registry = JobRegistry.create([
  defineJob({ id: 'ms-ok', schedule: { intervals: [{ every: '1h' }] }, run: () => 'ok' }),
]);

async function scrape(api: { url: string }): Promise<{ text: string; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${api.url}/metrics`);
  const text = await res.text();
  assert.equal(res.status, 200);
  return { text, ms: performance.now() - t0 };
}

/** Every job label value with at least one sundial_* sample. */
function jobsWithSeries(text: string): Set<string> {
  const jobs = new Set<string>();
  for (const m of text.matchAll(/^sundial_[a-z_]+\{[^}]*\bjob="([^"]*)"/gm)) jobs.add(m[1]!);
  return jobs;
}

describe('job metrics at scale', () => {
  let client: Client;
  let worker: TestWorker;
  let api: RunningApi;
  const taskQueue = unique('metrics-scale');
  const created = new Set<string>();

  const createJob = async (id: string, extra: Record<string, unknown> = {}) => {
    const res = await call(api, 'POST', '/api/v1/jobs', {
      id,
      schedule: { intervals: [{ every: '1h' }] },
      paused: true,
      task: { type: 'ms-ok' },
      ...extra,
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    created.add(id);
  };
  const deleteJob = async (id: string) => {
    const res = await call(api, 'DELETE', `/api/v1/jobs/${id}`);
    assert.ok(res.status === 204 || res.status === 404, `DELETE ${id}: ${res.status}`);
    created.delete(id);
  };
  /** Runs the job once, directly (a keyed trigger), and waits for its end. */
  const runOnce = async (api: RunningApi, id: string) => {
    const res = await call(api, 'POST', `/api/v1/jobs/${id}/trigger`, {}, { 'Idempotency-Key': randomUUID() });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const workflowId = res.body.workflowId as string;
    await waitFor(`run ${workflowId} to finish`, 60_000, async () => {
      const run = await call(api, 'GET', `/api/v1/runs/${encodeURIComponent(workflowId)}`);
      return run.status === 200 && run.body.status === 'succeeded' ? true : undefined;
    });
  };

  before(async () => {
    client = await testClient();
    worker = await startTestWorker(registry, taskQueue);
    api = await startTestApi(client, { registry, taskQueue, metrics: createMetrics() });
  });
  after(async () => {
    await mapWithConcurrency([...created], 16, (id) =>
      client.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined),
    );
    await api?.stop();
    await worker?.stop();
    await client?.connection.close();
  });

  it(`with ${JOBS} jobs, every scrape answers within ${SCRAPE_BOUND_MS} ms while the values converge; deleted, their series go`, async () => {
    // `npm run api` in a process of its own, its collector reading every second; the jobs are
    // created and deleted from this process, as other API replicas would.
    const port = await freePort();
    const apiProcess = startSundial('api', {
      TEMPORAL_ADDRESS: testAddress(),
      TEMPORAL_TASK_QUEUE: taskQueue,
      SUNDIAL_JOBS_MODULE: `${FIXTURES}/no-jobs.js`,
      PORT: String(port),
      SUNDIAL_METRICS_INTERVAL: '1s',
    });
    const store = new JobStore({ client, registry, taskQueue, webUiUrl: TEST_WEB_UI });
    const prefix = unique('scale');
    const ids = Array.from({ length: JOBS }, (_, i) => `${prefix}-${String(i).padStart(4, '0')}`);
    const scrapes: Array<{ at: number; ms: number }> = [];
    let scraping = true;
    let scraper: Promise<void> | undefined;
    const t0 = Date.now();
    try {
      await apiProcess.waitForLog((l) => l.msg === 'API listening', 60_000);
      const target = { url: `http://127.0.0.1:${port}` };
      // Scrapes all along: while the jobs are created, while the collector catches up, while they are deleted.
      scraper = (async () => {
        while (scraping) {
          const at = Date.now() - t0;
          scrapes.push({ at, ms: (await scrape(target)).ms });
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      await mapWithConcurrency(ids, 16, async (id) => {
        await store.create({ id, schedule: { intervals: [{ every: '1h' }] }, paused: true, task: { type: 'ms-ok' } });
        created.add(id);
      });
      // Converged: every job listed (paused gauge) and described (missed counter) by the
      // collector, and its freshness gauge says that every job's counters have been read.
      const text = await waitFor(
        `the paused gauge and missed counter of all ${JOBS} jobs`,
        300_000,
        async () => {
          const { text } = await scrape(target);
          const paused = samples(text, 'sundial_schedule_paused').filter(
            (s) => s.labels.job?.startsWith(prefix) && s.value === 1,
          );
          const missed = samples(text, 'sundial_schedule_missed_total').filter(
            (s) => s.labels.job?.startsWith(prefix) && s.value === 0,
          );
          const counted = Number.isFinite(
            sampleValue(text, 'sundial_collector_age_seconds', { part: 'schedule_counters' }),
          );
          return paused.length === JOBS && missed.length === JOBS && counted ? text : undefined;
        },
        500,
      );
      assert.equal(sampleValue(text, 'sundial_collector_up', {}), 1);
      // The other parts are current within a few cycles.
      for (const part of ['runs', 'schedules', 'breakers']) {
        const age = sampleValue(text, 'sundial_collector_age_seconds', { part })!;
        assert.ok(Number.isFinite(age) && age < 60, `${part} is ${age} s old`);
      }
      assert.ok(
        samples(text, 'sundial_job_expected_interval_seconds')
          .filter((s) => s.labels.job?.startsWith(prefix))
          .every((s) => s.value === 3600),
      );

      // Deleted, every series of every one of them disappears.
      await mapWithConcurrency(ids, 16, async (id) => {
        await store.delete(id);
        created.delete(id);
      });
      await waitFor(
        `no series of the ${JOBS} deleted jobs`,
        120_000,
        async () => {
          const { text } = await scrape(target);
          return [...jobsWithSeries(text)].some((job) => job.startsWith(prefix)) ? undefined : true;
        },
        500,
      );
    } finally {
      scraping = false;
      await scraper;
      apiProcess.child.kill('SIGTERM');
      const stopped = await Promise.race([
        apiProcess.exited.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 15_000)),
      ]);
      if (!stopped) killGroup(apiProcess);
    }
    const sorted = [...scrapes].sort((a, b) => a.ms - b.ms);
    const p50 = sorted[Math.floor(sorted.length / 2)]!.ms;
    const slowest = sorted.slice(-3).map((s) => `${s.ms.toFixed(0)} ms at ${(s.at / 1000).toFixed(0)} s`);
    process.stderr.write(
      `# ${scrapes.length} scrapes with up to ${JOBS} jobs: p50 ${p50.toFixed(1)} ms; slowest ${slowest.join(', ')}\n`,
    );
    assert.ok(scrapes.length > 20, `only ${scrapes.length} scrapes`);
    assert.ok(
      sorted.at(-1)!.ms < SCRAPE_BOUND_MS,
      `a scrape took ${sorted.at(-1)!.ms.toFixed(0)} ms (p50 ${p50.toFixed(0)} ms; slowest ${slowest.join(', ')})`,
    );
  });

  it("when a job that has run is deleted, its run series disappear too, and other jobs' stay", async () => {
    const gone = unique('gone');
    const kept = unique('kept');
    await createJob(gone);
    await createJob(kept);
    await runOnce(api, gone);
    await runOnce(api, kept);
    await waitFor('both jobs to show a run, a paused gauge and a missed counter', 60_000, async () => {
      const { text } = await scrape(api);
      const complete = (job: string) =>
        sampleValue(text, 'sundial_job_runs_total', { job, status: 'succeeded' }) === 1 &&
        sampleValue(text, 'sundial_job_duration_seconds_count', { job }) === 1 &&
        sampleValue(text, 'sundial_job_last_success_timestamp_seconds', { job }) !== undefined &&
        sampleValue(text, 'sundial_schedule_paused', { job }) === 1 &&
        sampleValue(text, 'sundial_schedule_missed_total', { job }) === 0;
      return complete(gone) && complete(kept) ? true : undefined;
    });
    await deleteJob(gone);
    const text = await waitFor(`the series of ${gone} to disappear`, 60_000, async () => {
      const { text } = await scrape(api);
      return jobsWithSeries(text).has(gone) ? undefined : text;
    });
    assert.ok(!text.includes(`job="${gone}"`), `a series of ${gone} is left`);
    assert.equal(sampleValue(text, 'sundial_job_runs_total', { job: kept, status: 'succeeded' }), 1);
    assert.equal(sampleValue(text, 'sundial_schedule_paused', { job: kept }), 1);
  });

  it('a backlog of runs larger than one cycle reads is counted over several cycles, completely and once', async () => {
    const since = new Date();
    const id = unique('backlog');
    await createJob(id);
    const RUNS = 9;
    // The runs close before the collector starts: a backlog of 9 runs, read 2 per cycle.
    for (let i = 0; i < RUNS; i++) await runOnce(api, id);
    const metrics = createMetrics();
    const slow = await startTestApi(client, {
      registry,
      taskQueue,
      metrics,
      collector: { since, budget: { intervalMs: 300, runPageSize: 2, runPagesPerCycle: 1 } },
    });
    try {
      const seen: Array<{ runs: number; runsAge: number }> = [];
      await waitFor(
        `${RUNS} runs of ${id} counted`,
        60_000,
        async () => {
          const { text } = await scrape(slow);
          const runs = sampleValue(text, 'sundial_job_runs_total', { job: id, status: 'succeeded' }) ?? 0;
          seen.push({ runs, runsAge: sampleValue(text, 'sundial_collector_age_seconds', { part: 'runs' })! });
          return runs >= RUNS ? true : undefined;
        },
        50,
      );
      const counts = seen.map((s) => s.runs);
      assert.ok(
        counts.some((n) => n > 0 && n < RUNS),
        `never saw a partial count: ${counts.join(',')}`,
      );
      assert.deepEqual(
        counts,
        [...counts].sort((a, b) => a - b),
        'the count went down',
      );
      // Until the sweep ended, the runs were not current, and the freshness gauge said so.
      assert.ok(
        seen.filter((s) => s.runs < RUNS).every((s) => s.runsAge === Infinity),
        JSON.stringify(seen),
      );

      // Several more cycles, each reading the same runs again within its overlap, count nothing twice.
      await new Promise((r) => setTimeout(r, 3_000));
      const { text } = await scrape(slow);
      assert.equal(sampleValue(text, 'sundial_job_runs_total', { job: id, status: 'succeeded' }), RUNS);
      assert.equal(sampleValue(text, 'sundial_job_attempts_total', { job: id, outcome: 'success' }), RUNS);
      assert.equal(sampleValue(text, 'sundial_job_duration_seconds_count', { job: id }), RUNS);
      assert.equal(sampleValue(text, 'sundial_schedule_lag_seconds_count', { job: id }), RUNS);
      assert.ok(Number.isFinite(sampleValue(text, 'sundial_collector_age_seconds', { part: 'runs' })));
      assert.equal(sampleValue(text, 'sundial_collector_up', {}), 1);
    } finally {
      await slow.stop();
    }
  });
});
