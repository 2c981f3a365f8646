import type { Client } from '@temporalio/client';
import { createApp, type ApiDeps } from '../../src/api/app';
import { startApi, type RunningApi } from '../../src/api/server';
import { JobRegistry } from '../../src/jobs/registry';
import { testLogger } from './temporal';

export const TEST_WEB_UI = 'http://127.0.0.1:8233';

/** The API on a free port, over the given client. */
export function startTestApi(client: Client, opts: Partial<ApiDeps> = {}): Promise<RunningApi> {
  const app = createApp({
    client,
    logger: testLogger,
    registry: opts.registry ?? JobRegistry.create([]),
    taskQueue: opts.taskQueue ?? 'api-test',
    webUiUrl: TEST_WEB_UI,
    ...opts,
  });
  return startApi(app, '127.0.0.1', 0);
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
