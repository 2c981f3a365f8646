import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import type { RunningApi } from '../../src/api/server';
import { call, startTestApi } from '../support/api';
import { freePort } from '../support/ports';
import { FIXTURES, startSundial } from '../support/processes';
import { testClient } from '../support/temporal';

describe('start-up errors', () => {
  it('a wrong environment value stops start-up with exit 2, naming the variable', async () => {
    const p = startSundial('worker', { PORT: 'eighty', TEMPORAL_API_KEY: 'sk-do-not-print' });
    assert.equal(await p.exited, 2);
    assert.match(p.output(), /PORT/);
    assert.doesNotMatch(p.output(), /sk-do-not-print/);
  });

  it('an unreachable server fails within the connect timeout with a clear message, never a hang', async () => {
    const port = await freePort();
    const started = Date.now();
    const p = startSundial('worker', {
      TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
      TEMPORAL_CONNECT_TIMEOUT: '2s',
      SUNDIAL_JOBS_MODULE: path.join(FIXTURES, 'no-jobs.js'),
    });
    assert.equal(await p.exited, 1);
    assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
    assert.match(p.output(), new RegExp(`Temporal at 127\\.0\\.0\\.1:${port} did not answer within 2000 ms`));
  });

  it('a bad job definition stops start-up, naming the job and the field', async () => {
    const p = startSundial('worker', {
      TEMPORAL_CONNECT_TIMEOUT: '1s',
      SUNDIAL_JOBS_MODULE: path.join(FIXTURES, 'bad-jobs.js'),
    });
    assert.equal(await p.exited, 1);
    assert.match(
      p.output(),
      /job \\"nightly-typo\\", field schedule\.cron: hour field \\"60\\": 60 is not in range 0-23/,
    );
  });
});

describe('health endpoints', () => {
  let client: Client;
  let deadClient: Client;
  let api: RunningApi;
  let deadApi: RunningApi;
  before(async () => {
    client = await testClient();
    deadClient = new Client({ connection: Connection.lazy({ address: `127.0.0.1:${await freePort()}` }) });
    api = await startTestApi(client);
    deadApi = await startTestApi(deadClient, { readinessTimeoutMs: 1_000, temporalTimeoutMs: 1_000 });
  });
  after(async () => {
    await api?.stop();
    await deadApi?.stop();
    await client?.connection.close();
  });

  it('GET /healthz is 200 while the process lives, even when Temporal is down', async () => {
    assert.equal((await fetch(`${api.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${deadApi.url}/healthz`)).status, 200);
  });

  it('GET /readyz is 200 when Temporal answers and a 503 problem document, quickly, when it does not', async () => {
    assert.equal((await fetch(`${api.url}/readyz`)).status, 200);
    const started = Date.now();
    const res = await fetch(`${deadApi.url}/readyz`);
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('content-type')?.split(';')[0], 'application/problem+json');
    const body = (await res.json()) as { title: string; status: number; detail: string };
    assert.equal(body.status, 503);
    assert.match(body.detail, /did not answer/);
    assert.ok(Date.now() - started < 5_000);
  });

  it('an API call while Temporal is down is a 503 with Retry-After, quickly, without a stack trace', async () => {
    const started = Date.now();
    const res = await call(deadApi, 'GET', '/api/v1/jobs');
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '5');
    assert.equal(res.body.status, 503);
    assert.doesNotMatch(JSON.stringify(res.body), /at .*\.js:\d+/);
    assert.ok(Date.now() - started < 8_000, `took ${Date.now() - started} ms`);
  });
});
