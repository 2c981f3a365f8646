import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { defineJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import type { RunOutcome } from '../../src/jobs/run-types';
import { startDependency } from '../support/dependency';
import { FIXTURES, isAlive, startSundial, type SundialProcess } from '../support/processes';
import { testAddress, testClient, unique, waitFor } from '../support/temporal';
import type { RunningApi } from '../../src/api/server';
import { createMetrics } from '../../src/observability/metrics';
import { SundialJobId } from '../../src/temporal/search-attributes';
import { call, startTestApi } from '../support/api';
import { sampleValue } from '../support/exposition';

const HEARTBEAT_MS = 3_000;

function workerEnv(taskQueue: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: testAddress(),
    TEMPORAL_TASK_QUEUE: taskQueue,
    SUNDIAL_JOBS_MODULE: path.join(FIXTURES, 'no-jobs.js'),
    ...extra,
  };
}

/** An HTTP job whose first attempt hangs until its worker goes away; later attempts succeed. */
function hangingJob(url: string, jobId: string) {
  return JobRegistry.create([
    defineJob({
      id: jobId,
      schedule: { intervals: [{ every: '1h' }] },
      http: { url, timeout: '60s' },
      retry: { initialInterval: '500ms', backoffCoefficient: 1, maximumAttempts: 5 },
      timeouts: { startToClose: '2m', heartbeat: `${HEARTBEAT_MS}ms` },
    }),
  ]).get(jobId)!.run;
}

describe('worker failover and graceful shutdown', () => {
  let client: Client;
  let api: RunningApi;
  const procs: SundialProcess[] = [];
  const dep = startDependency((_req, res, seen) => {
    if (seen.attempt <= 1) return; // hang: the worker holding this attempt will die or stop
    setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'), 200);
  });

  before(async () => {
    client = await testClient();
    api = await startTestApi(client, { metrics: createMetrics() });
  });
  after(async () => {
    await api?.stop();
    for (const p of procs) if (isAlive(p.pid)) p.child.kill('SIGKILL');
    await (await dep).close();
    await client?.connection.close();
  });

  it('kill -9 of the worker running a heartbeating activity: the run completes on the other worker, same idempotency key', async () => {
    const { url, seen } = await dep;
    const taskQueue = unique('failover');
    const a = startSundial('worker', workerEnv(taskQueue));
    const b = startSundial('worker', workerEnv(taskQueue));
    procs.push(a, b);
    await Promise.all([a, b].map((p) => p.waitForLog((l) => l.msg === 'worker running', 60_000)));

    const jobId = unique('failover-job');
    const before = seen.length;
    const handle = await client.workflow.start('jobWorkflow', {
      taskQueue,
      workflowId: `${jobId}-run`,
      args: [hangingJob(`${url}/${jobId}`, jobId)],
      typedSearchAttributes: [{ key: SundialJobId, value: jobId }],
    });
    const first = await waitFor('the first attempt to reach the dependency', 30_000, () =>
      seen.slice(before).find((s) => s.attempt === 1),
    );
    const victim = [a, b].find((p) => p.pid === first.workerPid);
    assert.ok(victim, `the request came from one of our workers (user agent ${first.userAgent})`);
    const survivor = victim === a ? b : a;
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');

    const outcome = (await handle.result()) as RunOutcome;
    const failoverMs = Date.now() - killedAt;
    assert.equal(outcome.status, 'succeeded');
    assert.ok(outcome.attempts >= 2, `attempts ${outcome.attempts}`);
    const mine = seen.slice(before);
    assert.equal(new Set(mine.map((s) => s.idempotencyKey)).size, 1, 'every attempt carried the same idempotency key');
    assert.equal(mine[0]!.idempotencyKey, `${jobId}-run`);
    assert.equal(mine[mine.length - 1]!.workerPid, survivor.pid, 'the survivor finished the run');
    // Heartbeat timeout plus retry interval plus a generous margin for a loaded CI machine.
    assert.ok(failoverMs < HEARTBEAT_MS + 10_000, `failover took ${failoverMs} ms`);
    process.stderr.write(
      `  failover: kill -9 -> run completed in ${failoverMs} ms (heartbeat timeout ${HEARTBEAT_MS} ms)\n`,
    );

    // Metrics count the run once, with the dead worker's attempt as a retryable error, and
    // measure its lag to the first attempt (on the dead worker), not to the one that finished.
    const run = (await call(api, 'GET', `/api/v1/runs/${encodeURIComponent(`${jobId}-run`)}`)).body as Record<
      string,
      any
    >;
    assert.equal(run.status, 'succeeded');
    assert.ok(
      run.lagMs <= first.at - Date.parse(run.scheduledAt as string),
      `lag ${run.lagMs} ms is to the first attempt`,
    );
    const metric = (name: string, labels: Record<string, string> = {}) =>
      sampleValue(text, name, { job: jobId, ...labels });
    let text = '';
    await waitFor('the run in the metrics', 30_000, async () => {
      text = await (await fetch(`${api.url}/metrics`)).text();
      return metric('sundial_job_runs_total', { status: 'succeeded' }) === 1 ? true : undefined;
    });
    assert.equal(metric('sundial_job_attempts_total', { outcome: 'success' }), 1);
    assert.equal(metric('sundial_job_attempts_total', { outcome: 'retryable_error' }), outcome.attempts - 1);
    assert.equal(metric('sundial_job_duration_seconds_count'), 1);
    assert.equal(metric('sundial_schedule_lag_seconds_count'), 1);
    survivor.child.kill('SIGTERM');
    assert.equal(await survivor.exited, 0);
  });

  it('SIGTERM during a long activity: the worker exits 0 within the grace period and the run is retried, not lost', async () => {
    const { url, seen } = await dep;
    const taskQueue = unique('shutdown');
    const graceMs = 2_000;
    const a = startSundial('worker', workerEnv(taskQueue, { SUNDIAL_SHUTDOWN_GRACE: `${graceMs}ms` }));
    procs.push(a);
    await a.waitForLog((l) => l.msg === 'worker running', 60_000);

    const jobId = unique('shutdown-job');
    const before = seen.length;
    const handle = await client.workflow.start('jobWorkflow', {
      taskQueue,
      workflowId: `${jobId}-run`,
      args: [hangingJob(`${url}/${jobId}`, jobId)],
    });
    await waitFor('the first attempt to reach the dependency', 30_000, () =>
      seen.slice(before).find((s) => s.attempt === 1),
    );
    const signalledAt = Date.now();
    a.child.kill('SIGTERM');
    const code = await a.exited;
    const exitMs = Date.now() - signalledAt;
    assert.equal(code, 0, `exit code; output:\n${a.output().slice(-2000)}`);
    assert.ok(exitMs < graceMs + 8_000, `exited after ${exitMs} ms`);

    const b = startSundial('worker', workerEnv(taskQueue));
    procs.push(b);
    const outcome = (await handle.result()) as RunOutcome;
    assert.equal(outcome.status, 'succeeded');
    assert.ok(outcome.attempts >= 2);
    const mine = seen.slice(before);
    assert.equal(new Set(mine.map((s) => s.idempotencyKey)).size, 1);
    assert.equal(mine[mine.length - 1]!.workerPid, b.pid);
    b.child.kill('SIGTERM');
    assert.equal(await b.exited, 0);
  });
});
