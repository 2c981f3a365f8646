/**
 * `npm run bench:observability`: what logging and metrics cost per run. Starts BENCH_RUNS runs
 * (default 300) of a no-op job at once, BENCH_TRIALS times (default 3) per variant, and reports
 * throughput (runs/s from the first start to the last end) and the runs' own durations:
 *  - quiet:    LOG_LEVEL=silent, no /metrics scrapes;
 *  - observed: LOG_LEVEL=info (every JSON line written to a file, as a log shipper would read
 *              it), the API's job-metrics collector reading Temporal every second, and its
 *              /metrics scraped every second.
 * Each variant runs in a process of its own (the Temporal runtime's logger is per process),
 * against one dev server like the embedded default's. A measurement, not a test.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createApp } from '../src/api/app';
import { startApi } from '../src/api/server';
import { defineJob } from '../src/jobs/define';
import { JobRegistry } from '../src/jobs/registry';
import type { RunOutcome } from '../src/jobs/run-types';
import { createLogger } from '../src/observability/logger';
import { createMetrics } from '../src/observability/metrics';
import { startJobMetricsCollector } from '../src/observability/temporal-collector';
import { SundialJobId } from '../src/temporal/search-attributes';
import { percentile as pct, runBench, startBenchServer, startBenchWorker } from './support';

const RUNS = Number(process.env.BENCH_RUNS ?? 300);
const TRIALS = Number(process.env.BENCH_TRIALS ?? 3);
const VARIANTS = ['quiet', 'observed'] as const;
type Variant = (typeof VARIANTS)[number];

interface TrialResult {
  readonly runsPerSecond: number;
  readonly durationP50: number;
  readonly durationP99: number;
  readonly scrapes: number;
  /** How long each /metrics scrape took, in ms (it serializes what the collector last read). */
  readonly scrapeMs: number[];
  readonly logLines: number;
}

/** One trial in this process: a worker (and for `observed`, the API being scraped) and RUNS runs. */
async function trial(address: string, variant: Variant, trialNo: number): Promise<TrialResult> {
  const logDir = mkdtempSync(path.join(tmpdir(), 'sundial-bench-logs-'));
  const logFile = path.join(logDir, 'sundial.log');
  let logLines = 0;
  const sink = createWriteStream(logFile);
  const counted = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines += chunk.toString().split('\n').length - 1;
      sink.write(chunk, done);
    },
  });
  const logger = createLogger(variant === 'observed' ? 'info' : 'silent', counted);
  const taskQueue = `bench-observability-${variant}-${trialNo}`;
  const jobId = `bench-${variant}-${trialNo}`;
  const registry = JobRegistry.create([defineJob({ id: jobId, schedule: { cron: '@yearly' }, run: () => 'ok' })]);
  const { client, stop } = await startBenchWorker(address, taskQueue, registry, logger);
  const metrics = variant === 'observed' ? createMetrics() : undefined;
  const api =
    metrics === undefined
      ? undefined
      : await startApi(
          createApp({ client, logger, registry, taskQueue, webUiUrl: 'http://127.0.0.1:8233', metrics }),
          '127.0.0.1',
          0,
        );
  const collector =
    metrics === undefined
      ? undefined
      : startJobMetricsCollector({ client, registry: metrics.registry, logger, budget: { intervalMs: 1_000 } });
  let scrapes = 0;
  const scrapeMs: number[] = [];
  let scraping = api !== undefined;
  const scraper = (async () => {
    while (scraping) {
      const t0 = Date.now();
      await (await fetch(`${api!.url}/metrics`)).text();
      scrapeMs.push(Date.now() - t0);
      scrapes++;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  })();
  try {
    const input = registry.get(jobId)!.run;
    const started = Date.now();
    const handles = await Promise.all(
      Array.from({ length: RUNS }, (_, i) =>
        client.workflow.start('jobWorkflow', {
          taskQueue,
          workflowId: `${jobId}-${i}`,
          args: [input],
          typedSearchAttributes: [{ key: SundialJobId, value: jobId }],
        }),
      ),
    );
    const outcomes = (await Promise.all(handles.map((h) => h.result()))) as RunOutcome[];
    const elapsed = (Date.now() - started) / 1000;
    const durations = outcomes.map((o) => o.durationMs);
    return {
      runsPerSecond: RUNS / elapsed,
      durationP50: pct(durations, 50),
      durationP99: pct(durations, 99),
      scrapes,
      scrapeMs,
      logLines,
    };
  } finally {
    scraping = false;
    await scraper;
    await api?.stop();
    await collector?.stop();
    await stop();
    sink.end();
    rmSync(logDir, { recursive: true, force: true });
  }
}

/** Runs one trial in a child process and reads its result from the last stdout line. */
function trialInChild(address: string, variant: Variant, trialNo: number): Promise<TrialResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [__filename], {
      env: { ...process.env, BENCH_CHILD: `${variant}:${trialNo}`, BENCH_ADDRESS: address },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) reject(new Error(`trial ${variant} #${trialNo} exited ${code}`));
      else resolve(JSON.parse(last) as TrialResult);
    });
  });
}

function scrapeSummary(ms: number[]): string {
  return ms.length === 0 ? '-' : `${pct(ms, 50)} / ${Math.max(...ms)} ms`;
}

async function main(): Promise<void> {
  const child = process.env.BENCH_CHILD;
  if (child !== undefined) {
    const [variant, n] = child.split(':') as [Variant, string];
    process.stdout.write(`${JSON.stringify(await trial(process.env.BENCH_ADDRESS!, variant, Number(n)))}\n`);
    return;
  }
  const bench = await startBenchServer();
  try {
    const results: Record<Variant, TrialResult[]> = { quiet: [], observed: [] };
    // Interleaved, so a slow spell of the machine hits both variants alike.
    for (let t = 0; t < TRIALS; t++)
      for (const v of VARIANTS) results[v].push(await trialInChild(bench.server.address, v, t));
    process.stdout.write(
      `machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}; ${RUNS} runs started at once, ${TRIALS} trials per variant\n\n`,
    );
    process.stdout.write(
      '| variant | runs/s (median of trials) | run duration p50 | p99 | log lines per run | scrapes | scrape time p50 / max |\n|---|---|---|---|---|---|---|\n',
    );
    for (const v of VARIANTS) {
      const r = results[v];
      const median = (f: (x: TrialResult) => number) => pct(r.map(f), 50);
      process.stdout.write(
        `| ${v} | ${median((x) => x.runsPerSecond).toFixed(1)} (${r.map((x) => x.runsPerSecond.toFixed(1)).join(', ')}) | ${median((x) => x.durationP50)} ms | ${median((x) => x.durationP99)} ms | ${(median((x) => x.logLines) / RUNS).toFixed(1)} | ${median((x) => x.scrapes)} | ${scrapeSummary(r.flatMap((x) => x.scrapeMs))} |\n`,
      );
    }
  } finally {
    await bench.stop();
  }
}

runBench(main);
