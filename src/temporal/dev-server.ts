import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import type { Logger } from 'pino';
import { DevServerError } from './errors';
import { SUNDIAL_SEARCH_ATTRIBUTES } from './search-attributes';

export interface DevServerOptions {
  /** Path of the Temporal CLI binary. */
  readonly cliPath: string;
  /** Folder for the SQLite file and the server's log; undefined keeps everything in memory. */
  readonly dataDir: string | undefined;
  readonly ip?: string;
  readonly port: number;
  /** Web UI port; undefined runs headless. */
  readonly uiPort: number | undefined;
  /** The codec endpoint the Web UI decodes payloads through (`--ui-codec-endpoint`), e.g. http://127.0.0.1:8080/codec. */
  readonly uiCodecEndpoint?: string;
  readonly namespace: string;
  /** SQLite pragmas for the file database (ignored in memory). @default SQLITE_PRAGMAS */
  readonly sqlitePragmas?: Readonly<Record<string, string>>;
  /** Extra dynamic configuration, as `--dynamic-config-value KEY=JSON`. */
  readonly dynamicConfig?: Readonly<Record<string, DynamicConfigValue>>;
  /** Port of the server's own Prometheus metrics (`--metrics-port`); undefined serves none. */
  readonly metricsPort?: number;
  /** How long to wait for the server to answer, in ms. @default 60000 */
  readonly readyTimeoutMs?: number;
  readonly logger: Logger;
}

/**
 * SQLite settings of the embedded default's file database. WAL with synchronous=NORMAL halved
 * fire lag and doubled throughput against SQLite's defaults here (bench/README.md). It loses
 * nothing when a process dies; a power loss or OS crash may roll back the last transactions
 * (never corrupts the file). docs/availability.md says so.
 */
export const SQLITE_PRAGMAS: Readonly<Record<string, string>> = { journal_mode: 'WAL', synchronous: 'NORMAL' };

/**
 * Dynamic configuration that makes each run cheaper, for the dev servers Sundial starts only
 * (the full server's cluster keeps its partitions); bench/README.md, "Run cost", has the
 * measurements:
 * - the CLI turns on a refresh of the search-attribute cache on every read, a cluster-metadata
 *   read per visibility write and per start; Sundial's attributes are registered at start-up
 *   (`--search-attribute`), before anything uses them, so the cache does not need it;
 * - eager activity dispatch: a workflow task's completion hands its activity to the same worker
 *   directly instead of through a task queue (the SDK asks for it by default);
 * - one task-queue partition (the default is 4): one process, nothing to spread, and a poll
 *   never waits on an empty partition while tasks sit in another.
 */
export const DEV_SERVER_RUN_COST_TUNING: Readonly<Record<string, DynamicConfigValue>> = {
  'system.forceSearchAttributesCacheRefreshOnRead': false,
  'system.enableActivityEagerExecution': true,
  'matching.numTaskqueueReadPartitions': 1,
  'matching.numTaskqueueWritePartitions': 1,
};

/**
 * The frontend's rate limit on visibility requests (ListSchedules, ListWorkflowExecutions) is 10
 * per second per namespace by default, with a burst of as many. Past it the server answers
 * RESOURCE_EXHAUSTED and the SDK retries after about 2 s: that was the whole ~1.9 s p99 of the job
 * list under 10 clients (bench/README.md, "Page-of-20 tail"), with the raw ListSchedules showing
 * the same tail against the same server. The job list, the runs list and the metrics collector are
 * visibility requests; a cluster's operators set their own limit (docs/running.md, "Production topology").
 */
export const VISIBILITY_TUNING: Readonly<Record<string, DynamicConfigValue>> = {
  'frontend.namespaceRPS.visibility': 1000,
  'frontend.namespaceBurstRatio.visibility': 2,
};

/** A dynamic-config value: a scalar, or an object for settings such as worker options. */
export type DynamicConfigValue = string | number | boolean | Readonly<Record<string, number | string | boolean>>;

/** Workflow-task pollers of the internal worker that runs schedules (default 2; 64 measured slower than 16). */
const SCHEDULER_WORKFLOW_TASK_POLLERS = 16;

/**
 * Dynamic configuration every dev server Sundial starts gets (bench/README.md has the numbers):
 * - the history service reads timers up to 1 s ahead by default, which shows up as up to 1 s of
 *   fire lag on schedules; 100 ms cut p99 lag of ten 1-second schedules from ~1.2 s to ~0.3 s;
 * - schedules start at most 30 workflows/s per namespace by default, less than 100 one-second
 *   schedules need;
 * - the internal worker's 2 workflow-task pollers held 1,000 jobs due on one minute to ~10 runs/s.
 */
export const SCHEDULER_TUNING: Readonly<Record<string, DynamicConfigValue>> = {
  'history.timerProcessorMaxTimeShift': '100ms',
  'worker.schedulerNamespaceStartWorkflowRPS': 1000,
  // The server runs every schedule's workflow on its own internal worker, which polls for
  // workflow tasks with 2 pollers by default: when a thousand schedules are due on the same
  // minute, those 2 pollers are the bottleneck (bench/README.md, "Burst").
  'worker.perNamespaceWorkerOptions': { MaxConcurrentWorkflowTaskPollers: SCHEDULER_WORKFLOW_TASK_POLLERS },
};

/** A running `temporal server start-dev`. */
export interface DevServer {
  readonly address: string;
  readonly uiUrl: string | undefined;
  readonly pid: number;
  /**
   * Settles when the server process exits, whatever the reason: after `stop()`, or on its own
   * (killed, crashed). With the exit code, or the signal's name.
   */
  readonly exited: Promise<number | string>;
  /** Stops the server: SIGTERM, then SIGKILL after `forceAfterMs`. */
  stop(forceAfterMs?: number): Promise<void>;
  /**
   * Sends SIGTERM and returns at once, for exit paths that cannot wait (a crash, `process.exit`):
   * the server runs in a process group of its own, so nothing else would stop it.
   */
  signalStop(): void;
}

function lastLines(file: string | undefined, n: number): string {
  if (file === undefined) return '';
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A dev server left running by an embedded process that was killed with SIGKILL (it cannot take
 * its child along) still holds the ports and the SQLite file. Stop it, but only if it really is
 * a dev server on this data folder.
 */
async function stopLeftover(pidFile: string, dbFile: string, logger: Logger): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return;
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return;
  }
  if (!cmdline.includes('start-dev') || !cmdline.includes(dbFile)) return;
  logger.warn({ pid }, 'stopping a Temporal dev server left running on this data folder by an earlier run');
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

/**
 * Starts Temporal's dev server (SQLite persistence when `dataDir` is set) with Sundial's search
 * attributes registered, and waits until it answers.
 * @throws DevServerError when the process exits early or does not answer in time.
 */
export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const ip = opts.ip ?? '127.0.0.1';
  const args = [
    'server',
    'start-dev',
    '--ip',
    ip,
    '--port',
    String(opts.port),
    '--namespace',
    opts.namespace,
    '--log-level',
    'warn',
  ];
  for (const key of SUNDIAL_SEARCH_ATTRIBUTES) args.push('--search-attribute', `${key.name}=Keyword`);
  for (const [key, value] of Object.entries({
    ...SCHEDULER_TUNING,
    ...VISIBILITY_TUNING,
    ...DEV_SERVER_RUN_COST_TUNING,
    ...opts.dynamicConfig,
  })) {
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  }
  if (opts.metricsPort !== undefined) args.push('--metrics-port', String(opts.metricsPort));
  if (opts.uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(opts.uiPort));
  if (opts.uiPort !== undefined && opts.uiCodecEndpoint !== undefined)
    args.push('--ui-codec-endpoint', opts.uiCodecEndpoint);
  let logFile: string | undefined;
  let stdio: ['ignore', number | 'ignore', number | 'ignore'] = ['ignore', 'ignore', 'ignore'];
  let fd: number | undefined;
  let pidFile: string | undefined;
  if (opts.dataDir !== undefined) {
    mkdirSync(opts.dataDir, { recursive: true });
    const dbFile = path.join(opts.dataDir, 'temporal.db');
    pidFile = path.join(opts.dataDir, 'temporal-server.pid');
    await stopLeftover(pidFile, dbFile, opts.logger);
    args.push('--db-filename', dbFile);
    for (const [key, value] of Object.entries(opts.sqlitePragmas ?? SQLITE_PRAGMAS))
      args.push('--sqlite-pragma', `${key}=${value}`);
    logFile = path.join(opts.dataDir, 'temporal-server.log');
    fd = openSync(logFile, 'a');
    stdio = ['ignore', fd, fd];
  }
  // Its own process group: a terminal's Ctrl-C reaches our process group only, so the server
  // is not stopped before the worker has drained; stop() ends it last.
  const child: ChildProcess = spawn(opts.cliPath, args, { stdio, detached: true });
  if (fd !== undefined) closeSync(fd);
  if (pidFile !== undefined && child.pid !== undefined) writeFileSync(pidFile, `${child.pid}\n`);
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  const address = `${ip}:${opts.port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  opts.logger.debug({ address, args }, 'starting Temporal dev server');
  for (;;) {
    if (hasExited) {
      throw new DevServerError(
        `the Temporal dev server exited before it was ready (is port ${opts.port} free?)\n${lastLines(logFile, 15)}`,
      );
    }
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1_000 });
      try {
        // The frontend answers before the namespace is registered; wait for the namespace.
        await conn.workflowService.describeNamespace({ namespace: opts.namespace });
      } finally {
        await conn.close();
      }
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new DevServerError(
          `the Temporal dev server at ${address} did not become ready: ${(err as Error).message}`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const uiUrl = opts.uiPort === undefined ? undefined : `http://${ip === '0.0.0.0' ? '127.0.0.1' : ip}:${opts.uiPort}`;
  return {
    address,
    uiUrl,
    pid: child.pid ?? -1,
    exited,
    async stop(forceAfterMs = 10_000) {
      if (hasExited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), forceAfterMs);
      await exited;
      clearTimeout(timer);
      if (pidFile !== undefined) rmSync(pidFile, { force: true });
    },
    signalStop() {
      if (!hasExited) child.kill('SIGTERM');
    },
  };
}
