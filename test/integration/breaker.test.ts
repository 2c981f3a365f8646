import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import type { RunningApi } from '../../src/api/server';
import { defineJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import type { RunOutcome } from '../../src/jobs/run-types';
import { jobs as breakerJobs } from '../fixtures/breaker-jobs';
import { call, startTestApi } from '../support/api';
import { startDependency } from '../support/dependency';
import { FIXTURES, isAlive, startSundial, type SundialProcess } from '../support/processes';
import { runOnce } from '../support/runs';
import { testAddress, testClient, unique, waitFor } from '../support/temporal';

/** The dependency's behaviour, changed by the test as it goes. */
const dep = { mode: 'ok' as 'ok' | 'fail', value: 0, gate: Promise.resolve() };

/**
 * Starts `n` runs at once and holds the dependency's answers until every run that will not
 * call it has finished: the probes stay in flight while all the others are admitted, however
 * slow the machine.
 */
async function burst(n: number, runOne: () => Promise<RunOutcome>): Promise<RunOutcome[]> {
  let release!: () => void;
  dep.gate = new Promise<void>((r) => (release = r));
  let settled = 0;
  const runs = Array.from({ length: n }, () => runOne().finally(() => settled++));
  await waitFor('the refused runs to finish', 60_000, () => (settled >= n - 2 ? true : undefined));
  release();
  const outcomes = await Promise.all(runs);
  dep.gate = Promise.resolve();
  return outcomes;
}

/**
 * Waits until openFor has surely passed in the breaker's own (workflow) time: a workflow task
 * takes its time when it starts, and on a loaded machine the admits of a burst can be handled in
 * a task that started a moment before the test's clock said openFor was over.
 */
async function afterOpenFor(state: { nextProbeAt?: string }): Promise<void> {
  await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(state.nextProbeAt!) - Date.now()) + 2_000));
}

describe('the cluster-wide circuit breaker and its fallback', () => {
  let client: Client;
  let api: RunningApi;
  let server: Awaited<ReturnType<typeof startDependency>>;
  let registry: JobRegistry;
  const workers: SundialProcess[] = [];
  const taskQueue = unique('breaker');
  // A second queue with its own worker process: runs sent there are surely run by that process.
  const otherQueue = unique('breaker-2');
  const key = unique('orders-db');
  const totalCalls = () => server.seen.length;
  const breaker = async () =>
    (await call(api, 'GET', `/api/v1/breakers/${key}`)).body as {
      state: string;
      jobs: string[];
      openedAt?: string;
      nextProbeAt?: string;
    };
  const run = (job: string, queue = taskQueue) => runOnce(client, registry, job, queue);
  const startWorker = async (queue = taskQueue) => {
    const w = startSundial('worker', {
      TEMPORAL_ADDRESS: testAddress(),
      TEMPORAL_TASK_QUEUE: queue,
      SUNDIAL_JOBS_MODULE: path.join(FIXTURES, 'breaker-jobs.js'),
      BREAKER_TEST_KEY: key,
      BREAKER_TEST_URL: server.url,
    });
    workers.push(w);
    await w.waitForLog((l) => l.msg === 'worker running', 60_000);
    return w;
  };

  before(async () => {
    server = await startDependency((_req, res) => {
      void dep.gate.then(() => {
        if (dep.mode === 'ok')
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ value: ++dep.value }));
        else res.writeHead(503).end('down');
      });
    });
    process.env.BREAKER_TEST_KEY = key;
    process.env.BREAKER_TEST_URL = server.url;
    const breakerSpec = { key, failureThreshold: 3, openFor: '10s', halfOpenProbes: 2 };
    const http = (p: string) => ({ url: `${server.url}/${p}`, timeout: '10s' });
    const retry = { initialInterval: '100ms', backoffCoefficient: 1, maximumAttempts: 2 };
    registry = JobRegistry.create([
      defineJob({
        id: 'job-a',
        schedule: { cron: '@yearly' },
        http: http('a'),
        retry,
        breaker: breakerSpec,
        fallback: { type: 'cache' },
      }),
      defineJob({
        id: 'job-b',
        schedule: { cron: '@yearly' },
        http: http('b'),
        retry,
        breaker: breakerSpec,
        fallback: { type: 'cache', maxStaleness: '1s' },
      }),
      defineJob({
        id: 'job-c',
        schedule: { cron: '@yearly' },
        http: http('c'),
        retry,
        breaker: breakerSpec,
        fallback: { type: 'cache' },
      }),
      ...breakerJobs(),
    ]);
    client = await testClient();
    api = await startTestApi(client, { registry, taskQueue });
    await Promise.all([startWorker(), startWorker(otherQueue)]);
  });
  after(async () => {
    for (const w of workers) if (isAlive(w.pid)) w.child.kill('SIGKILL');
    await client.workflow
      .getHandle(`sundial-breaker:${key}`)
      .terminate('test done')
      .catch(() => undefined);
    await client.schedule
      .getHandle('job-d')
      .delete()
      .catch(() => undefined);
    await api?.stop();
    await server?.close();
    await client?.connection.close();
  });

  it('failures across two worker processes open it; then runs do not call the dependency and serve the cached result', async () => {
    assert.equal((await run('job-a')).status, 'succeeded');
    assert.equal((await run('job-b')).status, 'succeeded');
    dep.mode = 'fail';
    const failingFrom = server.seen.length;
    const first = await run('job-a');
    assert.equal(first.status, 'failed');
    assert.equal(first.attempts, 2);
    const tripping = await run('job-a', otherQueue);
    assert.equal(tripping.attempts, 1, 'the third failure opened the breaker; the retry was not attempted');
    assert.equal(tripping.status, 'degraded');
    const state = await breaker();
    assert.equal(state.state, 'open');
    assert.deepEqual(state.jobs, ['job-a', 'job-b']);
    const failedFrom = new Set(server.seen.slice(failingFrom).map((s) => s.workerPid));
    assert.deepEqual(
      [...failedFrom].sort(),
      workers.map((w) => w.pid).sort(),
      'two failures from one worker process, the third from the other',
    );

    const before = totalCalls();
    const degraded = await run('job-a');
    assert.equal(totalCalls(), before, 'an open breaker does not call the dependency');
    assert.equal(degraded.status, 'degraded');
    assert.equal(degraded.attempts, 0);
    assert.deepEqual(degraded.status === 'degraded' && degraded.result, { status: 200, body: { value: 1 } });
    assert.ok(
      degraded.status === 'degraded' && degraded.fallback.servedFrom === 'cache' && degraded.fallback.ageMs >= 0,
    );
    const view = await waitFor('the degraded run in the API', 10_000, async () => {
      const r = await call(api, 'GET', `/api/v1/runs/${encodeURIComponent(degraded.workflowId)}`);
      return r.body.status === 'degraded' ? r.body : undefined;
    });
    assert.equal(view.fallback.servedFrom, 'cache');
    const job = await call(api, 'GET', '/api/v1/jobs/job-a');
    assert.equal(job.status, 404, 'these jobs were run by hand, not created as schedules');
  });

  it('a cache older than maxStaleness, or no cache, fails with CircuitOpen; jobs sharing the key are refused too; a fallback function serves', async () => {
    await new Promise((r) => setTimeout(r, 1_200));
    const before = totalCalls();
    const stale = await run('job-b');
    assert.equal(stale.status, 'failed');
    assert.equal(stale.status === 'failed' && stale.error.type, 'CircuitOpen');
    const none = await run('job-c');
    assert.equal(none.status === 'failed' && none.error.type, 'CircuitOpen');
    assert.match(none.status === 'failed' ? none.error.message : '', /no cached result/);
    const own = await run('job-d');
    assert.equal(own.status, 'degraded', 'a code job served by its own fallback function');
    assert.deepEqual(own.status === 'degraded' && own.result, { from: 'replica' });
    assert.deepEqual(own.status === 'degraded' && own.fallback, { servedFrom: 'function' });
    assert.equal(totalCalls(), before);
  });

  it('killing and restarting every worker keeps its state', async () => {
    // Opened afresh, so that openFor (10 s) outlasts the restart.
    await call(api, 'POST', `/api/v1/breakers/${key}/open`, {});
    const before0 = await breaker();
    for (const w of workers) if (isAlive(w.pid)) w.child.kill('SIGKILL');
    await startWorker();
    const after0 = await breaker();
    assert.equal(after0.state, 'open');
    assert.equal(after0.openedAt, before0.openedAt);
    const before = totalCalls();
    assert.equal((await run('job-a')).status, 'degraded');
    assert.equal(totalCalls(), before);
  });

  it('after openFor, of 20 runs at once exactly halfOpenProbes reach the dependency; a success closes it, for both jobs', async () => {
    const state = await breaker();
    await afterOpenFor(state);
    dep.mode = 'ok';
    const before = totalCalls();
    const outcomes = await burst(20, () => run('job-a'));
    assert.equal(totalCalls() - before, 2, 'exactly halfOpenProbes calls');
    assert.equal(outcomes.filter((o) => o.status === 'succeeded').length, 2);
    assert.equal(outcomes.filter((o) => o.status === 'degraded').length, 18);
    assert.equal((await breaker()).state, 'closed');
    assert.equal((await run('job-b')).status, 'succeeded', 'the other job on the key recovered too');
  });

  it('open and reset through the API take effect on the next run', async () => {
    const opened = await call(api, 'POST', `/api/v1/breakers/${key}/open`, {});
    assert.equal(opened.status, 200);
    assert.equal(opened.body.state, 'open');
    let before = totalCalls();
    assert.equal((await run('job-a')).status, 'degraded');
    assert.equal(totalCalls(), before);
    const reset = await call(api, 'POST', `/api/v1/breakers/${key}/reset`, {});
    assert.equal(reset.body.state, 'closed');
    before = totalCalls();
    assert.equal((await run('job-a')).status, 'succeeded');
    assert.equal(totalCalls(), before + 1);
    const list = await call(api, 'GET', '/api/v1/breakers');
    assert.ok(list.body.items.some((b: { key: string }) => b.key === key));
    assert.equal((await call(api, 'GET', '/api/v1/breakers/never-used')).status, 404);
  });

  it('a failed probe reopens it, with openFor backed off', async () => {
    await call(api, 'POST', `/api/v1/breakers/${key}/open`, {});
    const state = await breaker();
    await afterOpenFor(state);
    dep.mode = 'fail';
    const before = totalCalls();
    await burst(20, () => run('job-a'));
    assert.equal(totalCalls() - before, 2);
    const reopened = await breaker();
    assert.equal(reopened.state, 'open');
    assert.equal(Date.parse(reopened.nextProbeAt!) - Date.parse(reopened.openedAt!), 20_000, 'openFor doubled');
  });
});
