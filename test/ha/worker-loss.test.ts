/**
 * Issue 6, part 1: worker loss. Three worker processes serve a stream of runs from one-second
 * schedules whose HTTP task calls a slow dependency; one random worker is killed with SIGKILL
 * every few seconds and replaced. The dependency writes every call into a PostgreSQL ledger.
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
  repeatedSuccesses,
  scheduleLedgerJobs,
  startLedgerDependency,
  type Kill,
  type LedgerDependency,
} from '../support/ledger';
import { FIXTURES } from '../support/processes';
import { testAddress, testClient, unique } from '../support/temporal';
import { checkScheduleWindow, listRuns, waitForRunsToDrain, type ListedRun } from '../support/visibility';

const HEARTBEAT_MS = 3_000;
const RETRY_INTERVAL_MS = 500;
/** The dependency's answer time: long enough that every kill interrupts attempts in flight. */
const DEPENDENCY_DELAY_MS = 1_500;
const JOBS = 3;
const WORKERS = 3;
const CHAOS_MS = Number(process.env.SUNDIAL_HA_CHAOS_SECONDS ?? 60) * 1_000;
/** A kill every 4-7 s. */
const KILL_EVERY_MS = [4_000, 7_000] as const;
/** Ticks this close to the pause may legitimately not have started yet: not counted as due. */
const EDGE_MS = 3_000;

describe('worker loss: kill -9 a random worker every few seconds', () => {
  let client: Client;
  let ledger: Ledger | undefined;
  let dep: LedgerDependency | undefined;
  let fleet: WorkerFleet | undefined;
  const jobIds = Array.from({ length: JOBS }, (_, i) => unique(`ha-worker-loss-${i}`));

  before(async () => {
    client = await testClient();
    ledger = await Ledger.create();
    dep = await startLedgerDependency(ledger, { delayMs: DEPENDENCY_DELAY_MS });
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
    'every tick in the window ends succeeded, no tick succeeds under two keys, no run fails; failover times reported',
    { timeout: CHAOS_MS + 420_000 },
    async () => {
      const taskQueue = unique('ha-worker-loss');
      fleet = new WorkerFleet({
        TEMPORAL_ADDRESS: testAddress(),
        TEMPORAL_TASK_QUEUE: taskQueue,
        SUNDIAL_JOBS_MODULE: path.join(FIXTURES, 'no-jobs.js'),
      });
      await fleet.start(WORKERS);

      await scheduleLedgerJobs(client, taskQueue, jobIds, {
        dependencyUrl: dep!.url,
        retryIntervalMs: RETRY_INTERVAL_MS,
        maximumAttempts: 20,
        heartbeatMs: HEARTBEAT_MS,
      });

      // Chaos: kill a random running worker, start its replacement at once.
      const kills: Kill[] = [];
      const chaosEnd = Date.now() + CHAOS_MS;
      for (;;) {
        const wait = KILL_EVERY_MS[0] + Math.random() * (KILL_EVERY_MS[1] - KILL_EVERY_MS[0]);
        if (Date.now() + wait > chaosEnd) break;
        await new Promise((r) => setTimeout(r, wait));
        const candidates = fleet.running();
        // Never kill the last one up: replacements take seconds to start on a loaded machine.
        if (candidates.length < 2) continue;
        const victim = candidates[Math.floor(Math.random() * candidates.length)]!;
        const { at } = await fleet.stop(victim, 'SIGKILL');
        kills.push({ pid: victim.proc.pid, at });
        fleet.add();
      }
      const pausedAt = Date.now();
      for (const id of jobIds) await client.schedule.getHandle(id).pause('worker-loss test: window closed');
      const drainMs = await waitForRunsToDrain(client, jobIds, 180_000);

      const runs: ListedRun[] = (await Promise.all(jobIds.map((id) => listRuns(client, id)))).flat();
      const rows = await ledger!.rows();

      // Every tick due in the window has exactly one run, and it ended succeeded.
      const { missing, doubled, notSucceeded, due, openedAt } = await checkScheduleWindow(
        client,
        runs,
        jobIds,
        pausedAt - EDGE_MS,
      );

      // The ledger: per tick, the successful side effects carry one key, the tick's own.
      const byTick = new Map<string, ListedRun>(runs.map((r) => [r.workflowId, r]));
      const successKeysByTick = new Map<string, Set<string>>();
      const strangers: string[] = [];
      for (const row of rows.filter((r) => r.outcome === CallOutcome.Succeeded)) {
        const run = byTick.get(row.idempotencyKey);
        if (run === undefined || run.scheduledAt === undefined) {
          strangers.push(row.idempotencyKey);
          continue;
        }
        const tick = `${row.jobId}@${run.scheduledAt}`;
        const keys = successKeysByTick.get(tick) ?? new Set<string>();
        keys.add(row.idempotencyKey);
        successKeysByTick.set(tick, keys);
      }
      const underTwoKeys = [...successKeysByTick].filter(([, keys]) => keys.size > 1);
      const withoutEffect = runs.filter(
        (r) => !rows.some((row) => row.idempotencyKey === r.workflowId && row.outcome === CallOutcome.Succeeded),
      );
      const repeatedEffects = repeatedSuccesses(rows);

      const { times, unrecovered } = failoverTimes(kills, rows);
      const interrupted = rows.filter((r) => r.outcome === CallOutcome.Interrupted).length;
      process.stderr.write(
        `  worker loss: ${kills.length} kills in ${((pausedAt - openedAt) / 1000).toFixed(0)} s, ${runs.length} runs (${due} ticks due), ` +
          `${rows.length} dependency calls (${interrupted} interrupted), drained in ${(drainMs / 1000).toFixed(1)} s\n` +
          `  failover (kill -> interrupted attempt restarted on another worker): ${distribution(times)}; heartbeat timeout ${HEARTBEAT_MS} ms, retry interval ${RETRY_INTERVAL_MS} ms\n` +
          `  side effects repeated under the same key (at-least-once, deduplicated by the key): ${repeatedEffects.length}\n`,
      );

      assert.ok(kills.length >= Math.floor(CHAOS_MS / KILL_EVERY_MS[1]) / 2, `only ${kills.length} kills happened`);
      assert.ok(interrupted > 0, 'the kills interrupted attempts in flight');
      assert.deepEqual(missing, [], 'every tick in the window has a run');
      assert.deepEqual(doubled, [], 'no tick has two runs');
      assert.deepEqual(notSucceeded, [], 'every run ended succeeded');
      assert.deepEqual(strangers, [], "every key the dependency saw is a run's workflow id");
      assert.deepEqual(
        underTwoKeys.map(([tick, keys]) => `${tick}: ${[...keys].join(', ')}`),
        [],
        'no tick succeeded under two keys',
      );
      assert.deepEqual(
        withoutEffect.map((r) => r.workflowId),
        [],
        "every run's side effect happened",
      );
      assert.deepEqual(
        unrecovered.map((r) => `${r.idempotencyKey}#${r.attempt}`),
        [],
        'every interrupted attempt was retried',
      );
      for (const row of rows) {
        const retryOf = rows.find(
          (r) =>
            r.idempotencyKey === row.idempotencyKey &&
            r.attempt === row.attempt - 1 &&
            r.outcome === CallOutcome.Interrupted,
        );
        if (retryOf !== undefined)
          assert.notEqual(
            row.workerPid,
            retryOf.workerPid,
            `${row.idempotencyKey}#${row.attempt} ran on another worker than the killed attempt`,
          );
      }
      assert.deepEqual(
        (await fleet.stopAll()).filter((c) => c !== 0),
        [],
        'the surviving workers stop cleanly',
      );
    },
  );
});
