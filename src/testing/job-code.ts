import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { codeToRun, jobContext } from '../activities/code-task';
import { errorTypeName } from '../activities/errors';
import type { DefinedJob, JobContext } from '../jobs/define';
import { NonRetryableJobError } from '../jobs/errors';
import { JobRegistry } from '../jobs/registry';
import type { RunError } from '../jobs/run-types';
import { createLogger, type Logger } from '../observability/logger';
import { referencedValues, scrubbingLogs, scrubError, scrubValue } from '../secrets/resolve';

/** How {@link runJobCode} calls a job's code: each field is what a real attempt would get. */
export interface RunJobCodeOptions {
  /** The attempt's args. @default the args the job declares */
  readonly args?: unknown;
  /** 1 for the first attempt. @default 1 */
  readonly attempt?: number;
  /** @default `<jobId>-test-<uuid>` (a scheduled run's key is its workflow id, `<jobId>-<tick time>`) */
  readonly idempotencyKey?: string;
  /** When the tick was due. @default now */
  readonly scheduledAt?: Date;
  /** Aborting it aborts the context's signal, as a cancellation, a timeout or a worker shutdown would. */
  readonly signal?: AbortSignal;
  /** Values of the secret references in the args, by name, as the worker's `SUNDIAL_SECRET_<NAME>`. @default none */
  readonly secrets?: ReadonlyMap<string, string> | Readonly<Record<string, string>>;
  /** Run the job's `fallbackRun` instead of `run`, as an open breaker with `fallback: { type: 'function' }` does. @default false */
  readonly fallback?: boolean;
  /** Called on each `ctx.heartbeat(...)` with its details, as it happens (e.g. to abort after the second chunk). */
  readonly onHeartbeat?: (details: unknown) => void;
  /** The logger the context's logger is a child of. @default silent */
  readonly logger?: Logger;
}

/** How one call of a job's code ended, and what it did on the way. */
export type JobCodeOutcome = (
  | { readonly status: 'succeeded'; readonly result: unknown }
  | {
      readonly status: 'failed';
      /** As the run's outcome would report it: the error's type name and message. */
      readonly error: RunError;
      /**
       * Whether Sundial would try again (attempts permitting): false for a NonRetryableJobError,
       * an ApplicationFailure marked non-retryable, or a type the job lists in `nonRetryableErrorTypes`.
       */
      readonly retryable: boolean;
      /** What the code threw (its message scrubbed of referenced secret values, as a worker's is). */
      readonly thrown: unknown;
    }
) & {
  /** The details of each `ctx.heartbeat(...)` call, in order. */
  readonly heartbeats: readonly unknown[];
  /** The context the code was given. */
  readonly context: JobContext;
};

const silent = createLogger('silent', { write: () => undefined });

/**
 * Calls a code job's `run` (or `fallbackRun`) once, with a context built exactly as a worker's
 * attempt builds it (the same function, src/activities/code-task.ts), but without Temporal: for
 * unit tests of a job's code. The job is validated as the registry validates it; the values of
 * the secrets its args reference are scrubbed from its result, error and log lines, as a
 * worker scrubs them.
 * @throws JobDefinitionError when the job is invalid; TypeError when it is not a code job (or has no fallbackRun when `fallback` is set).
 */
export async function runJobCode(job: DefinedJob, options: RunJobCodeOptions = {}): Promise<JobCodeOutcome> {
  const registry = JobRegistry.create([job]);
  const registered = registry.get(job.spec.id)!;
  const task = registered.run.task;
  const run =
    task.type === 'code' ? codeToRun(registry, { name: task.name, useFallback: options.fallback === true }) : undefined;
  if (task.type !== 'code' || run === undefined) {
    throw new TypeError(
      `job ${JSON.stringify(job.spec.id)} has no ${options.fallback === true ? 'fallbackRun' : 'run'} function: only code jobs' code can be run without Temporal`,
    );
  }
  const heartbeats: unknown[] = [];
  const workflowId = `${job.spec.id}-test-${randomUUID()}`;
  const attempt = options.attempt ?? 1;
  const secrets = options.secrets instanceof Map ? options.secrets : new Map(Object.entries(options.secrets ?? {}));
  const args = 'args' in options ? options.args : task.args;
  // What a worker scrubs (src/activities/index.ts): the referenced secrets' values, from the
  // result, the error and the lines logged during the attempt.
  const values = secrets.size === 0 ? [] : referencedValues(args, secrets);
  const context = jobContext(
    {
      jobId: job.spec.id,
      name: task.name,
      args,
      idempotencyKey: options.idempotencyKey ?? workflowId,
      scheduledAt: (options.scheduledAt ?? new Date()).toISOString(),
    },
    attempt,
    {
      workflowId,
      runId: randomUUID(),
      signal: options.signal ?? new AbortController().signal,
      heartbeat: (details) => {
        heartbeats.push(details);
        options.onHeartbeat?.(details);
      },
    },
    options.logger ?? silent,
    secrets,
  );
  try {
    const result = await scrubbingLogs(values, async () => run(context));
    // A worker records `undefined` as null, as Temporal's payloads would.
    return { status: 'succeeded', result: scrubValue(result ?? null, values), heartbeats, context };
  } catch (thrown) {
    const err = scrubError(thrown instanceof Error ? thrown : new Error(String(thrown)), values) as Error;
    const type = err instanceof ApplicationFailure ? (err.type ?? 'Error') : errorTypeName(err);
    const nonRetryable =
      err instanceof NonRetryableJobError ||
      (err instanceof ApplicationFailure && err.nonRetryable === true) ||
      registered.run.retry.nonRetryableErrorTypes.includes(type);
    return {
      status: 'failed',
      error: { type, message: err.message },
      retryable: !nonRetryable,
      thrown,
      heartbeats,
      context,
    };
  }
}
