import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { RunningApi } from '../../src/api/server';
import { defineJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import { createLogger } from '../../src/observability/logger';
import { startTestApi } from '../support/api';
import { startTestWorker, testClient, unique, waitFor, type TestWorker } from '../support/temporal';

/** The secret's value: it must reach the HTTP server and nothing else. */
const SECRET = `s3cr3t-${unique('value')}`;
/** A code job's secret. */
const CODE_SECRET = `c0de-${unique('value')}`;
const WRITE_KEY = 'write-key-secrets-test-0123456789';
const READ_KEY = 'read-key-secrets-test-0123456789';

const registry = JobRegistry.create([
  defineJob({
    id: 'uses-secret',
    schedule: { intervals: [{ every: '1h' }] },
    // Logs and returns what it was given, as careless job code might: the worker scrubs both.
    run: (ctx) => {
      ctx.logger.info({ args: ctx.args }, `careless line with ${String((ctx.args as { token?: unknown }).token)}`);
      return { gotTheSecret: (ctx.args as { token?: unknown }).token === CODE_SECRET, echo: ctx.args };
    },
  }),
]);

describe('secret references', () => {
  let client: Client;
  let api: RunningApi;
  let worker: TestWorker;
  let server: Server;
  let base: string;
  const taskQueue = unique('secrets');
  const received: IncomingHttpHeaders[] = [];
  /** Every API response body, every log line (API and worker): searched for the values at the end. */
  const responses: string[] = [];
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(
        ...chunk
          .toString()
          .split('\n')
          .filter((l) => l !== ''),
      );
      done();
    },
  });
  const logger = createLogger('debug', sink);
  const jobIds: string[] = [];

  async function call(
    method: string,
    path: string,
    body?: unknown,
    key = WRITE_KEY,
  ): Promise<{ status: number; body: any }> {
    const res = await fetch(`${api.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    responses.push(text);
    return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
  }

  async function runToEnd(id: string): Promise<any> {
    const trigger = await call('POST', `/api/v1/jobs/${id}/trigger`, {});
    assert.equal(trigger.status, 202);
    const wf = trigger.body.workflowId as string;
    return waitFor(`run of ${id}`, 30_000, async () => {
      const d = await call('GET', `/api/v1/runs/${encodeURIComponent(wf)}`);
      return d.status === 200 && d.body.status !== 'running' ? d.body : undefined;
    });
  }

  /** What Temporal holds of a job: its schedule (raw describe) and every run's history, as bytes. */
  async function temporalBytes(id: string, workflowIds: readonly string[]): Promise<Buffer> {
    const desc = await client.workflowService.describeSchedule({ namespace: 'default', scheduleId: id });
    const parts = [Buffer.from(temporal.api.workflowservice.v1.DescribeScheduleResponse.encode(desc).finish())];
    for (const wf of workflowIds) {
      const history = await client.workflow.getHandle(wf).fetchHistory();
      parts.push(Buffer.from(temporal.api.history.v1.History.encode(history).finish()));
    }
    return Buffer.concat(parts);
  }

  before(async () => {
    server = createServer((req, res) => {
      received.push(req.headers);
      // /echo answers with the Authorization header it got, as a debugging endpoint might.
      if (req.url === '/echo-401') {
        res.writeHead(401, { 'content-type': 'text/plain' }).end(`bad token ${req.headers.authorization}`);
        return;
      }
      const body = req.url === '/echo' ? JSON.stringify({ youSent: req.headers.authorization }) : '{"ok":true}';
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    client = await testClient();
    worker = await startTestWorker(registry, taskQueue, {
      logger,
      secrets: new Map([
        ['API_TOKEN', SECRET],
        ['CODE_TOKEN', CODE_SECRET],
      ]),
    });
    api = await startTestApi(client, {
      logger,
      registry,
      taskQueue,
      apiKeys: [
        { role: 'write', key: WRITE_KEY },
        { role: 'read', key: READ_KEY },
      ],
    });
  });

  after(async () => {
    for (const id of jobIds) await call('DELETE', `/api/v1/jobs/${id}`).catch(() => undefined);
    await api?.stop();
    await worker?.stop();
    await client?.connection.close();
    await new Promise((r) => server?.close(r));
  });

  const httpJob = (id: string, path: string, headers: Record<string, unknown>) => ({
    id,
    schedule: { cron: '0 0 1 1 *' },
    retry: { maximumAttempts: 1 },
    task: { type: 'http', url: `${base}${path}`, method: 'POST', headers, body: { hello: 'world' } },
  });

  it('sends the header from the worker, while Temporal, the API and the logs never hold the value', async () => {
    const id = unique('secret-header');
    jobIds.push(id);
    const created = await call(
      'POST',
      '/api/v1/jobs',
      httpJob(id, '/hook', { authorization: { secret: 'API_TOKEN' }, 'x-plain': 'plain-header-value-42' }),
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    // References show as references; plain values never show, to any key.
    assert.deepEqual(created.body.task.headers, { authorization: { secret: 'API_TOKEN' }, 'x-plain': '[redacted]' });
    for (const key of [READ_KEY, WRITE_KEY]) {
      const one = await call('GET', `/api/v1/jobs/${id}`, undefined, key);
      assert.deepEqual(one.body.task.headers, { authorization: { secret: 'API_TOKEN' }, 'x-plain': '[redacted]' });
      const list = await call('GET', `/api/v1/jobs?idPrefix=${id}`, undefined, key);
      assert.deepEqual(list.body.items[0].task.headers, {
        authorization: { secret: 'API_TOKEN' },
        'x-plain': '[redacted]',
      });
    }

    const before = received.length;
    const run = await runToEnd(id);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    const sent = received.slice(before).find((h) => h['sundial-job-id'] === id);
    assert.equal(sent?.authorization, SECRET, 'the HTTP server got the secret');
    assert.equal(sent?.['x-plain'], 'plain-header-value-42');

    // The echo endpoint returns the secret in its body: the worker scrubs it from the result.
    const echoId = unique('secret-echo');
    jobIds.push(echoId);
    assert.equal(
      (await call('POST', '/api/v1/jobs', httpJob(echoId, '/echo', { authorization: { secret: 'API_TOKEN' } }))).status,
      201,
    );
    const echoed = await runToEnd(echoId);
    assert.equal(echoed.status, 'succeeded');
    assert.deepEqual(echoed.result.body, { youSent: '[redacted]' });

    // A 401 quoting the header: the error message (in Temporal and in the worker's log line) is scrubbed.
    const deniedId = unique('secret-401');
    jobIds.push(deniedId);
    assert.equal(
      (await call('POST', '/api/v1/jobs', httpJob(deniedId, '/echo-401', { authorization: { secret: 'API_TOKEN' } })))
        .status,
      201,
    );
    const denied = await runToEnd(deniedId);
    assert.equal(denied.status, 'failed');
    assert.equal(denied.error.message, 'POST answered 401: bad token [redacted]');
    assert.ok(
      lines.some((l) => l.includes('bad token [redacted]')),
      'the attempt-failed line is there, scrubbed',
    );
    assert.ok(!(await temporalBytes(deniedId, [denied.workflowId])).includes(SECRET));

    const bytes = await temporalBytes(id, [run.workflowId]);
    assert.ok(bytes.includes('API_TOKEN'), 'the search is over the real thing: the reference is there');
    assert.ok(
      bytes.includes('plain-header-value-42'),
      'and finds a plain value, stored as it is when the codec is off',
    );
    assert.ok(!bytes.includes(SECRET), 'the value is not in the schedule nor the history');
    assert.ok(!(await temporalBytes(echoId, [echoed.workflowId])).includes(SECRET), "nor in the echo job's");
    assert.ok(responses.length > 5);
    assert.ok(!responses.some((r) => r.includes(SECRET)), 'no API response holds the value');
    assert.ok(!responses.some((r) => r.includes('plain-header-value-42')), 'nor the plain header value');
    assert.ok(
      lines.some((l) => l.includes(id)),
      'the logs were captured',
    );
    assert.ok(!lines.some((l) => l.includes(SECRET)), 'no log line holds the value');
  });

  it("resolves references in a code job's args in the worker, and scrubs them from its result", async () => {
    const id = unique('secret-args');
    jobIds.push(id);
    const created = await call('POST', '/api/v1/jobs', {
      id,
      schedule: { cron: '0 0 1 1 *' },
      task: { type: 'uses-secret', args: { token: { secret: 'CODE_TOKEN' }, other: 1 } },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const run = await runToEnd(id);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    assert.deepEqual(run.result, { gotTheSecret: true, echo: { token: '[redacted]', other: 1 } });
    assert.ok(
      lines.some((l) => l.includes('careless line with [redacted]')),
      "the job's own log line is there, scrubbed",
    );
    assert.ok(!(await temporalBytes(id, [run.workflowId])).includes(CODE_SECRET));
    assert.ok(!responses.some((r) => r.includes(CODE_SECRET)));
    assert.ok(!lines.some((l) => l.includes(CODE_SECRET)));
  });

  it('fails the run at once as SecretMissing, naming the secret, when the worker does not have it', async () => {
    const id = unique('secret-missing');
    jobIds.push(id);
    const job = {
      ...httpJob(id, '/hook', { authorization: { secret: 'NOT_CONFIGURED' } }),
      retry: { maximumAttempts: 5 },
    };
    assert.equal((await call('POST', '/api/v1/jobs', job)).status, 201);
    const before = received.length;
    const run = await runToEnd(id);
    assert.equal(run.status, 'failed');
    assert.equal(run.attempts, 1, 'not retried');
    assert.equal(run.error.type, 'SecretMissing');
    assert.match(run.error.message, /secret NOT_CONFIGURED is not configured/);
    assert.equal(received.slice(before).filter((h) => h['sundial-job-id'] === id).length, 0, 'no request was sent');
  });

  it('refuses bad references and the redaction marker with a 400 naming the field, and creates nothing', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ authorization: { secret: 'lower-case' } }, 'task.headers.authorization'],
      [{ authorization: '[redacted]' }, 'task.headers.authorization'],
      [{ authorization: { secret: 'OK', extra: 1 } }, 'task.headers.authorization'],
      [{ 'x-bad': 'line\r\nbreak' }, 'task.headers.x-bad'],
    ];
    for (const [headers, field] of cases) {
      const id = unique('secret-bad');
      const res = await call('POST', '/api/v1/jobs', httpJob(id, '/hook', headers));
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.ok(JSON.stringify(res.body).includes(field), `${JSON.stringify(res.body)} names ${field}`);
      assert.equal((await call('GET', `/api/v1/jobs/${id}`)).status, 404);
    }
    const argsId = unique('secret-bad-args');
    const res = await call('POST', '/api/v1/jobs', {
      id: argsId,
      schedule: { cron: '0 0 1 1 *' },
      task: { type: 'uses-secret', args: { nested: [{ secret: 'no good' }] } },
    });
    assert.equal(res.status, 400);
    assert.ok(JSON.stringify(res.body).includes('task.args.nested.0.secret'), JSON.stringify(res.body));
  });

  it('keeps a plain header value through a patch that does not name it, and refuses the marker written back', async () => {
    const id = unique('secret-patch');
    jobIds.push(id);
    assert.equal(
      (await call('POST', '/api/v1/jobs', httpJob(id, '/hook', { 'x-plain': 'kept-value-77' }))).status,
      201,
    );
    const patched = await fetch(`${api.url}/api/v1/jobs/${id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${WRITE_KEY}`, 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ description: 'patched' }),
    });
    assert.equal(patched.status, 200);
    const back = await fetch(`${api.url}/api/v1/jobs/${id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${WRITE_KEY}`, 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ task: { headers: { 'x-plain': '[redacted]' } } }),
    });
    assert.equal(back.status, 400);
    const before = received.length;
    const run = await runToEnd(id);
    assert.equal(run.status, 'succeeded');
    assert.equal(received.slice(before).find((h) => h['sundial-job-id'] === id)?.['x-plain'], 'kept-value-77');
  });
});
