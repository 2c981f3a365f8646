import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { defineJob, type DefinedJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import type { HttpRequestPlan } from '../../src/jobs/run-types';
import { startDependency } from '../support/dependency';
import { freePort } from '../support/ports';
import { runOnce } from '../support/runs';
import { startTestWorker, testClient, unique, type TestWorker } from '../support/temporal';

/** Per path, the statuses the dependency answers with, in order (the last one repeats). */
const script = new Map<string, number[]>();
const headers = new Map<string, Record<string, string>>();

describe('the built-in HTTP task and multi-step jobs', () => {
  let client: Client;
  let worker: TestWorker;
  let dep: Awaited<ReturnType<typeof startDependency>>;
  let registry: JobRegistry;
  const taskQueue = unique('tasks');

  const httpJob = (id: string, statuses: number[], expectStatus?: number[]): DefinedJob => {
    script.set(`/${id}`, statuses);
    return defineJob({
      id,
      schedule: { intervals: [{ every: '1h' }] },
      http: {
        url: `${dep.url}/${id}`,
        method: 'POST',
        body: { hello: 'world' },
        timeout: '5s',
        ...(expectStatus ? { expectStatus } : {}),
      },
      retry: { initialInterval: '200ms', backoffCoefficient: 1, maximumAttempts: 4 },
    });
  };

  before(async () => {
    dep = await startDependency((req, res) => {
      // A step that never answers: only the job's timeouts end it.
      if (req.url === '/hang') return;
      const statuses = script.get(req.url ?? '') ?? [200];
      const status = statuses.length > 1 ? statuses.shift()! : statuses[0]!;
      res
        .writeHead(status, { 'content-type': 'application/json', ...(headers.get(req.url ?? '') ?? {}) })
        .end(JSON.stringify({ status }));
    });
    const deadPort = await freePort();
    registry = JobRegistry.create([
      httpJob('http-ok', [200]),
      httpJob('http-5xx-then-ok', [503, 500, 200]),
      httpJob('http-404', [404]),
      httpJob('http-unexpected', [204], [200]),
      httpJob('http-429', [429, 200]),
      defineJob({
        id: 'http-down',
        schedule: { intervals: [{ every: '1h' }] },
        http: { url: `http://127.0.0.1:${deadPort}/nothing`, timeout: '2s' },
        retry: { initialInterval: '100ms', backoffCoefficient: 1, maximumAttempts: 2 },
      }),
      defineJob({
        id: 'sequence',
        schedule: { intervals: [{ every: '1h' }] },
        workflow: 'httpSequenceWorkflow',
        args: {
          steps: [
            { url: `${dep.url}/step-a`, method: 'POST', headers: {}, timeoutMs: 5_000 },
            { url: `${dep.url}/step-b`, method: 'POST', headers: {}, timeoutMs: 5_000 },
          ] satisfies HttpRequestPlan[],
        },
        retry: { initialInterval: '300ms', backoffCoefficient: 1, maximumAttempts: 3 },
      }),
      defineJob({
        id: 'sequence-out-of-time',
        schedule: { intervals: [{ every: '1h' }] },
        workflow: 'httpSequenceWorkflow',
        args: {
          steps: [
            { url: `${dep.url}/hang`, method: 'POST', headers: {}, timeoutMs: 120_000 },
          ] satisfies HttpRequestPlan[],
        },
        retry: { initialInterval: '300ms', backoffCoefficient: 1, maximumAttempts: 3 },
        timeouts: { scheduleToClose: '3s' },
      }),
    ]);
    script.set('/step-a', [200]);
    script.set('/step-b', [500, 200]);
    headers.set('/http-429', { 'retry-after': '1' });
    client = await testClient();
    worker = await startTestWorker(registry, taskQueue);
  });
  after(async () => {
    await worker?.stop();
    await dep?.close();
    await client?.connection.close();
  });

  it('a 2xx succeeds with the status and parsed body, sending the idempotency key', async () => {
    const outcome = await runOnce(client, registry, 'http-ok', taskQueue);
    assert.equal(outcome.status, 'succeeded');
    assert.deepEqual(outcome.status === 'succeeded' && outcome.result, { status: 200, body: { status: 200 } });
    const last = dep.seen[dep.seen.length - 1]!;
    assert.equal(last.idempotencyKey, outcome.workflowId);
    assert.match(last.userAgent, /^sundial \(worker \d+@/);
  });

  it('5xx is retried until it succeeds', async () => {
    const outcome = await runOnce(client, registry, 'http-5xx-then-ok', taskQueue);
    assert.equal(outcome.status, 'succeeded');
    assert.equal(outcome.attempts, 3);
  });

  it('404 fails at once with HttpClientError', async () => {
    const outcome = await runOnce(client, registry, 'http-404', taskQueue);
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.attempts, 1);
    assert.equal(outcome.status === 'failed' && outcome.error.type, 'HttpClientError');
  });

  it('a status outside expectStatus fails at once with HttpUnexpectedStatus', async () => {
    const outcome = await runOnce(client, registry, 'http-unexpected', taskQueue);
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.attempts, 1);
    assert.equal(outcome.status === 'failed' && outcome.error.type, 'HttpUnexpectedStatus');
  });

  it('429 is retried after Retry-After', async () => {
    const started = Date.now();
    const outcome = await runOnce(client, registry, 'http-429', taskQueue);
    assert.equal(outcome.status, 'succeeded');
    assert.equal(outcome.attempts, 2);
    assert.ok(Date.now() - started >= 900, 'waited about a second, as Retry-After said');
  });

  it('a network error is retried, then fails with HttpNetworkError', async () => {
    const outcome = await runOnce(client, registry, 'http-down', taskQueue);
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.attempts, 2);
    assert.equal(outcome.status === 'failed' && outcome.error.type, 'HttpNetworkError');
  });

  it('a multi-step job runs its workflow as a child, retried as a whole with the job policy', async () => {
    const outcome = await runOnce(client, registry, 'sequence', taskQueue);
    assert.equal(outcome.status, 'succeeded');
    assert.equal(outcome.attempts, 2, 'step b failed once, so the sequence ran twice');
    assert.deepEqual(outcome.status === 'succeeded' && outcome.result, [{ status: 200 }, { status: 200 }]);
    const stepB = dep.seen.filter((s) => s.idempotencyKey?.endsWith('/step-2'));
    assert.equal(stepB.length, 2);
    assert.equal(
      new Set(stepB.map((s) => s.idempotencyKey)).size,
      1,
      "a step keeps its idempotency key across the job's attempts",
    );
  });

  it('a multi-step job with only scheduleToClose gets that budget across all its attempts', async () => {
    const outcome = await runOnce(client, registry, 'sequence-out-of-time', taskQueue);
    assert.equal(outcome.status, 'failed');
    // Its step would wait 120 s; the job's budget is 3 s for everything (generous bound: a
    // child without a timeout ran until the step gave up, then again).
    assert.ok(outcome.durationMs < 30_000, `the run ended after ${outcome.durationMs} ms`);
    assert.equal(outcome.attempts, 1, 'no attempt is started once the budget is spent');
  });
});
