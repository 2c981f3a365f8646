/**
 * `npm run bench:breaker`: the latency a closed breaker adds to a run. Runs the same no-op job
 * BENCH_RUNS times (default 200) without and with a breaker, one run at a time, on a dev server
 * like the embedded default's, and compares the runs' own durations (workflow start to end).
 * A measurement, not a test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { defineJob } from '../src/jobs/define';
import { JobRegistry } from '../src/jobs/registry';
import type { RunOutcome } from '../src/jobs/run-types';
import { createLogger } from '../src/observability/logger';
import { ensureTemporalCli } from '../src/temporal/cli';
import { connectWorker } from '../src/temporal/connection';
import { startDevServer } from '../src/temporal/dev-server';
import { createSundialWorker } from '../src/worker/worker';
import { freePort } from '../test/support/ports';

const RUNS = Number(process.env.BENCH_RUNS ?? 200);
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;

async function main(): Promise<void> {
  const logger = createLogger('error');
  const cli = await ensureTemporalCli();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sundial-bench-breaker-'));
  const server = await startDevServer({ cliPath: cli.path, dataDir, port: await freePort(), uiPort: undefined, namespace: 'default', logger });
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const taskQueue = 'bench-breaker';
  const registry = JobRegistry.create([
    defineJob({ id: 'plain', schedule: { cron: '@yearly' }, run: () => 'ok' }),
    defineJob({ id: 'guarded', schedule: { cron: '@yearly' }, run: () => 'ok', breaker: { key: 'bench' }, fallback: { type: 'cache' } }),
  ]);
  const native = await connectWorker({ address: server.address, namespace: 'default', taskQueue, tls: { enabled: false }, apiKey: undefined, connectTimeoutMs: 10_000, uiUrl: undefined }, server.address, logger);
  const worker = await createSundialWorker({ connection: native, namespace: 'default', taskQueue, registry, logger, shutdownGraceMs: 1_000 });
  const running = worker.run();
  try {
    const measure = async (jobId: string) => {
      const durations: number[] = [];
      for (let i = 0; i < RUNS + 10; i++) {
        const outcome = (await client.workflow.execute('jobWorkflow', { taskQueue, workflowId: `${jobId}-${i}`, args: [registry.get(jobId)!.run] })) as RunOutcome;
        if (i >= 10) durations.push(outcome.durationMs); // the first ten warm up
      }
      return durations;
    };
    const plain = await measure('plain');
    const guarded = await measure('guarded');
    process.stdout.write(`machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}; ${RUNS} runs each, one at a time\n\n`);
    process.stdout.write('| job | p50 | p99 |\n|---|---|---|\n');
    process.stdout.write(`| no breaker | ${pct(plain, 50)} ms | ${pct(plain, 99)} ms |\n| closed breaker + cache fallback | ${pct(guarded, 50)} ms | ${pct(guarded, 99)} ms |\n`);
    process.stdout.write(`| added by the breaker | ${pct(guarded, 50) - pct(plain, 50)} ms | ${pct(guarded, 99) - pct(plain, 99)} ms |\n`);
  } finally {
    worker.shutdown();
    await running;
    await native.close();
    await connection.close();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
