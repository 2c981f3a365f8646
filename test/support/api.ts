import { request } from 'node:http';
import type { Client } from '@temporalio/client';
import { createApp, type ApiDeps } from '../../src/api/app';
import { startApi, type RunningApi } from '../../src/api/server';
import { JobRegistry } from '../../src/jobs/registry';
import { startJobMetricsCollector, type TemporalCollectorOptions } from '../../src/observability/temporal-collector';
import { TEST_EGRESS, testLogger } from './temporal';

export const TEST_WEB_UI = 'http://127.0.0.1:8233';

/**
 * The API on a free port, over the given client. With `metrics`, its job-metrics collector runs
 * too (cycles 250 ms apart unless `collector` says otherwise), and stops with it.
 */
export async function startTestApi(
  client: Client,
  opts: Partial<ApiDeps> & { collector?: Omit<TemporalCollectorOptions, 'client' | 'metrics' | 'logger'> } = {},
): Promise<RunningApi> {
  const { collector: collectorOpts, ...deps } = opts;
  const app = createApp({
    client,
    logger: testLogger,
    registry: deps.registry ?? JobRegistry.create([]),
    taskQueue: deps.taskQueue ?? 'api-test',
    webUiUrl: TEST_WEB_UI,
    // Generous: a CI machine running server, workers and tests on two cores can be slow.
    temporalTimeoutMs: 15_000,
    egress: TEST_EGRESS,
    ...deps,
  });
  const api = await startApi(app, '127.0.0.1', 0);
  if (deps.metrics === undefined) return api;
  const collector = startJobMetricsCollector({
    client,
    registry: deps.metrics.registry,
    logger: deps.logger ?? testLogger,
    ...collectorOpts,
    budget: { intervalMs: 250, ...collectorOpts?.budget },
  });
  return {
    ...api,
    async stop(graceMs?: number) {
      await api.stop(graceMs);
      await collector.stop();
    },
  };
}

/** A JSON request to the API, returning status, headers and parsed body. */
export async function call(
  api: RunningApi,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(`${api.url}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/**
 * A request whose path is sent byte for byte: fetch normalizes `..` and `%2E%2E` away, so a
 * test of what the server does with them needs node:http.
 */
export function callRaw(
  api: RunningApi,
  method: string,
  path: string,
): Promise<{ status: number; headers: Headers; body: any }> {
  return new Promise((resolve, reject) => {
    const url = new URL(api.url);
    const req = request({ host: url.hostname, port: url.port, method, path }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers.set(k, v);
        resolve({ status: res.statusCode ?? 0, headers, body: text === '' ? undefined : JSON.parse(text) });
      });
    });
    req.on('error', reject);
    req.end();
  });
}
