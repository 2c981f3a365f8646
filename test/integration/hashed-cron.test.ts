import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import type { RunningApi } from '../../src/api/server';
import { compileScheduleCrons, cronValues, type CronValues } from '../../src/jobs/cron';
import { defineJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import { readMemo } from '../../src/schedules/mapping';
import { reconcileSchedules } from '../../src/schedules/reconcile';
import { call, startTestApi } from '../support/api';
import { testClient, testLogger, unique } from '../support/temporal';

/** Wall-clock fields of `at` in `zone`. */
function local(
  format: Intl.DateTimeFormat,
  at: Date,
): { minute: number; hour: number; day: number; month: number; weekday: number; second: number } {
  const parts = format.formatToParts(at);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  return {
    second: Number(get('second')),
    minute: Number(get('minute')),
    hour: Number(get('hour')),
    day: Number(get('day')),
    month: Number(get('month')),
    weekday: ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(get('weekday')),
  };
}

/** Brute force: every minute from `from` on, for `days`, whose wall-clock time in `zone` the fields match. */
function matchingMinutes(values: CronValues, zone: string, from: Date, days: number): string[] {
  const out: string[] = [];
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
    weekday: 'short',
  });
  const start = Math.ceil(from.getTime() / 60_000) * 60_000;
  for (let t = start; t < start + days * 86_400_000; t += 60_000) {
    const l = local(format, new Date(t));
    if (
      values.minute.has(l.minute) &&
      values.hour.has(l.hour) &&
      values.dayOfMonth.has(l.day) &&
      values.month.has(l.month) &&
      values.dayOfWeek.has(l.weekday)
    ) {
      out.push(new Date(t).toISOString());
    }
  }
  return out;
}

/** The next times Temporal lists must be the next times the expansion gives, in order, none left out. */
function assertNextTimesFollowExpansion(
  next: string[],
  jobId: string,
  schedule: { cron: string; timezone: string },
  days: number,
): void {
  const [expanded] = compileScheduleCrons(jobId, schedule).crons;
  const values = cronValues(expanded!.temporal);
  assert.ok(values !== undefined);
  assert.ok(next.length >= 3, `nextRunTimes: ${JSON.stringify(next)}`);
  const expected = matchingMinutes(values, schedule.timezone, new Date(Date.parse(next[0]!) - 60_000), days);
  assert.deepEqual(next, expected.slice(0, next.length), `${schedule.cron} for ${jobId} is ${expanded!.temporal}`);
}

describe('H in cron against a real Temporal', () => {
  let client: Client;
  let api: RunningApi;
  const taskQueue = unique('hcron');
  const ids: string[] = [];

  before(async () => {
    client = await testClient();
    api = await startTestApi(client, { taskQueue });
  });
  after(async () => {
    for (const id of ids)
      await client.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined);
    await api.stop();
    await client.connection.close();
  });

  it('a code job with H gets a schedule at its expansion, and a second reconcile leaves it unchanged', async () => {
    const id = unique('spread-code');
    ids.push(id);
    const schedule = { cron: 'H(0-29)/10 H * * *', timezone: 'Europe/Berlin' };
    const jobs = JobRegistry.create([defineJob({ id, schedule, paused: true, run: () => null })]);
    const reconcile = () =>
      reconcileSchedules({ client, registry: jobs, taskQueue, logger: testLogger, pruneOrphans: false });

    assert.deepEqual((await reconcile()).created, [id]);
    const first = await client.schedule.getHandle(id).describe();
    assertNextTimesFollowExpansion(
      first.info.nextActionTimes.map((d) => d.toISOString()),
      id,
      schedule,
      6,
    );
    assert.deepEqual(readMemo(first.action)?.spec.schedule, schedule, 'the spec as written keeps H');

    const second = await reconcile();
    assert.deepEqual(second.unchanged, [id]);
    assert.deepEqual(second.updated, []);
    const again = await client.schedule.getHandle(id).describe();
    assert.equal(again.raw.conflictToken?.toString(), first.raw.conflictToken?.toString());
    assert.equal(readMemo(again.action)?.hash, readMemo(first.action)?.hash);
  });

  it('over the API, nextRunTimes show the expansion while the spec keeps H; bad H is a 400 naming the field', async () => {
    const id = unique('spread-api');
    ids.push(id);
    const schedule = { cron: 'CRON_TZ=America/New_York H H * * *', timezone: 'America/New_York' };
    const created = await call(api, 'POST', '/api/v1/jobs', {
      id,
      schedule,
      paused: true,
      task: { type: 'http', url: 'http://127.0.0.1:9/' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const got = await call(api, 'GET', `/api/v1/jobs/${id}`);
    assert.equal(got.status, 200);
    assert.deepEqual(got.body.schedule, schedule, 'the spec as written keeps H');
    assertNextTimesFollowExpansion(got.body.nextRunTimes as string[], id, schedule, 7);
    assert.deepEqual(got.body.warnings, [], 'an hour H keeps clear of the DST hours');

    const bad = await call(api, 'POST', '/api/v1/jobs', {
      id: unique('bad-h'),
      schedule: { cron: ['0 3 * * *', 'H(0-99) * * * *'] },
      task: { type: 'http', url: 'http://127.0.0.1:9/' },
    });
    assert.equal(bad.status, 400);
    assert.deepEqual(
      (bad.body.errors as Array<{ path: string; message: string }>).map((e) => e.path),
      ['schedule.cron.1'],
    );
    assert.match(bad.body.errors[0].message as string, /^minute field "H\(0-99\)"/);
  });
});
