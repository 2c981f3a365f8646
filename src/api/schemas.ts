import { z } from 'zod';
import { jobSpecSchema, OverlapPolicy } from '../jobs/spec';
import { RunStatus } from '../runs/run-store';
import { AuditAction } from '../audit/contract';
import { TickState } from '../ticks/classify';

/**
 * Response shapes, for the OpenAPI document. Requests are described by the very schemas the
 * server validates with (./validation and the JobSpec); these describe what it sends back.
 */

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .describe('RFC 9457 problem document.');

export const breakerSchema = z.object({
  key: z.string(),
  state: z.enum(['closed', 'open', 'half_open']),
  failures: z.number().int(),
  openedAt: z.iso.datetime().optional(),
  nextProbeAt: z.iso.datetime().optional(),
  reason: z.string().optional(),
  jobs: z.array(z.string()),
  transitions: z
    .object({ closed: z.number().int(), half_open: z.number().int(), open: z.number().int() })
    .describe('Transitions into each state since the breaker was first used.'),
});
export const breakerListSchema = z.object({ items: z.array(breakerSchema) });

export const jobSchema = jobSpecSchema
  .safeExtend({
    origin: z.enum(['code', 'api']),
    state: z.object({ paused: z.boolean(), note: z.string().nullable() }),
    nextRunTimes: z
      .array(z.iso.datetime())
      .describe('The next 5 fire times; empty in the answer to a create (Temporal computes them a moment later).'),
    recentRuns: z.array(
      z.object({
        workflowId: z.string(),
        runId: z.string(),
        scheduledAt: z.iso.datetime(),
        startedAt: z.iso.datetime(),
      }),
    ),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso
      .datetime()
      .describe('When the spec was last written (create, PATCH, deploy); pausing does not change it.'),
    webUrl: z.url(),
    warnings: z.array(z.string()),
    breakerState: breakerSchema.nullable().optional(),
  })
  .describe('A job: its spec as written plus what the schedule knows.');

/** Who made a change or triggered a run. */
export const actorSchema = z
  .object({
    keyId: z
      .string()
      .nullable()
      .describe(
        "The API key's id: the first 12 hex digits of its SHA-256, never the key; null on an API without keys (loopback only).",
      ),
    role: z.enum(['read', 'write']).nullable(),
  })
  .describe('Who: an API key id, never the key.');

export const runSchema = z.object({
  workflowId: z.string(),
  runId: z.string(),
  jobId: z.string().nullable(),
  status: z.enum(Object.values(RunStatus) as [RunStatus, ...RunStatus[]]),
  scheduledAt: z.iso.datetime(),
  startedAt: z.iso.datetime(),
  closedAt: z.iso.datetime().nullable(),
  attempts: z.number().int().nullable(),
  attemptOutcomes: z
    .object({ success: z.number().int(), retryable_error: z.number().int(), non_retryable_error: z.number().int() })
    .optional()
    .describe('How the attempts ended (finished runs).'),
  durationMs: z.number().nullable().describe("From the run's start to its end; null while it runs."),
  lagMs: z.number().optional().describe("From the tick's scheduled time to the first attempt's start (finished runs)."),
  result: z.unknown().optional(),
  error: z.object({ type: z.string(), message: z.string() }).optional(),
  fallback: z
    .union([
      z.object({ servedFrom: z.literal('cache'), cachedAt: z.iso.datetime(), ageMs: z.number() }),
      z.object({ servedFrom: z.literal('function') }),
    ])
    .optional(),
  trigger: z
    .object({
      by: actorSchema,
      at: z.iso.datetime(),
      reason: z.string().optional(),
      overrides: z
        .unknown()
        .optional()
        .describe("The trigger's `args` as sent (header values redacted; secret references stay references)."),
      idempotencyKey: z.string().optional(),
    })
    .optional()
    .describe(
      "For a run started by hand over the API with args, a reason or an Idempotency-Key (directly, not through the schedule): who, when, why, with what. Also in the run's Temporal memo `sundialTrigger`.",
    ),
  webUrl: z.url(),
});

export const notificationSchema = z
  .object({
    event: z
      .string()
      .describe('The event as the rule names it: failed, degraded, recovered, consecutive_failures:N, late:DURATION.'),
    workflowId: z.string().describe('The run it is about.'),
    runId: z.string(),
    status: z
      .enum(['pending', 'delivered', 'failed'])
      .describe('pending while any delivery is being tried (with retries, up to a day).'),
    deliveries: z.array(
      z.object({
        key: z
          .string()
          .describe('Idempotency key: the webhook-id and Idempotency-Key headers, the same on every retry.'),
        event: z.string(),
        target: z.enum(['webhook', 'slack']),
        state: z.enum(['pending', 'delivered', 'failed']),
        attempts: z.number().int().optional(),
        httpStatus: z.number().int().optional(),
        error: z.object({ type: z.string(), message: z.string() }).optional(),
        deliveredAt: z.iso.datetime().optional(),
      }),
    ),
    startedAt: z.iso.datetime(),
    closedAt: z.iso.datetime().nullable(),
    webUrl: z.url().describe('The notification workflow in the Web UI: pending attempts and their last failure.'),
  })
  .describe('One event of one run, and its deliveries.');
export const notificationPageSchema = z.object({
  items: z.array(notificationSchema),
  nextPageToken: z.string().nullable(),
});

export const jobTypeSchema = z.object({
  name: z.string(),
  kind: z.enum(['code', 'http']),
  description: z.string(),
  argsSchema: z
    .record(z.string(), z.unknown())
    .describe('JSON Schema of the task: `args` for code types, `request` for http.'),
});

export const jobPageSchema = z.object({ items: z.array(jobSchema), nextPageToken: z.string().nullable() });
export const runPageSchema = z.object({ items: z.array(runSchema), nextPageToken: z.string().nullable() });
export const jobTypeListSchema = z.object({ items: z.array(jobTypeSchema) });
export const triggerResultSchema = z.object({ workflowId: z.string().nullable(), note: z.string().optional() });
export const acceptedSchema = z.object({}).passthrough();
export const overlapSchema = z.enum(Object.values(OverlapPolicy) as [OverlapPolicy, ...OverlapPolicy[]]);

export const auditEntrySchema = z
  .object({
    seq: z.number().int().describe('1, 2, 3, ... in the order the changes were recorded.'),
    id: z.string(),
    action: z.enum(Object.values(AuditAction) as [AuditAction, ...AuditAction[]]),
    by: actorSchema,
    at: z.iso.datetime().describe('When the change was recorded, just before it was made.'),
    outcome: z
      .enum(['pending', 'applied', 'failed'])
      .describe(
        'pending: recorded before the change, its end never recorded (the change may or may not have been made; the job says which).',
      ),
    status: z.number().int().optional().describe('The HTTP status the route answered.'),
    completedAt: z.iso.datetime().optional(),
    request: z
      .unknown()
      .optional()
      .describe(
        "The request as sent: a merge patch, a note, a trigger's body, a backfill range (header values redacted).",
      ),
    diff: z
      .unknown()
      .optional()
      .describe(
        'What changed, as a JSON merge patch of the job (spec, or state for pause/unpause); null for a delete.',
      ),
    details: z.record(z.string(), z.unknown()).optional().describe('The run a trigger started.'),
    truncated: z.boolean().optional().describe('The request or diff was over 16 KiB (JSON) and left out.'),
  })
  .describe('One change to a job over the API.');
export const historyPageSchema = z.object({
  jobId: z.string(),
  items: z.array(auditEntrySchema).describe('Newest first.'),
  nextPageToken: z.string().nullable(),
  dropped: z.number().int().describe('Oldest entries dropped to keep the audit bounded (1,000 entries, 512 KiB).'),
});
const tickRunSchema = z.object({
  workflowId: z.string(),
  runId: z.string(),
  status: z.enum(Object.values(RunStatus) as [RunStatus, ...RunStatus[]]),
  webUrl: z.url(),
});

export const tickSchema = z
  .object({
    at: z.iso
      .datetime()
      .describe("When the job was due (the schedule's matching time; with jitter, the jittered time)."),
    state: z.enum(Object.values(TickState) as [TickState, ...TickState[]]),
    reason: z.string().describe('One line: why the tick is in this state, and what was inferred.'),
    run: tickRunSchema.optional().describe('ran, running: the run this tick started (GET /api/v1/runs/{workflowId}).'),
    lagMs: z.number().optional().describe("ran, running: from the tick to the first attempt's start."),
    blockedBy: tickRunSchema.optional().describe('skipped_overlap: the run still open at the tick.'),
  })
  .describe('One time the job was due, and what became of it.');
export const tickPageSchema = z.object({ items: z.array(tickSchema), nextPageToken: z.string().nullable() });
/**
 * The API's answers as TypeScript types, derived from the schemas above (the CLI reads them).
 * Input types: a job's spec is sent as written, so the fields a default fills may be absent.
 */
export type ProblemDocument = z.input<typeof problemSchema>;
export type JobResponse = z.input<typeof jobSchema>;
export type RunResponse = z.input<typeof runSchema>;
export type JobPage = z.input<typeof jobPageSchema>;
export type RunPage = z.input<typeof runPageSchema>;
export type TriggerResult = z.input<typeof triggerResultSchema>;
export type TickPage = z.input<typeof tickPageSchema>;
export type HistoryPage = z.input<typeof historyPageSchema>;
