/**
 * One trial of "a Temporal server node dies while 20 one-second schedules fire": a real cluster
 * (test/support/cluster.ts), a real Sundial worker process given both frontends, kill -9 of one
 * node, and an account of every tick in the window from two sources: the runs (workflow
 * executions) that exist and the side effects the jobs' code wrote to a ledger file. Shared by
 * test/ha/server-node-loss.test.ts (which asserts on the report) and bench/node-loss.ts (which
 * repeats it).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { NODE_LOSS_SCHEDULES, nodeLossJobId, type LedgerLine } from '../fixtures/node-loss-jobs';
import { ClusterError, startCluster, type Cluster, type ClusterNode } from './cluster';
import { FIXTURES, isAlive, startSundial, type SundialProcess } from './processes';
import type { ServerBinaries } from './server-binaries';
import { waitFor } from './temporal';

export interface NodeLossOptions {
  readonly binaries: ServerBinaries;
  readonly dbPrefix: string;
  /** @default 2 */
  readonly nodes?: number;
  /** Schedules fire this long, once all have fired, before the kill, in ms. @default 15000 */
  readonly beforeKillMs?: number;
  /** Observation after the kill, in ms. @default 60000 */
  readonly afterKillMs?: number;
  /** After the observation the schedules are paused; then the window's late ticks get this long to run, in ms. @default 30000 */
  readonly catchUpWaitMs?: number;
  readonly progress?: (line: string) => void;
}

/** Per-schedule values and their spread, in ms. */
export interface Spread {
  readonly perSchedule: number[];
  readonly p50: number;
  readonly max: number;
  readonly min: number;
}

/** What one trial measured. Times in ms; ticks as `<jobId>@<ISO tick>`. */
export interface NodeLossReport {
  readonly nodes: number;
  readonly numHistoryShards: number;
  /** Shard id -> owning node index just before the kill (-1: unknown). */
  readonly shardOwnersBeforeKill: Record<number, number>;
  readonly victim: {
    readonly index: number;
    readonly frontend: string;
    readonly shards: number[];
    readonly heldWorkerFrontend: boolean;
  };
  /** Ticks of every schedule from 10 s before the kill to 15 s before the end of the observation. */
  readonly window: {
    readonly from: string;
    readonly to: string;
    readonly ticksPerSchedule: number;
    readonly expectedTicks: number;
  };
  /** Ticks of the window without a workflow execution. */
  readonly lostRuns: string[];
  /** Ticks of the window whose code never ran (no ledger line). */
  readonly lostEffects: string[];
  /** Ticks with more than one workflow execution. */
  readonly doubledRuns: string[];
  /** Ticks whose code ran under more than one idempotency key. */
  readonly doubledEffects: string[];
  /** Ticks whose code ran more than once under its one key (at-least-once retries, made once by the key). */
  readonly retriedEffects: string[];
  /** Per schedule: last side effect (the job's code running) before the kill -> first after it. */
  readonly gapMs: Spread;
  /** Per schedule: last run started by the schedule before the kill -> first after it (the scheduler alone, whatever the worker's backlog). */
  readonly fireGapMs: Spread;
  /** Largest tick -> side effect delay among ticks due after the kill (how late caught-up ticks ran). */
  readonly maxLateMs: number;
  /** Kill -> the worker's switch to the other frontend (undefined: it did not switch). */
  readonly workerSwitchMs: number | undefined;
  readonly executions: number;
  readonly sideEffects: number;
  /** Tick -> side effect delay of the first attempts of ticks due in the 10 s before the kill (steady state). */
  readonly lagBeforeKillMs: { readonly p50: number; readonly max: number };
  /** Side effects per 5 s, from 10 s before the kill to the end (throughput through the outage). */
  readonly effectsPer5s: number[];
  /** After the observation, schedules paused -> every tick of the window had run (or the wait ended). */
  readonly drainMs: number;
  /** The worker's warning and error messages, with how often each came. */
  readonly workerProblems: Record<string, number>;
}

function problems(lines: ReadonlyArray<Record<string, unknown>>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const l of lines) {
    if (l.level !== 'warn' && l.level !== 'error' && l.level !== 'fatal') continue;
    const msg = String(l.msg ?? l.unparsed ?? '').slice(0, 200);
    counts[msg] = (counts[msg] ?? 0) + 1;
  }
  return counts;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `<jobId>-<RFC 3339 tick>`: the workflow id Temporal gives a scheduled run. */
function runId(job: string, tickMs: number): string {
  return `${job}-${new Date(tickMs).toISOString().replace(/\.\d{3}Z$/, 'Z')}`;
}

function readLedger(file: string): LedgerLine[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as LedgerLine);
}

function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

/** The node owning the most shards (the lowest index on a tie): the worst one to lose. */
function pickVictim(cluster: Cluster): { node: ClusterNode; owners: Map<number, number> } {
  const owners = cluster.shardOwners();
  const counts = cluster.nodes.map((n) => [...owners.values()].filter((o) => o === n.index).length);
  const best = counts.indexOf(Math.max(...counts));
  return { node: cluster.nodes[best] ?? cluster.nodes[0]!, owners };
}

/**
 * Runs one trial and returns what it measured; always stops the worker and the cluster and
 * drops the databases, also when it fails.
 */
export async function runNodeLossTrial(opts: NodeLossOptions): Promise<NodeLossReport> {
  const progress = opts.progress ?? ((l: string) => process.stderr.write(`${l}\n`));
  const beforeKillMs = opts.beforeKillMs ?? 15_000;
  const afterKillMs = opts.afterKillMs ?? 60_000;
  const ledgerDir = mkdtempSync(path.join(tmpdir(), 'sundial-node-loss-'));
  const ledger = path.join(ledgerDir, 'ledger.jsonl');
  const jobIds = Array.from({ length: NODE_LOSS_SCHEDULES }, (_, i) => nodeLossJobId(i));
  let cluster: Cluster | undefined;
  let worker: SundialProcess | undefined;
  let connection: Connection | undefined;
  const stopHooks: Array<() => void> = [];
  try {
    cluster = await startCluster({
      binaries: opts.binaries,
      dbPrefix: opts.dbPrefix,
      nodes: opts.nodes ?? 2,
      progress,
    });
    const c = cluster;
    // Shards move to the later nodes once they join; wait (bounded) until every node holds some.
    await waitFor('every node to own history shards', 30_000, () => {
      const owners = [...c.shardOwners().values()];
      return owners.length === c.numHistoryShards && c.nodes.every((n) => owners.includes(n.index)) ? true : undefined;
    }).catch((err: unknown) => {
      if (err instanceof ClusterError) throw err;
      progress('  shards not spread over every node after 30 s; going on');
    });

    const { node: victim } = pickVictim(cluster);
    const survivors = cluster.nodes.filter((n) => n !== victim);
    // The victim's frontend first: the worker then also has to move to another frontend.
    const addresses = [victim.frontendAddress, ...survivors.map((n) => n.frontendAddress)];
    worker = startSundial('worker', {
      TEMPORAL_ADDRESS: addresses.join(','),
      TEMPORAL_TASK_QUEUE: 'node-loss',
      SUNDIAL_JOBS_MODULE: path.join(FIXTURES, 'node-loss-jobs.js'),
      NODE_LOSS_LEDGER: ledger,
    });
    const workerPid = worker.pid;
    // Should this process end before the finally below (a runner's timeout), take the worker along.
    const killWorker = () => isAlive(workerPid) && process.kill(workerPid, 'SIGKILL');
    process.once('exit', killWorker);
    stopHooks.push(() => process.off('exit', killWorker));
    const running = await worker.waitForLog((l) => l.msg === 'worker running', 120_000);
    progress(`  worker ${worker.pid} running through ${String(running.temporal)}`);
    await waitFor(
      'every schedule to fire once',
      60_000,
      () => {
        const jobs = new Set(readLedger(ledger).map((l) => l.job));
        return jobIds.every((j) => jobs.has(j)) ? true : undefined;
      },
      500,
    );
    await sleep(beforeKillMs);

    const { owners } = pickVictim(cluster);
    const shardOwnersBeforeKill = Object.fromEntries(owners);
    const killAt = Date.now();
    await victim.kill('SIGKILL');
    progress(
      `  killed node ${victim.index} (pid ${victim.pid}, shards ${
        [...owners]
          .filter(([, o]) => o === victim.index)
          .map(([s]) => s)
          .join(',') || 'none'
      }); observing ${afterKillMs / 1000} s`,
    );
    await sleep(afterKillMs);

    const from = Math.ceil((killAt - 10_000) / 1000) * 1000;
    const to = Math.floor((killAt + afterKillMs - 15_000) / 1000) * 1000;
    const expected = jobIds.flatMap((job) =>
      Array.from({ length: (to - from) / 1000 + 1 }, (_, k) => ({ job, tick: from + k * 1000 })),
    );
    const label = (e: { job: string; tick: number }) => `${e.job}@${new Date(e.tick).toISOString()}`;
    const effectsOf = (lines: LedgerLine[]) => {
      const byTick = new Map<string, LedgerLine[]>();
      for (const l of lines) byTick.set(`${l.job}@${l.tick}`, [...(byTick.get(`${l.job}@${l.tick}`) ?? []), l]);
      return byTick;
    };
    // Stop new ticks, then give the window's ticks (late ones caught up after the outage, and
    // any backlog of a machine slower than 20 runs/s) a bounded while to run.
    connection = await Connection.connect({ address: survivors[0]!.frontendAddress });
    const client = new Client({ connection, namespace: 'default' });
    for (const job of jobIds) await client.schedule.getHandle(job).pause('node-loss trial: observation over');
    const drainStart = Date.now();
    await waitFor(
      "the window's ticks to run",
      opts.catchUpWaitMs ?? 30_000,
      () => {
        const byTick = effectsOf(readLedger(ledger));
        return expected.every((e) => byTick.has(label(e))) ? true : undefined;
      },
      1_000,
    ).catch(() => progress('  some ticks of the window had not run when the catch-up wait ended'));
    const drainMs = Date.now() - drainStart;

    // Stop the worker so that the ledger holds still while it is counted.
    worker.child.kill('SIGTERM');
    await Promise.race([worker.exited, sleep(20_000)]);
    if (isAlive(worker.pid)) worker.child.kill('SIGKILL');
    const switched = worker.lines.find(
      (l) => l.msg === 'Temporal frontend stopped answering: worker switched to another frontend',
    );
    const lines = readLedger(ledger);
    const byTick = effectsOf(lines);

    // Distinct run ids per workflow id: a page boundary moving under the listing cannot
    // make one execution count twice.
    const executions = new Map<string, Set<string>>();
    const started = new Map<string, number[]>(); // job -> start times of its runs
    for await (const wf of client.workflow.list({ query: "WorkflowType = 'jobWorkflow'" })) {
      if (executions.get(wf.workflowId)?.has(wf.runId)) continue;
      executions.set(wf.workflowId, (executions.get(wf.workflowId) ?? new Set()).add(wf.runId));
      const job = jobIds.find((j) => wf.workflowId.startsWith(`${j}-`));
      if (job !== undefined) started.set(job, [...(started.get(job) ?? []), wf.startTime.getTime()]);
    }
    const lostRuns: string[] = [];
    for (const e of expected) {
      if (executions.has(runId(e.job, e.tick))) continue;
      // Visibility is written asynchronously: ask for the run itself before calling it lost.
      try {
        const d = await client.workflow.getHandle(runId(e.job, e.tick)).describe();
        executions.set(runId(e.job, e.tick), new Set([d.runId]));
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
        lostRuns.push(label(e));
      }
    }
    const inWindow = expected.map(label);
    const gapAround = (times: number[]) =>
      Math.min(...times.filter((t) => t >= killAt)) - Math.max(...times.filter((t) => t < killAt));
    const gaps = jobIds.map((job) => gapAround(lines.filter((l) => l.job === job && l.attempt === 1).map((l) => l.at)));
    const fireGaps = jobIds.map((job) => gapAround(started.get(job) ?? []));
    const late = lines.filter((l) => Date.parse(l.tick) >= killAt).map((l) => l.at - Date.parse(l.tick));
    return {
      nodes: cluster.nodes.length,
      numHistoryShards: cluster.numHistoryShards,
      shardOwnersBeforeKill,
      victim: {
        index: victim.index,
        frontend: victim.frontendAddress,
        shards: [...owners].filter(([, o]) => o === victim.index).map(([s]) => s),
        heldWorkerFrontend: running.temporal === victim.frontendAddress,
      },
      window: {
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        ticksPerSchedule: (to - from) / 1000 + 1,
        expectedTicks: expected.length,
      },
      lostRuns,
      lostEffects: inWindow.filter((t) => !byTick.has(t)),
      doubledRuns: [...executions]
        .filter(([id, runs]) => runs.size > 1 && jobIds.some((j) => id.startsWith(`${j}-`)))
        .map(([id]) => id),
      doubledEffects: [...byTick].filter(([, ls]) => new Set(ls.map((l) => l.key)).size > 1).map(([t]) => t),
      retriedEffects: [...byTick]
        .filter(([, ls]) => ls.length > 1 && new Set(ls.map((l) => l.key)).size === 1)
        .map(([t]) => t),
      gapMs: { perSchedule: gaps, p50: median(gaps), max: Math.max(...gaps), min: Math.min(...gaps) },
      fireGapMs: {
        perSchedule: fireGaps,
        p50: median(fireGaps),
        max: Math.max(...fireGaps),
        min: Math.min(...fireGaps),
      },
      maxLateMs: late.length === 0 ? NaN : Math.max(...late),
      workerSwitchMs: switched === undefined ? undefined : Date.parse(String(switched.time)) - killAt,
      workerProblems: problems(worker.lines),
      drainMs,
      lagBeforeKillMs: (() => {
        const lags = lines
          .filter((l) => l.attempt === 1 && Date.parse(l.tick) >= killAt - 10_000 && Date.parse(l.tick) < killAt)
          .map((l) => l.at - Date.parse(l.tick));
        return { p50: median(lags), max: lags.length === 0 ? NaN : Math.max(...lags) };
      })(),
      effectsPer5s: Array.from(
        { length: Math.ceil((afterKillMs + 10_000 + (opts.catchUpWaitMs ?? 30_000)) / 5_000) },
        (_, k) =>
          lines.filter((l) => l.at >= killAt - 10_000 + k * 5_000 && l.at < killAt - 10_000 + (k + 1) * 5_000).length,
      ),
      executions: [...executions.values()].reduce((a, runs) => a + runs.size, 0),
      sideEffects: lines.length,
    };
  } finally {
    if (worker !== undefined && isAlive(worker.pid)) worker.child.kill('SIGKILL');
    await connection?.close().catch(() => undefined);
    await cluster?.stop();
    rmSync(ledgerDir, { recursive: true, force: true });
    for (const hook of stopHooks) hook();
  }
}
