import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Client, Connection } from '@temporalio/client';
import { PUBLIC_ONLY, withLoopback } from '../src/egress/policy';
import type { JobRegistry } from '../src/jobs/registry';
import { createLogger, type Logger } from '../src/observability/logger';
import { ensureTemporalCli } from '../src/temporal/cli';
import { connectWorker } from '../src/temporal/connection';
import { startDevServer, type DevServer, type DynamicConfigValue } from '../src/temporal/dev-server';
import { createSundialWorker } from '../src/worker/worker';
import { CHASM_SCHEDULER, startCluster } from '../test/support/cluster';
import { freePort } from '../test/support/ports';
import { ensureServerBinaries, TEMPORAL_SERVER_VERSION } from '../test/support/server-binaries';

export const benchLogger = createLogger('error');

/** A dev server like the embedded default's (SQLite file in a temporary folder). */
export async function startBenchServer(
  opts: {
    dynamicConfig?: Record<string, DynamicConfigValue>;
    sqlitePragmas?: Record<string, string>;
    metricsPort?: number;
  } = {},
): Promise<{
  server: DevServer;
  cliPath: string;
  dataDir: string;
  stop(): Promise<void>;
}> {
  const cli = await ensureTemporalCli();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sundial-bench-'));
  const server = await startDevServer({
    cliPath: cli.path,
    dataDir,
    port: await freePort(),
    uiPort: undefined,
    namespace: 'default',
    logger: benchLogger,
    ...(opts.dynamicConfig === undefined ? {} : { dynamicConfig: opts.dynamicConfig }),
    ...(opts.sqlitePragmas === undefined ? {} : { sqlitePragmas: opts.sqlitePragmas }),
    ...(opts.metricsPort === undefined ? {} : { metricsPort: opts.metricsPort }),
  });
  return {
    server,
    cliPath: cli.path,
    dataDir,
    async stop() {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The Temporal server a benchmark started, whichever kind. */
export interface BenchTarget {
  readonly address: string;
  /** What it is, with the dynamic config added to the defaults, for the report. */
  readonly description: string;
  /** From the start (schema set-up included) to ready, in ms. */
  readonly startMs: number;
  stop(): Promise<void>;
}

/**
 * The server a benchmark measures, chosen by the environment:
 * - BENCH_SERVER: `dev` (default; as the embedded default: the CLI's dev server on a SQLite file),
 *   `full` (the full server {@link TEMPORAL_SERVER_VERSION}, one node on the local PostgreSQL,
 *   BENCH_SHARDS history shards, default 4; test/support/cluster.ts) or `full-sqlite` (the same
 *   server on a SQLite file in a temporary folder, BENCH_SHARDS default 1 as the dev server's);
 * - BENCH_SCHEDULER: `v1` (default) or `chasm` (new schedules on the CHASM scheduler; `full` only);
 * - BENCH_DYNAMIC_CONFIG: JSON object of extra dynamic config, for experiments.
 */
export async function startBenchTarget(log: (line: string) => void): Promise<BenchTarget> {
  const kind = process.env.BENCH_SERVER ?? 'dev';
  const scheduler = process.env.BENCH_SCHEDULER ?? 'v1';
  if (kind !== 'dev' && kind !== 'full' && kind !== 'full-sqlite')
    throw new Error(`BENCH_SERVER must be dev, full or full-sqlite, not ${JSON.stringify(kind)}`);
  if (scheduler !== 'v1' && scheduler !== 'chasm')
    throw new Error(`BENCH_SCHEDULER must be v1 or chasm, not ${JSON.stringify(scheduler)}`);
  if (scheduler === 'chasm' && kind === 'dev')
    throw new Error('BENCH_SCHEDULER=chasm needs the full server (the CLI v1.5.1 embeds server 1.29)');
  const extra =
    process.env.BENCH_DYNAMIC_CONFIG === undefined
      ? {}
      : (JSON.parse(process.env.BENCH_DYNAMIC_CONFIG) as Record<string, DynamicConfigValue>);
  const dynamicConfig = { ...(scheduler === 'chasm' ? CHASM_SCHEDULER : {}), ...extra };
  const started = performance.now();
  if (kind === 'dev') {
    const bench = await startBenchServer({ dynamicConfig });
    return {
      address: bench.server.address,
      description: `dev server (CLI ${path.basename(path.dirname(bench.cliPath))}, SQLite file) ${JSON.stringify(dynamicConfig)}`,
      startMs: since(started),
      stop: () => bench.stop(),
    };
  }
  const sqlite = kind === 'full-sqlite';
  const shards = Number(process.env.BENCH_SHARDS ?? (sqlite ? 1 : 4));
  const binaries = await ensureServerBinaries(log);
  const dataDir = sqlite ? mkdtempSync(path.join(tmpdir(), 'sundial-bench-')) : undefined;
  const cluster = await startCluster({
    binaries,
    dbPrefix: `sundial_bench_${process.pid}_`,
    nodes: 1,
    numHistoryShards: shards,
    dynamicConfig,
    progress: log,
    ...(dataDir === undefined ? {} : { sqliteFile: path.join(dataDir, 'temporal.db') }),
  });
  return {
    address: cluster.frontendAddresses[0]!,
    description: `full server ${TEMPORAL_SERVER_VERSION}, 1 node on ${sqlite ? 'a SQLite file' : 'PostgreSQL'}, ${shards} history shard(s), ${scheduler} scheduler ${JSON.stringify(dynamicConfig)}`,
    startMs: since(started),
    async stop() {
      await cluster.stop();
      if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A client and an in-process worker serving `registry` on `taskQueue`, logging to `logger`. */
export async function startBenchWorker(
  address: string,
  taskQueue: string,
  registry: JobRegistry,
  logger: Logger = benchLogger,
): Promise<{ client: Client; stop(): Promise<void> }> {
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const { connection: native } = await connectWorker(
    {
      addresses: [address],
      namespace: 'default',
      taskQueue,
      tls: { enabled: false },
      apiKey: undefined,
      connectTimeoutMs: 10_000,
      uiUrl: undefined,
      codecKeys: undefined,
    },
    [address],
    logger,
  );
  const worker = await createSundialWorker({
    connection: native,
    namespace: 'default',
    taskQueue,
    registry,
    logger,
    shutdownGraceMs: 1_000,
    egress: withLoopback(PUBLIC_ONLY),
  });
  const running = worker.run();
  return {
    client,
    async stop() {
      worker.shutdown();
      await running;
      await native.close();
      await connection.close();
    },
  };
}

/** The p-th percentile (nearest rank) of a list of numbers; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Runs a benchmark's main and exits: 0, or 1 with the error on stderr. */
export function runBench(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}

/** One line naming the machine and its load right now (`uptime`), for every reported table. */
export function machineLine(): string {
  const [one, five, fifteen] = loadavg().map((l) => l.toFixed(2));
  return `machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB; node ${process.version}; load average ${one}, ${five}, ${fifteen} (1, 5, 15 min)`;
}

/** A markdown table. */
export function markdownTable(header: readonly string[], rows: ReadonlyArray<readonly (string | number)[]>): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** `a / b` to two significant digits (whole numbers from 100), for "Sundial / reference" columns; `-` when undefined. */
export function ratio(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '-';
  const r = a / b;
  return r >= 100 ? String(Math.round(r)) : String(Number(r.toPrecision(2)));
}

/** Milliseconds since `start` (a `performance.now()` reading). */
export function since(start: number): number {
  return performance.now() - start;
}

/**
 * Runs `task(i)` for i in [0, count) with at most `clients` at once and returns each call's
 * duration in ms and how many threw (the first error is kept).
 */
export async function runConcurrently(
  count: number,
  clients: number,
  task: (i: number) => Promise<void>,
): Promise<{ ms: number[]; failed: number; firstError?: string; elapsedMs: number }> {
  const ms: number[] = [];
  let failed = 0;
  let firstError: string | undefined;
  let next = 0;
  const start = performance.now();
  const client = async () => {
    for (let i = next++; i < count; i = next++) {
      const t = performance.now();
      try {
        await task(i);
        ms.push(since(t));
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
  return { ms, failed, elapsedMs: since(start), ...(firstError === undefined ? {} : { firstError }) };
}

/**
 * Calls `task` in a loop from `clients` concurrent clients until `stop` resolves; durations in
 * ms, how many threw, and the distinct errors (up to 5, each with its count).
 */
export async function loadUntil(
  stop: PromiseLike<unknown>,
  clients: number,
  task: () => Promise<void>,
): Promise<{ ms: number[]; failed: number; errors: string[] }> {
  let done = false;
  void Promise.resolve(stop).finally(() => (done = true));
  const ms: number[] = [];
  let failed = 0;
  const errors = new Map<string, number>();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (!done) {
        const t = performance.now();
        try {
          await task();
          ms.push(since(t));
        } catch (err) {
          failed++;
          const message = (err as Error).message;
          if (errors.has(message) || errors.size < 5) errors.set(message, (errors.get(message) ?? 0) + 1);
        }
      }
    }),
  );
  return { ms, failed, errors: [...errors].map(([m, n]) => `${n} x ${m}`) };
}

/** Throws unless `res` is 2xx, with the status and the start of the body. */
export async function expectOk(res: Response, what: string): Promise<Response> {
  if (!res.ok) throw new Error(`${what}: ${res.status} ${(await res.text()).slice(0, 200)}`);
  return res;
}

/** A Sundial entry point (`dist/src/main/<entry>.js`) running as a child process. */
export interface SundialProcess {
  readonly pid: number;
  /** Resolves with the ms from spawn to the first log line whose `msg` matches. */
  logged(msg: RegExp, timeoutMs?: number): Promise<{ ms: number; line: Record<string, unknown> }>;
  /** Resident set size now and at its peak, in MiB (Linux /proc). */
  rss(): { nowMiB: number; peakMiB: number };
  /** SIGTERM, then SIGKILL after 15 s. */
  stop(): Promise<void>;
}

/**
 * Starts `npm run <entry>`'s compiled file as a child process with `env` added to ours, so a
 * benchmark measures what a deployment runs (and the same bench runs on old and new code).
 */
export function startSundialProcess(
  entry: 'worker' | 'api' | 'embedded',
  env: Record<string, string>,
  opts: { watchLogs?: boolean } = {},
): SundialProcess {
  const file = path.join(__dirname, '..', 'src', 'main', `${entry}.js`);
  const started = performance.now();
  // An API's access log under load would cost the bench's own CPU to read: discard it unless asked.
  const child = spawn(process.execPath, [file], {
    env: { ...process.env, ...env },
    stdio: ['ignore', opts.watchLogs === false ? 'ignore' : 'pipe', 'pipe'],
  });
  const lines: Array<{ ms: number; line: Record<string, unknown> }> = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2_000)));
  if (child.stdout !== null)
    createInterface({ input: child.stdout }).on('line', (text) => {
      try {
        lines.push({ ms: since(started), line: JSON.parse(text) as Record<string, unknown> });
        for (const w of waiters) w();
      } catch {
        // Not a log line.
      }
    });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return {
    pid: child.pid!,
    logged(msg, timeoutMs = 600_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = lines.find((l) => msg.test(String(l.line.msg)));
          if (hit === undefined) return;
          cleanup();
          resolve(hit);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`${entry}: no log line matching ${msg} within ${timeoutMs} ms; stderr: ${stderr}`));
        }, timeoutMs);
        const onExit = (code: number | null) => {
          cleanup();
          reject(
            new Error(
              `${entry} exited (${code}) before logging ${msg}; stderr: ${stderr}; last lines: ${JSON.stringify(lines.slice(-3).map((l) => l.line.msg))}`,
            ),
          );
        };
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
          child.off('exit', onExit);
        };
        child.once('exit', onExit);
        waiters.add(check);
        check();
      });
    },
    rss() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
      return { nowMiB: Math.round(kib('VmRSS') / 1024), peakMiB: Math.round(kib('VmHWM') / 1024) };
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * The worker and the API as separate processes (`npm run worker`, `npm run api`) on `address`,
 * with the jobs of bench/fixtures/code-jobs.ts (BENCH_CODE_JOBS of them: none by default), ready
 * to take requests at `url`.
 */
export async function startSundial(
  address: string,
  env: Record<string, string> = {},
): Promise<{ url: string; worker: SundialProcess; api: SundialProcess; stop(): Promise<void> }> {
  const port = await freePort();
  const common = {
    TEMPORAL_ADDRESS: address,
    TEMPORAL_TASK_QUEUE: `bench-${randomUUID()}`,
    SUNDIAL_JOBS_MODULE: CODE_JOBS_MODULE,
    BENCH_CODE_JOBS: '0',
    SUNDIAL_SHUTDOWN_GRACE: '1s',
    LOG_LEVEL: 'info',
    PORT: String(port),
    // The benchmarks' HTTP jobs call a recorder on this machine: loopback, refused by default.
    SUNDIAL_HTTP_ALLOW: '127.0.0.0/8,::1',
    ...env,
  };
  const worker = startSundialProcess('worker', common);
  const api = startSundialProcess('api', common, { watchLogs: false });
  const url = `http://127.0.0.1:${port}`;
  try {
    await Promise.all([worker.logged(/worker running/), waitForHttp(`${url}/healthz`)]);
  } catch (err) {
    await Promise.all([worker.stop(), api.stop()]);
    throw err;
  }
  return {
    url,
    worker,
    api,
    async stop() {
      await Promise.all([api.stop(), worker.stop()]);
    },
  };
}

/** The jobs module bench processes load (compiled): BENCH_CODE_JOBS code jobs that never fire. */
export const CODE_JOBS_MODULE = path.join(__dirname, 'fixtures', 'code-jobs.js');

/** Resolves when `url` answers 2xx; throws after `timeoutMs`. */
export async function waitForHttp(url: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
