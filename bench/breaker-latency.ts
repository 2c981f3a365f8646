/**
 * `npm run bench:breaker`: the latency a closed breaker adds to a run. Runs the same no-op job
 * BENCH_RUNS times (default 200) without and with a breaker, one run at a time, on a dev server
 * like the embedded default's, and compares the runs' own durations (workflow start to end).
 * A measurement, not a test.
 */
import { cpus } from 'node:os';
import { defineJob } from '../src/jobs/define';
import { JobRegistry } from '../src/jobs/registry';
import type { RunOutcome } from '../src/jobs/run-types';
import { percentile as pct, runBench, startBenchServer, startBenchWorker } from './support';

const RUNS = Number(process.env.BENCH_RUNS ?? 200);

async function main(): Promise<void> {
  const bench = await startBenchServer();
  const taskQueue = 'bench-breaker';
  const registry = JobRegistry.create([
    defineJob({ id: 'plain', schedule: { cron: '@yearly' }, run: () => 'ok' }),
    defineJob({
      id: 'guarded',
      schedule: { cron: '@yearly' },
      run: () => 'ok',
      breaker: { key: 'bench' },
      fallback: { type: 'cache' },
    }),
  ]);
  const { client, stop } = await startBenchWorker(bench.server.address, taskQueue, registry);
  try {
    const measure = async (jobId: string) => {
      const durations: number[] = [];
      for (let i = 0; i < RUNS + 10; i++) {
        const outcome = (await client.workflow.execute('jobWorkflow', {
          taskQueue,
          workflowId: `${jobId}-${i}`,
          args: [registry.get(jobId)!.run],
        })) as RunOutcome;
        if (i >= 10) durations.push(outcome.durationMs); // the first ten warm up
      }
      return durations;
    };
    const plain = await measure('plain');
    const guarded = await measure('guarded');
    process.stdout.write(
      `machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}; ${RUNS} runs each, one at a time\n\n`,
    );
    process.stdout.write('| job | p50 | p99 |\n|---|---|---|\n');
    process.stdout.write(
      `| no breaker | ${pct(plain, 50)} ms | ${pct(plain, 99)} ms |\n| closed breaker + cache fallback | ${pct(guarded, 50)} ms | ${pct(guarded, 99)} ms |\n`,
    );
    process.stdout.write(
      `| added by the breaker | ${pct(guarded, 50) - pct(plain, 50)} ms | ${pct(guarded, 99) - pct(plain, 99)} ms |\n`,
    );
  } finally {
    await stop();
    await bench.stop();
  }
}

runBench(main);
