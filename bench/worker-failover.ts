/**
 * `npm run bench:failover`: worker failover time over repeated trials. Two `npm run worker`
 * processes on a dev server like the embedded default's; each trial starts one run of an HTTP
 * job whose first attempt hangs in a dependency (a PostgreSQL ledger records every call),
 * kills the worker holding that attempt with SIGKILL, and measures
 * - kill -> the next attempt reaching the dependency from the other worker (failover), and
 * - kill -> the run completed.
 * The killed worker is restarted before the next trial. A measurement, not a test.
 *
 * Options: BENCH_TRIALS (default 20), BENCH_HEARTBEAT (default `3s`), BENCH_RETRY (the retry
 * interval, default `500ms`).
 */
import { cpus } from 'node:os';
import path from 'node:path';
import type { RunOutcome } from '../src/jobs/run-types';
import { defineJob } from '../src/jobs/define';
import { JobRegistry } from '../src/jobs/registry';
import { parseDuration } from '../src/util/duration';
import { WorkerFleet } from '../test/support/fleet';
import { CallOutcome, Ledger, startLedgerDependency, type LedgerRow } from '../test/support/ledger';
import { FIXTURES } from '../test/support/processes';
import { percentile, runBench, startBenchServer, startBenchWorker } from './support';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 20);
const HEARTBEAT = process.env.BENCH_HEARTBEAT ?? '3s';
const RETRY = process.env.BENCH_RETRY ?? '500ms';

async function main(): Promise<void> {
  const bench = await startBenchServer();
  const ledger = await Ledger.create();
  // The first attempt never answers: its worker is killed while it waits.
  const dep = await startLedgerDependency(ledger, { delayMs: ({ attempt }) => (attempt <= 1 ? 600_000 : 50) });
  const taskQueue = 'bench-failover';
  const fleet = new WorkerFleet({
    TEMPORAL_ADDRESS: bench.server.address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    SUNDIAL_JOBS_MODULE: path.join(FIXTURES, 'no-jobs.js'),
  });
  // A client only: no jobs are served in this process (an empty registry on an unused queue).
  const { client, stop } = await startBenchWorker(
    bench.server.address,
    'bench-failover-client',
    JobRegistry.create([]),
  );
  const failover: number[] = [];
  const completion: number[] = [];
  try {
    await fleet.start(2);
    const job = JobRegistry.create([
      defineJob({
        id: 'failover',
        schedule: { cron: '@yearly' },
        http: { url: `${dep.url}/failover`, timeout: '10m' },
        retry: { initialInterval: RETRY, backoffCoefficient: 1, maximumAttempts: 5 },
        timeouts: { startToClose: '15m', heartbeat: HEARTBEAT },
      }),
    ]).get('failover')!.run;
    for (let trial = 0; trial < TRIALS; trial++) {
      const workflowId = `failover-trial-${trial}-${Date.now()}`;
      const handle = await client.workflow.start('jobWorkflow', { taskQueue, workflowId, args: [job] });
      let first: LedgerRow | undefined;
      for (let i = 0; i < 300 && first === undefined; i++) {
        first = (await ledger.rows()).find((r) => r.idempotencyKey === workflowId && r.attempt === 1);
        if (first === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      if (first === undefined) throw new Error(`trial ${trial}: the first attempt never reached the dependency`);
      const victim = fleet.members.find((m) => m.proc.pid === first.workerPid);
      if (victim === undefined) throw new Error(`trial ${trial}: attempt from unknown worker ${first.workerPid}`);
      const { at } = await fleet.stop(victim, 'SIGKILL');
      const outcome = (await handle.result()) as RunOutcome;
      const doneAt = Date.now();
      if (outcome.status !== 'succeeded') throw new Error(`trial ${trial}: run ${outcome.status}`);
      const rows = (await ledger.rows()).filter((r) => r.idempotencyKey === workflowId);
      const retry = rows.find((r) => r.attempt > 1 && r.outcome === CallOutcome.Succeeded);
      if (retry === undefined || retry.workerPid === first.workerPid)
        throw new Error(`trial ${trial}: no retry on another worker`);
      failover.push(retry.startedAt - at);
      completion.push(doneAt - at);
      process.stderr.write(
        `trial ${trial + 1}/${TRIALS}: failover ${retry.startedAt - at} ms, run completed ${doneAt - at} ms after the kill\n`,
      );
      await fleet.add().running;
    }
  } finally {
    await stop();
    await fleet.killAll();
    await dep.close();
    await ledger.drop();
    await bench.stop();
  }
  const row = (name: string, v: number[]) =>
    `| ${name} | ${percentile(v, 50)} ms | ${percentile(v, 90)} ms | ${percentile(v, 99)} ms | ${Math.max(...v)} ms |`;
  process.stdout.write(
    `machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}; ${TRIALS} trials; heartbeat timeout ${HEARTBEAT} (${parseDuration(HEARTBEAT)} ms), retry interval ${RETRY}\n\n` +
      '| from kill -9 to | p50 | p90 | p99 | max |\n|---|---|---|---|---|\n' +
      `${row('the next attempt reaching the dependency (failover)', failover)}\n${row('the run completed', completion)}\n`,
  );
}

runBench(main);
