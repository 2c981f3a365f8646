import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { defineJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import { reconcileSchedules } from '../../src/schedules/reconcile';
import { startTestWorker, testClient, testLogger, unique, waitFor, type TestWorker } from '../support/temporal';

describe('a one-second interval job', () => {
  let client: Client;
  let worker: TestWorker;
  const taskQueue = unique('interval');
  const jobId = unique('every-second');
  /** workflow id -> how many times the side effect ran for it */
  const effects = new Map<string, number>();
  const keyOf = new Map<string, string>();

  const registry = JobRegistry.create([
    defineJob({
      id: jobId,
      schedule: { intervals: [{ every: '1s' }] },
      policies: { overlap: 'allow_all' },
      run: (ctx) => {
        effects.set(ctx.workflowId, (effects.get(ctx.workflowId) ?? 0) + 1);
        keyOf.set(ctx.workflowId, ctx.idempotencyKey);
        return { at: ctx.scheduledAt.toISOString() };
      },
    }),
  ]);

  before(async () => {
    client = await testClient();
    worker = await startTestWorker(registry, taskQueue);
  });
  after(async () => {
    await client.schedule
      .getHandle(jobId)
      .delete()
      .catch(() => undefined);
    await worker?.stop();
    await client?.connection.close();
  });

  it('fires every second; each tick has its own run id and its side effect happens once', async () => {
    await reconcileSchedules({ client, registry, taskQueue, logger: testLogger, pruneOrphans: false });
    await waitFor('five ticks', 30_000, () => (effects.size >= 5 ? true : undefined));
    await client.schedule.getHandle(jobId).pause('test done');
    // Let runs started before the pause finish, then check.
    await new Promise((r) => setTimeout(r, 1_500));
    const ids = [...effects.keys()];
    for (const id of ids) {
      assert.match(
        id,
        new RegExp(`^${jobId}-\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z$`),
        'run id is <jobId>-<RFC3339 tick>',
      );
      assert.equal(effects.get(id), 1, `side effect of ${id} ran once`);
      assert.equal(keyOf.get(id), id, "the idempotency key is the tick's workflow id");
    }
    const ticks = ids.map((id) => Date.parse(id.slice(jobId.length + 1))).sort((a, b) => a - b);
    assert.equal(new Set(ticks).size, ticks.length, 'no tick ran twice');
    for (let i = 1; i < ticks.length; i++)
      assert.ok(ticks[i]! - ticks[i - 1]! >= 1_000, 'ticks are at least a second apart');
    const described = await client.schedule.getHandle(jobId).describe();
    assert.ok(described.info.numActionsTaken >= ids.length);
  });
});
