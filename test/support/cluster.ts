/**
 * A real Temporal cluster for fault tests and benchmarks: N `temporal-server start` processes on
 * this machine, all services in each, sharing two PostgreSQL databases and one number of history
 * shards, each process with its own gRPC and membership ports. Membership (ringpop) finds the
 * peers through the database. Nothing here is mocked: killing a node kills a real server.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { stringify } from 'yaml';
import { createLogger } from '../../src/observability/logger';
import { SCHEDULER_TUNING, VISIBILITY_TUNING, type DynamicConfigValue } from '../../src/temporal/dev-server';
import { ensureSearchAttributes } from '../../src/temporal/register-search-attributes';
import { SUNDIAL_SEARCH_ATTRIBUTES, SundialJobId } from '../../src/temporal/search-attributes';
import { freePort } from './ports';
import type { ServerBinaries } from './server-binaries';

/** A cluster step failed: schema setup, a node that exited or never answered. */
export class ClusterError extends Error {
  override readonly name = 'ClusterError';
}

export interface PostgresTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
}

export interface ClusterOptions {
  readonly binaries: ServerBinaries;
  /** Databases are `<dbPrefix>temporal` and `<dbPrefix>visibility`, dropped and recreated. */
  readonly dbPrefix: string;
  /** @default 2 */
  readonly nodes?: number;
  /** @default 4 */
  readonly numHistoryShards?: number;
  /** Dynamic config on top of the dev server's {@link SCHEDULER_TUNING}, so lag figures compare. */
  readonly dynamicConfig?: Readonly<Record<string, DynamicConfigValue>>;
  /** @default 127.0.0.1:5432, user postgres, no password */
  readonly postgres?: PostgresTarget;
  /**
   * Instead of PostgreSQL: this SQLite file (WAL, synchronous=NORMAL, like the embedded default),
   * created with its schema by the server itself; one node only. The file is left to the caller.
   */
  readonly sqliteFile?: string;
  /** Per node, for the whole start including schema setup, in ms. @default 120000 */
  readonly readyTimeoutMs?: number;
  /** Progress lines (stderr by default). */
  readonly progress?: (line: string) => void;
}

interface NodePorts {
  readonly frontend: number;
  readonly frontendMembership: number;
  readonly frontendHttp: number;
  readonly history: number;
  readonly historyMembership: number;
  readonly matching: number;
  readonly matchingMembership: number;
  readonly worker: number;
  readonly workerMembership: number;
}

/** One server process of the cluster. */
export interface ClusterNode {
  readonly index: number;
  /** host:port of its frontend, for clients. */
  readonly frontendAddress: string;
  /** host:port its history service is known by (the owner written on its shards). */
  readonly historyAddress: string;
  readonly ports: NodePorts;
  readonly pid: number;
  readonly logFile: string;
  alive(): boolean;
  /** Sends `signal` and waits for the process to end. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface Cluster {
  readonly nodes: readonly ClusterNode[];
  readonly frontendAddresses: readonly string[];
  readonly databases: { readonly temporal: string; readonly visibility: string };
  readonly numHistoryShards: number;
  /** The folder with each node's config and log. Removed by stop(). */
  readonly workDir: string;
  /**
   * Which node (index) owns each history shard now, from the shards table (via `psql`); -1
   * when the owner is no node of this cluster.
   * @throws ClusterError when psql fails.
   */
  shardOwners(): Map<number, number>;
  /** Stops every node still running (SIGKILL), drops both databases, removes workDir. */
  stop(): Promise<void>;
}

/**
 * Dynamic config that creates new schedules on the CHASM scheduler (server 1.31: a schedule is
 * a state machine inside the history service instead of a workflow run by the internal worker;
 * `history.enableChasm` is on by default). Existing schedules stay where they are (no migration);
 * list, describe and update are routed to CHASM first with a fallback to V1. No sentinels: they
 * only guard one id against creation on both stacks while a fleet switches.
 */
export const CHASM_SCHEDULER: Readonly<Record<string, DynamicConfigValue>> = {
  'history.enableCHASMSchedulerCreation': true,
};

const DEFAULT_PG: PostgresTarget = { host: '127.0.0.1', port: 5432, user: 'postgres', password: '' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sqlTool(
  bins: ServerBinaries,
  pg: PostgresTarget,
  database: string,
  args: string[],
): { ok: boolean; output: string } {
  const r = spawnSync(
    bins.sqlTool,
    [
      '--plugin',
      'postgres12',
      '--ep',
      pg.host,
      '--port',
      String(pg.port),
      '--user',
      pg.user,
      '--password',
      pg.password,
      '--db',
      database,
      ...args,
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error?.message ?? ''}` };
}

/** Drops a database, retrying while killed servers' sessions are still being closed. */
async function dropDatabase(bins: ServerBinaries, pg: PostgresTarget, database: string): Promise<void> {
  let last = '';
  for (let i = 0; i < 20; i++) {
    const r = sqlTool(bins, pg, database, ['drop-database', '--force']);
    if (r.ok) return;
    last = r.output;
    await sleep(500);
  }
  throw new ClusterError(`could not drop database ${database}: ${last.slice(-500)}`);
}

async function createSchema(
  bins: ServerBinaries,
  pg: PostgresTarget,
  database: string,
  schemaName: string,
): Promise<void> {
  await dropDatabase(bins, pg, database);
  for (const args of [
    ['create-database'],
    ['setup-schema', '-v', '0.0'],
    ['update-schema', '--schema-name', schemaName],
  ]) {
    const r = sqlTool(bins, pg, database, args);
    if (!r.ok)
      throw new ClusterError(`temporal-sql-tool ${args.join(' ')} on ${database} failed:\n${r.output.slice(-2000)}`);
  }
}

async function pickPorts(taken: Set<number>): Promise<NodePorts> {
  const next = async () => {
    for (;;) {
      const p = await freePort();
      if (!taken.has(p)) {
        taken.add(p);
        return p;
      }
    }
  };
  return {
    frontend: await next(),
    frontendMembership: await next(),
    frontendHttp: await next(),
    history: await next(),
    historyMembership: await next(),
    matching: await next(),
    matchingMembership: await next(),
    worker: await next(),
    workerMembership: await next(),
  };
}

/** Where a node keeps its data. */
type Store =
  | { readonly kind: 'postgres'; readonly pg: PostgresTarget; readonly dbs: Cluster['databases'] }
  | { readonly kind: 'sqlite'; readonly file: string };

function nodeConfig(ports: NodePorts, store: Store, shards: number, dynamicConfigFile: string): unknown {
  const sqlite = (databaseName: string) => ({
    sql: {
      pluginName: 'sqlite',
      databaseName,
      connectAddr: 'localhost',
      connectProtocol: 'tcp',
      // setup: the server creates the schema when the file has none.
      connectAttributes: { cache: 'private', setup: 'true', journal_mode: 'wal', synchronous: '1' },
      maxConns: 1,
      maxIdleConns: 1,
      maxConnLifetime: '1h',
    },
  });
  const postgres = (pg: PostgresTarget, databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `${pg.host}:${pg.port}`,
      connectProtocol: 'tcp',
      user: pg.user,
      password: pg.password,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const rpc = (grpcPort: number, membershipPort: number, extra: Record<string, number> = {}) => ({
    rpc: { grpcPort, membershipPort, bindOnLocalHost: true, ...extra },
  });
  return {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'default',
      visibilityStore: 'visibility',
      numHistoryShards: shards,
      datastores:
        store.kind === 'sqlite'
          ? { default: sqlite(store.file), visibility: sqlite(store.file) }
          : {
              default: postgres(store.pg, store.dbs.temporal, 20),
              visibility: postgres(store.pg, store.dbs.visibility, 5),
            },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' } },
    services: {
      frontend: rpc(ports.frontend, ports.frontendMembership, { httpPort: ports.frontendHttp }),
      history: rpc(ports.history, ports.historyMembership),
      matching: rpc(ports.matching, ports.matchingMembership),
      worker: rpc(ports.worker, ports.workerMembership),
    },
    // No publicClient: the system worker finds the frontends through membership, so it keeps
    // working when one of them dies.
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: {
          enabled: true,
          initialFailoverVersion: 1,
          rpcName: 'frontend',
          rpcAddress: `127.0.0.1:${ports.frontend}`,
        },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: dynamicConfigFile, pollInterval: '10s' },
  };
}

function lastLines(file: string, n: number): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}

/** Node ids (pids) still to kill if this process exits without stop(): a fault test must not leave servers behind. */
const orphans = new Set<number>();
process.once('exit', () => {
  for (const pid of orphans) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

async function answers(address: string, check: (c: Connection) => Promise<unknown>): Promise<boolean> {
  let conn: Connection | undefined;
  try {
    conn = await Connection.connect({ address, connectTimeout: 2_000 });
    await conn.withDeadline(Date.now() + 5_000, () => check(conn!));
    return true;
  } catch {
    return false;
  } finally {
    await conn?.close().catch(() => undefined);
  }
}

/** Starts (and terminates) runs on every shard and creates (and deletes) a schedule; false on any failure. */
async function probeWrites(address: string, shards: number): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: 2_000 });
    const client = new Client({ connection, namespace: 'default' });
    const stamp = `${process.pid}-${Date.now()}`;
    await connection.withDeadline(Date.now() + 15_000, async () => {
      // Workflow ids hash to shards at random: 8 per shard all but guarantees every shard.
      for (let i = 0; i < shards * 8; i++) {
        const handle = await client.workflow.start('cluster-probe', {
          taskQueue: 'cluster-probe',
          workflowId: `cluster-probe-${stamp}-${i}`,
        });
        await handle.terminate('cluster readiness probe');
      }
      const schedule = await client.schedule.create({
        scheduleId: `cluster-probe-${stamp}`,
        spec: { intervals: [{ every: '1h' }] },
        // With a search attribute, like Sundial's schedules: it must be known on this frontend.
        action: {
          type: 'startWorkflow',
          workflowType: 'cluster-probe',
          taskQueue: 'cluster-probe',
          typedSearchAttributes: [{ key: SundialJobId, value: 'cluster-probe' }],
        },
        state: { paused: true },
      });
      await schedule.delete();
    });
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

function startNode(
  index: number,
  bins: ServerBinaries,
  configFile: string,
  logFile: string,
  ports: NodePorts,
): ClusterNode & { child: ChildProcess; exited: Promise<void> } {
  const fd = openSync(logFile, 'a');
  // Own process group, so a terminal's Ctrl-C reaches the test first and its cleanup runs.
  const child = spawn(bins.server, ['--config-file', configFile, '--allow-no-auth', 'start'], {
    stdio: ['ignore', fd, fd],
    detached: true,
  });
  closeSync(fd);
  const pid = child.pid ?? -1;
  orphans.add(pid);
  let running = true;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      running = false;
      orphans.delete(pid);
      resolve();
    }),
  );
  return {
    index,
    frontendAddress: `127.0.0.1:${ports.frontend}`,
    historyAddress: `127.0.0.1:${ports.history}`,
    ports,
    pid,
    logFile,
    child,
    exited,
    alive: () => running,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (!running) return;
      child.kill(signal);
      const timer = signal === 'SIGKILL' ? undefined : setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function waitUntil(
  what: string,
  deadline: number,
  check: () => Promise<boolean>,
  failFast?: () => string | undefined,
): Promise<void> {
  for (;;) {
    const fatal = failFast?.();
    if (fatal !== undefined) throw new ClusterError(`${what}: ${fatal}`);
    if (await check()) return;
    if (Date.now() > deadline) throw new ClusterError(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

/**
 * Creates the databases with temporal-sql-tool, starts node 0 (which initialises the cluster's
 * metadata), then the others, registers namespace `default` with Sundial's search attributes,
 * and waits until every frontend serves them.
 * @throws ClusterError (after stopping whatever it started) when a step fails or times out.
 */
export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const progress = opts.progress ?? ((l: string) => process.stderr.write(`${l}\n`));
  const pg = opts.postgres ?? DEFAULT_PG;
  const count = opts.nodes ?? 2;
  const shards = opts.numHistoryShards ?? 4;
  const readyMs = opts.readyTimeoutMs ?? 120_000;
  const databases = { temporal: `${opts.dbPrefix}temporal`, visibility: `${opts.dbPrefix}visibility` };
  if (opts.sqliteFile !== undefined && count !== 1)
    throw new ClusterError(`a SQLite file serves one node, not ${count}`);
  const store: Store =
    opts.sqliteFile === undefined
      ? { kind: 'postgres', pg, dbs: databases }
      : { kind: 'sqlite', file: opts.sqliteFile };
  const workDir = mkdtempSync(path.join(tmpdir(), 'sundial-cluster-'));
  const nodes: Array<ReturnType<typeof startNode>> = [];

  const stop = async () => {
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
    try {
      if (store.kind === 'postgres')
        for (const db of [databases.temporal, databases.visibility]) await dropDatabase(opts.binaries, pg, db);
    } finally {
      rmSync(workDir, { recursive: true, force: true });
    }
  };

  try {
    const started = Date.now();
    if (store.kind === 'postgres') {
      await createSchema(opts.binaries, pg, databases.temporal, 'postgresql/v12/temporal');
      await createSchema(opts.binaries, pg, databases.visibility, 'postgresql/v12/visibility');
      progress(
        `  cluster: schemas ready in ${databases.temporal}, ${databases.visibility} (${Date.now() - started} ms)`,
      );
    }

    const dynamicConfigFile = path.join(workDir, 'dynamic-config.yaml');
    const dynamic = { ...SCHEDULER_TUNING, ...VISIBILITY_TUNING, ...opts.dynamicConfig };
    writeFileSync(
      dynamicConfigFile,
      stringify(Object.fromEntries(Object.entries(dynamic).map(([k, v]) => [k, [{ value: v }]]))),
    );

    const taken = new Set<number>();
    const launch = async (index: number) => {
      const ports = await pickPorts(taken);
      const configFile = path.join(workDir, `node-${index}.yaml`);
      writeFileSync(configFile, stringify(nodeConfig(ports, store, shards, dynamicConfigFile)));
      const node = startNode(index, opts.binaries, configFile, path.join(workDir, `node-${index}.log`), ports);
      nodes.push(node);
      await waitUntil(
        `node ${index}'s frontend at ${node.frontendAddress}`,
        Date.now() + readyMs,
        () => answers(node.frontendAddress, (c) => c.workflowService.getSystemInfo({})),
        () => (node.alive() ? undefined : `the server exited:\n${lastLines(node.logFile, 20)}`),
      );
      progress(
        `  cluster: node ${index} answers at ${node.frontendAddress} (pid ${node.pid}, ${Date.now() - started} ms)`,
      );
    };
    // Node 0 alone first: it writes the cluster metadata the others then read.
    await launch(0);
    await Promise.all(Array.from({ length: count - 1 }, (_, i) => launch(i + 1)));

    const first = nodes[0]!.frontendAddress;
    const connection = await Connection.connect({ address: first });
    try {
      await connection.workflowService
        .registerNamespace({ namespace: 'default', workflowExecutionRetentionPeriod: msToTs('1 day') })
        .catch((err: unknown) => {
          if (!/already exists/i.test((err as Error).message)) throw err;
        });
      const deadline = Date.now() + readyMs;
      // The namespace and its search attributes reach each frontend's cache within ~10 s.
      await waitUntil('namespace default on node 0', deadline, () =>
        answers(first, (c) => c.workflowService.describeNamespace({ namespace: 'default' })),
      );
      await ensureSearchAttributes(new Client({ connection, namespace: 'default' }), 'default', createLogger('error'));
    } finally {
      await connection.close();
    }
    for (const node of nodes) {
      await waitUntil(
        `namespace default with Sundial's search attributes on node ${node.index}`,
        Date.now() + readyMs,
        () =>
          answers(node.frontendAddress, async (c) => {
            const attrs = await c.operatorService.listSearchAttributes({ namespace: 'default' });
            for (const key of SUNDIAL_SEARCH_ATTRIBUTES)
              if (attrs.customAttributes?.[key.name] === undefined) throw new Error(`${key.name} not yet visible`);
          }),
      );
    }
    // A frontend answers before every history shard has settled on its owner (shards move to
    // the later nodes as they join), and a schedule or run created meanwhile fails. Write to
    // every shard (workflow ids spread by hash) and create a schedule until all of it works.
    for (const node of nodes) {
      await waitUntil(`writes through node ${node.index} to every shard and a schedule`, Date.now() + readyMs, () =>
        probeWrites(node.frontendAddress, shards),
      );
    }
    progress(`  cluster: ${count} nodes ready, namespace default registered (${Date.now() - started} ms)`);
  } catch (err) {
    const logs = nodes.map((n) => `--- node ${n.index} (${n.logFile}) ---\n${lastLines(n.logFile, 15)}`).join('\n');
    await stop().catch(() => undefined);
    if (err instanceof ClusterError) throw new ClusterError(`${err.message}\n${logs}`, { cause: err });
    throw err;
  }

  return {
    nodes,
    frontendAddresses: nodes.map((n) => n.frontendAddress),
    databases,
    numHistoryShards: shards,
    workDir,
    shardOwners() {
      const owners = new Map<number, number>();
      const r = spawnSync(
        'psql',
        [
          '-h',
          pg.host,
          '-p',
          String(pg.port),
          '-U',
          pg.user,
          '-d',
          databases.temporal,
          '-At',
          '-c',
          "select shard_id, encode(data, 'hex') from shards order by shard_id",
        ],
        {
          encoding: 'utf8',
          env: { ...process.env, PGPASSWORD: pg.password },
          timeout: 10_000,
        },
      );
      if (r.status !== 0)
        throw new ClusterError(
          `reading shard owners with psql failed (is psql installed?): ${r.error?.message ?? r.stderr}`,
        );
      for (const line of (r.stdout ?? '').split('\n')) {
        const [id, hex] = line.split('|');
        if (id === undefined || hex === undefined) continue;
        const data = Buffer.from(hex, 'hex');
        const owner = nodes.find((n) => data.includes(Buffer.from(n.historyAddress)));
        owners.set(Number(id), owner?.index ?? -1);
      }
      return owners;
    },
    stop,
  };
}
