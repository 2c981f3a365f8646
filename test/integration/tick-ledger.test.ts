import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import type { RunningApi } from '../../src/api/server';
import { defineJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import { readMemo } from '../../src/schedules/mapping';
import { sundialDataConverter } from '../../src/temporal/codec';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server';
import { call, startTestApi } from '../support/api';
import { freePort } from '../support/ports';
import {
  startTestWorker,
  testCliPath,
  testClient,
  testLogger,
  unique,
  waitFor,
  type TestWorker,
} from '../support/temporal';

const registry = JobRegistry.create([
  defineJob({ id: 'tick-quick', schedule: { intervals: [{ every: '1h' }] }, run: () => 'ok' }),
  defineJob({
    id: 'tick-slow',
    schedule: { intervals: [{ every: '1h' }] },
    // Outlasts a 2 s interval: under `skip`, the next two ticks find it running.
    run: (ctx) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => resolve('slept'), 5_000);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(ctx.signal.reason as Error);
        });
      }),
  }),
]);

interface LedgerTick {
  at: string;
  state: string;
  reason: string;
  run?: { workflowId: string; runId: string; status: string; webUrl: string };
  lagMs?: number;
  blockedBy?: { workflowId: string; runId: string };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const qs = (from: Date | string, to: Date | string, extra = '') =>
  `from=${encodeURIComponent(typeof from === 'string' ? from : from.toISOString())}&to=${encodeURIComponent(typeof to === 'string' ? to : to.toISOString())}${extra}`;

/** Every tick of the window, page after page. */
async function ledger(api: RunningApi, id: string, from: Date, to: Date, pageSize = 500): Promise<LedgerTick[]> {
  const out: LedgerTick[] = [];
  let token: string | null = null;
  do {
    const res = await call(
      api,
      'GET',
      `/api/v1/jobs/${id}/ticks?${qs(from, to, `&pageSize=${pageSize}`)}${token === null ? '' : `&pageToken=${encodeURIComponent(token)}`}`,
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
    out.push(...(res.body.items as LedgerTick[]));
    token = res.body.nextPageToken as string | null;
  } while (token !== null);
  return out;
}

const spec = (id: string, task: string, schedule: Record<string, unknown>, policies: Record<string, unknown>) => ({
  id,
  schedule,
  policies,
  task: { type: task },
});

describe('the tick ledger (GET /api/v1/jobs/{id}/ticks)', () => {
  let client: Client;
  let worker: TestWorker;
  let api: RunningApi;
  const taskQueue = unique('ticks');
  const created: string[] = [];

  const create = async (body: Record<string, unknown>) => {
    created.push(body.id as string);
    const res = await call(api, 'POST', '/api/v1/jobs', body);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return new Date(res.body.createdAt as string);
  };

  before(async () => {
    client = await testClient();
    worker = await startTestWorker(registry, taskQueue);
    api = await startTestApi(client, { registry, taskQueue });
  });
  after(async () => {
    for (const id of created)
      await client.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined);
    await api?.stop();
    await worker?.stop();
    await client?.connection.close();
  });

  it('when a run outlasts its interval under overlap skip, then the ticks it covers are skipped_overlap naming it, as Temporal counted', async () => {
    const id = unique('ticks-skip');
    const createdAt = await create(spec(id, 'tick-slow', { intervals: [{ every: '2s' }] }, { overlap: 'skip' }));
    // Two 6 s cycles: each a run and two ticks skipped.
    await sleep(13_000);
    const from = new Date(createdAt.getTime() - 10_000);
    // A run lasts 5 s of every 6: wait for a moment one is running, to see that state too.
    const {
      ticks,
      before,
      after: afterDesc,
    } = await waitFor(
      'a ledger with a running tick',
      15_000,
      async () => {
        const b = await client.schedule.getHandle(id).describe();
        const t = await ledger(api, id, from, new Date(Date.now() + 10_000));
        const a = await client.schedule.getHandle(id).describe();
        return t.some((x) => x.state === 'running') ? { ticks: t, before: b, after: a } : undefined;
      },
      500,
    );
    // The schedule's creation time, which the ledger judges by: a moment after the API's answer's.
    const scheduleCreatedAt = before.info.createdAt;
    const states = new Set(ticks.map((t) => t.state));
    for (const s of ['before_created', 'ran', 'running', 'skipped_overlap', 'not_yet'])
      assert.ok(states.has(s), `has a ${s} tick: ${[...states].join(', ')}`);

    const ranIds = new Map<string, LedgerTick>();
    for (const t of ticks) {
      if (t.state === 'before_created')
        assert.ok(Date.parse(t.at) < scheduleCreatedAt.getTime(), `${t.at} is before the job's creation`);
      if (t.state === 'ran' || t.state === 'running') {
        assert.equal(
          t.run!.workflowId,
          `${id}-${t.at.replace('.000Z', 'Z')}`,
          'the run is the one Temporal started for this tick',
        );
        assert.equal(typeof t.lagMs, 'number');
        ranIds.set(t.run!.runId, t);
        if (t.state === 'ran') assert.equal(t.run!.status, 'succeeded');
      }
      if (t.state === 'skipped_overlap') {
        const blocker = ranIds.get(t.blockedBy!.runId);
        assert.ok(blocker !== undefined, `${t.at} names an earlier run of the ledger as the one in its way`);
        const since = Date.parse(t.at) - Date.parse(blocker.at);
        assert.ok(since > 0 && since < 10_000, `the run in its way is one of the ticks just before (${since} ms)`);
        assert.match(t.reason, /overlap policy is skip/);
      }
      assert.ok(t.reason.length > 0 && !t.reason.includes('\n'), 'a one-line reason');
    }
    const skipped = ticks.filter((t) => t.state === 'skipped_overlap').length;
    assert.ok(skipped >= 3, `at least 3 ticks skipped, got ${skipped}`);
    // Temporal's own count of skipped ticks, read just before and after the ledger.
    assert.ok(
      skipped >= before.info.numActionsSkippedOverlap && skipped <= afterDesc.info.numActionsSkippedOverlap + 1,
      `ledger ${skipped} vs Temporal ${before.info.numActionsSkippedOverlap}..${afterDesc.info.numActionsSkippedOverlap}`,
    );
    assert.deepEqual(
      ticks.filter((t) => t.state === 'missed_catchup'),
      [],
      'nothing missed while the server ran',
    );
    await client.schedule.getHandle(id).pause('test done');
  });

  it('when a job is paused and unpaused (API, PATCH, or outside Sundial), then its ticks in between are paused, with the note', async () => {
    const id = unique('ticks-pause');
    const createdAt = await create(spec(id, 'tick-quick', { intervals: [{ every: '1s' }] }, { overlap: 'allow_all' }));
    await sleep(3_000);

    const pausedAt = Date.now();
    assert.equal((await call(api, 'POST', `/api/v1/jobs/${id}/pause`, { note: 'ledger maintenance' })).status, 200);
    await sleep(4_000);
    const unpausedAt = Date.now();
    const unpause = await call(api, 'POST', `/api/v1/jobs/${id}/unpause`, {});
    assert.equal(unpause.status, 200);
    assert.equal(unpause.body.state.paused, false);
    await sleep(3_000);

    const patchPausedAt = Date.now();
    assert.equal((await call(api, 'PATCH', `/api/v1/jobs/${id}`, { paused: true })).status, 200);
    await sleep(3_000);
    const patchUnpausedAt = Date.now();
    assert.equal((await call(api, 'PATCH', `/api/v1/jobs/${id}`, { paused: false })).status, 200);
    await sleep(3_000);

    const pauses = readMemo((await client.schedule.getHandle(id).describe()).action)?.pauses ?? [];
    assert.equal(pauses.length, 2, JSON.stringify(pauses));
    assert.equal(pauses[0]!.note, 'ledger maintenance');
    assert.ok(
      pauses.every((p) => p.to !== undefined),
      'both periods closed',
    );

    const end = Date.now();
    const ticks = await ledger(api, id, new Date(createdAt.getTime() + 1_000), new Date(end - 1_500));
    const within = (lo: number, hi: number) => ticks.filter((t) => Date.parse(t.at) > lo && Date.parse(t.at) < hi);
    const first = within(pausedAt + 1_000, unpausedAt - 1_000);
    assert.ok(first.length >= 2, `ticks inside the first pause: ${first.length}`);
    for (const t of first) {
      assert.equal(t.state, 'paused', `${t.at}: ${t.reason}`);
      assert.match(t.reason, /ledger maintenance/);
    }
    const second = within(patchPausedAt + 1_000, patchUnpausedAt - 1_000);
    assert.ok(second.length >= 1);
    for (const t of second) assert.equal(t.state, 'paused', `${t.at}: ${t.reason}`);
    for (const t of [
      ...within(0, pausedAt - 1_000),
      ...within(unpausedAt + 1_500, patchPausedAt - 1_000),
      ...within(patchUnpausedAt + 1_500, end - 2_000),
    ]) {
      assert.equal(t.state, 'ran', `${t.at} outside the pauses: ${t.reason}`);
    }
    assert.deepEqual(
      ticks.filter((t) => t.state === 'missed_catchup'),
      [],
      `nothing missed (pauses ${JSON.stringify(pauses)})`,
    );

    // Paused outside Sundial's API: nothing recorded, so the ledger infers it from the state.
    const outsideAt = Date.now();
    await client.schedule.getHandle(id).pause('paused with the Temporal CLI');
    await sleep(3_500);
    const later = (await ledger(api, id, new Date(outsideAt + 1_500), new Date(Date.now() - 500))).filter(
      (t) => t.state !== 'ran',
    );
    assert.ok(later.length >= 1);
    for (const t of later) {
      assert.equal(t.state, 'paused', `${t.at}: ${t.reason}`);
      assert.match(t.reason, /outside Sundial's API/);
    }
  });

  it('when a job is created paused, then its ticks since are paused from its creation', async () => {
    const id = unique('ticks-created-paused');
    const createdAt = await create({
      ...spec(id, 'tick-quick', { intervals: [{ every: '1s' }] }, { overlap: 'allow_all' }),
      paused: true,
    });
    await sleep(2_500);
    const ticks = await ledger(api, id, createdAt, new Date());
    assert.ok(ticks.length >= 2);
    for (const t of ticks) {
      assert.equal(t.state, 'paused', `${t.at}: ${t.reason}`);
      assert.match(t.reason, /\("created paused"\) from .* and still is/);
    }
  });

  it('when a daily 02:30 New York job spans the spring-forward day, then its ticks are those of an independent oracle: none that day', async () => {
    const id = unique('ticks-dst');
    await create(spec(id, 'tick-quick', { cron: '30 2 * * *', timezone: 'America/New_York' }, { overlap: 'skip' }));
    // A past spring-forward (before the job existed) and the next one (still to come).
    for (const [from, to, state] of [
      ['2026-03-05T00:00:00Z', '2026-03-12T00:00:00Z', 'before_created'],
      ['2027-03-11T00:00:00Z', '2027-03-18T00:00:00Z', 'not_yet'],
    ] as const) {
      const expected = newYorkDailyOracle(Date.parse(from), Date.parse(to), 2, 30);
      const gap = from.startsWith('2026') ? '2026-03-08' : '2027-03-14';
      assert.ok(
        !expected.some((t) => t.startsWith(gap)) && expected.length === 6,
        `the oracle skips ${gap}: ${expected.join(', ')}`,
      );
      // Small pages, to check that paging neither drops nor repeats a tick.
      const ticks = await ledger(api, id, new Date(from), new Date(to), 4);
      assert.deepEqual(
        ticks.map((t) => t.at),
        expected,
      );
      assert.ok(
        ticks.every((t) => t.state === state),
        `all ${state}: ${ticks.map((t) => t.state).join(', ')}`,
      );
    }
  });

  it('when the input is bad, then 400 names the field; an unknown job is 404', async () => {
    const id = unique('ticks-bad');
    await create(spec(id, 'tick-quick', { cron: '@daily' }, {}));
    const get = (q: string, job = id) => call(api, 'GET', `/api/v1/jobs/${job}/ticks?${q}`);
    const paths = (res: { body: any }) => (res.body.errors as Array<{ path: string }>).map((e) => e.path);
    const cases: Array<[string, string]> = [
      [qs('2026-01-02T00:00:00Z', '2026-01-01T00:00:00Z'), 'query.to'], // from > to
      [qs('2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'), 'query.to'], // empty window
      [qs('2026-01-01T00:00:00Z', '2026-03-01T00:00:00Z'), 'query.to'], // over 31 days
      [qs('yesterday', '2026-01-01T00:00:00Z'), 'query.from'],
      [qs('2026-02-30T00:00:00Z', '2026-03-01T00:00:00Z'), 'query.from'],
      [`from=${encodeURIComponent('2026-01-01T00:00:00Z')}`, 'query.to'], // missing
      [qs('2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z', '&pageSize=0'), 'query.pageSize'],
      [qs('2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z', '&pageToken=bm90LWEtdG9rZW4tYXQtYWxs'), 'query.pageToken'],
      [qs('2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z', '&color=red'), 'query'],
    ];
    for (const [q, field] of cases) {
      const res = await get(q);
      assert.equal(res.status, 400, `${q}: ${JSON.stringify(res.body)}`);
      assert.ok(paths(res).includes(field), `${q}: ${JSON.stringify(res.body.errors)}`);
    }
    // A page token of another window is refused, not followed.
    const page = await get(qs('2026-01-01T00:00:00Z', '2026-01-20T00:00:00Z', '&pageSize=2'));
    assert.equal(page.status, 200);
    assert.equal(page.body.items.length, 2);
    const other = await get(
      qs(
        '2026-01-01T00:00:00Z',
        '2026-01-21T00:00:00Z',
        `&pageToken=${encodeURIComponent(page.body.nextPageToken as string)}`,
      ),
    );
    assert.equal(other.status, 400);
    assert.deepEqual(paths(other), ['query.pageToken']);

    const missing = await get(qs('2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z'), unique('no-such-job'));
    assert.equal(missing.status, 404);
  });
});

describe('the tick ledger across a server outage longer than the catch-up window', () => {
  let server: DevServer | undefined;
  let client: Client | undefined;
  let worker: TestWorker | undefined;
  let api: RunningApi | undefined;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sundial-ticks-'));
  after(async () => {
    await api?.stop();
    await worker?.stop();
    await client?.connection.close();
    await server?.stop(2_000);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('when the server is down for longer than the catch-up window, then the ticks it missed are missed_catchup and the runs around them ran', async () => {
    const port = await freePort();
    const start = () =>
      startDevServer({
        cliPath: testCliPath(),
        dataDir,
        port,
        uiPort: undefined,
        namespace: 'default',
        logger: testLogger,
      });
    server = await start();
    client = new Client({
      connection: await Connection.connect({ address: server.address }),
      namespace: 'default',
      dataConverter: sundialDataConverter(undefined),
    });
    const taskQueue = unique('ticks-outage');
    worker = await startTestWorker(registry, taskQueue, { address: server.address });
    api = await startTestApi(client, { registry, taskQueue });
    const id = unique('ticks-outage');
    const res = await call(
      api,
      'POST',
      '/api/v1/jobs',
      spec(id, 'tick-quick', { intervals: [{ every: '1s' }] }, { overlap: 'allow_all', catchupWindow: '10s' }),
    );
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const createdAt = new Date(res.body.createdAt as string);
    const running = api;
    await waitFor(
      'three runs',
      30_000,
      async () =>
        (await ledger(running, id, createdAt, new Date())).filter((t) => t.state === 'ran').length >= 3
          ? true
          : undefined,
      500,
    );

    await worker.stop();
    worker = undefined;
    const downAt = Date.now();
    await server.stop();
    server = undefined;
    await sleep(25_000);
    server = await start();
    const upAt = Date.now();
    worker = await startTestWorker(registry, taskQueue, { address: server.address });

    const ticks = await waitFor(
      'a run after the restart',
      60_000,
      async () => {
        const t = await ledger(running, id, createdAt, new Date(Date.now() - 1_000));
        return t.some((x) => x.state === 'ran' && Date.parse(x.at) > upAt) ? t : undefined;
      },
      1_000,
    );
    process.stderr.write(
      `  outage ${Math.round((upAt - downAt) / 1000)} s: ${ticks.map((t) => t.state[0]).join('')}\n`,
    );
    const outage = ticks.filter((t) => Date.parse(t.at) > downAt + 2_000 && Date.parse(t.at) < upAt - 12_000);
    assert.ok(outage.length >= 8, `ticks well inside the outage: ${outage.length}`);
    for (const t of outage) {
      assert.equal(t.state, 'missed_catchup', `${t.at}: ${t.reason}`);
      assert.match(t.reason, /catch-up window \(10s\)/);
    }
    // Temporal's creation time is a moment after the API's: a tick in between came before the schedule.
    const scheduleCreatedAt = (await client.schedule.getHandle(id).describe()).info.createdAt.getTime();
    const early = (t: LedgerTick) => t.state === 'before_created' && Date.parse(t.at) < scheduleCreatedAt;
    const beforeOutage = ticks.filter((t) => Date.parse(t.at) < downAt - 1_000);
    assert.deepEqual(
      beforeOutage.filter((t) => t.state !== 'ran' && !early(t)),
      [],
      'every tick before the outage ran',
    );
  });
});

/**
 * The instants of a daily local time in America/New_York between `from` and `to`, computed
 * independently of Sundial and Temporal: for each local date, the UTC instants at the zone's two
 * offsets whose local reading is that time; a date where neither reads so (the spring-forward gap)
 * has none.
 */
function newYorkDailyOracle(from: number, to: number, hour: number, minute: number): string[] {
  const fmt = new Intl.DateTimeFormat('en-CA', {
    timeZone: 'America/New_York',
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
  });
  const out: string[] = [];
  for (let day = from - 86_400_000; day < to + 86_400_000; day += 86_400_000) {
    const d = new Date(day);
    const wanted = `${d.toISOString().slice(0, 10)}, ${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}`;
    for (const offsetHours of [5, 4]) {
      const instant = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), hour + offsetHours, minute);
      if (fmt.format(instant) === wanted && instant >= from && instant < to) {
        out.push(new Date(instant).toISOString());
        break;
      }
    }
  }
  return out;
}
