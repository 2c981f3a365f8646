/**
 * `npm run bench`: fire lag of one-second schedules on the embedded default's kind of server
 * (dev server, SQLite file). For N = 10 and N = 100 schedules it runs for a fixed period and
 * reports the lag from each tick's scheduled time to the start of its activity (p50/p95/p99)
 * and the runs completed per second. A measurement, not a test: nothing here fails on a number.
 *
 * Options (environment): BENCH_SECONDS (default 60), BENCH_SIZES (default "10,100").
 */
import { cpus, totalmem } from 'node:os';
import { Context } from '@temporalio/activity';
import { defineJob } from '../src/jobs/define';
import { JobRegistry } from '../src/jobs/registry';
import { reconcileSchedules } from '../src/schedules/reconcile';
import { DEV_SERVER_RUN_COST_TUNING, SCHEDULER_TUNING, SQLITE_PRAGMAS } from '../src/temporal/dev-server';
import { benchLogger, percentile, runBench, startBenchServer, startBenchWorker } from './support';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const SIZES = (process.env.BENCH_SIZES ?? '10,100').split(',').map(Number);
const WARMUP_MS = 5_000;

/**
 * Runs `n` one-second schedules on the server at `address` for BENCH_SECONDS with an in-process
 * worker and returns the lag figures (bench/node-loss.ts reuses it for the full server).
 */
export async function measure(address: string, n: number): Promise<Record<string, number>> {
  const taskQueue = `bench-${n}-${Date.now()}`;
  // lag = tick -> activity start; split at the moment the workflow scheduled the activity:
  // toScheduled covers the schedule starting the workflow and its first workflow task,
  // toStart the activity's dispatch to the worker.
  const lags: Array<{ at: number; lag: number; toScheduled: number; toStart: number }> = [];
  let completed = 0;
  const jobs = Array.from({ length: n }, (_, i) =>
    defineJob({
      id: `bench-${n}-${i}`,
      schedule: { intervals: [{ every: '1s' }] },
      policies: { overlap: 'allow_all' },
      run: (ctx) => {
        const now = Date.now();
        const scheduled = Context.current().info.currentAttemptScheduledTimestampMs;
        lags.push({
          at: now,
          lag: now - ctx.scheduledAt.getTime(),
          toScheduled: scheduled - ctx.scheduledAt.getTime(),
          toStart: now - scheduled,
        });
        completed++;
        return null;
      },
    }),
  );
  const registry = JobRegistry.create(jobs);
  const { client, stop } = await startBenchWorker(address, taskQueue, registry);
  await reconcileSchedules({ client, registry, taskQueue, logger: benchLogger, pruneOrphans: false });
  const start = Date.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1_000));
  const end = Date.now();
  for (const j of registry.jobs) await client.schedule.getHandle(j.spec.id).delete();
  await stop();
  const inWindow = lags.filter((l) => l.at >= start + WARMUP_MS && l.at <= end);
  const window = inWindow.map((l) => l.lag).sort((a, b) => a - b);
  const toScheduled = inWindow.map((l) => l.toScheduled).sort((a, b) => a - b);
  const toStart = inWindow.map((l) => l.toStart).sort((a, b) => a - b);
  const seconds = (end - start - WARMUP_MS) / 1000;
  return {
    schedules: n,
    samples: window.length,
    expected: Math.round(n * seconds),
    p50_ms: percentile(window, 50),
    p95_ms: percentile(window, 95),
    p99_ms: percentile(window, 99),
    max_ms: window[window.length - 1] ?? NaN,
    runs_per_s: Number((window.length / seconds).toFixed(1)),
    tick_to_activity_scheduled_p50_ms: percentile(toScheduled, 50),
    tick_to_activity_scheduled_p99_ms: percentile(toScheduled, 99),
    activity_scheduled_to_start_p50_ms: percentile(toStart, 50),
    activity_scheduled_to_start_p99_ms: percentile(toStart, 99),
    total_completed: completed,
  };
}

async function main(): Promise<void> {
  const dynamicConfig =
    process.env.BENCH_DYNAMIC_CONFIG === undefined
      ? {}
      : (JSON.parse(process.env.BENCH_DYNAMIC_CONFIG) as Record<string, string | number>);
  const sqlitePragmas =
    process.env.BENCH_SQLITE_PRAGMAS === undefined
      ? undefined
      : (JSON.parse(process.env.BENCH_SQLITE_PRAGMAS) as Record<string, string>);
  const bench = await startBenchServer({ dynamicConfig, ...(sqlitePragmas === undefined ? {} : { sqlitePragmas }) });
  const { server, cliPath, dataDir } = bench;
  process.stdout.write(
    `machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB; node ${process.version}\n` +
      `server: temporal server start-dev (CLI ${cliPath}), SQLite file in ${dataDir}, pragmas ${JSON.stringify(sqlitePragmas ?? SQLITE_PRAGMAS)}; dynamic config ${JSON.stringify({ ...SCHEDULER_TUNING, ...DEV_SERVER_RUN_COST_TUNING, ...dynamicConfig })}\n` +
      `period: ${SECONDS} s per size, first ${WARMUP_MS / 1000} s discarded\n\n`,
  );
  try {
    const rows = [];
    for (const n of SIZES) {
      const row = await measure(server.address, n);
      rows.push(row);
      process.stdout.write(`${JSON.stringify(row)}\n`);
    }
    process.stdout.write(
      '\n| schedules | samples (expected) | p50 lag | p95 lag | p99 lag | max | runs/s |\n|---|---|---|---|---|---|---|\n',
    );
    for (const r of rows) {
      process.stdout.write(
        `| ${r.schedules} | ${r.samples} (${r.expected}) | ${r.p50_ms} ms | ${r.p95_ms} ms | ${r.p99_ms} ms | ${r.max_ms} ms | ${r.runs_per_s} |\n`,
      );
    }
  } finally {
    await bench.stop();
  }
}

// Only as `npm run bench`; bench/node-loss.ts imports measure().
if (require.main === module) runBench(main);
