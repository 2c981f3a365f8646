import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { Validator } from '@seriousme/openapi-schema-validator';
import { z } from 'zod';
import type { RunningApi } from '../../src/api/server';
import { createApp } from '../../src/api/app';
import { OPERATIONS } from '../../src/api/openapi';
import { defineJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import { call, startTestApi } from '../support/api';
import { testClient, testLogger } from '../support/temporal';

const registry = JobRegistry.create([
  defineJob({
    id: 'greeter',
    description: 'says hello',
    schedule: { cron: '@daily' },
    argsSchema: z.object({ name: z.string() }),
    args: { name: 'x' },
    run: () => null,
  }),
]);

/** Method and path of every route an Express 5 app serves, in OpenAPI syntax. */
function servedRoutes(app: ReturnType<typeof createApp>): string[] {
  const out: string[] = [];
  const walk = (stack: any[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const m of Object.keys(layer.route.methods))
          out.push(`${m.toUpperCase()} ${prefix}${layer.route.path}`.replace(/:(\w+)/g, '{$1}'));
      } else if (layer.handle?.stack && layer.matchers) {
        // A mounted router: Express 5 keeps no path string on the layer; ours are all at /api/v1.
        walk(layer.handle.stack, '/api/v1');
      }
    }
  };
  walk((app as any).router.stack, '');
  return out;
}

describe('the OpenAPI document', () => {
  let client: Client;
  let api: RunningApi;
  before(async () => {
    client = await testClient();
    api = await startTestApi(client, { registry });
  });
  after(async () => {
    await api?.stop();
    await client?.connection.close();
  });

  it('is valid OpenAPI 3.1', async () => {
    const doc = (await call(api, 'GET', '/openapi.json')).body;
    assert.equal(doc.openapi, '3.1.0');
    const result = await new Validator().validate(doc);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2)?.slice(0, 3000));
  });

  it('documents every route the router serves, and nothing it does not', async () => {
    const doc = (await call(api, 'GET', '/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths)
      .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`))
      .sort();
    const app = createApp({ client, logger: testLogger, registry, taskQueue: 'x', webUiUrl: 'http://ui' });
    const served = servedRoutes(app)
      .filter((r) => !r.includes('/docs'))
      .sort();
    assert.deepEqual(served, documented);
    assert.equal(OPERATIONS.length, documented.length);
  });

  it('describes the JobSpec with the schema the server validates with', async () => {
    const doc = (await call(api, 'GET', '/openapi.json')).body;
    const spec = doc.components.schemas.JobSpec;
    assert.deepEqual(spec.required.sort(), ['id', 'schedule', 'task']);
    assert.ok(spec.properties.retry, 'retry documented');
  });

  it('serves a docs page', async () => {
    const res = await fetch(`${api.url}/docs/`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /swagger-ui/i);
  });

  it('lists job types with the JSON Schema of their args, and the built-in http type', async () => {
    const res = await call(api, 'GET', '/api/v1/job-types');
    assert.equal(res.status, 200);
    const greeter = res.body.items.find((t: { name: string }) => t.name === 'greeter');
    assert.equal(greeter.kind, 'code');
    assert.equal(greeter.description, 'says hello');
    assert.deepEqual(greeter.argsSchema.required, ['name']);
    const http = res.body.items.find((t: { name: string }) => t.name === 'http');
    assert.ok(http.argsSchema.properties.url);
  });
});
