/**
 * `npm run bench:burst`: BENCH_JOBS jobs due on the same minute, each an HTTP call to a local
 * server that records when it arrives; then the same with BullMQ job schedulers and a BullMQ
 * worker making the same call, in the same run on the same machine.
 *
 * Sundial runs as a deployment does: a dev server like the embedded default's (SQLite file in a
 * temporary folder, Sundial's dynamic configuration), `npm run worker` and `npm run api` as
 * processes; the jobs are created over the API with the cron `M H * * *` of a minute far enough
 * ahead for all of them to exist by then. Lag = arrival at the local server - that minute.
 *
 * Options (environment): BENCH_JOBS (default 1000), BENCH_CREATE_CLIENTS (10),
 * BENCH_WAIT_SECONDS (how long after the minute to wait for stragglers, 180),
 * BENCH_DYNAMIC_CONFIG (JSON: extra dev-server dynamic config, for experiments),
 * BENCH_BULLMQ_CONCURRENCY (the BullMQ worker's concurrency, 100: the Temporal SDK's default
 * number of concurrent activities), BENCH_SKIP_BULLMQ (unset), BENCH_REDIS_URL.
 * A measurement, not a test: nothing here fails on a number.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startBullmq } from './bullmq';
import { expectOk, machineLine, markdownTable, percentile, ratio, runBench, runConcurrently, startBenchServer, startSundial } from './support';

const JOBS = Number(process.env.BENCH_JOBS ?? 1_000);
const CREATE_CLIENTS = Number(process.env.BENCH_CREATE_CLIENTS ?? 10);
const WAIT_SECONDS = Number(process.env.BENCH_WAIT_SECONDS ?? 180);
const CONCURRENCY = Number(process.env.BENCH_BULLMQ_CONCURRENCY ?? 100);
const PROBE = 20;

const log = (line: string) => process.stdout.write(`${line}\n`);

/** Arrival times (epoch ms) of the first call per path, by path prefix. */
async function startRecorder(): Promise<{ url: string; arrivals(prefix: string): number[]; close(): Promise<void> }> {
  const seen = new Map<string, number>();
  const server = createServer((req, res) => {
    const at = Date.now();
    if (!seen.has(req.url!)) seen.set(req.url!, at);
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    arrivals: (prefix) => [...seen].filter(([p]) => p.startsWith(prefix)).map(([, at]) => at),
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** The first whole minute at least `aheadMs` from now, and its cron `M H * * *` (UTC). */
function minuteAhead(aheadMs: number): { at: number; cron: string } {
  const at = Math.ceil((Date.now() + aheadMs) / 60_000) * 60_000;
  const d = new Date(at);
  return { at, cron: `${d.getUTCMinutes()} ${d.getUTCHours()} * * *` };
}

/** Waits until `count` calls under `prefix` arrived, or WAIT_SECONDS after `at`. */
async function awaitArrivals(recorder: { arrivals(prefix: string): number[] }, prefix: string, at: number, count: number): Promise<number[]> {
  while (recorder.arrivals(prefix).length < count && Date.now() < at + WAIT_SECONDS * 1000) await new Promise((r) => setTimeout(r, 500));
  return recorder.arrivals(prefix).map((t) => t - at);
}

interface Burst {
  created: number;
  lags: number[];
  createdBeforeMs: number;
  createPerS: number;
}

async function sundial(recorder: { url: string; arrivals(prefix: string): number[] }): Promise<Burst> {
  const bench = await startBenchServer(process.env.BENCH_DYNAMIC_CONFIG === undefined ? {} : { dynamicConfig: JSON.parse(process.env.BENCH_DYNAMIC_CONFIG) as Record<string, string | number> });
  const app = await startSundial(bench.server.address);
  try {
    // All jobs must exist before their minute, and creates ran at 4-50/s on this machine as its
    // load varied: time a few first (paused, never due), then plan for half that rate plus 30 s.
    const create = async (id: string, cron: string, url: string, paused: boolean) => {
      const res = await fetch(`${app.url}/api/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id, schedule: { cron }, paused, task: { type: 'http', url } }),
      });
      await expectOk(res, 'create');
      await res.arrayBuffer();
    };
    const probe = await runConcurrently(PROBE, CREATE_CLIENTS, (i) => create(`probe-${i}`, '0 0 1 1 *', `${recorder.url}/probe/${i}`, true));
    const probeRate = Math.max(1, probe.ms.length / (probe.elapsedMs / 1000));
    const minute = minuteAhead(30_000 + (2 * JOBS * 1000) / probeRate);
    log(`Sundial: ${PROBE} creates at ${probeRate.toFixed(1)}/s; creating ${JOBS} jobs with cron "${minute.cron}" (${new Date(minute.at).toISOString()})...`);
    const created = await runConcurrently(JOBS, CREATE_CLIENTS, (i) => create(`burst-${i}`, minute.cron, `${recorder.url}/sundial/${i}`, false));
    const createdBeforeMs = minute.at - Date.now();
    log(`  ${created.ms.length} created (${created.failed} failed ${created.firstError ?? ''}), ${Math.round(createdBeforeMs / 1000)} s before the minute; waiting...`);
    const lags = await awaitArrivals(recorder, '/sundial/', minute.at, created.ms.length);
    return { created: created.ms.length, lags, createdBeforeMs, createPerS: created.ms.length / (created.elapsedMs / 1000) };
  } finally {
    await app.stop();
    await bench.stop();
  }
}

async function bullmq(recorder: { url: string; arrivals(prefix: string): number[] }): Promise<Burst & { version: string }> {
  const { queue, version, stop } = await startBullmq(async (job) => {
    const res = await fetch((job.data as { url: string }).url);
    await res.arrayBuffer();
  }, CONCURRENCY);
  try {
    const minute = minuteAhead(20_000);
    log(`BullMQ ${version}: upserting ${JOBS} job schedulers with pattern "${minute.cron}", worker concurrency ${CONCURRENCY}...`);
    const created = await runConcurrently(JOBS, CREATE_CLIENTS, async (i) => {
      await queue.upsertJobScheduler(`burst-${i}`, { pattern: minute.cron, tz: 'UTC' }, { name: 'burst', data: { url: `${recorder.url}/bullmq/${i}` } });
    });
    const createdBeforeMs = minute.at - Date.now();
    log(`  ${created.ms.length} upserted (${created.failed} failed ${created.firstError ?? ''}), ${Math.round(createdBeforeMs / 1000)} s before the minute; waiting...`);
    const lags = await awaitArrivals(recorder, '/bullmq/', minute.at, created.ms.length);
    return { created: created.ms.length, lags, createdBeforeMs, createPerS: created.ms.length / (created.elapsedMs / 1000), version };
  } finally {
    await stop();
  }
}

async function main(): Promise<void> {
  log(machineLine());
  const recorder = await startRecorder();
  try {
    const s = await sundial(recorder);
    const b = process.env.BENCH_SKIP_BULLMQ === undefined ? await bullmq(recorder) : undefined;
    const sec = (v: number) => (Number.isFinite(v) ? `${(v / 1000).toFixed(2)} s` : '-');
    const figures: Array<[string, (r: Burst) => number, (v: number) => string]> = [
      ['created', (r) => r.created, (v) => `${v} of ${JOBS}`],
      ['arrived', (r) => r.lags.length, (v) => `${v}`],
      ['lag p50', (r) => percentile(r.lags, 50), sec],
      ['lag p99', (r) => percentile(r.lags, 99), sec],
      ['last arrival', (r) => Math.max(...r.lags), sec],
      ['first arrival', (r) => Math.min(...r.lags), sec],
    ];
    log('');
    log(machineLine());
    log(`\n${JOBS} jobs due at the same minute, each an HTTP GET to a local server; lag = arrival - the minute. BullMQ ${b?.version ?? '(skipped)'} on the local Redis, worker concurrency ${CONCURRENCY}.\n`);
    log(
      markdownTable(
        ['figure', 'Sundial', 'BullMQ', 'Sundial / BullMQ'],
        figures.map(([name, pick, fmt]) => [name, fmt(pick(s)), b === undefined ? '-' : fmt(pick(b)), b === undefined ? '-' : ratio(pick(s), pick(b))]),
      ),
    );
    if (s.createdBeforeMs < 0) log('\nWARNING: Sundial\'s jobs were not all created before the minute; the late ones miss it.');
    log(`\nAll created ${sec(s.createdBeforeMs)} before the minute (Sundial, ${s.createPerS.toFixed(1)}/s)${b === undefined ? '' : `, ${sec(b.createdBeforeMs)} (BullMQ, ${b.createPerS.toFixed(1)}/s)`}.`);
  } finally {
    await recorder.close();
  }
}

runBench(main);
