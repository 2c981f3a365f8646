import { z } from 'zod';
import {
  durationRangeProblem,
  MAX_SCHEDULE_DURATION_MS,
  MAX_TIMER_MS,
  parseDuration,
  type DurationRange,
} from '../util/duration';
import { isValidTimeZone } from '../util/time-zone';
import { findSecretRefs, REDACTED, SECRET_NAME_PATTERN } from '../secrets/reference';
import { notifySchema } from '../notify/schema';
import { CALENDAR_FIELDS, checkCron, checkCronField, cronZones } from './cron';

/**
 * The JobSpec: one schema for code-defined and API-defined jobs. It is the source of the
 * TypeScript type, the runtime validation and (later) the OpenAPI document. Durations stay as
 * written here; {@link ./plan} turns them into milliseconds.
 */

/** A duration in `range`, with a message naming the bound it misses. */
const boundedDuration = (range: DurationRange) =>
  z
    .union([z.string(), z.number()])
    .superRefine((value, ctx) => {
      try {
        const problem = durationRangeProblem(parseDuration(value), range);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    })
    .describe('A duration: "500ms", "30s", "5m", "2h", "1d", or a number of milliseconds.');

/**
 * A duration a run waits on (timeouts, retry intervals, breaker times): at least 1 ms, since
 * Temporal reads zero as "unset" and a zero retry interval fails the run's workflow task on every
 * try, and at most Node's timer limit (about 24.8 days), which a worker's timers cannot exceed.
 */
const durationSchema = boundedDuration({ minMs: 1, maxMs: MAX_TIMER_MS });
/**
 * A schedule's own duration (interval, catch-up window): at least 1 ms, at most 100 years. An
 * interval's offset and the jitter may be zero: zero is what Temporal reads as none, their meaning.
 */
const scheduleDurationSchema = boundedDuration({ minMs: 1, maxMs: MAX_SCHEDULE_DURATION_MS });

const ms = (d: string | number): number => parseDuration(d);

const INT32_MAX = 2 ** 31 - 1;

/** Overlap policies, named as Temporal names them (lower case). */
export const OverlapPolicy = {
  skip: 'skip',
  buffer_one: 'buffer_one',
  buffer_all: 'buffer_all',
  cancel_other: 'cancel_other',
  terminate_other: 'terminate_other',
  allow_all: 'allow_all',
} as const;
export type OverlapPolicy = (typeof OverlapPolicy)[keyof typeof OverlapPolicy];

const calendarField = z.string().trim().min(1).optional();

const calendarSchema = z
  .object({
    second: calendarField,
    minute: calendarField,
    hour: calendarField,
    dayOfMonth: calendarField,
    month: calendarField,
    dayOfWeek: calendarField,
    year: calendarField,
    comment: z.string().optional(),
  })
  .strict()
  .superRefine((cal, ctx) => {
    for (const [key, rule] of Object.entries(CALENDAR_FIELDS)) {
      const value = cal[key as keyof typeof CALENDAR_FIELDS];
      if (value === undefined) continue;
      const problem = checkCronField(value, rule);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: problem });
    }
  })
  .describe(
    'A calendar: each field in cron field syntax ("3", "1-5", "*/15", "mon-fri", "H", "H(0-29)"). Defaults: second, minute, hour 0; the rest *.',
  );

const intervalSchema = z
  .object({
    every: scheduleDurationSchema,
    offset: boundedDuration({ minMs: 0, maxMs: MAX_SCHEDULE_DURATION_MS }).optional(),
  })
  .strict()
  .superRefine((iv, ctx) => {
    let every: number;
    try {
      every = ms(iv.every);
    } catch {
      return; // reported by the field itself
    }
    if (every < 1000) ctx.addIssue({ code: 'custom', path: ['every'], message: 'must be at least 1s' });
    if (iv.offset !== undefined) {
      try {
        if (ms(iv.offset) >= every)
          ctx.addIssue({ code: 'custom', path: ['offset'], message: 'must be shorter than every' });
      } catch {
        /* reported by the field itself */
      }
    }
  });

const oneOrMany = <T extends z.ZodType>(item: T) => z.union([item, z.array(item).min(1)]);

export const scheduleSchema = z
  .object({
    cron: oneOrMany(z.string())
      .optional()
      .describe(
        'Cron expression(s) in Temporal syntax (5 fields, 6 with year last, 7 with second first and year last; @daily etc.; @every 90m; a CRON_TZ=<zone> prefix), ' +
          'plus Jenkins-style H in any field but the year: a value derived from a hash of the job id, the same on every deploy, to spread jobs that would ' +
          'otherwise fire together. H = one value of the field (day-of-month: 1-28), H(a-b) = one value of a-b, H/n and H(a-b)/n = every n from a hashed ' +
          'offset. "H * * * *" runs hourly at the job\'s own minute. The spec keeps H; nextRunTimes show the chosen times.',
      ),
    intervals: z.array(intervalSchema).min(1).optional(),
    calendars: z.array(calendarSchema).min(1).optional(),
    timezone: z
      .string()
      .optional()
      .describe('IANA time zone for cron and calendar times. Default: UTC, or the CRON_TZ of the cron expressions.'),
    jitter: boundedDuration({ minMs: 0, maxMs: MAX_SCHEDULE_DURATION_MS })
      .optional()
      .describe(
        'Random delay added to each tick, at most this long, drawn anew for every tick (H in cron instead fixes one time per job).',
      ),
    startAt: z.iso.datetime({ offset: true }).optional(),
    endAt: z.iso.datetime({ offset: true }).optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.cron === undefined && s.intervals === undefined && s.calendars === undefined) {
      ctx.addIssue({ code: 'custom', message: 'needs at least one of cron, intervals or calendars' });
    }
    if (s.timezone !== undefined && !isValidTimeZone(s.timezone)) {
      ctx.addIssue({
        code: 'custom',
        path: ['timezone'],
        message: `unknown IANA time zone ${JSON.stringify(s.timezone)}`,
      });
    }
    const crons = s.cron === undefined ? [] : Array.isArray(s.cron) ? s.cron : [s.cron];
    crons.forEach((c, i) => {
      const problem = checkCron(c);
      if (problem !== undefined) {
        ctx.addIssue({ code: 'custom', path: Array.isArray(s.cron) ? ['cron', i] : ['cron'], message: problem });
      }
    });
    // Temporal allows one time zone per schedule: CRON_TZ prefixes must agree with each other
    // and with `timezone`.
    const zones = new Set(cronZones(crons));
    if (s.timezone !== undefined) zones.add(s.timezone);
    if (zones.size > 1) {
      ctx.addIssue({
        code: 'custom',
        path: s.timezone !== undefined ? ['timezone'] : ['cron'],
        message: `conflicting time zones ${[...zones].join(', ')}: a schedule has one time zone`,
      });
    }
    if (s.startAt !== undefined && s.endAt !== undefined && Date.parse(s.endAt) <= Date.parse(s.startAt)) {
      ctx.addIssue({ code: 'custom', path: ['endAt'], message: 'must be after startAt' });
    }
  });

export const retrySchema = z
  .object({
    initialInterval: durationSchema.default('1s'),
    backoffCoefficient: z.number().min(1, 'must be at least 1').max(100, 'must be at most 100').default(2),
    maximumInterval: durationSchema.optional().describe('Default: 100 × initialInterval, as in Temporal.'),
    // Temporal's maximumAttempts is an int32.
    maximumAttempts: z
      .number()
      .int('must be an integer')
      .min(0, 'must not be negative (0 means unlimited)')
      .max(INT32_MAX, `must be at most ${INT32_MAX}`)
      .default(3),
    nonRetryableErrorTypes: z.array(z.string().min(1)).default([]),
    jitter: z
      .number()
      .min(0, 'must be between 0 and 1')
      .max(1, 'must be between 0 and 1')
      .optional()
      .describe(
        'Each retry delay is drawn from ±this fraction of the backoff, so that runs failing together do not retry in lockstep. Default 0.2; 0 turns it off.',
      ),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.maximumInterval === undefined) return;
    try {
      if (ms(r.maximumInterval) < ms(r.initialInterval)) {
        ctx.addIssue({
          code: 'custom',
          path: ['maximumInterval'],
          message: 'must not be shorter than initialInterval',
        });
      }
    } catch {
      /* reported by the fields themselves */
    }
  });

export const timeoutsSchema = z
  .object({
    startToClose: durationSchema.optional().describe('One attempt. Default 10m when scheduleToClose is not set.'),
    scheduleToClose: durationSchema.optional().describe('All attempts together.'),
    heartbeat: boundedDuration({ minMs: 1000, maxMs: MAX_TIMER_MS })
      .optional()
      .describe('A worker that stops heartbeating this long is considered dead. At least 1s.'),
  })
  .strict();

const SECRET_NAME_MESSAGE = 'must be a secret name: 1-128 upper-case letters, digits or "_", not starting with a digit';

/** `{ "secret": "NAME" }`: resolved by the worker when an attempt runs; the spec holds only the name. */
export const secretRefSchema = z
  .object({ secret: z.string().regex(SECRET_NAME_PATTERN, SECRET_NAME_MESSAGE) })
  .strict()
  .describe(
    'A secret reference: the worker sends the value of SUNDIAL_SECRET_<NAME> (or NAME in SUNDIAL_SECRETS_FILE). Neither Temporal nor the API ever holds the value.',
  );

const headerValueSchema = z.union(
  [
    z
      .string()
      .refine((v) => !/[\r\n\0]/.test(v), 'must not contain a line break or NUL')
      .refine(
        (v) => v !== REDACTED,
        `${JSON.stringify(REDACTED)} is how the API hides a header value: send the value, a { "secret": NAME } reference, or leave the header out of a patch`,
      ),
    secretRefSchema,
  ],
  { error: 'must be a string or a secret reference { "secret": NAME }' },
);

/** The built-in HTTP task's fields (also its "args" schema in the job types list). */
export const httpRequestSchema = z
  .object({
    url: z.url({ protocol: /^https?$/, message: 'must be an absolute http(s) URL' }),
    method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']).default('GET'),
    headers: z
      .record(z.string(), headerValueSchema)
      .default({})
      .describe(
        'Header values: a string (the API never shows it back: it answers "[redacted]"), or { "secret": NAME } for a secret the worker holds.',
      ),
    body: z.union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())]).optional(),
    timeout: durationSchema.default('30s').describe('Per attempt, for the whole response.'),
    expectStatus: z.array(z.number().int().min(100).max(599)).min(1).optional().describe('Default: any 2xx.'),
    followRedirects: z
      .boolean()
      .optional()
      .describe(
        "Follow up to 5 redirects, each checked by the egress policy; the job's own headers go to the first origin only. Default false: a 3xx is the answer.",
      ),
  })
  .strict()
  .superRefine((r, ctx) => {
    // fetch refuses a body on GET and HEAD; say so here rather than on every run.
    if (r.body !== undefined && (r.method === 'GET' || r.method === 'HEAD')) {
      ctx.addIssue({ code: 'custom', path: ['body'], message: `a ${r.method} request cannot have a body` });
    }
  });

/** The built-in HTTP task: `{ type: 'http', url, method?, headers?, body?, timeout?, expectStatus? }`. */
export const httpTaskSchema = httpRequestSchema.safeExtend({ type: z.literal('http') });

/** A task of a job type defined in code: `{ type: <job type>, args? }`. */
export const codeTaskSchema = z
  .object({
    type: z.string().min(1).describe('A job type defined in code (GET /api/v1/job-types).'),
    args: z
      .unknown()
      .optional()
      .superRefine((args, ctx) => {
        for (const ref of findSecretRefs(args)) {
          if (!SECRET_NAME_PATTERN.test(ref.name))
            ctx.addIssue({ code: 'custom', path: [...ref.path, 'secret'], message: SECRET_NAME_MESSAGE });
        }
      })
      .describe(
        'Given to the job\'s code. Any { "secret": NAME } in it is replaced by the secret\'s value in the worker, when the attempt runs.',
      ),
  })
  .strict();

/** Either task, as documentation (JSON Schema) shows it. */
export const taskDocSchema = z.union([httpTaskSchema, codeTaskSchema]);

/**
 * Either task, validated by the schema its `type` chooses, so that errors name that task's
 * fields (a plain union reports whichever branch came closest).
 */
export const taskSchema = z
  .unknown()
  .transform((value, ctx): z.output<typeof httpTaskSchema> | z.output<typeof codeTaskSchema> => {
    const type = (value as { type?: unknown } | null | undefined)?.type;
    if (typeof type !== 'string' || type === '') {
      ctx.addIssue({
        code: 'custom',
        path: ['type'],
        message: 'must be "http" or the name of a job type defined in code',
      });
      return z.NEVER;
    }
    const parsed = type === 'http' ? httpTaskSchema.safeParse(value) : codeTaskSchema.safeParse(value);
    if (parsed.success) return parsed.data;
    for (const p of issuesToProblems(parsed.error.issues)) {
      ctx.addIssue({ code: 'custom', path: p.path === '(root)' ? [] : p.path.split('.'), message: p.message });
    }
    return z.NEVER;
  });

export const policiesSchema = z
  .object({
    overlap: z.enum(Object.values(OverlapPolicy) as [OverlapPolicy, ...OverlapPolicy[]]).default('skip'),
    catchupWindow: scheduleDurationSchema.default('1d').refine((d) => {
      try {
        return ms(d) >= 10_000;
      } catch {
        return true; // reported by the field itself
      }
    }, 'must be at least 10s (the server minimum)'),
    pauseOnFailure: z.boolean().default(false),
  })
  .strict();

export const JOB_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,127}$/;

/** A circuit breaker shared by every job that names the same key. */
export const breakerSchema = z
  .object({
    key: z.string().regex(JOB_ID_PATTERN, 'must be 1-128 lower-case letters, digits, ".", "_" or "-"'),
    failureThreshold: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(5)
      .describe('Consecutive failed attempts that open the breaker.'),
    failureRate: z
      .object({
        threshold: z.number().gt(0).max(1).describe('Failed share of calls (0-1) that opens the breaker.'),
        minimumCalls: z.number().int().min(1).max(10_000),
        window: durationSchema,
      })
      .strict()
      .optional(),
    openFor: durationSchema
      .default('30s')
      .describe('How long the breaker stays open before probing; doubles on each failed probe, up to 10 minutes.'),
    halfOpenProbes: z
      .number()
      .int()
      .min(1)
      .max(100)
      .default(1)
      .describe('Runs that may probe the dependency at once while half-open.'),
  })
  .strict();

/** What an open breaker serves instead of calling the dependency. */
export const fallbackSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('cache'),
      maxStaleness: scheduleDurationSchema
        .optional()
        .describe('An older cached result is not served: the run fails with CircuitOpen.'),
    })
    .strict(),
  z
    .object({ type: z.literal('function') })
    .strict()
    .describe("A code job's own fallback function (defineJob's fallbackRun)."),
]);

/** How an attempt runs: a regular activity (the default), or a local activity inside the run's workflow task. */
export const Execution = { activity: 'activity', local: 'local' } as const;
export type Execution = (typeof Execution)[keyof typeof Execution];

/**
 * The longest attempt `execution: 'local'` allows. A local activity runs inside the workflow
 * task; one longer than the task's 10 s timeout makes the worker extend that task every few
 * seconds, and a worker that dies mid-attempt is noticed only when the task times out.
 */
export const LOCAL_MAX_START_TO_CLOSE_MS = 60_000;
/** What the HTTP task adds to its request timeout for the attempt's own timeout. */
export const HTTP_ATTEMPT_MARGIN_MS = 5_000;
/** Redirects an HTTP task with `followRedirects` follows. */
export const HTTP_MAX_REDIRECTS = 5;

export const jobSpecSchema = z
  .object({
    id: z
      .string()
      .regex(
        JOB_ID_PATTERN,
        'must be 1-128 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit',
      ),
    description: z.string().max(2000).default(''),
    schedule: scheduleSchema,
    policies: policiesSchema.default({ overlap: 'skip', catchupWindow: '1d', pauseOnFailure: false }),
    paused: z.boolean().default(false).describe('Create the schedule paused.'),
    retry: retrySchema.default({
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumAttempts: 3,
      nonRetryableErrorTypes: [],
    }),
    timeouts: timeoutsSchema.default({}),
    task: taskSchema,
    breaker: breakerSchema.optional(),
    fallback: fallbackSchema.optional(),
    notify: notifySchema.optional(),
    execution: z
      .enum([Execution.activity, Execution.local])
      .optional()
      .describe(
        'How each attempt runs. "activity" (default): a regular activity. "local": a local activity in the run\'s workflow task, cheaper for the server; ' +
          'attempts of at most 1m (timeouts.startToClose, default 1m), no heartbeat timeout; a worker that dies mid-attempt is noticed after the 10 s workflow task timeout.',
      ),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if (spec.fallback !== undefined && spec.breaker === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['fallback'],
        message: 'a fallback is served when a breaker is open: add a breaker',
      });
    }
    if (spec.execution === Execution.local) checkLocalExecution(spec, ctx);
  });

/** What `execution: 'local'` does not allow: a heartbeat timeout, an attempt over a minute. */
function checkLocalExecution(
  spec: { timeouts: z.output<typeof timeoutsSchema>; task: { type: string; timeout?: string | number } },
  ctx: z.RefinementCtx,
): void {
  const limit = `${LOCAL_MAX_START_TO_CLOSE_MS / 1000}s`;
  if (spec.timeouts.heartbeat !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['timeouts', 'heartbeat'],
      message: 'not allowed with execution "local": a local activity cannot heartbeat',
    });
  }
  try {
    if (spec.timeouts.startToClose !== undefined && ms(spec.timeouts.startToClose) > LOCAL_MAX_START_TO_CLOSE_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['timeouts', 'startToClose'],
        message: `must be at most ${limit} with execution "local"`,
      });
    }
    if (
      spec.task.type === 'http' &&
      spec.task.timeout !== undefined &&
      ms(spec.task.timeout) + HTTP_ATTEMPT_MARGIN_MS > LOCAL_MAX_START_TO_CLOSE_MS
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['task', 'timeout'],
        message: `must be at most ${(LOCAL_MAX_START_TO_CLOSE_MS - HTTP_ATTEMPT_MARGIN_MS) / 1000}s with execution "local"`,
      });
    }
  } catch {
    /* a bad duration is reported by its field */
  }
}

/** A JobSpec as a user writes it (defaults optional). */
export type JobSpecInput = Omit<z.input<typeof jobSpecSchema>, 'task'> & { task: z.input<typeof taskDocSchema> };
/** A validated JobSpec with defaults applied; durations still as written. */
export type JobSpec = z.output<typeof jobSpecSchema>;
export type TaskSpec = JobSpec['task'];
export type HttpTaskSpec = z.output<typeof httpTaskSchema>;
export type CodeTaskSpec = z.output<typeof codeTaskSchema>;

/** Narrows a task: `type` is a plain string for code tasks, so TypeScript cannot on its own. */
export function isHttpTask(task: TaskSpec): task is HttpTaskSpec {
  return task.type === 'http';
}
export type HttpRequestSpec = z.output<typeof httpRequestSchema>;
export type CalendarSpecInput = z.output<typeof calendarSchema>;

/** One problem with a job definition: the dotted path of the field and what is wrong. */
export interface FieldProblem {
  readonly path: string;
  readonly message: string;
}

export type SpecParseResult = { ok: true; spec: JobSpec } | { ok: false; problems: FieldProblem[] };

/** Validates a JobSpec, collecting every problem with its field path. */
export function parseJobSpec(input: unknown): SpecParseResult {
  const parsed = jobSpecSchema.safeParse(input);
  if (parsed.success) return { ok: true, spec: parsed.data };
  return { ok: false, problems: issuesToProblems(parsed.error.issues) };
}

/** zod issues as field problems; an unknown key is named itself rather than its parent. */
export function issuesToProblems(
  issues: readonly z.core.$ZodIssue[],
  prefix: readonly (string | number)[] = [],
): FieldProblem[] {
  return issues.flatMap((issue) => {
    const base = [...prefix, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: [...base, key].join('.'), message: 'unknown field' }));
    }
    return [{ path: base.join('.') || '(root)', message: issue.message }];
  });
}
