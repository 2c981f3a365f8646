/**
 * `npm run bench:runcost`: what one run costs the server, Sundial's against a raw Temporal
 * schedule whose workflow runs one local activity, side by side on one dev server (the embedded
 * default's kind: SQLite file, Sundial's dynamic configuration) in one process.
 *
 * Each variant gets a phase of its own: N one-second schedules (offered load N runs/s, above
 * what this machine serves, so the runs/s measured is the ceiling) on a fresh task queue and
 * worker, for BENCH_SECONDS after a warm-up. Over the phase's window it reads the server's
 * Prometheus counters (persistence requests by operation, visibility persistence requests) and
 * divides by the runs completed in it; a sample of the phase's runs is described for their own
 * history length and state transitions. Variants run in the order given, so that repeating one
 * (the default repeats the reference) shows the drift of a shared machine.
 *
 * A measurement, not a test: nothing here fails on a number.
 *
 * Options (environment): BENCH_SECONDS (default 30), BENCH_SCHEDULES (default 100),
 * BENCH_VARIANTS (default "raw-local,sundial,sundial-local,raw-local"; each
 * `raw-local | raw-activity | sundial | sundial-local`, optionally `:allow_all` for that
 * overlap policy instead of Temporal's and Sundial's default `skip`), BENCH_DYNAMIC_CONFIG
 * (JSON, added to the server's).
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Context } from '@temporalio/activity';
import { Client, Connection, ScheduleOverlapPolicy } from '@temporalio/client';
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { defineJob } from '../src/jobs/define';
import { PUBLIC_ONLY, withLoopback } from '../src/egress/policy';
import { JobRegistry } from '../src/jobs/registry';
import { reconcileSchedules } from '../src/schedules/reconcile';
import { DEV_SERVER_RUN_COST_TUNING, SCHEDULER_TUNING } from '../src/temporal/dev-server';
import { installRuntime } from '../src/temporal/runtime';
import { WORKER_TUNING, createSundialWorker } from '../src/worker/worker';
import { freePort } from '../test/support/ports';
import { samples } from '../test/support/exposition';
import type { RawActivities } from './raw-workflows';
import { benchLogger, percentile, runBench, startBenchServer } from './support';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 30);
const N = Number(process.env.BENCH_SCHEDULES ?? 100);
const VARIANTS = (process.env.BENCH_VARIANTS ?? 'raw-local,sundial,sundial-local,raw-local').split(',');
const WARMUP_MS = 8_000;
/** Runs described per phase for their own history length and state transitions. */
const DESCRIBED = 20;

type Kind = 'raw-local' | 'raw-activity' | 'sundial' | 'sundial-local';
interface Variant {
  readonly label: string;
  readonly kind: Kind;
  readonly overlap: 'skip' | 'allow_all';
}

function parseVariant(text: string): Variant {
  const [kind, overlap = 'skip'] = text.split(':');
  if (!['raw-local', 'raw-activity', 'sundial', 'sundial-local'].includes(kind!))
    throw new Error(`BENCH_VARIANTS: unknown variant ${JSON.stringify(kind)}`);
  if (overlap !== 'skip' && overlap !== 'allow_all')
    throw new Error(`BENCH_VARIANTS: overlap must be skip or allow_all, not ${JSON.stringify(overlap)}`);
  return { label: text, kind: kind as Kind, overlap };
}

/** Every counter sample of the exposition, keyed by name and labels. */
async function scrape(metricsUrl: string): Promise<string> {
  return (await fetch(metricsUrl)).text();
}

/** Sum of `name`'s samples grouped by one label (or all together under ''), b minus a. */
function delta(a: string, b: string, name: string, by?: string): Map<string, number> {
  const sum = (text: string) => {
    const out = new Map<string, number>();
    for (const s of samples(text, name)) {
      const key = by === undefined ? '' : (s.labels[by] ?? '');
      out.set(key, (out.get(key) ?? 0) + s.value);
    }
    return out;
  };
  const before = sum(a);
  const out = new Map<string, number>();
  for (const [k, v] of sum(b)) {
    const d = v - (before.get(k) ?? 0);
    if (d !== 0) out.set(k, d);
  }
  return out;
}

const total = (m: Map<string, number>, only: (key: string) => boolean = () => true): number =>
  [...m.entries()].filter(([k]) => only(k)).reduce((s, [, v]) => s + v, 0);

/** Persistence operations that write (each one a SQLite transaction here). */
const isWrite = (operation: string): boolean =>
  /^(Create|Update|Append|Delete|Complete|RangeComplete|Put|Set|Save|Conflict|Upsert|Record)/.test(operation);

/** The tick a scheduled run is for: Temporal names it `<scheduleId>-<RFC3339 tick>`. */
function tickOf(workflowId: string): number {
  const m = /-(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)$/.exec(workflowId);
  return m === null ? NaN : Date.parse(m[1]!);
}

interface PhaseResult {
  readonly variant: string;
  readonly runs: number;
  readonly runsPerS: number;
  readonly lagP50Ms: number;
  readonly lagP99Ms: number;
  readonly eventsPerRun: number;
  readonly transitionsPerRun: number;
  readonly persistencePerRun: number;
  readonly writesPerRun: number;
  readonly visibilityPerRun: number;
  readonly topOperations: string;
  readonly load: string;
  /** CPU per run over the window: the server process, and this process (the worker and its SDK core). */
  readonly serverCpuMsPerRun: number;
  readonly workerCpuMsPerRun: number;
}

/** CPU time (user + system) a process has used, in ms, from /proc (clock ticks of 10 ms). */
function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // After "pid (comm) ", utime and stime are the 12th and 13th fields.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** This process's CPU time (user + system), in ms. */
function ownCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function phase(
  v: Variant,
  ctx: {
    address: string;
    serverPid: number;
    client: Client;
    native: NativeConnection;
    metricsUrl: string;
    rawBundle: Awaited<ReturnType<typeof bundleWorkflowCode>>;
  },
): Promise<PhaseResult> {
  const { client } = ctx;
  const taskQueue = `runcost-${v.kind}-${v.overlap}-${Date.now()}`;
  const ticks: Array<{ at: number; lag: number }> = [];
  const seen = (workflowId: string) => {
    const now = Date.now();
    ticks.push({ at: now, lag: now - tickOf(workflowId) });
  };
  let worker: Worker;
  const scheduleIds: string[] = [];
  if (v.kind === 'raw-local' || v.kind === 'raw-activity') {
    const activities: RawActivities = {
      tick: () => {
        seen(Context.current().info.workflowExecution?.workflowId ?? '');
        return Promise.resolve();
      },
    };
    worker = await Worker.create({
      connection: ctx.native,
      namespace: 'default',
      taskQueue,
      workflowBundle: ctx.rawBundle,
      activities,
      ...WORKER_TUNING,
    });
    for (let i = 0; i < N; i++) {
      const scheduleId = `${taskQueue}-${i}`;
      await client.schedule.create({
        scheduleId,
        spec: { intervals: [{ every: '1s' }] },
        action: {
          type: 'startWorkflow',
          workflowType: v.kind === 'raw-local' ? 'rawLocalWorkflow' : 'rawActivityWorkflow',
          workflowId: scheduleId,
          taskQueue,
        },
        policies: { overlap: v.overlap === 'skip' ? ScheduleOverlapPolicy.SKIP : ScheduleOverlapPolicy.ALLOW_ALL },
      });
      scheduleIds.push(scheduleId);
    }
  } else {
    const jobs = Array.from({ length: N }, (_, i) =>
      defineJob({
        id: `${taskQueue}-${i}`,
        schedule: { intervals: [{ every: '1s' }] },
        policies: { overlap: v.overlap },
        ...(v.kind === 'sundial-local' ? { execution: 'local' as const, timeouts: { startToClose: '10s' } } : {}),
        run: (job) => {
          seen(job.workflowId);
          return null;
        },
      }),
    );
    const registry = JobRegistry.create(jobs);
    worker = await createSundialWorker({
      connection: ctx.native,
      namespace: 'default',
      taskQueue,
      registry,
      logger: benchLogger,
      shutdownGraceMs: 1_000,
      egress: withLoopback(PUBLIC_ONLY),
    });
    await reconcileSchedules({ client, registry, taskQueue, logger: benchLogger, pruneOrphans: false });
    scheduleIds.push(...registry.jobs.map((j) => j.spec.id));
  }
  const running = worker.run();
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const from = Date.now();
  const a = await scrape(ctx.metricsUrl);
  const load0 = loadavg()[0]!;
  const cpu0 = { server: processCpuMs(ctx.serverPid), worker: ownCpuMs() };
  await new Promise((r) => setTimeout(r, SECONDS * 1_000));
  const cpu1 = { server: processCpuMs(ctx.serverPid), worker: ownCpuMs() };
  const b = await scrape(ctx.metricsUrl);
  const to = Date.now();
  const load1 = loadavg()[0]!;
  for (const id of scheduleIds) await client.schedule.getHandle(id).delete();
  // Let the runs in flight finish, so that the sample below is of completed runs.
  await new Promise((r) => setTimeout(r, 3_000));
  worker.shutdown();
  await running;

  const inWindow = ticks.filter((t) => t.at >= from && t.at <= to);
  const runs = inWindow.length;
  const lags = inWindow.map((t) => t.lag);
  let events = 0;
  let transitions = 0;
  let described = 0;
  for await (const wf of client.workflow.list({
    query: `TaskQueue = "${taskQueue}" AND ExecutionStatus = "Completed"`,
    pageSize: DESCRIBED,
  })) {
    const info = (await client.workflow.getHandle(wf.workflowId, wf.runId).describe()).raw.workflowExecutionInfo;
    events += Number(info?.historyLength ?? 0);
    transitions += Number(info?.stateTransitionCount ?? 0);
    if (++described >= DESCRIBED) break;
  }
  const persistence = delta(a, b, 'persistence_requests', 'operation');
  const visibility = delta(a, b, 'visibility_persistence_requests', 'operation');
  const perRun = (x: number) => (runs === 0 ? NaN : Number((x / runs).toFixed(1)));
  const top = [...persistence.entries()]
    .sort((x, y) => y[1] - x[1])
    .slice(0, 8)
    .map(([op, n]) => `${op} ${perRun(n)}`)
    .join(', ');
  return {
    variant: v.label,
    runs,
    runsPerS: Number((runs / ((to - from) / 1000)).toFixed(1)),
    lagP50Ms: percentile(lags, 50),
    lagP99Ms: percentile(lags, 99),
    eventsPerRun: described === 0 ? NaN : Number((events / described).toFixed(1)),
    transitionsPerRun: described === 0 ? NaN : Number((transitions / described).toFixed(1)),
    persistencePerRun: perRun(total(persistence)),
    writesPerRun: perRun(total(persistence, isWrite)),
    visibilityPerRun: perRun(total(visibility)),
    topOperations: top,
    load: `${load0.toFixed(1)}→${load1.toFixed(1)}`,
    serverCpuMsPerRun: perRun(cpu1.server - cpu0.server),
    workerCpuMsPerRun: perRun(cpu1.worker - cpu0.worker),
  };
}

async function main(): Promise<void> {
  const variants = VARIANTS.map(parseVariant);
  installRuntime(benchLogger);
  const dynamicConfig =
    process.env.BENCH_DYNAMIC_CONFIG === undefined
      ? {}
      : (JSON.parse(process.env.BENCH_DYNAMIC_CONFIG) as Record<string, string | number>);
  const metricsPort = await freePort();
  const bench = await startBenchServer({ dynamicConfig, metricsPort });
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  process.stdout.write(
    `server: temporal server start-dev (CLI ${bench.cliPath}), SQLite file; dynamic config ${JSON.stringify({ ...SCHEDULER_TUNING, ...DEV_SERVER_RUN_COST_TUNING, ...dynamicConfig })}\n` +
      `worker options (both kinds): ${JSON.stringify(WORKER_TUNING)}\n` +
      `${N} one-second schedules per phase, ${SECONDS} s measured after ${WARMUP_MS / 1000} s of warm-up; load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}\n\n`,
  );
  const connection = await Connection.connect({ address: bench.server.address });
  const client = new Client({ connection });
  const native = await NativeConnection.connect({ address: bench.server.address });
  const rawBundle = await bundleWorkflowCode({ workflowsPath: require.resolve('./raw-workflows'), logger: undefined });
  try {
    const rows: PhaseResult[] = [];
    for (const v of variants) {
      const row = await phase(v, {
        address: bench.server.address,
        serverPid: bench.server.pid,
        client,
        native,
        metricsUrl,
        rawBundle,
      });
      rows.push(row);
      process.stdout.write(`${JSON.stringify(row)}\n`);
    }
    const reference = rows.filter((r) => r.variant === 'raw-local');
    const refRate = reference.length === 0 ? NaN : reference.reduce((s, r) => s + r.runsPerS, 0) / reference.length;
    const refPersistence =
      reference.length === 0 ? NaN : reference.reduce((s, r) => s + r.persistencePerRun, 0) / reference.length;
    process.stdout.write(
      '\n| variant | runs/s | vs raw-local | lag p50 / p99 | events/run | transitions/run | persistence requests/run (writes) | vs raw-local | visibility requests/run | server CPU ms/run | worker CPU ms/run | load |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n',
    );
    for (const r of rows) {
      process.stdout.write(
        `| ${r.variant} | ${r.runsPerS} | ${(r.runsPerS / refRate).toFixed(2)} | ${r.lagP50Ms} / ${r.lagP99Ms} ms | ${r.eventsPerRun} | ${r.transitionsPerRun} | ${r.persistencePerRun} (${r.writesPerRun}) | ${(r.persistencePerRun / refPersistence).toFixed(2)} | ${r.visibilityPerRun} | ${r.serverCpuMsPerRun} | ${r.workerCpuMsPerRun} | ${r.load} |\n`,
      );
    }
    process.stdout.write('\npersistence requests per run, top operations:\n');
    for (const r of rows) process.stdout.write(`- ${r.variant}: ${r.topOperations}\n`);
  } finally {
    await native.close();
    await connection.close();
    await bench.stop();
  }
}

runBench(main);
