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
 * Afterwards it reads the jobs back over the API (the list, its filters, a job and its runs), so
 * a server or scheduler under trial is also checked for what Sundial needs of it.
 *
 * Options (environment): BENCH_JOBS (default 1000), BENCH_CREATE_CLIENTS (10),
 * BENCH_WAIT_SECONDS (how long after the minute to wait for stragglers, 180), the server:
 * BENCH_SERVER (`dev`, the default, or `full`), BENCH_SCHEDULER (`v1` or `chasm`), BENCH_SHARDS,
 * BENCH_DYNAMIC_CONFIG (JSON: extra dynamic config, for experiments; see startBenchTarget),
 * BENCH_BULLMQ_CONCURRENCY (the BullMQ worker's concurrency, 100: the Temporal SDK's default
 * number of concurrent activities), BENCH_SKIP_BULLMQ (unset), BENCH_REDIS_URL.
 * A measurement, not a test: nothing here fails on a number.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { startBullmq } from './bullmq';
import {
  expectOk,
  machineLine,
  markdownTable,
  percentile,
  ratio,
  runBench,
  runConcurrently,
  startBenchTarget,
  startSundial,
} from './support';

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
async function awaitArrivals(
  recorder: { arrivals(prefix: string): number[] },
  prefix: string,
  at: number,
  count: number,
): Promise<number[]> {
  while (recorder.arrivals(prefix).length < count && Date.now() < at + WAIT_SECONDS * 1000)
    await new Promise((r) => setTimeout(r, 500));
  return recorder.arrivals(prefix).map((t) => t - at);
}

interface Burst {
  created: number;
  lags: number[];
  createdBeforeMs: number;
  createPerS: number;
  /** The 1-minute load average when the burst was due and when its last call arrived (or the wait ended). */
  load: { atMinute: number; after: number };
  /** Sundial only: the minute to each run's start by its schedule (ms), as the job list shows it. */
  startLags?: number[];
}

/** Load average (1 min) at `at` (epoch ms): waits until then. */
async function loadAt(at: number): Promise<number> {
  await new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));
  return loadavg()[0]!;
}

/**
 * Reads the burst's jobs back over the API: every page of the list, its filters (origin, paused,
 * id prefix: visibility queries over the schedules' search attributes), one job (describe) and its
 * runs. One line per check, `ok` or what differed.
 */
async function checkReadBack(
  url: string,
  created: number,
  minute: number,
): Promise<{ checks: string[]; startLags: number[] }> {
  const get = async (p: string) =>
    (await (await expectOk(await fetch(`${url}${p}`), `GET ${p}`)).json()) as Record<string, unknown>;
  const list = async (query: string) => {
    const items: Array<{ id: string; recentRuns: Array<{ startedAt: string }> }> = [];
    let token: string | null = null;
    do {
      const page = await get(
        `/api/v1/jobs?pageSize=500${query}${token === null ? '' : `&pageToken=${encodeURIComponent(token)}`}`,
      );
      items.push(...(page.items as typeof items));
      token = page.nextPageToken as string | null;
    } while (token !== null);
    return items;
  };
  const count = async (query: string) => (await list(query)).length;
  // When each schedule started its run (the schedule's own record): splits the lag into the
  // scheduler's part and the run's (workflow task, activity dispatch, the call).
  const all = await list('');
  const startLags = all
    .filter((j) => j.id.startsWith('burst-') && j.recentRuns.length > 0)
    .map((j) => Date.parse(j.recentRuns[0]!.startedAt) - minute);
  const expect = (what: string, got: number, want: number) =>
    `${what}: ${got === want ? 'ok' : 'DIFFERS'} (${got}, expected ${want})`;
  const job = await get('/api/v1/jobs/burst-0');
  const runs = await get('/api/v1/jobs/burst-0/runs');
  const checks = [
    expect('list, all pages', all.length, created + PROBE),
    expect('list origin=api', await count('&origin=api'), created + PROBE),
    expect('list paused=true', await count('&paused=true'), PROBE),
    expect('list idPrefix=burst-', await count('&idPrefix=burst-'), created),
    expect('GET burst-0: recentRuns', (job.recentRuns as unknown[]).length, 1),
    expect('GET burst-0: nextRunTimes', (job.nextRunTimes as unknown[]).length, 5),
    expect('GET burst-0/runs', (runs.items as unknown[]).length, 1),
    expect('listed burst jobs with a run', startLags.length, created),
  ];
  return { checks, startLags };
}

async function sundial(recorder: {
  url: string;
  arrivals(prefix: string): number[];
}): Promise<Burst & { server: string; checks: string[] }> {
  const bench = await startBenchTarget(log);
  log(`Server: ${bench.description}, ready in ${(bench.startMs / 1000).toFixed(1)} s`);
  const app = await startSundial(bench.address);
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
    const probe = await runConcurrently(PROBE, CREATE_CLIENTS, (i) =>
      create(`probe-${i}`, '0 0 1 1 *', `${recorder.url}/probe/${i}`, true),
    );
    const probeRate = Math.max(1, probe.ms.length / (probe.elapsedMs / 1000));
    const minute = minuteAhead(30_000 + (2 * JOBS * 1000) / probeRate);
    log(
      `Sundial: ${PROBE} creates at ${probeRate.toFixed(1)}/s; creating ${JOBS} jobs with cron "${minute.cron}" (${new Date(minute.at).toISOString()})...`,
    );
    const created = await runConcurrently(JOBS, CREATE_CLIENTS, (i) =>
      create(`burst-${i}`, minute.cron, `${recorder.url}/sundial/${i}`, false),
    );
    const createdBeforeMs = minute.at - Date.now();
    log(
      `  ${created.ms.length} created (${created.failed} failed ${created.firstError ?? ''}), ${Math.round(createdBeforeMs / 1000)} s before the minute; waiting...`,
    );
    const atMinute = loadAt(minute.at);
    const lags = await awaitArrivals(recorder, '/sundial/', minute.at, created.ms.length);
    const load = { atMinute: await atMinute, after: loadavg()[0]! };
    const { checks, startLags } = await checkReadBack(app.url, created.ms.length, minute.at).catch((err: unknown) => ({
      checks: [`read back failed: ${(err as Error).message}`],
      startLags: [] as number[],
    }));
    return {
      created: created.ms.length,
      lags,
      createdBeforeMs,
      createPerS: created.ms.length / (created.elapsedMs / 1000),
      load,
      server: bench.description,
      checks,
      startLags,
    };
  } finally {
    await app.stop();
    await bench.stop();
  }
}

async function bullmq(recorder: {
  url: string;
  arrivals(prefix: string): number[];
}): Promise<Burst & { version: string }> {
  const { queue, version, stop } = await startBullmq(async (job) => {
    const res = await fetch((job.data as { url: string }).url);
    await res.arrayBuffer();
  }, CONCURRENCY);
  try {
    const minute = minuteAhead(20_000);
    log(
      `BullMQ ${version}: upserting ${JOBS} job schedulers with pattern "${minute.cron}", worker concurrency ${CONCURRENCY}...`,
    );
    const created = await runConcurrently(JOBS, CREATE_CLIENTS, async (i) => {
      await queue.upsertJobScheduler(
        `burst-${i}`,
        { pattern: minute.cron, tz: 'UTC' },
        { name: 'burst', data: { url: `${recorder.url}/bullmq/${i}` } },
      );
    });
    const createdBeforeMs = minute.at - Date.now();
    log(
      `  ${created.ms.length} upserted (${created.failed} failed ${created.firstError ?? ''}), ${Math.round(createdBeforeMs / 1000)} s before the minute; waiting...`,
    );
    const atMinute = loadAt(minute.at);
    const lags = await awaitArrivals(recorder, '/bullmq/', minute.at, created.ms.length);
    const load = { atMinute: await atMinute, after: loadavg()[0]! };
    return {
      created: created.ms.length,
      lags,
      createdBeforeMs,
      createPerS: created.ms.length / (created.elapsedMs / 1000),
      load,
      version,
    };
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
      ['run started by its schedule, p50', (r) => (r.startLags === undefined ? NaN : percentile(r.startLags, 50)), sec],
      ['run started by its schedule, p99', (r) => (r.startLags === undefined ? NaN : percentile(r.startLags, 99)), sec],
      [
        'run started by its schedule, last',
        (r) => (r.startLags === undefined || r.startLags.length === 0 ? NaN : Math.max(...r.startLags)),
        sec,
      ],
      ['load average (1 min) at the minute', (r) => r.load.atMinute, (v) => v.toFixed(2)],
      ['load average (1 min) after the last arrival', (r) => r.load.after, (v) => v.toFixed(2)],
    ];
    log('');
    log(machineLine());
    log(`Sundial's server: ${s.server}`);
    log(
      `\n${JOBS} jobs due at the same minute, each an HTTP GET to a local server; lag = arrival - the minute. BullMQ ${b?.version ?? '(skipped)'} on the local Redis, worker concurrency ${CONCURRENCY}.\n`,
    );
    log(
      markdownTable(
        ['figure', 'Sundial', 'BullMQ', 'Sundial / BullMQ'],
        figures.map(([name, pick, fmt]) => [
          name,
          fmt(pick(s)),
          b === undefined ? '-' : fmt(pick(b)),
          b === undefined || name.startsWith('load') || name.startsWith('run started') ? '-' : ratio(pick(s), pick(b)),
        ]),
      ),
    );
    if (s.createdBeforeMs < 0)
      log("\nWARNING: Sundial's jobs were not all created before the minute; the late ones miss it.");
    log(`\nRead back over the API after the burst:\n${s.checks.map((c) => `- ${c}`).join('\n')}`);
    log(
      `\nAll created ${sec(s.createdBeforeMs)} before the minute (Sundial, ${s.createPerS.toFixed(1)}/s)${b === undefined ? '' : `, ${sec(b.createdBeforeMs)} (BullMQ, ${b.createPerS.toFixed(1)}/s)`}.`,
    );
  } finally {
    await recorder.close();
  }
}

runBench(main);
