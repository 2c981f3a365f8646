import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import type { RunningApi } from '../../src/api/server';
import { defineJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import { call, callRaw, startTestApi } from '../support/api';
import { testClient, unique } from '../support/temporal';

const registry = JobRegistry.create([
  defineJob({
    id: 'greeter',
    schedule: { intervals: [{ every: '1h' }] },
    argsSchema: z.object({ name: z.string() }).strict(),
    args: { name: 'world' },
    run: () => null,
  }),
]);

interface Case {
  readonly name: string;
  readonly method: string;
  readonly path: (probe: string) => string;
  readonly body?: unknown;
  readonly status: number;
  /** A path that must be named in `errors` (400s). */
  readonly field?: string;
  /** Send the path as is (fetch would normalize it). */
  readonly raw?: boolean;
}

const good = (id: string) => ({
  id,
  schedule: { intervals: [{ every: '1h' }] },
  paused: true,
  task: { type: 'http', url: 'http://127.0.0.1:9/x' },
});
const withField = (id: string, patch: Record<string, unknown>) => ({ ...good(id), ...patch });

const cases: Case[] = [
  { name: 'malformed JSON', method: 'POST', path: () => '/api/v1/jobs', body: '{"id": ', status: 400, field: '(body)' },
  {
    name: 'an unknown field',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: withField('x-unknown', { colour: 'blue' }),
    status: 400,
    field: 'colour',
  },
  {
    name: 'a wrong type',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: withField('x-type', { description: 42 }),
    status: 400,
    field: 'description',
  },
  {
    name: 'a malformed cron',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: withField('x-cron', { schedule: { cron: '0 25 * * *' } }),
    status: 400,
    field: 'schedule.cron',
  },
  {
    name: 'an unknown time zone',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: withField('x-tz', { schedule: { cron: '0 3 * * *', timezone: 'Europe/Atlantis' } }),
    status: 400,
    field: 'schedule.timezone',
  },
  {
    name: 'an empty schedule',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: withField('x-empty', { schedule: {} }),
    status: 400,
    field: 'schedule',
  },
  {
    name: 'an interval of 0s',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: withField('x-zero', { schedule: { intervals: [{ every: '0s' }] } }),
    status: 400,
    field: 'schedule.intervals.0.every',
  },
  {
    name: 'an interval of -5s',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: withField('x-neg', { schedule: { intervals: [{ every: '-5s' }] } }),
    status: 400,
    field: 'schedule.intervals.0.every',
  },
  {
    name: 'an interval of "soon"',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: withField('x-soon', { schedule: { intervals: [{ every: 'soon' }] } }),
    status: 400,
    field: 'schedule.intervals.0.every',
  },
  {
    name: 'a heartbeat timeout with execution "local"',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: withField('x-local-beat', { execution: 'local', timeouts: { heartbeat: '5s' } }),
    status: 400,
    field: 'timeouts.heartbeat',
  },
  {
    name: 'a 2m attempt with execution "local"',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: withField('x-local-long', { execution: 'local', timeouts: { startToClose: '2m' } }),
    status: 400,
    field: 'timeouts.startToClose',
  },
  {
    name: 'an unknown task type',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: withField('x-task', { task: { type: 'shell', command: 'rm -rf /' } }),
    status: 400,
    field: 'task.type',
  },
  {
    name: 'an unknown code job type',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: withField('x-code', { task: { type: 'nope' } }),
    status: 400,
    field: 'task.type',
  },
  {
    name: 'an http task without a URL',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: withField('x-nourl', { task: { type: 'http' } }),
    status: 400,
    field: 'task.url',
  },
  {
    name: 'an http task with a non-http URL',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: withField('x-file', { task: { type: 'http', url: 'file:///etc/passwd' } }),
    status: 400,
    field: 'task.url',
  },
  {
    name: 'args not matching the job type',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: withField('x-args', { task: { type: 'greeter', args: { nom: 'x' } } }),
    status: 400,
    field: 'task.args.nom',
  },
  {
    name: 'a backoff coefficient under 1',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: withField('x-backoff', { retry: { backoffCoefficient: 0.5 } }),
    status: 400,
    field: 'retry.backoffCoefficient',
  },
  {
    name: 'negative attempts',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: withField('x-attempts', { retry: { maximumAttempts: -1 } }),
    status: 400,
    field: 'retry.maximumAttempts',
  },
  {
    name: 'a maximum interval under the initial one',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: withField('x-maxint', { retry: { initialInterval: '1m', maximumInterval: '1s' } }),
    status: 400,
    field: 'retry.maximumInterval',
  },
  {
    name: 'an id too long',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: good('x'.repeat(129)),
    status: 400,
    field: 'id',
  },
  {
    name: 'an id with a space',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: good('two words'),
    status: 400,
    field: 'id',
  },
  {
    name: 'an id with a slash',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: good('a/b'),
    status: 400,
    field: 'id',
  },
  { name: 'an id of ..', method: 'POST', path: () => '/api/v1/jobs', body: good('..'), status: 400, field: 'id' },
  { name: 'a path id with a slash', method: 'GET', path: () => '/api/v1/jobs/a%2Fb', status: 400, field: 'path.id' },
  {
    name: 'a path id of ..',
    method: 'DELETE',
    path: () => '/api/v1/jobs/%2E%2E',
    status: 400,
    field: 'path.id',
    raw: true,
  },
  {
    name: 'a path id of .. (unencoded)',
    method: 'GET',
    path: () => '/api/v1/jobs/..',
    status: 400,
    field: 'path.id',
    raw: true,
  },
  {
    name: 'a body over the size limit',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: withField('x-big', { description: 'x'.repeat(100_000) }),
    status: 413,
  },
  {
    name: 'backfill with end before start',
    method: 'POST',
    path: (p) => `/api/v1/jobs/${p}/backfill`,
    body: { start: '2026-01-02T00:00:00Z', end: '2026-01-01T00:00:00Z' },
    status: 400,
    field: 'end',
  },
  {
    name: 'backfill beyond the limit',
    method: 'POST',
    path: (p) => `/api/v1/jobs/${p}/backfill`,
    body: { start: '2025-01-01T00:00:00Z', end: '2026-01-01T00:00:00Z' },
    status: 400,
    field: 'end',
  },
  {
    name: 'backfill with a bad date',
    method: 'POST',
    path: (p) => `/api/v1/jobs/${p}/backfill`,
    body: { start: 'yesterday', end: '2026-01-01T00:00:00Z' },
    status: 400,
    field: 'start',
  },
  {
    name: 'trigger with an unknown overlap policy',
    method: 'POST',
    path: (p) => `/api/v1/jobs/${p}/trigger`,
    body: { overlap: 'sometimes' },
    status: 400,
    field: 'overlap',
  },
  {
    name: 'a patch that breaks the spec',
    method: 'PATCH',
    path: (p) => `/api/v1/jobs/${p}`,
    body: { schedule: { cron: 'every day' } },
    status: 400,
    field: 'schedule.cron',
  },
  {
    name: 'a page size over 500',
    method: 'GET',
    path: () => '/api/v1/jobs?pageSize=501',
    status: 400,
    field: 'query.pageSize',
  },
  {
    name: 'an unknown run status filter',
    method: 'GET',
    path: (p) => `/api/v1/jobs/${p}/runs?status=happy`,
    status: 400,
    field: 'query.status',
  },
  { name: 'an unknown job', method: 'GET', path: () => '/api/v1/jobs/no-such-job', status: 404 },
  {
    name: 'pausing an unknown job',
    method: 'POST',
    path: () => '/api/v1/jobs/no-such-job/pause',
    body: {},
    status: 404,
  },
  { name: 'an unknown run', method: 'GET', path: () => '/api/v1/runs/no-such-run', status: 404 },
  { name: 'an unknown route', method: 'GET', path: () => '/api/v1/nothing', status: 404 },
];

describe('bad input: each gets its 4xx, a problem document, and changes nothing', () => {
  let client: Client;
  let api: RunningApi;
  const probe = unique('probe');
  const taskQueue = unique('bad-input');

  async function snapshot(): Promise<string> {
    const ids: string[] = [];
    for await (const s of client.schedule.list()) ids.push(s.scheduleId);
    const d = await client.schedule.getHandle(probe).describe();
    return JSON.stringify({
      probeToken: Buffer.from(d.raw.conflictToken ?? []).toString('hex'),
      probeNotes: d.state.note,
      count: ids.filter((i) => i.startsWith('x-')).length,
    });
  }

  before(async () => {
    client = await testClient();
    api = await startTestApi(client, { registry, taskQueue });
    assert.equal((await call(api, 'POST', '/api/v1/jobs', good(probe))).status, 201);
  });
  after(async () => {
    await client.schedule
      .getHandle(probe)
      .delete()
      .catch(() => undefined);
    await api?.stop();
    await client?.connection.close();
  });

  for (const c of cases) {
    it(`${c.name} → ${c.status}`, async () => {
      const before = await snapshot();
      const res = c.raw
        ? await callRaw(api, c.method, c.path(probe))
        : await call(api, c.method, c.path(probe), c.body);
      assert.equal(res.status, c.status, JSON.stringify(res.body));
      assert.equal(res.headers.get('content-type')?.split(';')[0], 'application/problem+json');
      assert.equal(res.body.status, c.status);
      assert.equal(typeof res.body.title, 'string');
      assert.equal(typeof res.body.type, 'string');
      assert.equal(typeof res.body.detail, 'string');
      assert.doesNotMatch(JSON.stringify(res.body), /node_modules|at [\w.]+ \(/, 'no stack trace');
      if (c.field !== undefined) {
        const paths = (res.body.errors as Array<{ path: string }>).map((e) => e.path);
        assert.ok(paths.includes(c.field), `errors name ${c.field}: ${JSON.stringify(res.body.errors)}`);
      }
      assert.equal(await snapshot(), before, 'Temporal state unchanged');
    });
  }
});
