/**
 * Issue 6, part 4: a Temporal server node dies (kill -9) while 20 one-second schedules fire.
 * Not part of `npm test`: it builds/starts its own two-node cluster on the local PostgreSQL
 * (`npm run test:ha:cluster`). Bounded: about 2-3 minutes, 4 at most.
 *
 * Which node dies: the one owning the most history shards, which is also the frontend the
 * worker connected through. So the kill takes away, at once, the shards of most schedules and
 * runs, whatever matching partitions and system-worker duties it had, and the worker's own
 * frontend: the worst single node to lose. (Killing the other node would test less: the
 * worker's connection would not move.)
 *
 * The gap is reported, not asserted (speed goals live in bench/node-loss.ts); that the cluster
 * recovered is asserted through the ticks: every tick up to 15 s before the end of a 60 s
 * observation must have a run and must have run its code once the schedules are paused and
 * the backlog has drained (bounded: 75 s). The drain matters on a slow machine: a 2-core box
 * shared with other work runs fewer than the 20 runs/s these schedules ask for, so a backlog
 * builds up before the kill already (reported as the lag before the kill).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runNodeLossTrial, type NodeLossReport } from '../support/node-loss';
import { ensureServerBinaries } from '../support/server-binaries';

describe('server node loss on a two-node Temporal cluster (PostgreSQL)', () => {
  it(
    "kill -9 of the node with most shards and the worker's frontend: schedules keep firing, no tick lost within the catch-up window, none doubled",
    { timeout: 240_000 },
    async () => {
      const binaries = await ensureServerBinaries();
      const r: NodeLossReport = await runNodeLossTrial({
        binaries,
        dbPrefix: 'sundial_ha_',
        nodes: 2,
        beforeKillMs: 15_000,
        afterKillMs: 60_000,
        catchUpWaitMs: 75_000,
      });
      process.stderr.write(
        `  node loss: killed node ${r.victim.index} (shards ${r.victim.shards.join(',') || 'none'} of ${r.numHistoryShards}; worker's frontend: ${r.victim.heldWorkerFrontend})\n` +
          `  window ${r.window.from} .. ${r.window.to}: ${r.window.expectedTicks} ticks (${r.window.ticksPerSchedule} x 20 schedules)\n` +
          `  gap per schedule, last run started before the kill -> first after: min ${r.fireGapMs.min} ms, p50 ${r.fireGapMs.p50} ms, max ${r.fireGapMs.max} ms\n` +
          `  gap per schedule, last side effect before the kill -> first after: min ${r.gapMs.min} ms, p50 ${r.gapMs.p50} ms, max ${r.gapMs.max} ms\n` +
          `  worker moved to the other frontend ${r.workerSwitchMs ?? 'never'} ms after the kill; latest caught-up tick ran ${r.maxLateMs} ms after its time\n` +
          `  lost: ${r.lostRuns.length} runs, ${r.lostEffects.length} side effects; doubled: ${r.doubledRuns.length} runs, ${r.doubledEffects.length} side effects; ` +
          `retried side effects (same key): ${r.retriedEffects.length}; ${r.executions} executions, ${r.sideEffects} side effects in all\n` +
          `  lag before the kill: p50 ${r.lagBeforeKillMs.p50} ms, max ${r.lagBeforeKillMs.max} ms; side effects per 5 s from 10 s before the kill: ${r.effectsPer5s.join(' ')}; drain after pausing: ${r.drainMs} ms\n` +
          `  worker warnings/errors: ${JSON.stringify(r.workerProblems)}\n`,
      );
      assert.equal(r.nodes, 2);
      assert.ok(
        r.victim.shards.length > 0,
        `the killed node owned shards (owners before the kill: ${JSON.stringify(r.shardOwnersBeforeKill)})`,
      );
      assert.ok(r.victim.heldWorkerFrontend, 'the worker was connected through the killed node');
      assert.ok(r.workerSwitchMs !== undefined, 'the worker moved to the surviving frontend');
      assert.deepEqual(r.doubledRuns, [], 'no tick has two workflow executions');
      assert.deepEqual(r.doubledEffects, [], 'no tick ran its code under two idempotency keys');
      assert.deepEqual(r.lostRuns, [], 'every tick of the window has a run');
      assert.deepEqual(r.lostEffects, [], 'every tick of the window ran its code');
    },
  );
});
