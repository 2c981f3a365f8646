/**
 * `npm run bench:node-loss`: what losing a Temporal server node costs, and what the full server
 * costs in fire lag. Two parts, each a measurement, nothing fails on a number:
 *
 * 1. BENCH_TRIALS (default 3) trials of test/support/node-loss.ts: a fresh two-node Temporal
 *    v1.31.2 cluster on PostgreSQL, a Sundial worker process given both frontends, 20 one-second
 *    schedules, kill -9 of the node with most shards (and the worker's frontend); per trial the
 *    gap per schedule (last run started before the kill -> first after; and the same for the
 *    jobs' side effects), lost and doubled ticks. Reported as p50/p99 over all schedules of all
 *    trials.
 * 2. Fire lag (bench/fire-lag.ts's measure()) of BENCH_SIZES one-second schedules (default
 *    "10,20") on that cluster (worker on node 0) and on the embedded default's dev server.
 *
 * Options (environment): BENCH_TRIALS, BENCH_SIZES, BENCH_SECONDS (lag period, default 60),
 * BENCH_PARTS ("loss,lag" by default). Databases: sundial_ha_bench_temporal / _visibility,
 * dropped at the end.
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { startCluster } from '../test/support/cluster';
import { runNodeLossTrial, type NodeLossReport } from '../test/support/node-loss';
import { ensureServerBinaries, TEMPORAL_SERVER_VERSION } from '../test/support/server-binaries';
import { measure } from './fire-lag';
import { percentile, runBench, startBenchServer } from './support';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 3);
const SIZES = (process.env.BENCH_SIZES ?? '10,20').split(',').map(Number);
const PARTS = new Set((process.env.BENCH_PARTS ?? 'loss,lag').split(','));
const DB_PREFIX = 'sundial_ha_bench_';

const out = (s: string) => process.stdout.write(s);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

async function nodeLoss(): Promise<void> {
  const binaries = await ensureServerBinaries();
  const reports: NodeLossReport[] = [];
  for (let t = 1; t <= TRIALS; t++) {
    out(`trial ${t}/${TRIALS} (load average ${load()})\n`);
    const r = await runNodeLossTrial({
      binaries,
      dbPrefix: DB_PREFIX,
      progress: (l) => out(`${l}\n`),
      catchUpWaitMs: 90_000,
    });
    reports.push(r);
    out(
      `${JSON.stringify({
        trial: t,
        victim: r.victim,
        fire_gap_ms: r.fireGapMs,
        effect_gap_ms: r.gapMs,
        worker_switch_ms: r.workerSwitchMs,
        lag_before_kill_ms: r.lagBeforeKillMs,
        max_late_ms: r.maxLateMs,
        drain_ms: r.drainMs,
        expected_ticks: r.window.expectedTicks,
        lost_runs: r.lostRuns.length,
        lost_effects: r.lostEffects.length,
        doubled_runs: r.doubledRuns.length,
        doubled_effects: r.doubledEffects.length,
        retried_effects: r.retriedEffects.length,
      })}\n`,
    );
  }
  const fire = reports.flatMap((r) => r.fireGapMs.perSchedule);
  const effect = reports.flatMap((r) => r.gapMs.perSchedule);
  const sum = (f: (r: NodeLossReport) => number) => reports.reduce((a, r) => a + f(r), 0);
  out(
    `\n| trials | schedule gap p50 / p99 / max (runs started) | side-effect gap p50 / p99 / max | worker switch (each trial) | ticks in windows | lost runs / side effects | doubled runs / side effects | retried side effects |\n|---|---|---|---|---|---|---|---|\n` +
      `| ${reports.length} | ${(percentile(fire, 50) / 1000).toFixed(1)} / ${(percentile(fire, 99) / 1000).toFixed(1)} / ${(Math.max(...fire) / 1000).toFixed(1)} s ` +
      `| ${(percentile(effect, 50) / 1000).toFixed(1)} / ${(percentile(effect, 99) / 1000).toFixed(1)} / ${(Math.max(...effect) / 1000).toFixed(1)} s ` +
      `| ${reports.map((r) => (r.workerSwitchMs === undefined ? 'none' : `${(r.workerSwitchMs / 1000).toFixed(1)} s`)).join(', ')} ` +
      `| ${sum((r) => r.window.expectedTicks)} | ${sum((r) => r.lostRuns.length)} / ${sum((r) => r.lostEffects.length)} ` +
      `| ${sum((r) => r.doubledRuns.length)} / ${sum((r) => r.doubledEffects.length)} | ${sum((r) => r.retriedEffects.length)} |\n\n`,
  );
}

type Row = Record<string, number>;

async function lag(): Promise<void> {
  const rows: Array<{ server: string; row: Row }> = [];
  const binaries = await ensureServerBinaries();
  const cluster = await startCluster({ binaries, dbPrefix: DB_PREFIX, progress: (l) => out(`${l}\n`) });
  try {
    for (const n of SIZES) {
      out(`full server, ${n} schedules (load average ${load()})\n`);
      rows.push({
        server: `Temporal ${TEMPORAL_SERVER_VERSION}, 2 nodes, PostgreSQL`,
        row: await measure(cluster.nodes[0]!.frontendAddress, n),
      });
      out(`${JSON.stringify(rows[rows.length - 1]!.row)}\n`);
    }
  } finally {
    await cluster.stop();
  }
  const dev = await startBenchServer();
  try {
    for (const n of SIZES) {
      out(`dev server, ${n} schedules (load average ${load()})\n`);
      rows.push({ server: 'dev server (embedded default), SQLite file', row: await measure(dev.server.address, n) });
      out(`${JSON.stringify(rows[rows.length - 1]!.row)}\n`);
    }
  } finally {
    await dev.stop();
  }
  out(
    '\n| server | schedules | samples (expected) | p50 lag | p95 lag | p99 lag | max | runs/s |\n|---|---|---|---|---|---|---|---|\n',
  );
  for (const { server, row: r } of rows) {
    out(
      `| ${server} | ${r.schedules} | ${r.samples} (${r.expected}) | ${r.p50_ms} ms | ${r.p95_ms} ms | ${r.p99_ms} ms | ${r.max_ms} ms | ${r.runs_per_s} |\n`,
    );
  }
}

async function main(): Promise<void> {
  out(
    `machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB; node ${process.version}; load average ${load()}\n\n`,
  );
  if (PARTS.has('loss')) await nodeLoss();
  if (PARTS.has('lag')) await lag();
}

runBench(main);
