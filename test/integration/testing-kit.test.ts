/**
 * The test kit (`sundial/testing`), used as a user would use it, on the jobs Sundial ships
 * (src/jobs/examples.ts): their code with a fake context, and whole runs on a real server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestEnvironment, runJobCode, type TestEnvironment } from '../../src/public/testing';
import { defineJob } from '../../src/jobs/define';
import { exampleJobs } from '../../src/jobs/examples';
import { NonRetryableJobError } from '../../src/jobs/errors';
import { startDependency } from '../support/dependency';
import { portOpen } from '../support/ports';
import { testAddress, testCliPath, unique } from '../support/temporal';

type Dependency = Awaited<ReturnType<typeof startDependency>>;

/** One of the shipped examples, by id. */
function example(id: string, apiUrl = 'http://127.0.0.1:9') {
  const job = exampleJobs(apiUrl).find((j) => j.spec.id === id);
  assert.ok(job, `no example ${id}`);
  return job;
}

describe("the test kit: a job's code with a fake context", () => {
  it('when example-flaky runs as attempt 1, then it fails retryably; as attempt 3, then it succeeds', async () => {
    const first = await runJobCode(example('example-flaky'), { attempt: 1 });
    assert.equal(first.status, 'failed');
    assert.deepEqual(first.status === 'failed' && first.error, {
      type: 'RetryableJobError',
      message: 'simulated failure on attempt 1',
    });
    assert.equal(first.status === 'failed' && first.retryable, true);
    const third = await runJobCode(example('example-flaky'), { attempt: 3 });
    assert.deepEqual(third.status === 'succeeded' && third.result, { succeededOnAttempt: 3 });
    assert.equal(third.context.attempt, 3);
    assert.equal(third.context.jobId, 'example-flaky');
  });

  it('when example-backup heartbeats, then each heartbeat is captured; when aborted after the second, then it stops there', async () => {
    const abort = new AbortController();
    const started = Date.now();
    const outcome = await runJobCode(example('example-backup'), {
      idempotencyKey: 'backup-key-1',
      signal: abort.signal,
      onHeartbeat: (details) => {
        if ((details as { chunk: number }).chunk === 2) abort.abort();
      },
    });
    assert.deepEqual(outcome.heartbeats, [{ chunk: 1 }, { chunk: 2 }]);
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.status === 'failed' && outcome.error.type, 'AbortError');
    assert.equal(outcome.status === 'failed' && outcome.retryable, true, 'an aborted attempt is tried again');
    assert.ok(Date.now() - started < 10_000, 'it stopped long before its 20 chunks');
    assert.equal(outcome.context.idempotencyKey, 'backup-key-1');
    assert.ok(outcome.context.signal.aborted);
  });

  it('when the code throws a non-retryable error, or one the job lists, then it is reported as not retried; args and secrets reach the code', async () => {
    const job = defineJob({
      id: 'kit-args',
      schedule: { cron: '@yearly' },
      args: { bucket: 'declared', token: { secret: 'KIT_TOKEN' } },
      retry: { nonRetryableErrorTypes: ['QuotaError'] },
      run: (ctx) => {
        const args = ctx.args as unknown as { bucket: string; token: string };
        if (args.bucket === 'missing') throw new NonRetryableJobError('no such bucket');
        if (args.bucket === 'quota') throw Object.assign(new Error('over quota'), { name: 'QuotaError' });
        return { bucket: args.bucket, tokenLength: args.token.length, echo: args.token };
      },
    });
    const secrets = { KIT_TOKEN: 'sixteen-chars-xx' };
    const declared = await runJobCode(job, { secrets });
    assert.deepEqual(
      declared.status === 'succeeded' && declared.result,
      { bucket: 'declared', tokenLength: 16, echo: '[redacted]' },
      'the secret reached the code, and is scrubbed from its result as a worker scrubs it',
    );
    const missing = await runJobCode(job, { args: { bucket: 'missing', token: { secret: 'KIT_TOKEN' } }, secrets });
    assert.equal(missing.status === 'failed' && missing.retryable, false);
    const quota = await runJobCode(job, { args: { bucket: 'quota', token: 'plain' } });
    assert.deepEqual(quota.status === 'failed' && [quota.error.type, quota.retryable], ['QuotaError', false]);
  });

  it('when the job has no code, then runJobCode says so', async () => {
    await assert.rejects(runJobCode(example('example-http-health')), /example-http-health.*only code jobs/);
    await assert.rejects(runJobCode(example('example-flaky'), { fallback: true }), /no fallbackRun/);
  });
});

describe('the test kit: whole runs on a real server, with a fast clock', () => {
  let env: TestEnvironment;
  let health: Dependency;
  let payments: Dependency;
  const dep = { up: false };
  const key = unique('payments-db');

  before(async () => {
    health = await startDependency((req, res) =>
      res.writeHead(req.url === '/healthz' ? 200 : 404, { 'content-type': 'application/json' }).end('{"ok":true}'),
    );
    payments = await startDependency((_req, res) =>
      dep.up ? res.writeHead(200).end('{"settled":3}') : res.writeHead(503).end('down'),
    );
    const paymentsSync = defineJob({
      id: 'payments-sync',
      schedule: { cron: '@hourly' },
      retry: { initialInterval: '5s', backoffCoefficient: 2, maximumAttempts: 3 },
      breaker: { key, failureThreshold: 2, openFor: '5m', halfOpenProbes: 1 },
      fallback: { type: 'function' },
      run: async () => {
        const res = await fetch(`${payments.url}/settle`);
        if (!res.ok) throw new Error(`payments answered ${res.status}`);
        return res.json();
      },
      fallbackRun: () => ({ settled: 0, deferred: true }),
    });
    // 1/100: example-flaky's 1 s and 2 s backoffs take 10 and 20 ms; the breaker's 5 minutes, 3 s.
    const echo = defineJob({ id: 'echo-args', schedule: { cron: '@hourly' }, args: { n: 0 }, run: (ctx) => ctx.args });
    env = await createTestEnvironment({
      jobs: [...exampleJobs(health.url), paymentsSync, echo],
      address: testAddress(),
      timeScale: 0.01,
    });
  });
  after(async () => {
    await env?.stop();
    await health?.close();
    await payments?.close();
  });

  it('when example-flaky runs, then it succeeds on its third attempt, without waiting its declared backoff', async () => {
    const outcome = await env.runJob('example-flaky');
    assert.equal(outcome.status, 'succeeded');
    assert.equal(outcome.attempts, 3);
    assert.deepEqual(outcome.status === 'succeeded' && outcome.result, { succeededOnAttempt: 3 });
    assert.deepEqual(outcome.attemptOutcomes, { success: 1, retryable_error: 2, non_retryable_error: 0 });
    // Declared: 1 s then 2 s (±20 %), at least 2.4 s; scaled, tens of milliseconds.
    assert.ok(outcome.durationMs < 2_400, `took ${outcome.durationMs} ms`);
  });

  it('when the HTTP example runs, then it calls its URL and succeeds', async () => {
    const outcome = await env.runJob('example-http-health');
    assert.equal(outcome.status, 'succeeded');
    assert.equal(outcome.status === 'succeeded' && (outcome.result as { status: number }).status, 200);
    assert.ok(health.seen.some((s) => s.idempotencyKey === outcome.workflowId));
  });

  it('when a dependency is down, then the breaker opens and the fallback serves; after openFor, a probe closes it', async () => {
    const tripping = await env.runJob('payments-sync');
    assert.equal(tripping.status, 'degraded', 'the second failure opened the breaker: the fallback served');
    assert.equal(tripping.attempts, 2);
    assert.deepEqual(tripping.status === 'degraded' && [tripping.result, tripping.fallback], [
      { settled: 0, deferred: true },
      { servedFrom: 'function' },
    ]);
    const opened = await env.breaker(key);
    assert.equal(opened?.state, 'open');
    assert.equal(opened?.key, key, 'the key as the job declares it');

    const calls = payments.seen.length;
    const served = await env.runJob('payments-sync');
    assert.equal(served.status, 'degraded');
    assert.equal(served.attempts, 0);
    assert.equal(payments.seen.length, calls, 'an open breaker does not call the dependency');

    dep.up = true;
    // openFor is 5 minutes, 3 s at this clock: wait for it in the breaker's time.
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(opened!.nextProbeAt!) - Date.now()) + 1_000));
    const probe = await env.runJob('payments-sync');
    assert.equal(probe.status, 'succeeded');
    assert.deepEqual(probe.status === 'succeeded' && probe.result, { settled: 3 });
    assert.equal((await env.breaker(key))?.state, 'closed');
  });

  it('when given args, then the run uses them; an unknown job or args for an HTTP job are refused', async () => {
    const declared = await env.runJob('echo-args');
    assert.deepEqual(declared.status === 'succeeded' && declared.result, { n: 0 });
    const given = await env.runJob('echo-args', { args: { n: 7 } });
    assert.deepEqual(given.status === 'succeeded' && given.result, { n: 7 });
    await assert.rejects(env.runJob('no-such-job'), /no job "no-such-job".*example-flaky/);
    await assert.rejects(env.runJob('example-http-health', { args: {} }), /HTTP job/);
  });
});

describe('the test kit: an environment with a dev server of its own', () => {
  it('when no address is given, then it starts a dev server, runs a job there and stops it', async () => {
    const env = await createTestEnvironment({
      jobs: [example('example-flaky')],
      timeScale: 0.01,
      temporalCli: testCliPath(),
    });
    let stopped = false;
    try {
      assert.notEqual(env.address, testAddress());
      const outcome = await env.runJob('example-flaky');
      assert.equal(outcome.status, 'succeeded');
      assert.equal(outcome.attempts, 3);
      await env.stop();
      stopped = true;
      assert.equal(await portOpen(Number(env.address.split(':')[1])), false, 'the dev server is gone');
    } finally {
      if (!stopped) await env.stop();
    }
  });
});
