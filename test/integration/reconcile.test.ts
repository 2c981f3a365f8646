import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { defineJob, type DefinedJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import { planRun } from '../../src/jobs/plan';
import { parseJobSpec } from '../../src/jobs/spec';
import { readMemo, toSchedule } from '../../src/schedules/mapping';
import { SundialOrigin, SundialRevision } from '../../src/temporal/search-attributes';
import { reconcileSchedules } from '../../src/schedules/reconcile';
import { mapWithConcurrency } from '../../src/util/concurrency';
import { countingClient, testClient, testLogger, unique, waitFor } from '../support/temporal';

const job = (id: string, cron: string, description = ''): DefinedJob =>
  defineJob({ id, description, schedule: { cron, timezone: 'Europe/Berlin' }, paused: true, run: () => null });

describe('reconciling code-defined jobs to schedules', () => {
  let client: Client;
  const taskQueue = unique('reconcile');
  const ids = [unique('nightly'), unique('hourly'), unique('weekly')];
  const reconcile = (jobs: DefinedJob[], pruneOrphans = false) =>
    reconcileSchedules({ client, registry: JobRegistry.create(jobs), taskQueue, logger: testLogger, pruneOrphans });

  before(async () => {
    client = await testClient();
  });
  after(async () => {
    for (const id of ids)
      await client.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined);
    await client.connection.close();
  });

  it('two concurrent start-ups make one schedule per job and no errors', async () => {
    const jobs = [job(ids[0]!, '0 3 * * *'), job(ids[1]!, '0 * * * *')];
    const reports = await Promise.all([reconcile(jobs), reconcile(jobs), reconcile(jobs)]);
    for (const id of ids.slice(0, 2)) {
      const creators = reports.filter((r) => r.created.includes(id)).length;
      assert.equal(creators, 1, `${id} was created exactly once`);
      assert.ok(reports.every((r) => r.created.includes(id) || r.unchanged.includes(id) || r.updated.includes(id)));
    }
    const found = [];
    for await (const s of client.schedule.list()) if (ids.includes(s.scheduleId)) found.push(s.scheduleId);
    // Visibility is eventually consistent; describe is not: check each directly too.
    for (const id of ids.slice(0, 2)) await client.schedule.getHandle(id).describe();
    assert.ok(found.length <= 2);
  });

  it('an unchanged definition is not updated', async () => {
    const jobs = [job(ids[0]!, '0 3 * * *'), job(ids[1]!, '0 * * * *')];
    const before = await client.schedule.getHandle(ids[0]!).describe();
    const report = await reconcile(jobs);
    assert.deepEqual(report.unchanged.sort(), ids.slice(0, 2).sort());
    assert.deepEqual(report.updated, []);
    const afterwards = await client.schedule.getHandle(ids[0]!).describe();
    assert.equal(afterwards.info.lastUpdatedAt?.getTime(), before.info.lastUpdatedAt?.getTime());
    assert.equal(afterwards.raw.conflictToken?.toString(), before.raw.conflictToken?.toString());
  });

  it('a cron change updates the schedule and leaves no old calendar behind; operator pause survives', async () => {
    await client.schedule.getHandle(ids[0]!).pause('paused by an operator');
    const report = await reconcile([job(ids[0]!, '30 4 * * *', 'changed'), job(ids[1]!, '0 * * * *')]);
    assert.deepEqual(report.updated, [ids[0]]);
    const d = await client.schedule.getHandle(ids[0]!).describe();
    const calendars = d.spec.calendars ?? [];
    assert.equal(calendars.length, 1, `one calendar, got ${JSON.stringify(calendars)}`);
    assert.deepEqual(calendars[0]!.hour, [{ start: 4, end: 4, step: 1 }]);
    assert.deepEqual(calendars[0]!.minute, [{ start: 30, end: 30, step: 1 }]);
    assert.equal(d.state.paused, true);
    assert.equal(d.state.note, 'paused by an operator');
    const memo = readMemo(d.action);
    assert.equal(memo?.spec.description, 'changed');
    assert.deepEqual(
      memo?.spec.schedule,
      { cron: '30 4 * * *', timezone: 'Europe/Berlin' },
      'the spec as written is kept',
    );
  });

  it('reports schedules whose code job is gone, and deletes them only when told to', async () => {
    await reconcile([job(ids[0]!, '30 4 * * *', 'changed'), job(ids[1]!, '0 * * * *'), job(ids[2]!, '0 0 * * 0')]);
    // ids[1] disappears from code. Listing is eventually consistent, so allow it a moment.
    const jobs = [job(ids[0]!, '30 4 * * *', 'changed'), job(ids[2]!, '0 0 * * 0')];
    let report = await reconcile(jobs);
    for (let i = 0; i < 50 && !report.orphans.includes(ids[1]!); i++) {
      await new Promise((r) => setTimeout(r, 200));
      report = await reconcile(jobs);
    }
    assert.deepEqual(report.orphans, [ids[1]]);
    assert.deepEqual(report.deleted, []);
    await client.schedule.getHandle(ids[1]!).describe(); // still there
    const pruned = await reconcile(jobs, true);
    assert.deepEqual(pruned.deleted, [ids[1]]);
    await assert.rejects(client.schedule.getHandle(ids[1]!).describe(), /not found/i);
  });

  it('never touches a job created over the API, even when a code job claims its id', async () => {
    const id = unique('api-owned');
    ids.push(id);
    const registry = JobRegistry.create([job(id, '0 1 * * *')]);
    const apiJob = registry.jobs[0]!;
    await client.schedule.create(toSchedule(apiJob, taskQueue, 'api').options);
    const before = await client.schedule.getHandle(id).describe();
    const report = await reconcile([job(id, '0 2 * * *')]);
    assert.deepEqual(report.conflicts, [id]);
    assert.deepEqual(report.updated, []);
    const afterwards = await client.schedule.getHandle(id).describe();
    assert.equal(afterwards.raw.conflictToken?.toString(), before.raw.conflictToken?.toString());
    assert.equal(readMemo(afterwards.action)?.origin, 'api');
  });

  it('gives an API job written by an older Sundial the search attributes the job list needs, keeping its spec and pause', async () => {
    const id = unique('older-api');
    ids.push(id);
    const written = {
      id,
      description: 'from mapping 1',
      schedule: { cron: '0 5 * * *' },
      task: { type: 'http', url: 'http://127.0.0.1:9/' },
    };
    const parsed = parseJobSpec(written);
    assert.ok(parsed.ok);
    const desired = toSchedule(
      { written, spec: parsed.spec, run: planRun(parsed.spec, () => undefined) },
      taskQueue,
      'api',
    );
    // What Sundial wrote before mapping 2: no schedule search attributes, no writtenAt.
    const { typedSearchAttributes: _none, ...older } = desired.options;
    await client.schedule.create(older);
    await client.schedule.getHandle(id).pause('paused by an operator');
    const jobs = [job(ids[0]!, '30 4 * * *', 'changed'), job(ids[2]!, '0 0 * * 0')];
    let report = await reconcile(jobs);
    for (let i = 0; i < 50 && !report.migrated.includes(id); i++) {
      await new Promise((r) => setTimeout(r, 200));
      report = await reconcile(jobs);
    }
    assert.deepEqual(report.migrated, [id]);
    const d = await client.schedule.getHandle(id).describe();
    assert.equal(d.typedSearchAttributes.get(SundialOrigin), 'api');
    assert.match(String(d.typedSearchAttributes.get(SundialRevision)), /^[0-9a-f]{32}\.[0-9a-f]{8}$/);
    assert.deepEqual(readMemo(d.action)?.spec, written);
    assert.equal(d.state.paused, true);
    assert.equal(d.state.note, 'paused by an operator');
  });

  it('the server accepts every cron form Sundial documents', async () => {
    const id = unique('forms');
    ids.push(id);
    const forms = [
      '*/15 9-17 * * mon-fri',
      '0 0 1 jan,jul *',
      '0 12 * * * 2030',
      '*/10 * * * * * *',
      '@daily',
      '@every 90m/5m',
      'CRON_TZ=America/New_York 0 3 * * *',
    ];
    const report = await reconcile([
      defineJob({
        id,
        schedule: { cron: forms, calendars: [{ hour: '3', dayOfWeek: 'sat,sun' }] },
        paused: true,
        run: () => null,
      }),
    ]);
    assert.deepEqual(report.created, [id]);
    const d = await client.schedule.getHandle(id).describe();
    assert.ok((d.spec.calendars?.length ?? 0) + (d.spec.intervals?.length ?? 0) >= forms.length);
  });

  it('of 1,000 code jobs, only the changed ones are described and updated', async () => {
    const count = 1000;
    const queue = unique('reconcile-many');
    const many = Array.from({ length: count }, (_, i) => unique(`many-${i}`));
    const wanted = new Set(many);
    const jobsWith = (changed: ReadonlySet<number>) =>
      many.map((id, i) => job(id, changed.has(i) ? '0 4 * * *' : '0 3 * * *', changed.has(i) ? 'changed' : ''));
    const counted = await countingClient();
    try {
      const first = await reconcileSchedules({
        client: counted.client,
        registry: JobRegistry.create(jobsWith(new Set())),
        taskQueue: queue,
        logger: testLogger,
        pruneOrphans: false,
      });
      assert.equal(first.created.length, count);
      // Start-ups compare with what the listing says, which catches up with writes a moment later.
      await waitFor(
        'all 1,000 listed',
        120_000,
        async () => {
          let listed = 0;
          for await (const s of client.schedule.list({ pageSize: 1000, query: 'SundialOrigin = "code"' }))
            if (wanted.has(s.scheduleId)) listed++;
          return listed === count ? true : undefined;
        },
        1000,
      );
      const changed = new Set([3, 141, 592, 653, 999]);
      // A describe is a query to the schedule's own workflow, which answers once it has run its
      // first task: on a loaded machine, 1,000 new schedules take a while to get there.
      for (const i of changed) {
        await waitFor(
          `${many[i]} answering`,
          180_000,
          () =>
            client.schedule
              .getHandle(many[i]!)
              .describe()
              .then(
                () => true,
                () => undefined,
              ),
          1000,
        );
      }
      counted.calls.clear();
      const second = await reconcileSchedules({
        client: counted.client,
        registry: JobRegistry.create(jobsWith(changed)),
        taskQueue: queue,
        logger: testLogger,
        pruneOrphans: false,
      });
      assert.deepEqual(second.updated.sort(), [...changed].map((i) => many[i]!).sort());
      assert.equal(second.unchanged.length, count - changed.size);
      assert.deepEqual(second.created, []);
      const calls = Object.fromEntries(counted.calls);
      assert.equal(calls.DescribeSchedule, changed.size, `describes: ${JSON.stringify(calls)}`);
      assert.equal(calls.UpdateSchedule, changed.size, `updates: ${JSON.stringify(calls)}`);
      assert.equal(calls.CreateSchedule ?? 0, 0);
      const d = await client.schedule.getHandle(many[592]!).describe();
      assert.equal(readMemo(d.action)?.spec.description, 'changed');
      assert.ok(second.durationMs >= 0);
    } finally {
      await mapWithConcurrency(many, 8, (id) =>
        client.schedule
          .getHandle(id)
          .delete()
          .catch(() => undefined),
      );
      await counted.client.connection.close();
    }
  });
});
