import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import { Pool } from 'pg';
import { defineJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import { reconcileSchedules } from '../../src/schedules/reconcile';
import { testLogger } from './temporal';

/**
 * The PostgreSQL the fault tests write their ledger to. Trust auth on loopback, database `test`;
 * `SUNDIAL_HA_PG_URL` overrides it.
 */
export const LEDGER_DATABASE_URL = process.env.SUNDIAL_HA_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** How one call to the dependency ended. */
export const CallOutcome = {
  /** The dependency answered 200: the side effect happened. */
  Succeeded: 'succeeded',
  /** The caller went away (its worker died or cancelled) before the answer: no side effect. */
  Interrupted: 'interrupted',
  /** Still in flight. */
  Pending: 'pending',
} as const;
export type CallOutcome = (typeof CallOutcome)[keyof typeof CallOutcome];

/** One call to the dependency, as the ledger holds it. */
export interface LedgerRow {
  readonly id: number;
  readonly jobId: string;
  readonly idempotencyKey: string;
  readonly attempt: number;
  readonly workerPid: number | null;
  /** Epoch ms. */
  readonly startedAt: number;
  readonly endedAt: number | null;
  readonly outcome: CallOutcome;
}

/**
 * A ledger table of its own (`sundial_ha_ledger_<random>`) in the test database: every call the
 * dependency receives, with its idempotency key, attempt, calling worker and outcome.
 */
export class Ledger {
  private constructor(
    private readonly pool: Pool,
    /** The table's name: a fixed prefix and random hex, so never user input. */
    readonly table: string,
  ) {}

  /** Connects and creates the table. @throws when PostgreSQL is unreachable (within 5 s). */
  static async create(): Promise<Ledger> {
    const pool = new Pool({ connectionString: LEDGER_DATABASE_URL, max: 4, connectionTimeoutMillis: 5_000 });
    const table = `sundial_ha_ledger_${randomBytes(6).toString('hex')}`;
    try {
      await pool.query(
        `CREATE TABLE ${table} (
          id bigserial PRIMARY KEY,
          job_id text NOT NULL,
          idempotency_key text NOT NULL,
          attempt integer NOT NULL,
          worker_pid integer,
          started_at timestamptz(3) NOT NULL DEFAULT clock_timestamp(),
          ended_at timestamptz(3),
          outcome text NOT NULL DEFAULT 'pending'
        )`,
      );
    } catch (err) {
      await pool.end();
      throw new Error(
        `cannot create the ledger table in ${LEDGER_DATABASE_URL.replace(/\/\/[^@]*@/, '//')}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    return new Ledger(pool, table);
  }

  /** Records the start of a call; returns its row id. */
  async begin(call: {
    jobId: string;
    idempotencyKey: string;
    attempt: number;
    workerPid: number | null;
    at: Date;
  }): Promise<number> {
    const res = await this.pool.query<{ id: string }>(
      `INSERT INTO ${this.table} (job_id, idempotency_key, attempt, worker_pid, started_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
      [call.jobId, call.idempotencyKey, call.attempt, call.workerPid, call.at],
    );
    return Number(res.rows[0]!.id);
  }

  async end(id: number, outcome: Exclude<CallOutcome, 'pending'>, at: Date): Promise<void> {
    await this.pool.query(`UPDATE ${this.table} SET outcome = $2, ended_at = $3 WHERE id = $1`, [id, outcome, at]);
  }

  async rows(): Promise<LedgerRow[]> {
    const res = await this.pool.query<{
      id: string;
      job_id: string;
      idempotency_key: string;
      attempt: number;
      worker_pid: number | null;
      started_at: Date;
      ended_at: Date | null;
      outcome: CallOutcome;
    }>(`SELECT * FROM ${this.table} ORDER BY started_at, id`);
    return res.rows.map((r) => ({
      id: Number(r.id),
      jobId: r.job_id,
      idempotencyKey: r.idempotency_key,
      attempt: r.attempt,
      workerPid: r.worker_pid,
      startedAt: r.started_at.getTime(),
      endedAt: r.ended_at?.getTime() ?? null,
      outcome: r.outcome,
    }));
  }

  /** Drops the table and closes the pool. Safe to call twice. */
  async drop(): Promise<void> {
    if (this.dropped) return;
    this.dropped = true;
    try {
      await this.pool.query(`DROP TABLE IF EXISTS ${this.table}`);
    } finally {
      await this.pool.end();
    }
  }
  private dropped = false;
}

/** A running ledger dependency. */
export interface LedgerDependency {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * A slow HTTP dependency that writes every call into the ledger: the row at arrival, its outcome
 * when it answers 200 after `delayMs` (`succeeded`) or when the caller goes away first
 * (`interrupted`). `delayMs` may be a function of the call's attempt. Sundial's HTTP task sends `Idempotency-Key`, `Sundial-Job-Id`,
 * `Sundial-Attempt` and a User-Agent naming the worker's pid.
 */
export async function startLedgerDependency(
  ledger: Ledger,
  opts: { delayMs: number | ((call: { attempt: number }) => number) },
): Promise<LedgerDependency> {
  const delay = typeof opts.delayMs === 'number' ? () => opts.delayMs as number : opts.delayMs;
  const server: Server = createServer((req, res) => {
    const at = new Date();
    const pid = /worker (\d+)@/.exec(req.headers['user-agent'] ?? '')?.[1];
    const key = req.headers['idempotency-key'];
    if (typeof key !== 'string') {
      res.writeHead(400).end('no Idempotency-Key');
      return;
    }
    const attempt = Number(req.headers['sundial-attempt'] ?? 0);
    const row = ledger.begin({
      jobId: String(req.headers['sundial-job-id'] ?? ''),
      idempotencyKey: key,
      attempt,
      workerPid: pid === undefined ? null : Number(pid),
      at,
    });
    // Marked handled here; both paths below still see a failed insert.
    row.catch(() => undefined);
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      // The side effect counts as done when the answer is written: what a real dependency
      // commits before it replies.
      void row
        .then((id) => ledger.end(id, CallOutcome.Succeeded, new Date()))
        .then(
          () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'),
          () => res.writeHead(503).end('ledger write failed'),
        );
    }, delay({ attempt }));
    res.on('close', () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const closedAt = new Date();
      void row.then((id) => ledger.end(id, CallOutcome.Interrupted, closedAt)).catch(() => undefined);
    });
  });
  // Heartbeating callers keep connections open while they wait: no keep-alive surprises.
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A worker killed at a moment (epoch ms). */
export interface Kill {
  readonly pid: number;
  readonly at: number;
}

/**
 * Failover times from the ledger: for each attempt a kill interrupted (a call from the killed
 * worker, begun before the kill, that never succeeded), the time from the kill to the same
 * tick's next attempt reaching the dependency. Attempts never retried are returned apart.
 */
export function failoverTimes(
  kills: readonly Kill[],
  rows: readonly LedgerRow[],
): { times: number[]; unrecovered: LedgerRow[] } {
  const times: number[] = [];
  const unrecovered: LedgerRow[] = [];
  for (const kill of kills) {
    const interrupted = rows.filter(
      (r) => r.workerPid === kill.pid && r.outcome !== CallOutcome.Succeeded && r.startedAt <= kill.at,
    );
    for (const row of interrupted) {
      const next = rows.find(
        (r) => r.idempotencyKey === row.idempotencyKey && r.attempt > row.attempt && r.startedAt >= row.startedAt,
      );
      if (next === undefined) unrecovered.push(row);
      else times.push(next.startedAt - kill.at);
    }
  }
  return { times, unrecovered };
}

/** Keys whose side effect succeeded more than once: at-least-once repeats the key deduplicates. */
export function repeatedSuccesses(rows: readonly LedgerRow[]): string[] {
  const counts = new Map<string, number>();
  for (const r of rows)
    if (r.outcome === CallOutcome.Succeeded) counts.set(r.idempotencyKey, (counts.get(r.idempotencyKey) ?? 0) + 1);
  return [...counts].filter(([, n]) => n > 1).map(([key]) => key);
}

/**
 * Schedules one HTTP job per id, firing every second with `overlap: allow_all` (every tick runs,
 * however long the previous one takes), each calling `<dependencyUrl>/<id>` with a constant
 * retry interval and a heartbeat timeout, so a dead worker's attempt is retried elsewhere.
 */
export async function scheduleLedgerJobs(
  client: Client,
  taskQueue: string,
  jobIds: readonly string[],
  opts: { dependencyUrl: string; retryIntervalMs: number; maximumAttempts: number; heartbeatMs: number },
): Promise<void> {
  const registry = JobRegistry.create(
    jobIds.map((id) =>
      defineJob({
        id,
        schedule: { intervals: [{ every: '1s' }] },
        policies: { overlap: 'allow_all' },
        http: { url: `${opts.dependencyUrl}/${id}`, timeout: '30s' },
        retry: {
          initialInterval: `${opts.retryIntervalMs}ms`,
          backoffCoefficient: 1,
          maximumAttempts: opts.maximumAttempts,
        },
        timeouts: { startToClose: '2m', heartbeat: `${opts.heartbeatMs}ms` },
      }),
    ),
  );
  await reconcileSchedules({ client, registry, taskQueue, logger: testLogger, pruneOrphans: false });
}
