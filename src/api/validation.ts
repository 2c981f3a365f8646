import { z } from 'zod';
import { JOB_ID_PATTERN, OverlapPolicy } from '../jobs/spec';
import { RunStatus } from '../runs/run-store';
import { RequestValidationError } from './errors';

/** Parses a request part with a schema, or throws a 400 naming every bad field under `where`. */
export function parse<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: 'body' | 'query' | 'path' | 'header',
): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new RequestValidationError(
    // Body fields are named as in the JobSpec (`schedule.cron`); query, path and header ones by where they are.
    parsed.error.issues.map((i) => ({
      path: (where === 'body' ? i.path.map(String) : [where, ...i.path.map(String)]).join('.') || where,
      message: i.message,
    })),
  );
}

const overlap = z.enum(Object.values(OverlapPolicy) as [OverlapPolicy, ...OverlapPolicy[]]);

export const jobIdParam = z.object({
  id: z
    .string()
    .regex(JOB_ID_PATTERN, 'must be 1-100 letters, digits, ".", "_" or "-", starting with a letter or digit'),
});
export const breakerKeyParam = z.object({
  key: z.string().regex(JOB_ID_PATTERN, 'must be 1-128 lower-case letters, digits, ".", "_" or "-"'),
});
export const workflowIdParam = z.object({ workflowId: z.string().min(1).max(400) });

export const pageQuery = z
  .object({
    pageSize: z.coerce.number().int().min(1).max(100).default(20),
    pageToken: z.string().min(1).optional(),
  })
  .strict();

/** The job list's query: a page, and filters Temporal applies to the schedules it lists. */
export const jobListQuery = z
  .object({
    pageSize: z.coerce.number().int().min(1).max(500).default(20),
    pageToken: z.string().min(1).optional().describe('From the previous page, with the same filters.'),
    origin: z
      .enum(['code', 'api'])
      .optional()
      .describe('Only jobs defined in code, or only jobs created over the API.'),
    paused: z.enum(['true', 'false']).optional().describe('Only paused, or only running, jobs.'),
    idPrefix: z
      .string()
      .regex(
        JOB_ID_PATTERN,
        'must be 1-128 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit',
      )
      .optional()
      .describe('Only jobs whose id starts with this text.'),
  })
  .strict();

export const notificationsQuery = pageQuery.strict();
/** The tick ledger's query: a window [from, to) of at most 31 days, and a page of its ticks. */
export const ticksQuery = z
  .object({
    from: z.iso.datetime({ offset: true }).describe('Start of the window (inclusive), RFC 3339 with Z or an offset.'),
    to: z.iso.datetime({ offset: true }).describe('End of the window (exclusive), at most 31 days after from.'),
    pageSize: z.coerce.number().int().min(1).max(500).default(100),
    pageToken: z.string().min(1).optional().describe('From the previous page, with the same window.'),
  })
  .strict();

export const runsQuery = pageQuery
  .extend({ status: z.enum(Object.values(RunStatus) as [RunStatus, ...RunStatus[]]).optional() })
  .strict();
/** Temporal's run ids are UUIDs; anything else is a client's mistake, not a question for Temporal. */
const RUN_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const runQuery = z
  .object({ runId: z.string().regex(RUN_ID_PATTERN, 'must be a run id (a UUID)').optional() })
  .strict();
export const patchQuery = z.object({ force: z.enum(['true', 'false']).optional() }).strict();

export const noteBody = z.object({ note: z.string().max(1000).optional() }).strict();
/** The longest `reason` a trigger may give, in characters. */
export const MAX_TRIGGER_REASON = 500;
export const triggerBody = z
  .object({
    overlap: overlap.optional(),
    args: z
      .unknown()
      .optional()
      .describe(
        "Overrides for this run only, as a JSON merge patch: over a code job's args (validated by its job type's argsSchema), or over an HTTP job's request fields (url, method, headers, body, timeout, expectStatus, followRedirects). Secret references stay references. The run starts directly (not through the schedule), like a keyed trigger.",
      ),
    reason: z
      .string()
      .trim()
      .min(1)
      .max(MAX_TRIGGER_REASON)
      .optional()
      .describe('Why: recorded in the run (and its Temporal memo) with the API key id.'),
  })
  .strict();
/** The trigger's optional `Idempotency-Key`: it becomes part of the run's workflow id. */
export const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
export const triggerHeaders = z.object({
  'Idempotency-Key': z
    .string()
    .regex(IDEMPOTENCY_KEY_PATTERN, 'must be 1-128 letters, digits, ".", "_", ":" or "-" (a UUID will do)')
    .optional(),
});
export const backfillBody = z
  .object({
    start: z.iso.datetime({ offset: true }),
    end: z.iso.datetime({ offset: true }),
    overlap: overlap.optional(),
  })
  .strict();
export const terminateBody = z.object({ reason: z.string().min(1).max(1000) }).strict();
export const cancelBody = z.object({ reason: z.string().max(1000).optional() }).strict();

/** A page of a job's audit history: newest first; the token is the seq the next page starts below. */
export const historyQuery = z
  .object({
    pageSize: z.coerce.number().int().min(1).max(100).default(20),
    pageToken: z
      .string()
      .regex(/^[1-9][0-9]{0,15}$/, 'must be the nextPageToken of the previous page')
      .optional(),
  })
  .strict();
