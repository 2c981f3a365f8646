import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { defineJob } from '../../src/jobs/define';
import { NonRetryableJobError, RetryableJobError } from '../../src/jobs/errors';
import { JobRegistry } from '../../src/jobs/registry';
import { runOnce } from '../support/runs';
import { startTestWorker, testClient, unique, type TestWorker } from '../support/temporal';

class QuotaExceededError extends Error {
  override name = 'QuotaExceededError';
}

const attemptTimes = new Map<string, number[]>();
const keys = new Map<string, Set<string>>();
function record(jobId: string, key: string): number {
  const times = attemptTimes.get(jobId) ?? [];
  times.push(Date.now());
  attemptTimes.set(jobId, times);
  keys.set(jobId, (keys.get(jobId) ?? new Set()).add(key));
  return times.length;
}

const registry = JobRegistry.create([
  defineJob({
    id: 'fails-twice',
    schedule: { intervals: [{ every: '1h' }] },
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumAttempts: 5 },
    run: (ctx) => {
      record('fails-twice', ctx.idempotencyKey);
      if (ctx.attempt < 3) throw new RetryableJobError(`attempt ${ctx.attempt} fails`);
      return { attempt: ctx.attempt };
    },
  }),
  defineJob({
    id: 'non-retryable',
    schedule: { intervals: [{ every: '1h' }] },
    retry: { initialInterval: '200ms', maximumAttempts: 5 },
    run: (ctx) => {
      record('non-retryable', ctx.idempotencyKey);
      throw new NonRetryableJobError('the bucket does not exist');
    },
  }),
  defineJob({
    id: 'always-fails',
    schedule: { intervals: [{ every: '1h' }] },
    retry: { initialInterval: '200ms', backoffCoefficient: 1, maximumAttempts: 3 },
    run: (ctx) => {
      record('always-fails', ctx.idempotencyKey);
      throw new TypeError(`boom on attempt ${ctx.attempt}`);
    },
  }),
  defineJob({
    id: 'user-non-retryable',
    schedule: { intervals: [{ every: '1h' }] },
    retry: { initialInterval: '200ms', maximumAttempts: 5, nonRetryableErrorTypes: ['QuotaExceededError'] },
    run: (ctx) => {
      record('user-non-retryable', ctx.idempotencyKey);
      throw new QuotaExceededError('quota exceeded');
    },
  }),
]);

describe('declared retries', () => {
  let client: Client;
  let worker: TestWorker;
  const taskQueue = unique('retries');

  before(async () => {
    client = await testClient();
    worker = await startTestWorker(registry, taskQueue);
  });
  after(async () => {
    await worker?.stop();
    await client?.connection.close();
  });

  it('a job that fails twice then succeeds ends succeeded with 3 attempts, backing off as declared', async () => {
    const outcome = await runOnce(client, registry, 'fails-twice', taskQueue);
    assert.equal(outcome.status, 'succeeded');
    assert.equal(outcome.attempts, 3);
    assert.deepEqual(outcome.status === 'succeeded' && outcome.result, { attempt: 3 });
    const [t1, t2, t3] = attemptTimes.get('fails-twice')!;
    // initialInterval 1s, coefficient 2, the default jitter of ±20%: gaps of 0.8-1.2 s then
    // 1.6-2.4 s. Generous upper bounds.
    assert.ok(t2! - t1! >= 750 && t2! - t1! < 6_000, `first gap ${t2! - t1!} ms`);
    assert.ok(t3! - t2! >= 1_550 && t3! - t2! < 8_000, `second gap ${t3! - t2!} ms`);
    assert.equal(keys.get('fails-twice')!.size, 1, 'every attempt of one run has the same idempotency key');
    assert.ok(Date.parse(outcome.finishedAt) >= Date.parse(outcome.startedAt));
    assert.equal(outcome.durationMs, Date.parse(outcome.finishedAt) - Date.parse(outcome.startedAt));
  });

  it('a non-retryable error fails the run after one attempt', async () => {
    const outcome = await runOnce(client, registry, 'non-retryable', taskQueue);
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.attempts, 1);
    assert.equal(attemptTimes.get('non-retryable')!.length, 1);
    assert.deepEqual(outcome.status === 'failed' && outcome.error, {
      type: 'NonRetryableJobError',
      message: 'the bucket does not exist',
    });
  });

  it('exhausted attempts fail the run with the last error', async () => {
    const outcome = await runOnce(client, registry, 'always-fails', taskQueue);
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.attempts, 3);
    assert.equal(attemptTimes.get('always-fails')!.length, 3);
    assert.deepEqual(outcome.status === 'failed' && outcome.error, { type: 'TypeError', message: 'boom on attempt 3' });
  });

  it('a user error named in nonRetryableErrorTypes is not retried', async () => {
    const outcome = await runOnce(client, registry, 'user-non-retryable', taskQueue);
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.attempts, 1);
    assert.equal(attemptTimes.get('user-non-retryable')!.length, 1);
    assert.equal(outcome.status === 'failed' && outcome.error.type, 'QuotaExceededError');
  });
});
