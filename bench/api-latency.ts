/**
 * `npm run bench:api`: API latency and throughput under load (autocannon), on a dev server like
 * the embedded default's. Measures GET /api/v1/jobs (a page of 20 jobs, each described) and
 * POST /api/v1/jobs/{id}/trigger (trigger through the schedule, then find the new run).
 * A measurement, not a test. BENCH_SECONDS (default 15) per endpoint, BENCH_CONNECTIONS (default 10).
 */
import { cpus } from 'node:os';
import autocannon from 'autocannon';
import { createApp } from '../src/api/app';
import { startApi } from '../src/api/server';
import { defineJob } from '../src/jobs/define';
import { JobRegistry } from '../src/jobs/registry';
import { benchLogger, runBench, startBenchServer, startBenchWorker } from './support';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);

async function main(): Promise<void> {
  const bench = await startBenchServer();
  const taskQueue = 'bench-api';
  const registry = JobRegistry.create([defineJob({ id: 'noop', schedule: { cron: '@yearly' }, run: () => null })]);
  const { client, stop } = await startBenchWorker(bench.server.address, taskQueue, registry);
  const api = await startApi(
    createApp({ client, logger: benchLogger, registry, taskQueue, webUiUrl: 'http://127.0.0.1:8233' }),
    '127.0.0.1',
    0,
  );
  try {
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${api.url}/api/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          id: `bench-${i}`,
          schedule: { cron: '@yearly' },
          paused: true,
          policies: { overlap: 'allow_all' },
          task: { type: 'noop' },
        }),
      });
      if (res.status !== 201) throw new Error(`create failed: ${res.status} ${await res.text()}`);
    }
    process.stdout.write(
      `machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}; ${SECONDS} s per endpoint, ${CONNECTIONS} connections; 50 jobs\n\n`,
    );
    const rows: string[] = [];
    let n = 0;
    const targets: Array<{ name: string; opts: autocannon.Options }> = [
      { name: 'GET /api/v1/jobs (page of 20)', opts: { url: `${api.url}/api/v1/jobs?pageSize=20` } },
      {
        name: 'POST /api/v1/jobs/{id}/trigger',
        opts: {
          url: api.url,
          requests: [
            {
              method: 'POST',
              // Spread over the 50 jobs: Temporal drops a second trigger of one job in the same second.
              setupRequest: (req) => ({
                ...req,
                path: `/api/v1/jobs/bench-${n++ % 50}/trigger`,
                headers: { 'content-type': 'application/json' },
                body: '{}',
              }),
            },
          ],
        },
      },
    ];
    for (const t of targets) {
      const result = await autocannon({ ...t.opts, connections: CONNECTIONS, duration: SECONDS });
      const non2xx = result.non2xx;
      rows.push(
        `| ${t.name} | ${result.latency.p50} ms | ${result.latency.p99} ms | ${result.requests.average.toFixed(1)} | ${result.requests.total} | ${non2xx} |`,
      );
      process.stdout.write(
        `${t.name}: p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, ${result.requests.average} req/s, non-2xx ${non2xx}\n`,
      );
    }
    process.stdout.write(
      `\n| endpoint | p50 | p99 | req/s | requests | non-2xx |\n|---|---|---|---|---|---|\n${rows.join('\n')}\n`,
    );
  } finally {
    await api.stop();
    await stop();
    await bench.stop();
  }
}

runBench(main);
