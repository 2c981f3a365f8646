/**
 * `npm run bench:scale`: Sundial with many jobs, and BullMQ job schedulers as the reference,
 * measured in the same run. Sundial runs as a deployment does: a dev server like the embedded
 * default's (SQLite file in a temporary folder, Sundial's dynamic configuration), `npm run worker`
 * and `npm run api` as processes, driven only over HTTP; so the same bench runs on any version.
 *
 * 1. creates BENCH_JOBS paused jobs over the API (BENCH_CREATE_CLIENTS at once): jobs/s;
 * 2. lists them all in pages of 100: p50/p99 per page;
 * 3. pages of 20 under BENCH_LIST_CLIENTS concurrent clients (autocannon, BENCH_SECONDS) while
 *    one client reads single jobs (GET /api/v1/jobs/{id}): p50/p99, non-2xx;
 * 4. GET /metrics BENCH_SCRAPES times, one after another: p50/max;
 * 5. RSS of the API and worker processes;
 * 6. a worker started with BENCH_CODE_JOBS code jobs (bench/fixtures/code-jobs.ts): time from
 *    spawn to its "reconciled" log line, on the first start (creates them) and on a second start
 *    with nothing changed;
 * 7. BullMQ on the local Redis: BENCH_JOBS `upsertJobScheduler` calls (same concurrency),
 *    `getJobSchedulers` in pages of 100, pages of 20 under BENCH_LIST_CLIENTS clients with
 *    `getJobScheduler(id)` alongside; then the ratio Sundial / BullMQ for each comparable figure.
 *
 * Options (environment): BENCH_JOBS (default 10000), BENCH_CREATE_CLIENTS (10),
 * BENCH_LIST_CLIENTS (10), BENCH_SECONDS (15), BENCH_SCRAPES (5), BENCH_CODE_JOBS (1000),
 * BENCH_SKIP_BULLMQ (unset), BENCH_REDIS_URL (redis://127.0.0.1:6379).
 * A measurement, not a test: nothing here fails on a number.
 */
import autocannon from 'autocannon';
import { startBullmq } from './bullmq';
import {
  CODE_JOBS_MODULE,
  expectOk,
  loadUntil,
  machineLine,
  markdownTable,
  percentile,
  ratio,
  runBench,
  runConcurrently,
  since,
  startBenchServer,
  startSundial,
  startSundialProcess,
  type SundialProcess,
} from './support';

const JOBS = Number(process.env.BENCH_JOBS ?? 10_000);
const CREATE_CLIENTS = Number(process.env.BENCH_CREATE_CLIENTS ?? 10);
const LIST_CLIENTS = Number(process.env.BENCH_LIST_CLIENTS ?? 10);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const SCRAPES = Number(process.env.BENCH_SCRAPES ?? 5);
const CODE_JOBS = Number(process.env.BENCH_CODE_JOBS ?? 1_000);
/** A yearly cron: the jobs are paused anyway, and nothing fires while we measure. */
const YEARLY = '0 0 1 1 *';

interface Figures {
  createPerS: number;
  createFailed: number;
  page100: number[];
  page100Failed: number;
  listed: number;
  page20: { p50: number; p99: number; non2xx: number; errors: number; requests: number };
  get: number[];
  getFailed: number;
}

const log = (line: string) => process.stdout.write(`${line}\n`);
const ms = (v: number) => (Number.isFinite(v) ? `${Math.round(v)} ms` : '-');

/** Follows `nextPageToken` through the whole list; a failed page is retried twice, then the listing stops. Durations in ms. */
async function listAll(url: string): Promise<{ pages: number[]; failed: number; items: number }> {
  const pages: number[] = [];
  let failed = 0;
  let items = 0;
  let token: string | null = null;
  let attempts = 0;
  for (;;) {
    const t = performance.now();
    const res = await fetch(
      `${url}/api/v1/jobs?pageSize=100${token === null ? '' : `&pageToken=${encodeURIComponent(token)}`}`,
    );
    if (!res.ok) {
      await res.arrayBuffer();
      // A failed page counts in the latencies too: it is what a client waited for.
      pages.push(since(t));
      failed++;
      if (++attempts === 3) break;
      continue;
    }
    const body = (await res.json()) as { items: unknown[]; nextPageToken: string | null };
    pages.push(since(t));
    attempts = 0;
    items += body.items.length;
    token = body.nextPageToken;
    if (token === null) break;
  }
  return { pages, failed, items };
}

async function sundial(): Promise<{
  settleMs: number;
  figures: Figures;
  scrape: { ms: number[]; failed: number };
  rss: Record<'api' | 'worker', ReturnType<SundialProcess['rss']>>;
  reconcile: Array<{ ms: number; report: string }>;
}> {
  const bench = await startBenchServer();
  const app = await startSundial(bench.server.address);
  try {
    log(`creating ${JOBS} jobs over the API (${CREATE_CLIENTS} clients)...`);
    const created = await runConcurrently(JOBS, CREATE_CLIENTS, async (i) => {
      const res = await fetch(`${app.url}/api/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          id: `scale-${i}`,
          schedule: { cron: YEARLY },
          paused: true,
          task: { type: 'http', url: 'http://127.0.0.1:9/never' },
        }),
      });
      await expectOk(res, 'create');
      await res.arrayBuffer();
    });
    const createPerS = created.ms.length / (created.elapsedMs / 1000);
    log(
      `  ${created.ms.length} created in ${(created.elapsedMs / 1000).toFixed(1)} s (${createPerS.toFixed(1)}/s), ${created.failed} failed ${created.firstError ?? ''}`,
    );

    // Temporal answers a create before the schedule's own workflow has run its first task; a
    // mass create leaves a backlog of those, and a describe (GET /jobs/{id}) waits behind it.
    // Measure how long that takes to drain, then measure the reads on a settled server.
    log('waiting until schedules answer describes (GET /api/v1/jobs/{id} under 1 s)...');
    const settleStart = performance.now();
    for (;;) {
      const ids = [JOBS - 1, ...Array.from({ length: 4 }, () => Math.floor(Math.random() * JOBS))];
      const t = performance.now();
      const oks = await Promise.all(
        ids.map(
          async (i) =>
            await fetch(`${app.url}/api/v1/jobs/scale-${i}`).then(
              (r) => r.arrayBuffer().then(() => r.ok),
              () => false,
            ),
        ),
      );
      if (oks.every(Boolean) && since(t) < 1_000) break;
      if (since(settleStart) > 900_000) break;
      await new Promise((r) => setTimeout(r, 1_000));
    }
    const settleMs = since(settleStart);
    log(`  settled ${Math.round(settleMs)} ms after the last create`);

    log('listing them all in pages of 100...');
    const listing = await listAll(app.url);
    log(`  ${listing.items} jobs in ${listing.pages.length} pages, ${listing.failed} failed pages`);

    log(`pages of 20 under ${LIST_CLIENTS} clients for ${SECONDS} s, with single-job reads alongside...`);
    const cannon = autocannon({
      url: `${app.url}/api/v1/jobs?pageSize=20`,
      connections: LIST_CLIENTS,
      duration: SECONDS,
      timeout: 30,
    });
    const gets = loadUntil(cannon, 1, async () => {
      const res = await fetch(`${app.url}/api/v1/jobs/scale-${Math.floor(Math.random() * JOBS)}`);
      await expectOk(res, 'get');
      await res.arrayBuffer();
    });
    const [result, got] = await Promise.all([cannon, gets]);
    if (got.failed > 0) log(`  single reads failed: ${got.errors.join('; ')}`);

    log(`scraping /metrics ${SCRAPES} times...`);
    const scrape = await runConcurrently(SCRAPES, 1, async () => {
      const res = await fetch(`${app.url}/metrics`, { signal: AbortSignal.timeout(60_000) });
      await expectOk(res, 'scrape');
      await res.arrayBuffer();
    });
    const rss = { api: app.api.rss(), worker: app.worker.rss() };

    log(`starting a worker with ${CODE_JOBS} code jobs, twice...`);
    const reconcile = [];
    // The same task queue both times: it is part of what a code job's schedule must match.
    const taskQueue = `bench-code-${Date.now()}`;
    for (let start = 0; start < 2; start++) {
      const worker: SundialProcess = startSundialProcess('worker', {
        TEMPORAL_ADDRESS: bench.server.address,
        TEMPORAL_TASK_QUEUE: taskQueue,
        BENCH_CODE_JOBS: String(CODE_JOBS),
        SUNDIAL_JOBS_MODULE: CODE_JOBS_MODULE,
        SUNDIAL_SHUTDOWN_GRACE: '1s',
        LOG_LEVEL: 'info',
      });
      try {
        const { ms: took, line } = await worker.logged(/reconciled/);
        // Newer workers log `counts` (and at most 50 ids per kind); older ones the id lists.
        const counts = line.counts as Record<string, number> | undefined;
        const count = (k: string) => counts?.[k] ?? (Array.isArray(line[k]) ? (line[k] as unknown[]).length : line[k]);
        reconcile.push({
          ms: took,
          report: `created ${count('created')}, updated ${count('updated')}, unchanged ${count('unchanged')}`,
        });
        log(`  start ${start + 1}: ${Math.round(took)} ms (${reconcile.at(-1)!.report})`);
      } finally {
        await worker.stop();
      }
    }
    return {
      settleMs,
      figures: {
        createPerS,
        createFailed: created.failed,
        page100: listing.pages,
        page100Failed: listing.failed,
        listed: listing.items,
        page20: {
          p50: result.latency.p50,
          p99: result.latency.p99,
          non2xx: result.non2xx,
          errors: result.errors + result.timeouts,
          requests: result.requests.total,
        },
        get: got.ms,
        getFailed: got.failed,
      },
      scrape: { ms: scrape.ms, failed: scrape.failed },
      rss,
      reconcile,
    };
  } finally {
    await app.stop();
    await bench.stop();
  }
}

async function bullmq(): Promise<{ figures: Figures; version: string }> {
  const { queue, version, stop } = await startBullmq();
  try {
    log(`BullMQ ${version}: upserting ${JOBS} job schedulers (${CREATE_CLIENTS} clients)...`);
    const created = await runConcurrently(JOBS, CREATE_CLIENTS, async (i) => {
      await queue.upsertJobScheduler(
        `scale-${i}`,
        { pattern: YEARLY, tz: 'UTC' },
        { name: 'scale', data: { url: 'http://127.0.0.1:9/never' } },
      );
    });
    const createPerS = created.ms.length / (created.elapsedMs / 1000);
    log(
      `  ${created.ms.length} in ${(created.elapsedMs / 1000).toFixed(1)} s (${createPerS.toFixed(1)}/s), ${created.failed} failed ${created.firstError ?? ''}`,
    );
    const pages: number[] = [];
    let listed = 0;
    for (let start = 0; ; start += 100) {
      const t = performance.now();
      const page = await queue.getJobSchedulers(start, start + 99, true);
      pages.push(since(t));
      listed += page.length;
      if (page.length < 100) break;
    }
    const stopLoad = new Promise((r) => setTimeout(r, SECONDS * 1000));
    const [page20, got] = await Promise.all([
      loadUntil(stopLoad, LIST_CLIENTS, async () => {
        const start = 20 * Math.floor((Math.random() * JOBS) / 20);
        await queue.getJobSchedulers(start, start + 19, true);
      }),
      loadUntil(stopLoad, 1, async () => {
        if ((await queue.getJobScheduler(`scale-${Math.floor(Math.random() * JOBS)}`)) === undefined)
          throw new Error('scheduler not found');
      }),
    ]);
    return {
      version,
      figures: {
        createPerS,
        createFailed: created.failed,
        page100: pages,
        page100Failed: 0,
        listed,
        page20: {
          p50: percentile(page20.ms, 50),
          p99: percentile(page20.ms, 99),
          non2xx: 0,
          errors: page20.failed,
          requests: page20.ms.length + page20.failed,
        },
        get: got.ms,
        getFailed: got.failed,
      },
    };
  } finally {
    await stop();
  }
}

async function main(): Promise<void> {
  log(machineLine());
  log(
    `jobs: ${JOBS}; ${CREATE_CLIENTS} create clients, ${LIST_CLIENTS} list clients for ${SECONDS} s, ${SCRAPES} scrapes, ${CODE_JOBS} code jobs\n`,
  );
  const s = await sundial();
  const b = process.env.BENCH_SKIP_BULLMQ === undefined ? await bullmq() : undefined;
  const row = (
    name: string,
    pick: (f: Figures) => number,
    fmt: (v: number) => string,
    extra: (f: Figures) => string = () => '',
  ) => [
    name,
    `${fmt(pick(s.figures))}${extra(s.figures)}`,
    b === undefined ? '-' : `${fmt(pick(b.figures))}${extra(b.figures)}`,
    b === undefined ? '-' : ratio(pick(s.figures), pick(b.figures)),
  ];
  const perS = (v: number) => `${v.toFixed(1)}/s`;
  log('');
  log(machineLine());
  log(`\n${JOBS} jobs; BullMQ ${b?.version ?? '(skipped)'} job schedulers on the local Redis as the reference.\n`);
  log(
    markdownTable(
      ['figure', 'Sundial', 'BullMQ', 'Sundial / BullMQ'],
      [
        row(
          'create',
          (f) => f.createPerS,
          perS,
          (f) => (f.createFailed > 0 ? ` (${f.createFailed} failed)` : ''),
        ),
        row(
          'page of 100, p50',
          (f) => percentile(f.page100, 50),
          ms,
          (f) =>
            ` (${f.listed} listed in ${f.page100.length} requests${f.page100Failed > 0 ? `, ${f.page100Failed} failed` : ''})`,
        ),
        row('page of 100, p99', (f) => percentile(f.page100, 99), ms),
        row(
          `page of 20, ${LIST_CLIENTS} clients, p50`,
          (f) => f.page20.p50,
          ms,
          (f) => ` (${f.page20.requests} requests)`,
        ),
        row(
          `page of 20, ${LIST_CLIENTS} clients, p99`,
          (f) => f.page20.p99,
          ms,
          (f) => ` (non-2xx ${f.page20.non2xx}, errors ${f.page20.errors})`,
        ),
        row(
          'get one job during the list load, p50',
          (f) => percentile(f.get, 50),
          ms,
          (f) => ` (${f.get.length} reads${f.getFailed > 0 ? `, ${f.getFailed} failed` : ''})`,
        ),
        row('get one job during the list load, p99', (f) => percentile(f.get, 99), ms),
      ],
    ),
  );
  log('');
  log(
    markdownTable(
      ['Sundial only', 'value'],
      [
        ['last create → schedules answer describes (backlog drained)', ms(s.settleMs)],
        [
          `GET /metrics, p50 of ${SCRAPES}`,
          `${ms(percentile(s.scrape.ms, 50))}${s.scrape.failed > 0 ? ` (${s.scrape.failed} failed)` : ''}`,
        ],
        [`GET /metrics, max of ${SCRAPES}`, ms(Math.max(...s.scrape.ms))],
        ['API RSS now / peak', `${s.rss.api.nowMiB} / ${s.rss.api.peakMiB} MiB`],
        ['worker RSS now / peak', `${s.rss.worker.nowMiB} / ${s.rss.worker.peakMiB} MiB`],
        ...s.reconcile.map((r, i) => [
          `worker start with ${CODE_JOBS} code jobs #${i + 1} (to "reconciled")`,
          `${ms(r.ms)} (${r.report})`,
        ]),
      ],
    ),
  );
}

runBench(main);
