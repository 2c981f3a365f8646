import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import type { RunningApi } from '../../src/api/server';
import { defineJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import { toSchedule } from '../../src/schedules/mapping';
import { mapWithConcurrency } from '../../src/util/concurrency';
import { call, startTestApi } from '../support/api';
import { countingClient, testClient, unique, waitFor } from '../support/temporal';

/** Paused and running API jobs, and a few code jobs, all under one id prefix of this test's own. */
const PAUSED = 200;
const RUNNING = 100;
const CODE = 5;

const apiSpec = (id: string, paused: boolean) => ({
  id,
  description: `job ${id}`,
  // Once a year: no run starts during the test, so fire times and recent runs hold still.
  schedule: { cron: '0 0 1 1 *', timezone: 'Europe/Berlin' },
  paused,
  task: { type: 'http', url: 'http://127.0.0.1:9/never' },
});

type Body = { status: number; body: any };

/** Every item the list gives for `query`, following page tokens. */
async function listAll(api: RunningApi, query: string, pageSize: number): Promise<{ items: any[]; pages: number }> {
  const items: any[] = [];
  let token: string | null = null;
  let pages = 0;
  do {
    const res: Body = await call(
      api,
      'GET',
      `/api/v1/jobs?pageSize=${pageSize}&${query}${token === null ? '' : `&pageToken=${token}`}`,
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.ok(res.body.items.length <= pageSize);
    items.push(...res.body.items);
    token = res.body.nextPageToken;
    pages++;
  } while (token !== null);
  return { items, pages };
}

describe('the job list, served from schedule listings', () => {
  let client: Client;
  let counted: Awaited<ReturnType<typeof countingClient>>;
  let apiA: RunningApi;
  let apiB: RunningApi;
  const prefix = unique('lst');
  const pausedIds = Array.from({ length: PAUSED }, (_, i) => `${prefix}-p-${String(i).padStart(3, '0')}`);
  const runningIds = Array.from({ length: RUNNING }, (_, i) => `${prefix}-r-${String(i).padStart(3, '0')}`);
  const codeIds = Array.from({ length: CODE }, (_, i) => `${prefix}-c-${i}`);
  const all = [...pausedIds, ...runningIds, ...codeIds];
  const taskQueue = unique('list');

  before(async () => {
    client = await testClient();
    counted = await countingClient();
    // Two API replicas, each with its own client and its own per-process knowledge.
    apiA = await startTestApi(counted.client, { taskQueue });
    apiB = await startTestApi(client, { taskQueue });
    const specs = [...pausedIds.map((id) => apiSpec(id, true)), ...runningIds.map((id) => apiSpec(id, false))];
    await mapWithConcurrency(specs, 8, async (spec) => {
      const res = await call(apiB, 'POST', '/api/v1/jobs', spec);
      assert.equal(res.status, 201, JSON.stringify(res.body));
    });
    const code = JobRegistry.create(
      codeIds.map((id) => defineJob({ id, schedule: { cron: '0 0 1 1 *' }, paused: true, run: () => null })),
    );
    for (const job of code.jobs)
      await client.schedule.create(toSchedule(job, taskQueue, 'code', { nonce: 'test', at: new Date() }).options);
    // Listings are eventually consistent: wait until every job is listed.
    await waitFor(
      'every job listed',
      60_000,
      async () => ((await listAll(apiA, `idPrefix=${prefix}`, 500)).items.length === all.length ? true : undefined),
      500,
    );
  });

  after(async () => {
    await Promise.all([apiA?.stop(), apiB?.stop()]);
    await mapWithConcurrency(all, 8, (id) =>
      client.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined),
    );
    await Promise.all([client?.connection.close(), counted?.client.connection.close()]);
  });

  it('When paging with an id prefix, then every job is listed once, and each item is what GET says', async () => {
    const { items, pages } = await listAll(apiA, `idPrefix=${prefix}`, 100);
    assert.equal(pages, Math.ceil(all.length / 100));
    assert.deepEqual(items.map((j) => j.id).sort(), [...all].sort());
    const bodies = await mapWithConcurrency(items, 8, (item) => call(apiA, 'GET', `/api/v1/jobs/${item.id}`));
    items.forEach((item, i) => assert.deepEqual(item, bodies[i]!.body, `list item ${item.id} equals GET`));
    const code = items.filter((j) => j.origin === 'code');
    assert.equal(code.length, CODE);
  });

  it('When filtering by paused state, origin and prefix, then only matching jobs are listed', async () => {
    const paused = await listAll(apiA, `idPrefix=${prefix}&paused=true`, 500);
    assert.deepEqual(paused.items.map((j) => j.id).sort(), [...pausedIds, ...codeIds].sort());
    assert.ok(paused.items.every((j) => j.state.paused === true));
    const running = await listAll(apiA, `idPrefix=${prefix}&paused=false`, 500);
    assert.deepEqual(running.items.map((j) => j.id).sort(), runningIds);
    const code = await listAll(apiA, `idPrefix=${prefix}&origin=code`, 500);
    assert.deepEqual(code.items.map((j) => j.id).sort(), codeIds);
    const api = await listAll(apiA, `origin=api&paused=false&idPrefix=${prefix}-r-01`, 500);
    assert.deepEqual(api.items.map((j) => j.id).sort(), runningIds.slice(10, 20));
  });

  it('When pages hold only jobs it has seen written, then the list describes none of them', async () => {
    counted.calls.clear();
    const { items } = await listAll(apiA, `idPrefix=${prefix}`, 100);
    assert.equal(items.length, all.length);
    assert.equal(counted.calls.get('DescribeSchedule') ?? 0, 0, `calls: ${JSON.stringify([...counted.calls])}`);
    assert.equal(counted.calls.get('ListSchedules'), Math.ceil(all.length / 100));
  });

  it('When another replica patches and pauses jobs, then the list shows their new specs and state, describing each once', async () => {
    const changed = [pausedIds[3]!, runningIds[7]!];
    for (const id of changed) {
      const res = await call(apiB, 'PATCH', `/api/v1/jobs/${id}`, {
        description: 'patched on B',
        schedule: { cron: '0 0 2 1 *', timezone: 'Europe/Berlin' },
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
    assert.equal(
      (await call(apiB, 'POST', `/api/v1/jobs/${runningIds[8]}/pause`, { note: 'paused on B' })).status,
      200,
    );
    counted.calls.clear();
    const listed = await waitFor('the changes listed on A', 30_000, async () => {
      const { items } = await listAll(apiA, `idPrefix=${prefix}`, 500);
      const byId = new Map(items.map((j) => [j.id, j]));
      const ok =
        changed.every((id) => byId.get(id)?.description === 'patched on B') &&
        byId.get(runningIds[8]!)?.state.note === 'paused on B';
      return ok ? byId : undefined;
    });
    // A pause is live info in the listing; each new revision is described once, then known.
    assert.equal(counted.calls.get('DescribeSchedule'), changed.length, `calls: ${JSON.stringify([...counted.calls])}`);
    for (const id of [...changed, runningIds[8]!]) {
      const got = await call(apiA, 'GET', `/api/v1/jobs/${id}`);
      assert.deepEqual(listed.get(id), got.body, `list item ${id} equals GET after the change`);
    }
    assert.deepEqual(listed.get(changed[0]!).schedule, { cron: '0 0 2 1 *', timezone: 'Europe/Berlin' });
    counted.calls.clear();
    await listAll(apiA, `idPrefix=${prefix}`, 500);
    assert.equal(counted.calls.get('DescribeSchedule') ?? 0, 0, 'a revision described once is known from then on');
  });

  it('When a filter or page value is bad, then the answer is a 400 naming the field', async () => {
    const cases: Array<[string, string]> = [
      ['pageSize=501', 'query.pageSize'],
      ['pageSize=0', 'query.pageSize'],
      ['pageSize=ten', 'query.pageSize'],
      ['origin=robot', 'query.origin'],
      ['paused=yes', 'query.paused'],
      ['idPrefix=Upper', 'query.idPrefix'],
      ['idPrefix=a%22%20OR%20true', 'query.idPrefix'],
      ['origin=api&origin=code', 'query.origin'],
      ['pageToken=not-a-token', 'query.pageToken'],
    ];
    for (const [query, field] of cases) {
      const res = await call(apiA, 'GET', `/api/v1/jobs?${query}`);
      assert.equal(res.status, 400, `${query}: ${JSON.stringify(res.body)}`);
      assert.ok(
        res.body.errors.some((e: { path: string }) => e.path === field),
        `${query} names ${field}: ${JSON.stringify(res.body.errors)}`,
      );
    }
    const unknown = await call(apiA, 'GET', '/api/v1/jobs?colour=red');
    assert.equal(unknown.status, 400);
    const first = await call(apiA, 'GET', `/api/v1/jobs?pageSize=10&idPrefix=${prefix}`);
    assert.equal(typeof first.body.nextPageToken, 'string');
    const otherFilter = await call(
      apiA,
      'GET',
      `/api/v1/jobs?pageSize=10&idPrefix=${prefix}&paused=true&pageToken=${first.body.nextPageToken}`,
    );
    assert.equal(otherFilter.status, 400, 'a token continues the list it came from only');
    assert.equal(otherFilter.body.errors[0].path, 'query.pageToken');
  });
});
