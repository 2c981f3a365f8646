import { z } from 'zod';
import { jobSpecSchema, taskDocSchema, taskSchema } from '../jobs/spec';
import {
  acceptedSchema,
  breakerListSchema,
  breakerSchema,
  historyPageSchema,
  jobPageSchema,
  jobSchema,
  jobTypeListSchema,
  notificationPageSchema,
  problemSchema,
  runPageSchema,
  runSchema,
  tickPageSchema,
  tickSchema,
  triggerResultSchema,
} from './schemas';
import { JSON_MEDIA_TYPE, MERGE_PATCH_MEDIA_TYPE } from './request-guards';
import {
  backfillBody,
  cancelBody,
  historyQuery,
  IDEMPOTENCY_KEY_PATTERN,
  jobListQuery,
  noteBody,
  notificationsQuery,
  patchQuery,
  runQuery,
  runsQuery,
  terminateBody,
  ticksQuery,
  triggerBody,
} from './validation';

type Method = 'get' | 'post' | 'patch' | 'delete';

interface Operation {
  readonly method: Method;
  /** Express syntax: `/api/v1/jobs/:id`. */
  readonly path: string;
  readonly summary: string;
  readonly write: boolean;
  readonly query?: z.ZodObject;
  readonly body?: z.ZodType;
  readonly bodyRequired?: boolean;
  readonly ok: { status: number; schema?: z.ZodType; headers?: string[] };
  /** Optional request headers the route reads (besides If-Match on PATCH). */
  readonly requestHeaders?: ReadonlyArray<{ name: string; pattern: string; description: string }>;
}

/** Every route the API serves. The router test checks the router against this list. */
export const OPERATIONS: readonly Operation[] = [
  {
    method: 'get',
    path: '/healthz',
    summary: 'Liveness: 200 while the process lives.',
    write: false,
    ok: { status: 200 },
  },
  {
    method: 'get',
    path: '/readyz',
    summary: 'Readiness: 200 when Temporal answers, else 503.',
    write: false,
    ok: { status: 200 },
  },
  {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics of this process (open, like the health endpoints).',
    write: false,
    ok: { status: 200 },
  },
  { method: 'get', path: '/openapi.json', summary: 'This document.', write: false, ok: { status: 200 } },
  {
    method: 'get',
    path: '/api/v1/job-types',
    summary: 'Job types defined in code, and the built-in http type.',
    write: false,
    ok: { status: 200, schema: jobTypeListSchema },
  },
  {
    method: 'get',
    path: '/api/v1/jobs',
    summary:
      'List jobs (filters combine with AND); read from schedule listings, so a change may show a moment late: GET /jobs/{id} is exact.',
    write: false,
    query: jobListQuery,
    ok: { status: 200, schema: jobPageSchema },
  },
  {
    method: 'post',
    path: '/api/v1/jobs',
    summary: 'Create a job.',
    write: true,
    body: jobSpecSchema,
    bodyRequired: true,
    ok: { status: 201, schema: jobSchema, headers: ['Location', 'ETag'] },
  },
  {
    method: 'get',
    path: '/api/v1/jobs/:id',
    summary: 'Get a job.',
    write: false,
    ok: { status: 200, schema: jobSchema, headers: ['ETag'] },
  },
  {
    method: 'patch',
    path: '/api/v1/jobs/:id',
    summary:
      'Change a job with a JSON merge patch of its spec; If-Match for compare-and-set; code jobs need ?force=true.',
    write: true,
    query: patchQuery,
    body: z.record(z.string(), z.unknown()),
    bodyRequired: true,
    ok: { status: 200, schema: jobSchema, headers: ['ETag'] },
  },
  {
    method: 'delete',
    path: '/api/v1/jobs/:id',
    summary: 'Delete a job (its past runs stay).',
    write: true,
    ok: { status: 204 },
  },
  {
    method: 'post',
    path: '/api/v1/jobs/:id/pause',
    summary: 'Pause with an optional note.',
    write: true,
    body: noteBody,
    ok: { status: 200, schema: jobSchema },
  },
  {
    method: 'post',
    path: '/api/v1/jobs/:id/unpause',
    summary: 'Unpause with an optional note.',
    write: true,
    body: noteBody,
    ok: { status: 200, schema: jobSchema },
  },
  {
    method: 'post',
    path: '/api/v1/jobs/:id/trigger',
    summary:
      "Run now (default overlap allow_all), optionally with `args` overriding the job's for this run only and a `reason`; the run records who (API key id), why and the overrides. With an Idempotency-Key, safe to retry: one run per key (the same key with another body: 422).",
    write: true,
    body: triggerBody,
    requestHeaders: [
      {
        name: 'Idempotency-Key',
        pattern: IDEMPOTENCY_KEY_PATTERN.source,
        description:
          'Makes the trigger safe to send again (e.g. to another replica after a lost answer): the run is `<jobId>:trigger:<key>`, and a repeat with the same body answers with that run (header `Idempotent-Replayed: true`) instead of starting another; the same key with other args or reason is refused with 422. Only with overlap allow_all.',
      },
    ],
    ok: { status: 202, schema: triggerResultSchema, headers: ['Idempotent-Replayed'] },
  },
  {
    method: 'post',
    path: '/api/v1/jobs/:id/backfill',
    summary: 'Run the ticks of a past range (at most 31 days).',
    write: true,
    body: backfillBody,
    bodyRequired: true,
    ok: { status: 202, schema: acceptedSchema },
  },
  {
    method: 'get',
    path: '/api/v1/breakers',
    summary: 'All circuit breakers in use.',
    write: false,
    ok: { status: 200, schema: breakerListSchema },
  },
  {
    method: 'get',
    path: '/api/v1/breakers/:key',
    summary: "A breaker's state.",
    write: false,
    ok: { status: 200, schema: breakerSchema },
  },
  {
    method: 'post',
    path: '/api/v1/breakers/:key/reset',
    summary: 'Close a breaker now.',
    write: true,
    ok: { status: 200, schema: breakerSchema },
  },
  {
    method: 'post',
    path: '/api/v1/breakers/:key/open',
    summary: 'Open a breaker now.',
    write: true,
    ok: { status: 200, schema: breakerSchema },
  },
  {
    method: 'get',
    path: '/api/v1/jobs/:id/history',
    summary:
      'The audit of a job: every create, patch, pause, unpause, trigger, backfill and delete over the API, newest first, with the API key id and a diff (docs/audit.md).',
    write: false,
    query: historyQuery,
    ok: { status: 200, schema: historyPageSchema },
  },
  {
    method: 'get',
    path: '/api/v1/jobs/:id/runs',
    summary: "A job's runs, newest first.",
    write: false,
    query: runsQuery,
    ok: { status: 200, schema: runPageSchema },
  },
  {
    method: 'get',
    path: '/api/v1/jobs/:id/notifications',
    summary:
      "A job's notifications (one per run and event, with each delivery's state), newest first; from visibility, so a moment late.",
    write: false,
    query: notificationsQuery,
    ok: { status: 200, schema: notificationPageSchema },
  },
  {
    method: 'get',
    path: '/api/v1/jobs/:id/ticks',
    summary:
      "Every time the job was due in [from, to) (at most 31 days), oldest first, with what became of it: ran, running, skipped_overlap, missed_catchup, paused, before_created, not_yet, and a reason. From the schedule's current spec (docs/ticks.md).",
    write: false,
    query: ticksQuery,
    ok: { status: 200, schema: tickPageSchema },
  },
  {
    method: 'get',
    path: '/api/v1/runs/:workflowId',
    summary: 'One run, with its result or error.',
    write: false,
    query: runQuery,
    ok: { status: 200, schema: runSchema },
  },
  {
    method: 'post',
    path: '/api/v1/runs/:workflowId/cancel',
    summary: 'Request cancellation of a run.',
    write: true,
    query: runQuery,
    body: cancelBody,
    ok: { status: 202, schema: acceptedSchema },
  },
  {
    method: 'post',
    path: '/api/v1/runs/:workflowId/terminate',
    summary: 'Terminate a run.',
    write: true,
    query: runQuery,
    body: terminateBody,
    bodyRequired: true,
    ok: { status: 202, schema: acceptedSchema },
  },
];

/** The task is validated by a transform (see jobs/spec); documents show the union it accepts. */
const override = (ctx: { zodSchema: unknown; jsonSchema: Record<string, unknown> }): void => {
  if (ctx.zodSchema === taskSchema) {
    const { $schema: _d, ...doc } = z.toJSONSchema(taskDocSchema, { io: 'input' }) as Record<string, unknown>;
    for (const k of Object.keys(ctx.jsonSchema)) delete ctx.jsonSchema[k];
    Object.assign(ctx.jsonSchema, doc);
  }
};

const toJson = (schema: z.ZodType): Record<string, unknown> =>
  z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12', override }) as Record<
    string,
    unknown
  >;

function withoutDialect(s: Record<string, unknown>): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = s;
  return rest;
}

const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

/** Builds the OpenAPI 3.1 document from the same schemas the server validates with. */
export function openApiDocument(serverUrl?: string): Record<string, unknown> {
  const registry = z.registry<{ id?: string }>();
  const named: Record<string, z.ZodType> = {
    Problem: problemSchema,
    JobSpec: jobSpecSchema,
    Job: jobSchema,
    Run: runSchema,
    JobPage: jobPageSchema,
    RunPage: runPageSchema,
    NotificationPage: notificationPageSchema,
    Tick: tickSchema,
    TickPage: tickPageSchema,
    JobTypeList: jobTypeListSchema,
    TriggerResult: triggerResultSchema,
    HistoryPage: historyPageSchema,
    Breaker: breakerSchema,
    BreakerList: breakerListSchema,
    Accepted: acceptedSchema,
  };
  for (const [id, schema] of Object.entries(named)) registry.add(schema, { id });
  const components = z.toJSONSchema(registry, {
    io: 'input',
    unrepresentable: 'any',
    override,
    uri: (id) => `#/components/schemas/${id}`,
  }).schemas as Record<string, Record<string, unknown>>;
  const ref = (schema: z.ZodType): Record<string, unknown> => {
    const id = Object.entries(named).find(([, s]) => s === schema)?.[0];
    return id !== undefined ? { $ref: `#/components/schemas/${id}` } : withoutDialect(toJson(schema));
  };

  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    const path = op.path.replace(/:(\w+)/g, '{$1}');
    const params: Array<Record<string, unknown>> = [...op.path.matchAll(/:(\w+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    if (op.query !== undefined) {
      for (const [name, schema] of Object.entries(op.query.shape)) {
        params.push({ name, in: 'query', required: false, schema: withoutDialect(toJson(schema as z.ZodType)) });
      }
    }
    if (op.method === 'patch')
      params.push({
        name: 'If-Match',
        in: 'header',
        required: false,
        schema: { type: 'string' },
        description: 'ETag of the version this change is based on.',
      });
    for (const h of op.requestHeaders ?? [])
      params.push({
        name: h.name,
        in: 'header',
        required: false,
        schema: { type: 'string', pattern: h.pattern },
        description: h.description,
      });
    const responses: Record<string, unknown> = {
      [String(op.ok.status)]: {
        description: 'OK',
        ...(op.ok.schema === undefined ? {} : { content: { 'application/json': { schema: ref(op.ok.schema) } } }),
        ...(op.ok.headers === undefined
          ? {}
          : { headers: Object.fromEntries(op.ok.headers.map((h) => [h, { schema: { type: 'string' } }])) }),
      },
    };
    if (op.path.startsWith('/api/')) {
      responses['400'] = problemResponse('Invalid request: `errors` names each bad field.');
      responses['401'] = problemResponse('Missing or unknown API key.');
      responses['403'] = problemResponse(
        op.write
          ? 'A read key on a write route; without API keys, a Host that is not loopback or a foreign Origin.'
          : 'Without API keys: a Host that is not loopback or a foreign Origin.',
      );
      if (op.path.includes(':')) responses['404'] = problemResponse('No such job or run.');
      if (op.method === 'post' && op.path === '/api/v1/jobs')
        responses['409'] = problemResponse('A job with this id exists.');
      if (op.path === '/api/v1/jobs/:id/trigger')
        responses['422'] = problemResponse(
          'The Idempotency-Key was used for a trigger with another body (args, reason).',
        );
      if (op.method === 'patch') {
        responses['409'] = problemResponse('The job is defined in code (use ?force=true).');
        responses['412'] = problemResponse('If-Match is stale.');
      }
      if (op.body !== undefined) {
        responses['413'] = problemResponse('The body is over the size limit.');
        responses['415'] = problemResponse(
          `A body that is not ${op.method === 'patch' ? 'application/merge-patch+json or application/json' : 'application/json'} in UTF-8.`,
        );
      }
      responses['503'] = problemResponse(
        op.write && op.path.startsWith('/api/v1/jobs')
          ? 'Temporal is unavailable, or the change could not be recorded in the audit (and was not made); see Retry-After.'
          : 'Temporal is unavailable; see Retry-After.',
      );
    } else if (op.path === '/readyz') {
      responses['503'] = problemResponse('Temporal is unavailable.');
    }
    paths[path] = {
      ...(paths[path] ?? {}),
      [op.method]: {
        summary: op.summary,
        operationId: `${op.method}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
        ...(params.length > 0 ? { parameters: params } : {}),
        ...(op.body === undefined
          ? {}
          : {
              requestBody: {
                required: op.bodyRequired === true,
                // The only media types a write accepts (else 415): a web page cannot send them without a CORS preflight.
                content: Object.fromEntries(
                  (op.method === 'patch' ? [MERGE_PATCH_MEDIA_TYPE, JSON_MEDIA_TYPE] : [JSON_MEDIA_TYPE]).map((t) => [
                    t,
                    { schema: ref(op.body!) },
                  ]),
                ),
              },
            }),
        responses,
        ...(op.path.startsWith('/api/') ? { security: [{ apiKey: [] }] } : {}),
      },
    };
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'Sundial API',
      version: '1.0.0',
      description: 'Manage scheduled jobs on Temporal: create, change, pause, trigger, backfill, inspect runs.',
    },
    ...(serverUrl === undefined ? {} : { servers: [{ url: serverUrl }] }),
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API key from SUNDIAL_API_KEYS (role read or write).',
        },
      },
    },
  };
}
