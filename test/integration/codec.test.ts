import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import type { RunningApi } from '../../src/api/server';
import { defineJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import {
  AesGcmCodec,
  CodecDecryptError,
  CodecKeyUnknownError,
  ENCRYPTED_ENCODING,
  type CodecKey,
} from '../../src/temporal/codec';
import { call, startTestApi, TEST_WEB_UI } from '../support/api';
import { startTestWorker, testClient, unique, waitFor, type TestWorker } from '../support/temporal';

const WRITE_KEY = 'write-key-codec-test-0123456789';
const READ_KEY = 'read-key-codec-test-0123456789';
const OLD: CodecKey = { id: 'k1', key: randomBytes(32) };
const NEW: CodecKey = { id: 'k2', key: randomBytes(32) };
const MARKER = unique('visible-only-decoded');

const registry = JobRegistry.create([
  defineJob({ id: 'codec-echo', schedule: { intervals: [{ every: '1h' }] }, run: (ctx) => ({ echoed: ctx.args }) }),
]);

type Raw = { metadata?: Record<string, Uint8Array | null> | null; data?: Uint8Array | null };
const enc = (p: Raw): string => Buffer.from(p.metadata?.encoding ?? new Uint8Array()).toString();

/**
 * Every payload in a proto message, with its path. Left out: `searchAttributes` (visibility's,
 * plain on purpose) and the SDK's own `patch-data` markers (patch ids, written by the SDK's core
 * without the codec: no user data).
 */
function payloadsIn(value: unknown, path = ''): Array<{ path: string; payload: Raw }> {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return [];
  if (Array.isArray(value)) return value.flatMap((v, i) => payloadsIn(v, `${path}[${i}]`));
  const o = value as Record<string, unknown>;
  if (o.metadata !== undefined && o.data !== undefined && typeof o.metadata === 'object')
    return [{ path, payload: o as Raw }];
  return Object.entries(o).flatMap(([k, v]) =>
    k === 'searchAttributes' || k === 'patch-data' ? [] : payloadsIn(v, `${path}.${k}`),
  );
}

const auth = (key: string) => ({ authorization: `Bearer ${key}` });
const b64 = (p: Raw) => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

describe('payload codec', () => {
  let client: Client;
  let plain: Client;
  let api: RunningApi;
  let worker: TestWorker;
  const taskQueue = unique('codec');
  const id = unique('codec-job');
  let workflowId = '';

  before(async () => {
    client = await testClient([OLD]);
    plain = await testClient();
    worker = await startTestWorker(registry, taskQueue, { codecKeys: [OLD] });
    api = await startTestApi(client, {
      registry,
      taskQueue,
      apiKeys: [
        { role: 'write', key: WRITE_KEY },
        { role: 'read', key: READ_KEY },
      ],
    });
    const created = await call(
      api,
      'POST',
      '/api/v1/jobs',
      { id, schedule: { cron: '0 0 1 1 *' }, task: { type: 'codec-echo', args: { marker: MARKER } } },
      auth(WRITE_KEY),
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const trigger = await call(api, 'POST', `/api/v1/jobs/${id}/trigger`, {}, auth(WRITE_KEY));
    workflowId = trigger.body.workflowId;
    const run = await waitFor('the run', 30_000, async () => {
      const d = await call(api, 'GET', `/api/v1/runs/${encodeURIComponent(workflowId)}`, undefined, auth(READ_KEY));
      return d.status === 200 && d.body.status !== 'running' ? d.body : undefined;
    });
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    assert.deepEqual(run.result, { echoed: { marker: MARKER } }, 'the API reads results through the codec');
  });

  after(async () => {
    await call(api, 'DELETE', `/api/v1/jobs/${id}`, undefined, auth(WRITE_KEY)).catch(() => undefined);
    await api?.stop();
    await worker?.stop();
    await client?.connection.close();
    await plain?.connection.close();
  });

  it('stores every payload of the schedule and the run encrypted, search attributes plain', async () => {
    const history = await plain.workflow.getHandle(workflowId).fetchHistory();
    const desc = await plain.workflowService.describeSchedule({ namespace: 'default', scheduleId: id });
    const found = [...payloadsIn(history, 'history'), ...payloadsIn(desc, 'schedule')];
    assert.ok(
      found.some((f) => f.path.includes('workflowExecutionStartedEventAttributes.input')),
      found.map((f) => f.path).join('\n'),
    );
    assert.ok(
      found.some((f) => f.path.includes('memo')),
      'memos are among them',
    );
    assert.ok(
      found.some((f) => f.path.includes('activityTaskCompletedEventAttributes.result')),
      'activity results too',
    );
    for (const f of found) assert.equal(enc(f.payload), ENCRYPTED_ENCODING, `${f.path} is encrypted`);
    const raw = JSON.stringify(history) + JSON.stringify(desc);
    assert.ok(!raw.includes(MARKER) && !Buffer.from(raw).includes(Buffer.from(MARKER)), 'the args are not readable');
    const attrs = desc.searchAttributes?.indexedFields ?? {};
    assert.equal(
      Buffer.from(attrs.SundialOrigin?.data ?? new Uint8Array()).toString(),
      '"api"',
      'search attributes stay queryable',
    );
  });

  it('lists the job through the codec (ListSchedules memos are decoded)', async () => {
    const list = await call(api, 'GET', `/api/v1/jobs?idPrefix=${id}`, undefined, auth(READ_KEY));
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.body.items.map((j: { id: string; task: unknown }) => [j.id, j.task]),
      [[id, { type: 'codec-echo', args: { marker: MARKER } }]],
    );
  });

  it('decodes old payloads after a key rotation, and not without their key', async () => {
    const rotated = await testClient([NEW, OLD]);
    const newOnly = await testClient([NEW]);
    try {
      const outcome = (await rotated.workflow.getHandle(workflowId).result()) as { result: unknown };
      assert.deepEqual(outcome.result, { echoed: { marker: MARKER } });
      await assert.rejects(
        newOnly.workflow.getHandle(workflowId).result(),
        (err: Error) =>
          err instanceof CodecKeyUnknownError || err.cause instanceof CodecKeyUnknownError || /k1/.test(err.message),
      );
    } finally {
      await rotated.connection.close();
      await newOnly.connection.close();
    }
    const [encoded] = await new AesGcmCodec([NEW, OLD]).encode([
      { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('1') },
    ]);
    assert.equal(Buffer.from(encoded!.metadata!['encryption-key-id']!).toString(), 'k2', 'the first key encrypts');
    const [back] = await new AesGcmCodec([OLD, NEW]).decode([encoded!]);
    assert.equal(Buffer.from(back!.data!).toString(), '1');
  });

  it('passes unencrypted payloads through, and refuses tampered ones', async () => {
    const codec = new AesGcmCodec([OLD]);
    const plainPayload = { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('{"a":1}') };
    assert.deepEqual(await codec.decode([plainPayload]), [plainPayload]);
    const [encoded] = await codec.encode([plainPayload]);
    const data = Buffer.from(encoded!.data!);
    data[data.length - 1]! ^= 1;
    await assert.rejects(codec.decode([{ ...encoded!, data }]), CodecDecryptError);
    await assert.rejects(
      codec.decode([{ ...encoded!, metadata: { ...encoded!.metadata, 'encryption-key-id': Buffer.from('k2') } }]),
      CodecKeyUnknownError,
    );
  });

  it('serves the codec endpoint to write keys and to the Web UI origin only', async () => {
    const history = await plain.workflow.getHandle(workflowId).fetchHistory();
    const input = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    const body = { payloads: [b64(input)] };
    const headers = { 'x-namespace': 'default' };

    assert.equal((await call(api, 'POST', '/codec/decode', body, headers)).status, 401);
    assert.equal(
      (await call(api, 'POST', '/codec/decode', body, { ...headers, ...auth('not-a-key-at-all-0123456789') })).status,
      401,
    );
    assert.equal(
      (await call(api, 'POST', '/codec/decode', body, { ...headers, ...auth(READ_KEY) })).status,
      403,
      'a read key never sees payloads',
    );
    const wrongNs = await call(api, 'POST', '/codec/decode', body, { 'x-namespace': 'other', ...auth(WRITE_KEY) });
    assert.equal(wrongNs.status, 400);
    assert.match(JSON.stringify(wrongNs.body), /X-Namespace/);
    assert.equal(
      (await call(api, 'POST', '/codec/decode', { payloads: [{ data: 'not base64!' }] }, auth(WRITE_KEY))).status,
      400,
    );

    const decoded = await call(api, 'POST', '/codec/decode', body, { ...headers, ...auth(WRITE_KEY) });
    assert.equal(decoded.status, 200);
    const payload = decoded.body.payloads[0];
    assert.equal(Buffer.from(payload.metadata.encoding, 'base64').toString(), 'json/plain');
    assert.equal(JSON.parse(Buffer.from(payload.data, 'base64').toString()).task.args.marker, MARKER);

    const encoded = await call(
      api,
      'POST',
      '/codec/encode',
      { payloads: [payload] },
      { ...headers, ...auth(WRITE_KEY) },
    );
    assert.equal(Buffer.from(encoded.body.payloads[0].metadata.encoding, 'base64').toString(), ENCRYPTED_ENCODING);
    const again = await call(api, 'POST', '/codec/decode', encoded.body, { ...headers, ...auth(WRITE_KEY) });
    assert.deepEqual(again.body.payloads[0], payload, 'encode then decode is the identity');

    // The Web UI: a preflight without credentials, then cookies from a session a write key opened.
    const preflight = await fetch(`${api.url}/codec/decode`, {
      method: 'OPTIONS',
      headers: {
        origin: TEST_WEB_UI,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-namespace',
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), TEST_WEB_UI);
    assert.equal(preflight.headers.get('access-control-allow-credentials'), 'true');
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /X-Namespace/i);
    const foreign = await fetch(`${api.url}/codec/decode`, {
      method: 'OPTIONS',
      headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(foreign.status, 403);
    assert.equal(foreign.headers.get('access-control-allow-origin'), null);

    assert.equal(
      (await call(api, 'POST', '/codec/session', undefined, auth(READ_KEY))).status,
      401,
      'a read key opens no session',
    );
    const session = await call(api, 'POST', '/codec/session', undefined, auth(WRITE_KEY));
    assert.equal(session.status, 204);
    const setCookie = session.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    assert.ok(!setCookie.includes(WRITE_KEY), 'the cookie is not the key');
    const cookie = setCookie.split(';')[0]!;
    const viaCookie = await call(api, 'POST', '/codec/decode', body, { ...headers, origin: TEST_WEB_UI, cookie });
    assert.equal(viaCookie.status, 200);
    assert.equal(viaCookie.headers.get('access-control-allow-origin'), TEST_WEB_UI);
    assert.deepEqual(viaCookie.body.payloads[0], payload);
    const forged = `${cookie.split('.')[0]}.${Buffer.alloc(32).toString('base64url')}`;
    assert.equal((await call(api, 'POST', '/codec/decode', body, { ...headers, cookie: forged })).status, 401);
  });

  it('without API keys, answers loopback requests only (no DNS rebinding)', async () => {
    const keyless = await startTestApi(client, {});
    try {
      const body = { payloads: [] };
      assert.equal((await call(keyless, 'POST', '/codec/decode', body)).status, 200);
      const port = new URL(keyless.url).port;
      const rebound = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/codec/decode',
            headers: {
              host: `evil.example:${port}`,
              origin: `http://evil.example:${port}`,
              'content-type': 'application/json',
            },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify(body));
      });
      assert.equal(rebound, 403);
    } finally {
      await keyless.stop();
    }
  });

  it('has no codec endpoint when no codec keys are configured', async () => {
    const bare = await startTestApi(plain, { apiKeys: [{ role: 'write', key: WRITE_KEY }] });
    try {
      assert.equal((await call(bare, 'POST', '/codec/decode', { payloads: [] }, auth(WRITE_KEY))).status, 404);
    } finally {
      await bare.stop();
    }
  });
});
