import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { defineJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import { startScriptedDependency } from '../support/dependency';
import { runOnce } from '../support/runs';
import { startTestWorker, testClient, unique, type TestWorker } from '../support/temporal';

/** Per path, the statuses the dependency answers with, in order (the last one repeats). */
const script = new Map<string, number[]>();

describe("jobs with execution: 'local'", () => {
  let client: Client;
  let worker: TestWorker;
  let dep: Awaited<ReturnType<typeof startScriptedDependency>>;
  let registry: JobRegistry;
  const taskQueue = unique('local');
  const hourly = { intervals: [{ every: '1h' }] };
  const retry = { initialInterval: '200ms', backoffCoefficient: 1, maximumAttempts: 3 };

  before(async () => {
    dep = await startScriptedDependency(script);
    script.set('/flaky', [503, 200]);
    registry = JobRegistry.create([
      defineJob({
        id: 'local-retried',
        schedule: hourly,
        retry,
        execution: 'local',
        run: (ctx) =>
          ctx.attempt < 3 ? Promise.reject(new Error(`attempt ${ctx.attempt}`)) : { attempt: ctx.attempt },
      }),
      defineJob({
        id: 'local-fails',
        schedule: hourly,
        retry,
        execution: 'local',
        run: () => Promise.reject(new TypeError('always')),
      }),
      defineJob({
        id: 'local-http',
        schedule: hourly,
        retry,
        execution: 'local',
        http: { url: `${dep.url}/flaky`, timeout: '5s' },
      }),
      defineJob({
        id: 'local-timeout',
        schedule: hourly,
        retry: { ...retry, maximumAttempts: 2 },
        execution: 'local',
        timeouts: { startToClose: '1s' },
        run: (ctx) => new Promise((r) => ctx.signal.addEventListener('abort', r)),
      }),
    ]);
    client = await testClient();
    worker = await startTestWorker(registry, taskQueue);
  });
  after(async () => {
    await worker?.stop();
    await dep?.close();
    await client?.connection.close();
  });

  it('when a code job fails twice, then its declared retries run it a third time, and the run records no activity task', async () => {
    const outcome = await runOnce(client, registry, 'local-retried', taskQueue);
    assert.equal(outcome.status, 'succeeded');
    assert.equal(outcome.attempts, 3);
    assert.deepEqual(outcome.status === 'succeeded' && outcome.result, { attempt: 3 });
    const history = await client.workflow.getHandle(outcome.workflowId).fetchHistory();
    const types = (history.events ?? []).map((e) => String(e.eventType));
    assert.ok(!types.some((t) => /ACTIVITY_TASK/.test(t) || t === '10'), `no activity task events: ${types.join(',')}`);
  });

  it('when every attempt fails, then the run fails after maximumAttempts with the error type', async () => {
    const outcome = await runOnce(client, registry, 'local-fails', taskQueue);
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.attempts, 3);
    assert.equal(outcome.status === 'failed' && outcome.error.type, 'TypeError');
  });

  it('when an HTTP job answers 503 then 200, then it succeeds on the second attempt', async () => {
    const outcome = await runOnce(client, registry, 'local-http', taskQueue);
    assert.equal(outcome.status, 'succeeded');
    assert.equal(outcome.attempts, 2);
  });

  it('when an attempt outlives startToClose, then it is cancelled and retried, and the run fails with a timeout', async () => {
    const started = Date.now();
    const outcome = await runOnce(client, registry, 'local-timeout', taskQueue);
    assert.equal(outcome.status, 'failed');
    assert.match(outcome.status === 'failed' ? outcome.error.type : '', /Timeout/);
    assert.ok(Date.now() - started >= 2_000, 'two attempts of 1 s each');
  });
});
