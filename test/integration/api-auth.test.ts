import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import type { RunningApi } from '../../src/api/server';
import { call, startTestApi } from '../support/api';
import { testClient, unique } from '../support/temporal';

const READ = 'read-key-0123456789abcdef';
const WRITE = 'write-key-0123456789abcdef';

describe('API keys', () => {
  let client: Client;
  let api: RunningApi;
  const id = unique('auth');
  const spec = { id, schedule: { cron: '@daily' }, paused: true, task: { type: 'http', url: 'http://127.0.0.1:9/' } };

  before(async () => {
    client = await testClient();
    api = await startTestApi(client, {
      apiKeys: [
        { role: 'read', key: READ },
        { role: 'write', key: WRITE },
      ],
    });
  });
  after(async () => {
    await client.schedule
      .getHandle(id)
      .delete()
      .catch(() => undefined);
    await api?.stop();
    await client?.connection.close();
  });

  it('a missing or unknown key is 401 with a Bearer challenge', async () => {
    const none = await call(api, 'GET', '/api/v1/jobs');
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
    const wrong = await call(api, 'GET', '/api/v1/jobs', undefined, { authorization: `Bearer ${READ}x` });
    assert.equal(wrong.status, 401);
    assert.doesNotMatch(JSON.stringify(wrong.body), /read-key/, 'the key is not echoed');
  });

  it('a read key reads but gets 403 on a write route, changing nothing', async () => {
    assert.equal((await call(api, 'GET', '/api/v1/jobs', undefined, { authorization: `Bearer ${READ}` })).status, 200);
    const denied = await call(api, 'POST', '/api/v1/jobs', spec, { authorization: `Bearer ${READ}` });
    assert.equal(denied.status, 403);
    assert.equal(
      (await call(api, 'GET', `/api/v1/jobs/${id}`, undefined, { authorization: `Bearer ${READ}` })).status,
      404,
    );
  });

  it('a write key writes', async () => {
    assert.equal((await call(api, 'POST', '/api/v1/jobs', spec, { authorization: `Bearer ${WRITE}` })).status, 201);
  });

  it('health endpoints stay open', async () => {
    assert.equal((await call(api, 'GET', '/healthz')).status, 200);
    assert.equal((await call(api, 'GET', '/readyz')).status, 200);
  });
});
