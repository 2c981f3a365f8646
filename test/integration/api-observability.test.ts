import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import type { RunningApi } from '../../src/api/server';
import { createLogger } from '../../src/observability/logger';
import { createMetrics } from '../../src/observability/metrics';
import { call, startTestApi } from '../support/api';
import { testClient } from '../support/temporal';

const WRITE_KEY = 'write-secret-key-0123456789';

describe('API access log and metrics', () => {
  let client: Client;
  let api: RunningApi;
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

  before(async () => {
    client = await testClient();
    api = await startTestApi(client, {
      logger: createLogger('info', sink),
      metrics: createMetrics(),
      apiKeys: [{ role: 'write', key: WRITE_KEY }],
    });
  });
  after(async () => {
    await api?.stop();
    await client?.connection.close();
  });

  it('100 requests to distinct job ids leave route templates only in http_request_duration_seconds', async () => {
    for (let i = 0; i < 100; i++) {
      const res = await call(api, 'GET', `/api/v1/jobs/no-such-job-${i}`, undefined, {
        authorization: `Bearer ${WRITE_KEY}`,
      });
      assert.equal(res.status, 404);
    }
    await call(api, 'GET', '/nothing/here');
    const text = await (await fetch(`${api.url}/metrics`)).text();
    const routes = new Set(
      [...text.matchAll(/^http_request_duration_seconds_count\{[^}]*route="([^"]*)"[^}]*\} (\d+)/gm)].map((m) => m[1]),
    );
    assert.ok(routes.has('/api/v1/jobs/:id'), [...routes].join(', '));
    assert.ok(routes.has('unmatched'));
    assert.ok(![...routes].some((r) => r!.includes('no-such-job')), `no raw paths: ${[...routes].join(', ')}`);
    const count =
      /^http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/jobs\/:id",status="404"\} (\d+)/m.exec(
        text,
      );
    assert.equal(count?.[1], '100');
    assert.match(text, /^process_cpu_user_seconds_total /m, 'Node process metrics');
  });

  it('accepts and returns X-Request-Id, and logs one JSON access line per request without secrets', async () => {
    const res = await fetch(`${api.url}/api/v1/jobs`, {
      headers: { 'x-request-id': 'req-abc.123', authorization: 'Bearer not-the-right-key-999' },
    });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('x-request-id'), 'req-abc.123');
    const made = await fetch(`${api.url}/healthz`, { headers: { 'x-request-id': 'bad id with spaces' } });
    assert.match(made.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/, 'an unacceptable id is replaced');
    await new Promise((r) => setTimeout(r, 100));
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const line = parsed.find((l) => l.request_id === 'req-abc.123');
    assert.ok(line);
    assert.deepEqual(
      [line.method, line.route, line.status, typeof line.duration_ms],
      ['GET', 'unmatched', 401, 'number'],
    );
    for (const l of lines) {
      assert.doesNotMatch(l, /not-the-right-key-999|write-secret-key/);
    }
  });
});
