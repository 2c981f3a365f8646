/**
 * Issue 6, part 3: server restart. The embedded default (`npm start`: dev server on a SQLite
 * file, worker, API) runs two one-second schedules; then either its dev server is killed with
 * SIGKILL (Sundial notices and exits 1, as a supervisor expects) or the whole machine "crashes"
 * (dev server and Sundial both killed). Nothing runs for a while, then `npm start` comes back on
 * the same data folder, as a supervisor would start it. The schedules catch up the ticks missed
 * in the outage as far as each job's catchupWindow reaches.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { freePort } from '../support/ports';
import { FIXTURES, isAlive, startSundial, type SundialProcess } from '../support/processes';
import { testCliPath, waitFor } from '../support/temporal';
import { checkTicks, listRuns, secondsBetween, waitForRunsToDrain, type ListedRun } from '../support/visibility';

/** How long nothing runs between the crash and the restart. */
const OUTAGE_MS = Number(process.env.SUNDIAL_HA_OUTAGE_SECONDS ?? 20) * 1_000;
const WIDE = 'catchup-wide';
const MIN = 'catchup-min';
const MIN_WINDOW_MS = 10_000;
/** Ticks this close to a boundary (kill, resume, window edge) are not judged. */
const SLACK_MS = 5_000;

/** What is killed: the dev server alone (Sundial exits by itself), or everything at once. */
type Crash = 'dev server' | 'machine';

describe("server restart: the embedded default's server killed with -9 and restarted on the same SQLite file", () => {
  const dataDirs: string[] = [];
  const procs: SundialProcess[] = [];
  const devServerPids: number[] = [];
  after(() => {
    for (const p of procs) if (isAlive(p.pid)) p.child.kill('SIGKILL');
    for (const pid of devServerPids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
  });

  async function crashAndRestart(crash: Crash): Promise<void> {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'sundial-ha-restart-'));
    dataDirs.push(dataDir);
    const devServerPid = (): number => Number(readFileSync(path.join(dataDir, 'temporal-server.pid'), 'utf8').trim());
    const [temporalPort, uiPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const env = {
      SUNDIAL_DATA_DIR: dataDir,
      SUNDIAL_TEMPORAL_PORT: String(temporalPort),
      SUNDIAL_TEMPORAL_UI_PORT: String(uiPort),
      PORT: String(apiPort),
      TEMPORAL_CLI: testCliPath(),
      SUNDIAL_JOBS_MODULE: path.join(FIXTURES, 'catchup-jobs.js'),
      TEMPORAL_TASK_QUEUE: 'ha-restart',
    };
    const address = `127.0.0.1:${temporalPort}`;
    const first = startSundial('embedded', env);
    procs.push(first);
    await first.waitForLog((l) => l.msg === 'Sundial is up', 120_000);
    devServerPids.push(devServerPid());
    const firstPid = devServerPids.at(-1)!;
    const upAt = Date.now();

    let connection = await Connection.connect({ address });
    let client = new Client({ connection });
    await waitFor('five runs of each job', 60_000, async () => {
      const counts = await Promise.all(
        [WIDE, MIN].map(
          async (j) => (await client.workflow.count(`SundialJobId = "${j}" AND ExecutionStatus = "Completed"`)).count,
        ),
      );
      return counts.every((c) => c >= 5) ? true : undefined;
    });
    await connection.close();

    const killedAt = Date.now();
    process.kill(firstPid, 'SIGKILL');
    if (crash === 'machine') {
      // Sundial too, as fast as two signals go.
      first.child.kill('SIGKILL');
      assert.equal(await first.exited, 'SIGKILL');
    } else {
      // Sundial cannot work without its server: it says so and exits 1 for its supervisor.
      await first.waitForLog(
        (l) => l.msg === 'the Temporal dev server exited unexpectedly; exiting too (restart Sundial to restart it)',
        30_000,
      );
      assert.equal(await first.exited, 1);
      process.stderr.write(
        `  [${crash}] Sundial exited 1 ${((Date.now() - killedAt) / 1000).toFixed(1)} s after its dev server was killed\n`,
      );
    }
    await waitFor('the dev server to die', 10_000, () => (isAlive(firstPid) ? undefined : true));
    await new Promise((r) => setTimeout(r, OUTAGE_MS));

    const restartedAt = Date.now();
    const second = startSundial('embedded', env);
    procs.push(second);
    await second.waitForLog((l) => l.msg === 'Sundial is up', 120_000);
    devServerPids.push(devServerPid());
    const secondUpAt = Date.now();
    connection = await Connection.connect({ address });
    client = new Client({ connection });
    try {
      // Let the catch-up happen and a few fresh ticks run, then stop the schedules and drain.
      const resumedAt = await waitFor('a run after the restart', 60_000, async () => {
        const runs = await listRuns(client, WIDE);
        const after = runs.filter((r) => r.startedAt > killedAt).map((r) => r.startedAt);
        return after.length > 0 ? Math.min(...after) : undefined;
      });
      await waitFor('the schedules to run fresh ticks', 60_000, async () => {
        const runs = await listRuns(client, WIDE);
        return runs.some((r) => r.scheduledAt !== undefined && r.scheduledAt > secondUpAt + 3_000) ? true : undefined;
      });
      const stoppedAt = Date.now();
      for (const j of [WIDE, MIN]) await client.schedule.getHandle(j).pause('server-restart test: done');
      await waitForRunsToDrain(client, [WIDE, MIN], 60_000);

      const wide = await listRuns(client, WIDE);
      const min = await listRuns(client, MIN);
      const [wideInfo, minInfo] = await Promise.all([WIDE, MIN].map((j) => client.schedule.getHandle(j).describe()));
      const firstTick = Math.min(...[...wide, ...min].map((r) => r.scheduledAt ?? Infinity));
      const lastBeforeKill = Math.max(...wide.filter((r) => r.startedAt < killedAt).map((r) => r.scheduledAt ?? 0));
      const outageTicks = secondsBetween(lastBeforeKill, resumedAt);
      const caughtUp = (runs: ListedRun[]) =>
        runs.filter((r) => r.scheduledAt !== undefined && outageTicks.includes(r.scheduledAt));
      const wideCaught = caughtUp(wide);
      const minCaught = caughtUp(min);
      const catchUpDoneMs = Math.max(...wideCaught.map((r) => r.startedAt)) - resumedAt;
      process.stderr.write(
        `  server restart [${crash}]: killed at +${((killedAt - upAt) / 1000).toFixed(1)} s, restarted ${(OUTAGE_MS / 1000).toFixed(0)} s later, up again after ` +
          `${((secondUpAt - restartedAt) / 1000).toFixed(1)} s; gap (kill -> first run after restart) ${((resumedAt - killedAt) / 1000).toFixed(1)} s, ` +
          `${outageTicks.length} ticks fell in it\n` +
          `  ${WIDE} (catchupWindow 1h): ${wideCaught.length}/${outageTicks.length} outage ticks caught up, the last ${(catchUpDoneMs / 1000).toFixed(1)} s after the first; missed-window count ${wideInfo!.info.numActionsMissedCatchupWindow}\n` +
          `  ${MIN} (catchupWindow 10s): ${minCaught.length}/${outageTicks.length} outage ticks run, ${outageTicks.length - minCaught.length} skipped; missed-window count ${minInfo!.info.numActionsMissedCatchupWindow}\n`,
      );

      // Wide window: every tick from the first to the end, outage included, ran exactly once.
      const due = secondsBetween(firstTick - 1, stoppedAt - SLACK_MS);
      const wideReport = checkTicks(wide, [WIDE], due);
      assert.deepEqual(wideReport.missing, [], `${WIDE}: every tick has a run, outage ticks included`);
      assert.deepEqual(wideReport.doubled, [], `${WIDE}: no tick ran twice`);
      assert.deepEqual(wideReport.notSucceeded, [], `${WIDE}: every run succeeded`);
      assert.equal(wideInfo!.info.numActionsMissedCatchupWindow, 0);
      assert.ok(
        wideCaught.length === outageTicks.length && outageTicks.length >= OUTAGE_MS / 1_000,
        `${WIDE} caught up ${wideCaught.length} of ${outageTicks.length} outage ticks`,
      );

      // Minimum window: ticks older than the window when the scheduler came back were skipped;
      // outside the outage, every tick ran once.
      const tooOld = outageTicks.filter((t) => t < resumedAt - MIN_WINDOW_MS - SLACK_MS);
      assert.ok(tooOld.length > 0, 'the outage outlasted the minimum window');
      assert.deepEqual(
        minCaught.filter((r) => tooOld.includes(r.scheduledAt!)).map((r) => r.workflowId),
        [],
        `${MIN}: ticks older than its window were skipped`,
      );
      assert.ok(
        minInfo!.info.numActionsMissedCatchupWindow >= tooOld.length,
        `${MIN}: Temporal counted ${minInfo!.info.numActionsMissedCatchupWindow} ticks as missed`,
      );
      const minReport = checkTicks(
        min,
        [MIN],
        due.filter((t) => !outageTicks.includes(t)),
      );
      assert.deepEqual(minReport.missing, [], `${MIN}: every tick outside the outage has a run`);
      assert.deepEqual(checkTicks(min, [MIN], due).doubled, [], `${MIN}: no tick ran twice`);
      assert.deepEqual(minReport.notSucceeded, [], `${MIN}: every run succeeded`);
    } finally {
      await connection.close();
    }
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0);
    assert.equal(isAlive(devServerPids.at(-1)!), false, 'the dev server stopped with it');
  }

  it(
    'When the dev server is killed, then Sundial exits 1; restarted, outage ticks are caught up within the catchup window, skipped beyond it, none doubled',
    { timeout: 420_000 },
    () => crashAndRestart('dev server'),
  );
  it('When the whole machine crashes, then the same', { timeout: 420_000 }, () => crashAndRestart('machine'));
});
