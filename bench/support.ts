import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { JobRegistry } from '../src/jobs/registry';
import { createLogger, type Logger } from '../src/observability/logger';
import { ensureTemporalCli } from '../src/temporal/cli';
import { connectWorker } from '../src/temporal/connection';
import { startDevServer, type DevServer } from '../src/temporal/dev-server';
import { createSundialWorker } from '../src/worker/worker';
import { freePort } from '../test/support/ports';

export const benchLogger = createLogger('error');

/** A dev server like the embedded default's (SQLite file in a temporary folder). */
export async function startBenchServer(
  opts: { dynamicConfig?: Record<string, string | number>; sqlitePragmas?: Record<string, string>; metricsPort?: number } = {},
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
    { addresses: [address], namespace: 'default', taskQueue, tls: { enabled: false }, apiKey: undefined, connectTimeoutMs: 10_000, uiUrl: undefined },
    [address],
    logger,
  );
  const worker = await createSundialWorker({ connection: native, namespace: 'default', taskQueue, registry, logger, shutdownGraceMs: 1_000 });
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
