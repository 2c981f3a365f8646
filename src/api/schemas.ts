import { z } from 'zod';
import { jobSpecSchema, OverlapPolicy } from '../jobs/spec';
import { RunStatus } from '../runs/run-store';

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
    nextRunTimes: z.array(z.iso.datetime()).describe('The next 5 fire times; empty in the answer to a create (Temporal computes them a moment later).'),
    recentRuns: z.array(z.object({ workflowId: z.string(), runId: z.string(), scheduledAt: z.iso.datetime(), startedAt: z.iso.datetime() })),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime().describe('When the spec was last written (create, PATCH, deploy); pausing does not change it.'),
    webUrl: z.url(),
    warnings: z.array(z.string()),
    breakerState: breakerSchema.nullable().optional(),
  })
  .describe('A job: its spec as written plus what the schedule knows.');

export const runSchema = z
  .object({
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
    durationMs: z.number().nullable().describe('From the run\'s start to its end; null while it runs.'),
    lagMs: z.number().optional().describe("From the tick's scheduled time to the first attempt's start (finished runs)."),
    result: z.unknown().optional(),
    error: z.object({ type: z.string(), message: z.string() }).optional(),
    fallback: z
      .union([z.object({ servedFrom: z.literal('cache'), cachedAt: z.iso.datetime(), ageMs: z.number() }), z.object({ servedFrom: z.literal('function') })])
      .optional(),
    webUrl: z.url(),
  })
;

export const jobTypeSchema = z
  .object({
    name: z.string(),
    kind: z.enum(['code', 'http']),
    description: z.string(),
    argsSchema: z.record(z.string(), z.unknown()).describe('JSON Schema of the task: `args` for code types, `request` for http.'),
  })
;

export const jobPageSchema = z.object({ items: z.array(jobSchema), nextPageToken: z.string().nullable() });
export const runPageSchema = z.object({ items: z.array(runSchema), nextPageToken: z.string().nullable() });
export const jobTypeListSchema = z.object({ items: z.array(jobTypeSchema) });
export const triggerResultSchema = z.object({ workflowId: z.string().nullable(), note: z.string().optional() });
export const acceptedSchema = z.object({}).passthrough();
export const overlapSchema = z.enum(Object.values(OverlapPolicy) as [OverlapPolicy, ...OverlapPolicy[]]);

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
