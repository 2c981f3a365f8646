/**
 * Issue 6, part 5: rolling restart. Three workers serve one-second schedules whose HTTP task
 * calls a dependency answering in 1-6 s; each worker in turn gets SIGTERM (a deploy), exits
 * after draining or cancelling its attempts, and is replaced before the next one goes.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { distribution, WorkerFleet } from '../support/fleet';
import {
  CallOutcome,
  failoverTimes,
  Ledger,
  scheduleLedgerJobs,
  startLedgerDependency,
  type Kill,
  type LedgerDependency,
} from '../support/ledger';
import { FIXTURES } from '../support/processes';
import { testAddress, testClient, unique } from '../support/temporal';
import { checkScheduleWindow, listRuns, waitForRunsToDrain } from '../support/visibility';

const GRACE_MS = 2_000;
const RETRY_INTERVAL_MS = 500;
const HEARTBEAT_MS = 3_000;
const WORKERS = 3;
const JOBS = 3;
/** Slack for a loaded two-core machine on top of what the design promises. */
const MARGIN_MS = 10_000;
const EDGE_MS = 3_000;

describe('rolling restart: SIGTERM each worker in turn during runs', () => {
  let client: Client;
  let ledger: Ledger | undefined;
  let dep: LedgerDependency | undefined;
  let fleet: WorkerFleet | undefined;
  const jobIds = Array.from({ length: JOBS }, (_, i) => unique(`ha-rolling-${i}`));

  before(async () => {
    client = await testClient();
    ledger = await Ledger.create();
    // Some attempts finish within the grace period, some outlast it and are cancelled.
    dep = await startLedgerDependency(ledger, { delayMs: () => 1_000 + Math.random() * 5_000 });
  });
  after(async () => {
    await fleet?.killAll();
    for (const id of jobIds)
      await client?.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined);
    await dep?.close();
    await ledger?.drop();
    await client?.connection.close();
  });

  it(
    'no run fails; an attempt cut short waits at most the grace period plus its retry',
    { timeout: 480_000 },
    async () => {
      const taskQueue = unique('ha-rolling');
      fleet = new WorkerFleet({
        TEMPORAL_ADDRESS: testAddress(),
        TEMPORAL_TASK_QUEUE: taskQueue,
        SUNDIAL_JOBS_MODULE: path.join(FIXTURES, 'no-jobs.js'),
        SUNDIAL_SHUTDOWN_GRACE: `${GRACE_MS}ms`,
      });
      await fleet.start(WORKERS);
      await scheduleLedgerJobs(client, taskQueue, jobIds, {
        dependencyUrl: dep!.url,
        retryIntervalMs: RETRY_INTERVAL_MS,
        maximumAttempts: 10,
        heartbeatMs: HEARTBEAT_MS,
      });
      await new Promise((r) => setTimeout(r, 5_000));

      const stops: Array<Kill & { exit: number | string; exitMs: number }> = [];
      for (const member of [...fleet.members]) {
        const { at, exit } = await fleet.stop(member, 'SIGTERM');
        stops.push({ pid: member.proc.pid, at, exit, exitMs: Date.now() - at });
        await fleet.add().running;
        // Let the replacement take a share of the work before the next one goes.
        await new Promise((r) => setTimeout(r, 3_000));
      }
      const pausedAt = Date.now();
      for (const id of jobIds) await client.schedule.getHandle(id).pause('rolling-restart test: window closed');
      await waitForRunsToDrain(client, jobIds, 120_000);

      const runs = (await Promise.all(jobIds.map((id) => listRuns(client, id)))).flat();
      const rows = await ledger!.rows();
      const { missing, doubled, notSucceeded } = await checkScheduleWindow(client, runs, jobIds, pausedAt - EDGE_MS);
      // Attempts the stopped workers held when they got SIGTERM: drained (answered during the grace
      // period) or cut short (cancelled at its end, retried on another worker).
      const held = stops.flatMap((s) =>
        rows.filter((r) => r.workerPid === s.pid && r.startedAt <= s.at && (r.endedAt === null || r.endedAt >= s.at)),
      );
      const drained = held.filter((r) => r.outcome === CallOutcome.Succeeded);
      const { times, unrecovered } = failoverTimes(stops, rows);
      process.stderr.write(
        `  rolling restart: ${stops.length} workers stopped (exit ${stops.map((s) => `${s.exit} after ${(s.exitMs / 1000).toFixed(1)} s`).join(', ')}), ` +
          `${runs.length} runs; attempts in flight at SIGTERM: ${held.length} (${drained.length} finished within the ${GRACE_MS} ms grace, ${held.length - drained.length} cut short)\n` +
          `  cut short -> retried on another worker: ${distribution(times)}; promise: grace ${GRACE_MS} ms + retry ${RETRY_INTERVAL_MS} ms\n`,
      );

      for (const s of stops) {
        assert.equal(s.exit, 0, `worker ${s.pid} exits 0 on SIGTERM`);
        // The grace period, then the cancelled attempts' force time (grace + 5 s) at worst.
        assert.ok(s.exitMs < GRACE_MS + 5_000 + MARGIN_MS, `worker ${s.pid} exited after ${s.exitMs} ms`);
      }
      assert.ok(drained.length > 0, 'some attempts finished within the grace period');
      assert.ok(held.length - drained.length > 0, 'some attempts outlasted the grace period and were cut short');
      assert.deepEqual(missing, [], 'every tick in the window has a run');
      assert.deepEqual(doubled, [], 'no tick has two runs');
      assert.deepEqual(notSucceeded, [], 'no run failed');
      assert.deepEqual(
        unrecovered.map((r) => `${r.idempotencyKey}#${r.attempt}`),
        [],
        'every attempt cut short was retried',
      );
      for (const t of times)
        assert.ok(t <= GRACE_MS + RETRY_INTERVAL_MS + MARGIN_MS, `an attempt cut short waited ${t} ms for its retry`);
      assert.deepEqual(
        (await fleet.stopAll()).filter((c) => c !== 0),
        [],
        'the last workers stop cleanly',
      );
    },
  );
});
