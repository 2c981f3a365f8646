/**
 * Issue 12: runs that meet a broken breaker, a lost update answer or a worker's shutdown still
 * end with their outcome, counted once; retries are jittered and honour Retry-After.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { makeBreakerActivities } from '../../src/activities/breaker';
import { MAX_CACHE_TOTAL_CHARS } from '../../src/breaker/cache';
import {
  breakerWorkflowId,
  cachedQuery,
  resetUpdate,
  stateQuery,
  type AdmitRequest,
  type AdmitResponse,
  type BreakerView,
  type RecordRequest,
} from '../../src/breaker/contract';
import { defineJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import type { RunOutcome } from '../../src/jobs/run-types';
import { call, startTestApi } from '../support/api';
import { jobs as shutdownJobs } from '../fixtures/shutdown-jobs';
import { FIXTURES, killGroup, startSundial, type SundialProcess } from '../support/processes';
import { runOnce } from '../support/runs';
import { startTestWorker, testAddress, testClient, unique, waitFor, type TestWorker } from '../support/temporal';

/** Gates the test opens, and what the jobs saw, by job id. */
const gates = new Map<string, { open: Promise<void>; release: () => void }>();
const calls = new Map<string, number[]>();
function gate(id: string): Promise<void> {
  let g = gates.get(id);
  if (g === undefined) {
    let release!: () => void;
    const open = new Promise<void>((r) => (release = r));
    g = { open, release };
    gates.set(id, g);
  }
  return g.open;
}
function seen(id: string): number[] {
  return calls.get(id) ?? [];
}
function note(id: string): void {
  calls.set(id, [...seen(id), Date.now()]);
}

const JITTER_RUNS = 20;
const JITTER_INITIAL_MS = 2_000;

describe('deploy safety: breaker faults, worker shutdown, jitter and Retry-After', () => {
  let client: Client;
  let worker: TestWorker;
  let registry: JobRegistry;
  const taskQueue = unique('deploy-safety');
  const key = (name: string) => `${name}-${taskQueue}`;
  let dependency: { url: string; close(): Promise<void> };
  const shutdownQueue = unique('deploy-safety-shutdown');
  const processes: SundialProcess[] = [];

  before(async () => {
    client = await testClient();
    // A dependency that answers 429 with Retry-After: 2 the first time, then 200.
    let limited = 0;
    const server = createServer((req, res) => {
      if (req.url === '/cut') {
        note('cut-by-shutdown');
        // The first call hangs until its caller gives up (the old worker's shutdown aborts it).
        if (seen('cut-by-shutdown').length > 1) res.writeHead(200).end('ok');
        return;
      }
      note('http-429');
      if (limited++ === 0) {
        res.writeHead(429, { 'retry-after': '2' }).end('slow down');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    dependency = {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => {
        server.closeAllConnections();
        return new Promise((r) => server.close(() => r()));
      },
    };
    process.env.SHUTDOWN_TEST_URL = dependency.url;
    process.env.SHUTDOWN_TEST_KEY = key('cut-by-shutdown');

    const breakerJob = (id: string, run: () => Promise<unknown>, extra: object = {}) =>
      defineJob({
        id,
        schedule: { cron: '@yearly' },
        paused: true,
        breaker: { key: key(id), failureThreshold: 3, openFor: '30s' },
        retry: { initialInterval: '100ms', maximumAttempts: 2 },
        run,
        ...extra,
      });
    registry = JobRegistry.create([
      breakerJob('record-lost', async () => {
        note('record-lost');
        await gate('record-lost');
        return { done: true };
      }),
      // Holds a breaker's workflow id in the tests that replace the breaker: a job run that
      // waits, and rejects every update sent to it.
      defineJob({
        id: 'decoy',
        schedule: { cron: '@yearly' },
        paused: true,
        run: async () => {
          await gate('decoy');
          return null;
        },
      }),
      breakerJob('admit-lost', async () => {
        note('admit-lost');
        return { done: true };
      }),
      ...shutdownJobs(),
      defineJob({
        id: 'http-429',
        schedule: { cron: '@yearly' },
        paused: true,
        breaker: { key: key('http-429'), failureThreshold: 5, openFor: '30s' },
        retry: { initialInterval: '100ms', backoffCoefficient: 1, maximumAttempts: 3 },
        http: { url: `${dependency.url}/limited`, method: 'GET' },
      }),
      ...Array.from({ length: JITTER_RUNS }, (_, i) =>
        defineJob({
          id: `herd-${i}`,
          schedule: { cron: '@yearly' },
          paused: true,
          retry: { initialInterval: `${JITTER_INITIAL_MS}ms`, backoffCoefficient: 1, maximumAttempts: 2, jitter: 0.5 },
          run: async () => {
            note(`herd-${i}`);
            if (seen(`herd-${i}`).length === 1) {
              await gate('herd');
              throw new Error('the shared dependency is down');
            }
            return { ok: true };
          },
        }),
      ),
    ]);
    worker = await startTestWorker(registry, taskQueue);
  });
  after(async () => {
    for (const p of processes) killGroup(p);
    for (const g of gates.values()) g.release();
    await worker?.stop();
    await dependency?.close();
    await client?.connection.close();
  });

  it('when an admit or a record is retried after its answer was lost, then the breaker applies it once', async () => {
    const acts = makeBreakerActivities();
    const admit = (env: MockActivityEnvironment, req: AdmitRequest): Promise<AdmitResponse> =>
      env.run(acts.breakerAdmit, breakerKey, req);
    const record = (env: MockActivityEnvironment, req: RecordRequest): Promise<BreakerView> =>
      env.run(acts.breakerRecord, breakerKey, req);
    const breakerKey = key('ambiguous');
    const config = { failureThreshold: 5, openForMs: 30_000, maxOpenForMs: 60_000, halfOpenProbes: 1 };
    // The same local activity (same run, same activity id) called twice: its retry after a
    // lost answer.
    const info = {
      activityId: '3',
      taskQueue,
      workflowExecution: { workflowId: unique('ambiguous-run'), runId: unique('run') },
    };
    const env = new MockActivityEnvironment(info, { client });
    const first = await admit(env, { jobId: 'ambiguous', config, leaseMs: 60_000 });
    const again = await admit(env, { jobId: 'ambiguous', config, leaseMs: 60_000 });
    assert.ok(first.permit !== undefined);
    assert.deepEqual(again.permit, first.permit, 'the retried admit got the permit it was given, not a second one');

    const recordEnv = new MockActivityEnvironment({ ...info, activityId: '4' }, { client });
    await record(recordEnv, { jobId: 'ambiguous', config, permit: first.permit!, ok: false });
    const view = await record(recordEnv, { jobId: 'ambiguous', config, permit: first.permit!, ok: false });
    assert.equal(view.failures, 1, 'the retried record counted the failure once');
    const state = await client.workflow.getHandle(breakerWorkflowId(breakerKey)).query(stateQuery);
    assert.equal(state.failures, 1);
    // A different call (another activity id) is another update.
    const other = await record(new MockActivityEnvironment({ ...info, activityId: '5' }, { client }), {
      jobId: 'ambiguous',
      config,
      permit: first.permit!,
      ok: false,
    });
    assert.equal(other.failures, 2);
    await client.workflow.getHandle(breakerWorkflowId(breakerKey)).terminate('test done');
  });

  it('when 50 jobs on one key cache 60 KiB results, then the breaker keeps the newest within its bound and survives continue-as-new', async () => {
    const acts = makeBreakerActivities();
    const breakerKey = key('big-cache');
    const config = { failureThreshold: 5, openForMs: 30_000, maxOpenForMs: 60_000, halfOpenProbes: 1 };
    const handle = client.workflow.getHandle(breakerWorkflowId(breakerKey));
    const result = (i: number) => `${String(i).padStart(4, '0')}:${'x'.repeat(60 * 1024)}`;
    let firstRun: string | undefined;
    for (let i = 0; i < 50; i++) {
      const info = {
        activityId: String(i),
        taskQueue,
        workflowExecution: { workflowId: `big-cache-${i}`, runId: unique('run') },
      };
      const env = new MockActivityEnvironment(info, { client });
      const { permit } = (await env.run(acts.breakerAdmit, breakerKey, {
        jobId: `job-${i}`,
        config,
        leaseMs: 60_000,
      })) as AdmitResponse;
      firstRun ??= (await handle.describe()).runId;
      await new MockActivityEnvironment({ ...info, activityId: `${i}-record` }, { client }).run(
        acts.breakerRecord,
        breakerKey,
        { jobId: `job-${i}`, config, permit: permit!, ok: true, cache: { result: result(i) } },
      );
    }
    // Updates until the entity continues as new (every 500, or sooner when its history is
    // large), carrying its cache along.
    for (let i = 0; i < 600; i++) {
      if (i % 50 === 0 && (await handle.describe()).runId !== firstRun) break;
      await handle.executeUpdate(resetUpdate, { args: [{}] }).catch(() => undefined);
    }
    const next = await waitFor('the breaker to continue as new', 60_000, async () => {
      const d = await handle.describe();
      return d.runId !== firstRun && d.status.name === 'RUNNING' ? d : undefined;
    });
    assert.equal(next.status.name, 'RUNNING', 'not terminated over the payload limit');
    const newest = await handle.query(cachedQuery, 'job-49');
    assert.equal(newest?.result, result(49), 'the newest result is served after continue-as-new');
    assert.equal(await handle.query(cachedQuery, 'job-0'), null, 'the oldest was evicted');
    let kept = 0;
    for (let i = 0; i < 50; i++) if ((await handle.query(cachedQuery, `job-${i}`)) !== null) kept++;
    process.stderr.write(
      `breaker cache: ${kept} of 50 results of 60 KiB kept within ${MAX_CACHE_TOTAL_CHARS} characters\n`,
    );
    assert.ok(kept >= 15 && kept <= 17, `${kept} results kept`);
    const state = await handle.query(stateQuery);
    assert.equal(state.jobs.length, 50, 'every job on the key is still known');
    await handle.terminate('test done');
  });

  /** Puts a running workflow with no breaker handlers where the breaker entity of `id` lives. */
  async function occupyBreakerId(id: string): Promise<void> {
    const workflowId = breakerWorkflowId(key(id));
    await client.workflow
      .getHandle(workflowId)
      .terminate('the test replaces the breaker')
      .catch(() => undefined);
    await client.workflow.start('jobWorkflow', { taskQueue, workflowId, args: [registry.get('decoy')!.run] });
  }

  it('when the breaker cannot be asked, then the run ends failed with its outcome, and the job never runs', async () => {
    await occupyBreakerId('admit-lost');
    const outcome = await runOnce(client, registry, 'admit-lost', taskQueue);
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.status === 'failed' ? outcome.error.type : '', 'BreakerUnavailable');
    assert.equal(seen('admit-lost').length, 0);
  });

  it('when the breaker cannot be told of a success, then the run still succeeds once, with its outcome', async () => {
    const run = runOnce(client, registry, 'record-lost', taskQueue);
    await waitFor('the attempt to start', 30_000, () => (seen('record-lost').length >= 1 ? true : undefined));
    // While the attempt runs, the breaker entity is replaced by a workflow that rejects updates.
    await occupyBreakerId('record-lost');
    void gate('record-lost');
    gates.get('record-lost')!.release();
    const outcome: RunOutcome = await run;
    assert.equal(outcome.status, 'succeeded');
    assert.equal(outcome.attempts, 1);
    assert.equal(seen('record-lost').length, 1, 'the success was not retried');
    await client.workflow.getHandle(breakerWorkflowId(key('record-lost'))).terminate('test done');
  });

  it('when a worker process is stopped mid-attempt (a deploy), then the attempt is made again uncounted and the breaker counts no failure', async () => {
    // The old worker: a process of its own, serving only this job's queue, stopped with SIGTERM.
    const old = startSundial('worker', {
      TEMPORAL_ADDRESS: testAddress(),
      TEMPORAL_TASK_QUEUE: shutdownQueue,
      SUNDIAL_JOBS_MODULE: path.join(FIXTURES, 'shutdown-jobs.js'),
      SHUTDOWN_TEST_KEY: process.env.SHUTDOWN_TEST_KEY!,
      SHUTDOWN_TEST_URL: process.env.SHUTDOWN_TEST_URL!,
      SUNDIAL_SHUTDOWN_GRACE: '1s',
    });
    processes.push(old);
    await old.waitForLog((l) => l.msg === 'worker running', 60_000);
    const run = runOnce(client, registry, 'cut-by-shutdown', shutdownQueue);
    await waitFor('the attempt to call the dependency', 30_000, () =>
      seen('cut-by-shutdown').length >= 1 ? true : undefined,
    );
    // The deploy: the old worker is told to stop (its attempt aborted after the 1 s grace), and
    // a new one takes over the queue.
    old.child.kill('SIGTERM');
    await old.exited;
    const successor = await startTestWorker(registry, shutdownQueue);
    try {
      const outcome = await run;
      assert.equal(outcome.status, 'succeeded', JSON.stringify(outcome));
      assert.equal(outcome.attempts, 1, 'maximumAttempts is 1, and the cut-off attempt was not counted');
      assert.equal(seen('cut-by-shutdown').length, 2);
      const state = await client.workflow
        .getHandle(breakerWorkflowId(process.env.SHUTDOWN_TEST_KEY!))
        .query(stateQuery);
      assert.equal(state.failures, 0);
      assert.equal(state.state, 'closed');
      assert.ok(
        old.output().includes('WorkerShutdown'),
        'the old worker reported the attempt as cut off by its shutdown',
      );
    } finally {
      await successor.stop();
      await client.workflow.getHandle(breakerWorkflowId(process.env.SHUTDOWN_TEST_KEY!)).terminate('test done');
    }
  });

  it('when a dependency answers 429 with Retry-After, then the workflow-managed retry waits that long', async () => {
    const outcome = await runOnce(client, registry, 'http-429', taskQueue);
    assert.equal(outcome.status, 'succeeded', JSON.stringify(outcome));
    assert.equal(outcome.attempts, 2);
    const [t1, t2] = seen('http-429');
    assert.ok(
      t2! - t1! >= 1_900,
      `the retry came ${t2! - t1!} ms after the 429 with Retry-After: 2 (the backoff alone is 100 ms)`,
    );
    await client.workflow.getHandle(breakerWorkflowId(key('http-429'))).terminate('test done');
  });

  it('when 20 runs fail at the same instant, then their retries spread over the jittered window', async () => {
    const runs = Array.from({ length: JITTER_RUNS }, (_, i) => runOnce(client, registry, `herd-${i}`, taskQueue));
    await waitFor('every first attempt to be waiting', 60_000, () =>
      Array.from({ length: JITTER_RUNS }, (_, i) => seen(`herd-${i}`).length).every((n) => n >= 1) ? true : undefined,
    );
    void gate('herd');
    gates.get('herd')!.release();
    const outcomes = await Promise.all(runs);
    for (const o of outcomes) assert.equal(o.status, 'succeeded');
    const failedAt = Math.max(...Array.from({ length: JITTER_RUNS }, (_, i) => seen(`herd-${i}`)[0]!));
    const retries = Array.from({ length: JITTER_RUNS }, (_, i) => seen(`herd-${i}`)[1]! - failedAt).sort(
      (a, b) => a - b,
    );
    const mean = retries.reduce((a, b) => a + b, 0) / retries.length;
    const sd = Math.sqrt(retries.reduce((a, b) => a + (b - mean) ** 2, 0) / retries.length);
    process.stderr.write(
      `jitter 0.5 of ${JITTER_INITIAL_MS} ms: retries after ${retries.join(', ')} ms; spread ${retries.at(-1)! - retries[0]!} ms, sd ${Math.round(sd)} ms\n`,
    );
    // ±50% of 2 s, uniform: a standard deviation near 577 ms, a spread near 2 s. In lockstep
    // they would all come within a few tens of ms of each other.
    assert.ok(retries.at(-1)! - retries[0]! >= 800, `the retries spread over ${retries.at(-1)! - retries[0]!} ms`);
    assert.ok(sd >= 250, `standard deviation ${Math.round(sd)} ms`);
    assert.ok(retries[0]! >= 0.5 * JITTER_INITIAL_MS - 300, `no retry before the window: ${retries[0]} ms`);
  });

  it('when a job is patched with paused, then its schedule is paused or unpaused', async () => {
    const api = await startTestApi(client, { taskQueue });
    const id = unique('patch-paused');
    try {
      const created = await call(api, 'POST', '/api/v1/jobs', {
        id,
        schedule: { cron: '@yearly' },
        task: { type: 'http', url: 'http://127.0.0.1:9/x' },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const paused = await call(api, 'PATCH', `/api/v1/jobs/${id}`, { paused: true });
      assert.equal(paused.status, 200, JSON.stringify(paused.body));
      assert.equal(paused.body.state.paused, true);
      assert.equal((await call(api, 'GET', `/api/v1/jobs/${id}`)).body.state.paused, true);
      const unpaused = await call(api, 'PATCH', `/api/v1/jobs/${id}`, { paused: false });
      assert.equal(unpaused.body.state.paused, false);
      // An edit that does not mention paused leaves a pause made with POST /pause alone.
      assert.equal((await call(api, 'POST', `/api/v1/jobs/${id}/pause`)).status, 200);
      const edited = await call(api, 'PATCH', `/api/v1/jobs/${id}`, { description: 'edited' });
      assert.equal(edited.body.state.paused, true);
    } finally {
      await call(api, 'DELETE', `/api/v1/jobs/${id}`);
      await api.stop();
    }
  });

  it('when two API jobs declare one breaker key with different thresholds, then the second write is refused naming the first job', async () => {
    const api = await startTestApi(client, { taskQueue });
    const breakerKey = unique('shared-key');
    const [first, second, third] = [unique('peer-a'), unique('peer-b'), unique('peer-c')];
    const job = (id: string, failureThreshold: number) => ({
      id,
      schedule: { cron: '@yearly' },
      paused: true,
      task: { type: 'http', url: 'http://127.0.0.1:9/x' },
      breaker: { key: breakerKey, failureThreshold, openFor: '30s' },
    });
    try {
      assert.equal((await call(api, 'POST', '/api/v1/jobs', job(first, 3))).status, 201);
      // The check reads the schedules' visibility, which lags a write by up to a second or so.
      await waitFor('the first job in the schedule listing', 30_000, async () => {
        for await (const s of client.schedule.list({ query: `SundialBreakerKey = "${breakerKey}"` }))
          if (s.scheduleId === first) return true;
        return undefined;
      });
      const refused = await call(api, 'POST', '/api/v1/jobs', job(second, 5));
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      const problem = refused.body.errors.find((e: { path: string }) => e.path === 'breaker');
      assert.match(problem?.message ?? '', new RegExp(`declared by job "${first}" with other thresholds`));
      assert.equal((await call(api, 'GET', `/api/v1/jobs/${second}`)).status, 404, 'the refused job was not created');
      // The same thresholds are accepted; a patch that changes them is refused the same way.
      assert.equal((await call(api, 'POST', '/api/v1/jobs', job(third, 3))).status, 201);
      const patched = await call(api, 'PATCH', `/api/v1/jobs/${third}`, { breaker: { failureThreshold: 7 } });
      assert.equal(patched.status, 400, JSON.stringify(patched.body));
      assert.equal((await call(api, 'GET', `/api/v1/jobs/${third}`)).body.breaker.failureThreshold, 3);
    } finally {
      for (const id of [first, second, third]) await call(api, 'DELETE', `/api/v1/jobs/${id}`);
      await api.stop();
    }
  });
});
