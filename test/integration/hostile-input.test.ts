import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ScheduleNotFoundError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { RunningApi } from '../../src/api/server';
import { BREAKER_WORKFLOW_TYPE, breakerWorkflowId } from '../../src/breaker/contract';
import { defineJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import { JOB_WORKFLOW_TYPE } from '../../src/jobs/run-types';
import { MAX_TIMER_MS } from '../../src/util/duration';
import { startTestApi } from '../support/api';
import { startTestWorker, testClient, unique, waitFor, type TestWorker } from '../support/temporal';

/**
 * Hostile input, one row per class: over real HTTP (node:http, so Host, Origin, content types and
 * bodies go out byte for byte) against an API on a real dev server. Each row is refused with its
 * status and a problem document naming the field or header, and changes nothing: the probe job
 * reads the same before and after, no schedule or workflow the request names appears, and the
 * foreign schedule and workflows are untouched. Add a row to cover a new class.
 */

const registry = JobRegistry.create([
  defineJob({ id: 'ok', schedule: { intervals: [{ every: '1h' }] }, run: () => 'ok' }),
  defineJob({
    id: 'fails',
    schedule: { intervals: [{ every: '1h' }] },
    run: () => {
      throw new Error('always fails');
    },
  }),
]);

/** What the rows act on, made once in `before`. */
interface World {
  readonly api: RunningApi;
  /** A paused API job of ours: what every write row would change if it got through. */
  readonly probe: string;
  /** A schedule another application made in the namespace (no Sundial memo). */
  readonly foreignSchedule: string;
  /** Another application's running workflow. */
  readonly foreignWorkflow: string;
  /** A running workflow of the breaker's type, at a breaker's id. */
  readonly breakerWorkflow: string;
  /** A running workflow of the job workflow's type but without `SundialJobId`. */
  readonly impostorWorkflow: string;
  /** Ids made fresh for this run, for bodies that would create something. */
  readonly fresh: (name: string) => string;
}

interface Row {
  readonly name: string;
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly path: (w: World) => string;
  /** Request headers; `content-type` defaults to application/json when there is a body. */
  readonly headers?: (w: World) => Record<string, string>;
  /** Send the body without any content-type header. */
  readonly noContentType?: boolean;
  /** The body as sent: a string is sent as is, anything else as JSON. */
  readonly body?: (w: World) => unknown;
  readonly status: number;
  /** The problem's `type`, after https://sundial.dev/problems/ (`about:blank` as is). */
  readonly type: string;
  /** A path `errors` must name: a body field (`retry.initialInterval`) or `header.<name>`, `query.<name>`. */
  readonly field?: string;
  /** What `detail` must say. */
  readonly detail?: RegExp;
  /** Schedule or workflow ids that must not exist afterwards. */
  readonly absent?: (w: World) => string[];
}

/** A valid job spec: every row that creates starts from it and spoils one thing. */
const good = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  schedule: { intervals: [{ every: '1h' }] },
  paused: true,
  task: { type: 'ok' },
  ...extra,
});
const createRow = (
  name: string,
  field: string,
  extra: (w: World) => Record<string, unknown>,
  detail?: RegExp,
): Row => ({
  name,
  method: 'POST',
  path: () => '/api/v1/jobs',
  body: (w) => good(w.fresh(field), extra(w)),
  status: 400,
  type: 'validation',
  field,
  ...(detail === undefined ? {} : { detail }),
  absent: (w) => [w.fresh(field)],
});
const patchRow = (name: string, field: string, patch: unknown): Row => ({
  name,
  method: 'PATCH',
  path: (w) => `/api/v1/jobs/${w.probe}`,
  headers: () => ({ 'content-type': 'application/merge-patch+json' }),
  body: () => patch,
  status: 400,
  type: 'validation',
  field,
});
/** A JSON text with `key` at `depth` levels inside `task.args`. */
const nested = (depth: number, key = 'x') => `{${'"a":{'.repeat(depth)}"${key}":1${'}'.repeat(depth)}}`;

const rows: Row[] = [
  // No forged writes: only JSON bodies (what a web page cannot send without a preflight).
  {
    name: 'unpause as text/plain',
    method: 'POST',
    path: (w) => `/api/v1/jobs/${w.probe}/unpause`,
    headers: () => ({ 'content-type': 'text/plain' }),
    body: () => '{}',
    status: 415,
    type: 'unsupported-media-type',
    field: 'header.content-type',
  },
  {
    name: 'trigger form-encoded',
    method: 'POST',
    path: (w) => `/api/v1/jobs/${w.probe}/trigger`,
    headers: () => ({ 'content-type': 'application/x-www-form-urlencoded' }),
    body: () => 'overlap=allow_all',
    status: 415,
    type: 'unsupported-media-type',
    field: 'header.content-type',
  },
  {
    name: 'trigger as multipart',
    method: 'POST',
    path: (w) => `/api/v1/jobs/${w.probe}/trigger`,
    headers: () => ({ 'content-type': 'multipart/form-data; boundary=x' }),
    body: () => '--x\r\nContent-Disposition: form-data; name="overlap"\r\n\r\nallow_all\r\n--x--\r\n',
    status: 415,
    type: 'unsupported-media-type',
    field: 'header.content-type',
  },
  {
    name: 'a create with a body and no content type',
    method: 'POST',
    path: () => '/api/v1/jobs',
    noContentType: true,
    body: (w) => good(w.fresh('no-type')),
    status: 415,
    type: 'unsupported-media-type',
    field: 'header.content-type',
    absent: (w) => [w.fresh('no-type')],
  },
  {
    name: 'a create as merge-patch (PATCH only)',
    method: 'POST',
    path: () => '/api/v1/jobs',
    headers: () => ({ 'content-type': 'application/merge-patch+json' }),
    body: (w) => good(w.fresh('merge')),
    status: 415,
    type: 'unsupported-media-type',
    field: 'header.content-type',
    absent: (w) => [w.fresh('merge')],
  },
  {
    name: 'a patch as text/plain',
    method: 'PATCH',
    path: (w) => `/api/v1/jobs/${w.probe}`,
    headers: () => ({ 'content-type': 'text/plain' }),
    body: () => ({ paused: false }),
    status: 415,
    type: 'unsupported-media-type',
    field: 'header.content-type',
  },
  {
    name: 'a patch as json-patch',
    method: 'PATCH',
    path: (w) => `/api/v1/jobs/${w.probe}`,
    headers: () => ({ 'content-type': 'application/json-patch+json' }),
    body: () => [{ op: 'replace', path: '/paused', value: false }],
    status: 415,
    type: 'unsupported-media-type',
    field: 'header.content-type',
  },
  {
    name: 'terminate a run as text/plain',
    method: 'POST',
    path: (w) => `/api/v1/runs/${w.foreignWorkflow}/terminate`,
    headers: () => ({ 'content-type': 'text/plain' }),
    body: () => ({ reason: 'x' }),
    status: 415,
    type: 'unsupported-media-type',
    field: 'header.content-type',
  },
  // SSRF: HTTP jobs aimed at cloud metadata or link-local, in any disguise (the egress policy).
  createRow('an HTTP job aimed at cloud metadata', 'task.url', () => ({
    task: { type: 'http', url: 'http://169.254.169.254/latest/meta-data/iam/' },
  })),
  createRow('an HTTP job aimed at metadata, as a decimal address', 'task.url', () => ({
    task: { type: 'http', url: 'http://2852039166/' },
  })),
  createRow('an HTTP job aimed at metadata, as IPv4-mapped IPv6', 'task.url', () => ({
    task: { type: 'http', url: 'http://[::ffff:169.254.169.254]/' },
  })),
  {
    name: 'a patch aiming the probe at metadata',
    method: 'PATCH',
    path: (w) => `/api/v1/jobs/${w.probe}`,
    body: () => ({ task: { type: 'http', url: 'http://0xa9fea9fe/' } }),
    status: 400,
    type: 'validation',
    field: 'task.url',
  },
  // Secrets: the API's placeholder for a hidden header value is never stored as a value.
  createRow("a header value that is the API's redaction placeholder", 'task.headers.authorization', () => ({
    task: { type: 'http', url: 'https://example.com/', headers: { authorization: '[redacted]' } },
  })),
  createRow('a secret reference with a bad name', 'task.headers.authorization.secret', () => ({
    task: { type: 'http', url: 'https://example.com/', headers: { authorization: { secret: 'lower-case' } } },
  })),
  // Charsets: JSON is UTF-8.
  {
    name: 'a create in latin1',
    method: 'POST',
    path: () => '/api/v1/jobs',
    headers: () => ({ 'content-type': 'application/json; charset=latin1' }),
    body: (w) => good(w.fresh('latin1')),
    status: 415,
    type: 'unsupported-media-type',
    field: 'header.content-type',
    detail: /latin1/,
    absent: (w) => [w.fresh('latin1')],
  },
  {
    name: 'a create in utf-7',
    method: 'POST',
    path: () => '/api/v1/jobs',
    headers: () => ({ 'content-type': 'application/json;charset="UTF-7"' }),
    body: (w) => good(w.fresh('utf7')),
    status: 415,
    type: 'unsupported-media-type',
    field: 'header.content-type',
    absent: (w) => [w.fresh('utf7')],
  },
  {
    name: 'a patch in utf-16',
    method: 'PATCH',
    path: (w) => `/api/v1/jobs/${w.probe}`,
    headers: () => ({ 'content-type': 'application/merge-patch+json; charset=utf-16' }),
    body: () => ({ paused: false }),
    status: 415,
    type: 'unsupported-media-type',
    field: 'header.content-type',
  },
  {
    name: 'an unknown content encoding',
    method: 'POST',
    path: (w) => `/api/v1/jobs/${w.probe}/unpause`,
    headers: () => ({ 'content-encoding': 'x-squash' }),
    body: () => ({}),
    status: 415,
    type: 'unsupported-media-type',
    field: 'header.content-encoding',
  },
  // Keyless mode: this machine's clients only (DNS rebinding, other origins).
  {
    name: 'a read under a rebound host name',
    method: 'GET',
    path: () => '/api/v1/jobs',
    headers: (w) => ({ host: `attacker.example:${w.api.port}` }),
    status: 403,
    type: 'forbidden-host',
    field: 'header.host',
  },
  {
    name: 'a write under a rebound host name',
    method: 'POST',
    path: (w) => `/api/v1/jobs/${w.probe}/unpause`,
    headers: (w) => ({ host: `attacker.example:${w.api.port}` }),
    body: () => ({}),
    status: 403,
    type: 'forbidden-host',
    field: 'header.host',
  },
  {
    name: 'a host that starts like loopback',
    method: 'GET',
    path: (w) => `/api/v1/jobs/${w.probe}`,
    headers: (w) => ({ host: `127.0.0.1.nip.io:${w.api.port}` }),
    status: 403,
    type: 'forbidden-host',
    field: 'header.host',
  },
  {
    name: 'a host of localhost under another domain',
    method: 'GET',
    path: () => '/openapi.json',
    headers: () => ({ host: 'localhost.attacker.example' }),
    status: 403,
    type: 'forbidden-host',
    field: 'header.host',
  },
  {
    name: 'a write from a foreign origin',
    method: 'POST',
    path: (w) => `/api/v1/jobs/${w.probe}/unpause`,
    headers: () => ({ origin: 'https://attacker.example' }),
    body: () => ({}),
    status: 403,
    type: 'forbidden-origin',
    field: 'header.origin',
  },
  {
    name: 'a bodiless trigger from a foreign origin',
    method: 'POST',
    path: (w) => `/api/v1/jobs/${w.probe}/trigger`,
    headers: () => ({ origin: 'http://attacker.example' }),
    status: 403,
    type: 'forbidden-origin',
    field: 'header.origin',
  },
  {
    name: 'a write from a null origin (sandboxed page)',
    method: 'DELETE',
    path: (w) => `/api/v1/jobs/${w.probe}`,
    headers: () => ({ origin: 'null' }),
    status: 403,
    type: 'forbidden-origin',
    field: 'header.origin',
  },
  {
    name: 'a read from another loopback port',
    method: 'GET',
    path: () => '/api/v1/jobs',
    headers: (w) => ({ origin: `http://localhost:${w.api.port + 1}` }),
    status: 403,
    type: 'forbidden-origin',
    field: 'header.origin',
  },
  // Keys that steer prototypes, at any depth, and bodies nested past any use.
  {
    name: '__proto__ at the top of a create',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: (w) => JSON.stringify(good(w.fresh('proto'))).replace(/}$/, ',"__proto__":{"paused":false}}'),
    status: 400,
    type: 'validation',
    field: '__proto__',
    absent: (w) => [w.fresh('proto')],
  },
  {
    name: '__proto__ inside a patch',
    method: 'PATCH',
    path: (w) => `/api/v1/jobs/${w.probe}`,
    headers: () => ({ 'content-type': 'application/merge-patch+json' }),
    body: () => '{"task":{"__proto__":{"type":"fails"}}}',
    status: 400,
    type: 'validation',
    field: 'task.__proto__',
  },
  {
    name: 'constructor in a calendar',
    method: 'PATCH',
    path: (w) => `/api/v1/jobs/${w.probe}`,
    body: () => '{"schedule":{"calendars":[{"hour":"3","constructor":{"prototype":{"x":1}}}]}}',
    status: 400,
    type: 'validation',
    field: 'schedule.calendars.0.constructor',
  },
  {
    name: 'prototype deep in task args',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: (w) =>
      JSON.stringify(good(w.fresh('prototype'), { task: { type: 'ok', args: { a: [{ b: { prototype: 1 } }] } } })),
    status: 400,
    type: 'validation',
    field: 'task.args.a.0.b.prototype',
    absent: (w) => [w.fresh('prototype')],
  },
  {
    name: 'a body nested 40 deep',
    method: 'POST',
    path: (w) => `/api/v1/jobs/${w.probe}/pause`,
    body: () => nested(40),
    status: 400,
    type: 'validation',
    detail: /nested more than 32/,
  },
  // Every duration in range: zero would wedge the run in a workflow-task failure loop.
  createRow(
    'retry.initialInterval of 0s',
    'retry.initialInterval',
    () => ({ retry: { initialInterval: '0s' } }),
    /zero/,
  ),
  createRow(
    'timeouts.startToClose of 0s',
    'timeouts.startToClose',
    () => ({ timeouts: { startToClose: '0s' } }),
    /zero/,
  ),
  createRow('timeouts.scheduleToClose of 0', 'timeouts.scheduleToClose', () => ({ timeouts: { scheduleToClose: 0 } })),
  createRow('timeouts.heartbeat under 1s', 'timeouts.heartbeat', () => ({ timeouts: { heartbeat: '500ms' } })),
  createRow('timeouts.startToClose of -1000', 'timeouts.startToClose', () => ({ timeouts: { startToClose: -1000 } })),
  createRow(
    'retry.initialInterval of 1e15 ms',
    'retry.initialInterval',
    () => ({ retry: { initialInterval: 1e15 } }),
    /at most 24\.8d/,
  ),
  createRow("retry.maximumInterval over Node's timer limit", 'retry.maximumInterval', () => ({
    retry: { maximumInterval: '25d' },
  })),
  createRow("an http task timeout over Node's timer limit", 'task.timeout', () => ({
    task: { type: 'http', url: 'http://127.0.0.1:9/', timeout: '4w' },
  })),
  createRow('breaker.openFor of 0s', 'breaker.openFor', () => ({ breaker: { key: 'hostile', openFor: '0s' } })),
  createRow('a breaker window of 1e15 ms', 'breaker.failureRate.window', () => ({
    breaker: { key: 'hostile', failureRate: { threshold: 0.5, minimumCalls: 5, window: 1e15 } },
  })),
  createRow('fallback.maxStaleness of 0s', 'fallback.maxStaleness', () => ({
    breaker: { key: 'hostile' },
    fallback: { type: 'cache', maxStaleness: '0s' },
  })),
  createRow('an interval of 1e18 ms', 'schedule.intervals.0.every', () => ({
    schedule: { intervals: [{ every: 1e18 }] },
  })),
  createRow('a jitter over 100 years', 'schedule.jitter', () => ({
    schedule: { intervals: [{ every: '1h' }], jitter: '6000w' },
  })),
  createRow('a catch-up window of 0s', 'policies.catchupWindow', () => ({ policies: { catchupWindow: '0s' } })),
  patchRow('a patch to retry.initialInterval 0s', 'retry.initialInterval', { retry: { initialInterval: '0s' } }),
  // Numbers in range: negative, huge, and Infinity (which JSON.parse makes of 1e400).
  createRow('retry.maximumAttempts over int32', 'retry.maximumAttempts', () => ({ retry: { maximumAttempts: 5e9 } })),
  createRow('retry.backoffCoefficient of 1e300', 'retry.backoffCoefficient', () => ({
    retry: { backoffCoefficient: 1e300 },
  })),
  {
    name: 'retry.backoffCoefficient of 1e400 (Infinity)',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: (w) => JSON.stringify(good(w.fresh('inf'))).replace(/}$/, ',"retry":{"backoffCoefficient":1e400}}'),
    status: 400,
    type: 'validation',
    field: 'retry.backoffCoefficient',
    absent: (w) => [w.fresh('inf')],
  },
  createRow('a negative failure threshold', 'breaker.failureThreshold', () => ({
    breaker: { key: 'hostile', failureThreshold: -1 },
  })),
  {
    name: 'a page size of 1e20',
    method: 'GET',
    path: () => '/api/v1/jobs?pageSize=1e20',
    status: 400,
    type: 'validation',
    field: 'query.pageSize',
  },
  // Client mistakes are 4xx, never 5xx.
  {
    name: 'a forged job-list page token',
    method: 'GET',
    path: () => `/api/v1/jobs?pageToken=${Buffer.from('forged-token-forged-token').toString('base64url')}`,
    status: 400,
    type: 'validation',
    field: 'query.pageToken',
  },
  {
    name: 'a forged run-list page token',
    method: 'GET',
    path: (w) =>
      `/api/v1/jobs/${w.probe}/runs?pageToken=${Buffer.from('forged-token-forged-token').toString('base64url')}`,
    status: 400,
    type: 'validation',
    field: 'query.pageToken',
  },
  {
    name: 'a run id that is not a UUID',
    method: 'GET',
    path: (w) => `/api/v1/runs/${w.foreignWorkflow}?runId=not-a-run`,
    status: 400,
    type: 'validation',
    field: 'query.runId',
  },
  {
    name: 'cancel with a run id that is not a UUID',
    method: 'POST',
    path: (w) => `/api/v1/runs/${w.foreignWorkflow}/cancel?runId=..%2F..`,
    body: () => ({}),
    status: 400,
    type: 'validation',
    field: 'query.runId',
  },
  {
    name: 'malformed JSON',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: () => '{"id": ',
    status: 400,
    type: 'validation',
    field: '(body)',
  },
  {
    name: 'a JSON string as the body',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: () => '"hello"',
    status: 400,
    type: 'validation',
  },
  {
    name: 'a JSON array as a create',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: () => [good('x')],
    status: 400,
    type: 'validation',
    field: 'body',
  },
  {
    name: 'a body over the size limit',
    method: 'POST',
    path: () => '/api/v1/jobs',
    body: (w) => good(w.fresh('big'), { description: 'x'.repeat(100_000) }),
    status: 413,
    type: 'too-large',
    absent: (w) => [w.fresh('big')],
  },
  {
    name: 'an Idempotency-Key with a slash',
    method: 'POST',
    path: (w) => `/api/v1/jobs/${w.probe}/trigger`,
    headers: () => ({ 'idempotency-key': 'a/b' }),
    body: () => ({}),
    status: 400,
    type: 'validation',
    field: 'header.Idempotency-Key',
  },
  // Scope: the runs API acts on job runs only.
  {
    name: "another application's workflow",
    method: 'GET',
    path: (w) => `/api/v1/runs/${w.foreignWorkflow}`,
    status: 404,
    type: 'run-not-found',
  },
  {
    name: "cancel another application's workflow",
    method: 'POST',
    path: (w) => `/api/v1/runs/${w.foreignWorkflow}/cancel`,
    body: () => ({}),
    status: 404,
    type: 'run-not-found',
  },
  {
    name: "terminate another application's workflow",
    method: 'POST',
    path: (w) => `/api/v1/runs/${w.foreignWorkflow}/terminate`,
    body: () => ({ reason: 'hostile' }),
    status: 404,
    type: 'run-not-found',
  },
  {
    name: 'terminate a breaker entity',
    method: 'POST',
    path: (w) => `/api/v1/runs/${encodeURIComponent(w.breakerWorkflow)}/terminate`,
    body: () => ({ reason: 'hostile' }),
    status: 404,
    type: 'run-not-found',
  },
  {
    name: 'cancel a job-typed workflow without SundialJobId',
    method: 'POST',
    path: (w) => `/api/v1/runs/${w.impostorWorkflow}/cancel`,
    body: () => ({}),
    status: 404,
    type: 'run-not-found',
  },
  // Scope: the jobs API acts on Sundial's schedules only.
  {
    name: 'read a foreign schedule',
    method: 'GET',
    path: (w) => `/api/v1/jobs/${w.foreignSchedule}`,
    status: 404,
    type: 'job-not-found',
  },
  {
    name: "list a foreign schedule's runs",
    method: 'GET',
    path: (w) => `/api/v1/jobs/${w.foreignSchedule}/runs`,
    status: 404,
    type: 'job-not-found',
  },
  {
    name: 'patch a foreign schedule',
    method: 'PATCH',
    path: (w) => `/api/v1/jobs/${w.foreignSchedule}`,
    body: () => ({ paused: true }),
    status: 404,
    type: 'job-not-found',
  },
  {
    name: 'delete a foreign schedule',
    method: 'DELETE',
    path: (w) => `/api/v1/jobs/${w.foreignSchedule}`,
    status: 404,
    type: 'job-not-found',
  },
  {
    name: 'pause a foreign schedule',
    method: 'POST',
    path: (w) => `/api/v1/jobs/${w.foreignSchedule}/pause`,
    body: () => ({}),
    status: 404,
    type: 'job-not-found',
  },
  {
    name: 'unpause a foreign schedule',
    method: 'POST',
    path: (w) => `/api/v1/jobs/${w.foreignSchedule}/unpause`,
    status: 404,
    type: 'job-not-found',
  },
  {
    name: 'trigger a foreign schedule',
    method: 'POST',
    path: (w) => `/api/v1/jobs/${w.foreignSchedule}/trigger`,
    body: () => ({}),
    status: 404,
    type: 'job-not-found',
  },
  {
    name: 'trigger a foreign schedule with a key',
    method: 'POST',
    path: (w) => `/api/v1/jobs/${w.foreignSchedule}/trigger`,
    headers: () => ({ 'idempotency-key': 'k1' }),
    status: 404,
    type: 'job-not-found',
    absent: (w) => [`${w.foreignSchedule}:trigger:k1`],
  },
  {
    name: 'backfill a foreign schedule',
    method: 'POST',
    path: (w) => `/api/v1/jobs/${w.foreignSchedule}/backfill`,
    body: () => ({ start: '2026-01-01T00:00:00Z', end: '2026-01-02T00:00:00Z' }),
    status: 404,
    type: 'job-not-found',
  },
];

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: any;
}

/** One request sent as written: headers (Host included) and body go out byte for byte. */
function send(
  api: RunningApi,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(body, 'utf8');
    const req = request(
      {
        host: '127.0.0.1',
        port: api.port,
        method,
        path,
        headers: { ...(payload === undefined ? {} : { 'content-length': String(payload.length) }), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text === '' ? undefined : JSON.parse(text);
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

describe('hostile input: each class is refused with its status and problem, and changes nothing', () => {
  let client: Client;
  let api: RunningApi;
  let worker: TestWorker;
  let world: World;
  const taskQueue = unique('hostile');
  const tag = unique('h');
  const created: string[] = [];
  const started: string[] = [];

  const json = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    send(
      api,
      method,
      path,
      { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body === undefined ? undefined : JSON.stringify(body),
    );

  /** What a refused request must leave as it was. */
  async function snapshot(w: World): Promise<string> {
    const job = await json('GET', `/api/v1/jobs/${w.probe}`);
    assert.equal(job.status, 200);
    // Fire times move on by themselves; what a request could change is all the rest.
    const { nextRunTimes: _moving, ...probe } = job.body as Record<string, unknown>;
    const foreign = await client.schedule.getHandle(w.foreignSchedule).describe();
    const workflows = await Promise.all(
      [w.foreignWorkflow, w.breakerWorkflow, w.impostorWorkflow].map(async (id) => {
        const d = await client.workflow.getHandle(id).describe();
        return { id, status: d.status.name, events: d.historyLength };
      }),
    );
    return JSON.stringify({
      probe,
      etag: job.headers.etag,
      foreign: {
        token: Buffer.from(foreign.raw.conflictToken ?? []).toString('hex'),
        paused: foreign.state.paused,
        note: foreign.state.note,
      },
      workflows,
    });
  }

  async function exists(id: string): Promise<boolean> {
    try {
      await client.schedule.getHandle(id).describe();
      return true;
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
    }
    try {
      await client.workflow.getHandle(id).describe();
      return true;
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
    return false;
  }

  const startForeign = async (type: string, workflowId: string) => {
    started.push(workflowId);
    // No worker polls this queue: the workflow stays running, as another application's would.
    await client.workflow.start(type, { workflowId, taskQueue: `${taskQueue}-nobody`, args: [] });
  };

  before(async () => {
    client = await testClient();
    worker = await startTestWorker(registry, taskQueue);
    api = await startTestApi(client, { registry, taskQueue });
    const probe = `${tag}-probe`;
    const foreignSchedule = `${tag}-foreign`;
    world = {
      api,
      probe,
      foreignSchedule,
      foreignWorkflow: `${tag}-foreign-wf`,
      breakerWorkflow: breakerWorkflowId(`${tag}-breaker`),
      impostorWorkflow: `${tag}-impostor`,
      fresh: (name) => `${tag}-x-${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`,
    };
    created.push(probe, foreignSchedule);
    const res = await json('POST', '/api/v1/jobs', good(probe));
    assert.equal(res.status, 201, JSON.stringify(res.body));
    await client.schedule.create({
      scheduleId: foreignSchedule,
      spec: { intervals: [{ every: '1h' }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'someoneElsesWorkflow',
        taskQueue: `${taskQueue}-nobody`,
        args: [],
      },
      state: { paused: true, note: "not Sundial's" },
    });
    await startForeign('someoneElsesWorkflow', world.foreignWorkflow);
    await startForeign(BREAKER_WORKFLOW_TYPE, world.breakerWorkflow);
    await startForeign(JOB_WORKFLOW_TYPE, world.impostorWorkflow);
  });

  after(async () => {
    for (const id of created)
      await client.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined);
    for (const id of started)
      await client.workflow
        .getHandle(id)
        .terminate('test over')
        .catch(() => undefined);
    await api?.stop();
    await worker?.stop();
    await client?.connection.close();
  });

  for (const row of rows) {
    it(`${row.name} → ${row.status}`, async () => {
      const w = world;
      const before = await snapshot(w);
      const raw = row.body?.(w);
      const body = raw === undefined ? undefined : typeof raw === 'string' ? raw : JSON.stringify(raw);
      const headers = {
        ...(body === undefined || row.noContentType === true ? {} : { 'content-type': 'application/json' }),
        ...(row.headers?.(w) ?? {}),
      };
      const res = await send(w.api, row.method, row.path(w), headers, body);

      assert.equal(res.status, row.status, JSON.stringify(res.body));
      assert.equal(String(res.headers['content-type']).split(';')[0], 'application/problem+json');
      assert.equal(res.body.status, row.status);
      assert.equal(res.body.type, row.type === 'about:blank' ? row.type : `https://sundial.dev/problems/${row.type}`);
      assert.equal(typeof res.body.title, 'string');
      assert.equal(typeof res.body.detail, 'string');
      assert.doesNotMatch(JSON.stringify(res.body), /node_modules|at [\w.]+ \(/, 'no stack trace');
      if (row.field !== undefined) {
        const paths = ((res.body.errors ?? []) as Array<{ path: string }>).map((e) => e.path);
        assert.ok(paths.includes(row.field), `errors name ${row.field}: ${JSON.stringify(res.body)}`);
      }
      if (row.detail !== undefined) assert.match(JSON.stringify(res.body), row.detail);

      assert.equal(
        await snapshot(w),
        before,
        'the probe job, the foreign schedule and the foreign workflows are unchanged',
      );
      for (const id of row.absent?.(w) ?? []) assert.equal(await exists(id), false, `${id} was not created`);
    });
  }

  it("When a request comes from the API's own origin or a loopback name, then it is served", async () => {
    const own = await send(api, 'GET', `/api/v1/jobs/${world.probe}`, { origin: api.url });
    assert.equal(own.status, 200, JSON.stringify(own.body));
    for (const host of [`localhost:${api.port}`, `[::1]:${api.port}`, `127.0.0.1:${api.port}`, 'LOCALHOST']) {
      const res = await send(api, 'GET', `/api/v1/jobs/${world.probe}`, { host });
      assert.equal(res.status, 200, `${host}: ${JSON.stringify(res.body)}`);
    }
    const patch = await send(
      api,
      'PATCH',
      `/api/v1/jobs/${world.probe}`,
      { 'content-type': 'application/json; charset=utf-8' },
      JSON.stringify({ description: 'changed as application/json' }),
    );
    assert.equal(patch.status, 200, JSON.stringify(patch.body));
    const merge = await send(
      api,
      'PATCH',
      `/api/v1/jobs/${world.probe}`,
      { 'content-type': 'application/merge-patch+json' },
      JSON.stringify({ description: '' }),
    );
    assert.equal(merge.status, 200, JSON.stringify(merge.body));
    const bare = await send(api, 'POST', `/api/v1/jobs/${world.probe}/pause`, {});
    assert.equal(bare.status, 200, 'a write without a body needs no content type');
  });

  it('When the API has keys, then a host name other than loopback is served (a proxy in front), and origins are not checked', async () => {
    const keyed = await startTestApi(client, {
      registry,
      taskQueue,
      apiKeys: [{ role: 'read', key: 'read-key-0123456789abcdef' }],
    });
    try {
      const res = await send(keyed, 'GET', `/api/v1/jobs/${world.probe}`, {
        host: 'sundial.example.com',
        origin: 'https://ops.example.com',
        authorization: 'Bearer read-key-0123456789abcdef',
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const text = await send(
        keyed,
        'POST',
        `/api/v1/jobs/${world.probe}/unpause`,
        { 'content-type': 'text/plain', authorization: 'Bearer read-key-0123456789abcdef' },
        '{}',
      );
      assert.equal(text.status, 415, 'content types are checked with keys too');
    } finally {
      await keyed.stop();
    }
  });

  it('When job a takes key b-trigger-c and job a-trigger-b takes key c, then they are two runs, not one', async () => {
    const a = `${tag}-a`;
    const ab = `${a}-trigger-b`;
    created.push(a, ab);
    for (const id of [a, ab])
      assert.equal((await json('POST', '/api/v1/jobs', good(id, { task: { type: 'ok' } }))).status, 201);
    const first = await json('POST', `/api/v1/jobs/${ab}/trigger`, {}, { 'idempotency-key': 'c' });
    assert.equal(first.status, 202, JSON.stringify(first.body));
    started.push(first.body.workflowId);
    const second = await json('POST', `/api/v1/jobs/${a}/trigger`, {}, { 'idempotency-key': 'b-trigger-c' });
    assert.equal(second.status, 202, JSON.stringify(second.body));
    started.push(second.body.workflowId);
    assert.notEqual(second.body.workflowId, first.body.workflowId);
    assert.equal(second.headers['idempotent-replayed'], undefined, "a fresh run, not the other job's");
    for (const [id, wf] of [
      [ab, first.body.workflowId],
      [a, second.body.workflowId],
    ] as const) {
      const run = await json('GET', `/api/v1/runs/${encodeURIComponent(wf)}`);
      assert.equal(run.status, 200, JSON.stringify(run.body));
      assert.equal(run.body.jobId, id);
    }
  });

  it('When a keyed run was started under the former id format, then a retry with that key finds it (idempotency across the upgrade)', async () => {
    const id = `${tag}-legacy`;
    created.push(id);
    assert.equal((await json('POST', '/api/v1/jobs', good(id))).status, 201);
    const desc = await client.schedule.getHandle(id).describe();
    const legacy = `${id}-trigger-k9`;
    started.push(legacy);
    const { SundialJobId, SundialStatus } = await import('../../src/temporal/search-attributes');
    await client.workflow.start(desc.action.workflowType, {
      workflowId: legacy,
      taskQueue: desc.action.taskQueue,
      args: desc.action.args,
      typedSearchAttributes: [
        { key: SundialJobId, value: id },
        { key: SundialStatus, value: 'running' },
      ],
    });
    const res = await json('POST', `/api/v1/jobs/${id}/trigger`, {}, { 'idempotency-key': 'k9' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.workflowId, legacy);
    assert.equal(res.headers['idempotent-replayed'], 'true');
    assert.equal(await exists(`${id}:trigger:k9`), false);
  });

  it('When a job has the smallest and largest durations and numbers the API accepts, then its runs end without a workflow-task failure', async () => {
    const jobs: Array<{ id: string; spec: Record<string, unknown>; ends: string }> = [
      {
        id: `${tag}-min-activity`,
        spec: {
          task: { type: 'fails' },
          retry: { initialInterval: '1ms', maximumInterval: '1ms', backoffCoefficient: 1, maximumAttempts: 3 },
          timeouts: { startToClose: '1ms', heartbeat: '1s' },
        },
        ends: 'failed',
      },
      {
        id: `${tag}-min-schedule-to-close`,
        spec: {
          task: { type: 'fails' },
          retry: { initialInterval: '1ms', backoffCoefficient: 100, maximumAttempts: 2 },
          timeouts: { scheduleToClose: '1ms' },
        },
        ends: 'failed',
      },
      {
        id: `${tag}-min-breaker`,
        spec: {
          task: { type: 'fails' },
          retry: { initialInterval: '1ms', maximumAttempts: 2 },
          breaker: { key: `${tag}-min`, openFor: '1ms', failureThreshold: 1 },
        },
        ends: 'failed',
      },
      {
        id: `${tag}-max`,
        spec: {
          task: { type: 'ok' },
          schedule: { intervals: [{ every: '5200w', offset: 0 }], jitter: '5200w' },
          policies: { catchupWindow: '5200w' },
          retry: {
            initialInterval: MAX_TIMER_MS,
            maximumInterval: MAX_TIMER_MS,
            backoffCoefficient: 100,
            maximumAttempts: 2 ** 31 - 1,
          },
          timeouts: { startToClose: MAX_TIMER_MS, scheduleToClose: MAX_TIMER_MS, heartbeat: MAX_TIMER_MS },
          breaker: {
            key: `${tag}-max`,
            openFor: MAX_TIMER_MS,
            failureRate: { threshold: 1, minimumCalls: 10_000, window: MAX_TIMER_MS },
          },
          fallback: { type: 'cache', maxStaleness: '5200w' },
        },
        ends: 'succeeded',
      },
    ];
    // Their breaker entities outlive the test's worker: terminated with the rest in `after`.
    started.push(breakerWorkflowId(`${tag}-min`), breakerWorkflowId(`${tag}-max`));
    for (const job of jobs) {
      created.push(job.id);
      const res = await json('POST', '/api/v1/jobs', good(job.id, job.spec));
      assert.equal(res.status, 201, `${job.id}: ${JSON.stringify(res.body)}`);
    }
    for (const job of jobs) {
      const trigger = await json('POST', `/api/v1/jobs/${job.id}/trigger`, {});
      assert.equal(trigger.status, 202);
      const wf = trigger.body.workflowId as string;
      started.push(wf);
      const run = await waitFor(`${job.id} to end`, 60_000, async () => {
        const r = await json('GET', `/api/v1/runs/${encodeURIComponent(wf)}`);
        return r.body.status === 'running' ? undefined : r.body;
      });
      assert.equal(run.status, job.ends, `${job.id}: ${JSON.stringify(run)}`);
      const history = await client.workflow.getHandle(wf).fetchHistory();
      const failedTasks = (history.events ?? []).filter((e) => e.workflowTaskFailedEventAttributes != null);
      assert.deepEqual(
        failedTasks.map((e) => e.workflowTaskFailedEventAttributes?.failure?.message),
        [],
        `${job.id}: no workflow task failed`,
      );
    }
  });
});
