import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { JobContext, JobHandler } from '../jobs/define';
import type { JobRegistry } from '../jobs/registry';
import type { AttemptStamp, RetryPlan, TaskResult } from '../jobs/run-types';
import type { Logger } from '../observability/logger';
import { resolveArgs } from '../secrets/resolve';
import { stampAttempt } from './attempt';
import { toActivityFailure } from './errors';

export interface CodeTaskInput {
  readonly jobId: string;
  /** The job type: its code is looked up in this worker's registry. */
  readonly name: string;
  readonly args?: unknown;
  readonly idempotencyKey: string;
  readonly scheduledAt: string;
  /** Set when the workflow runs the retries itself (breaker jobs); else Temporal's attempt. */
  readonly attempt?: number;
  /**
   * The job's retry policy, when Temporal runs the retries: the activity then sets each retryable
   * failure's next retry delay, with jitter. Absent when the workflow retries (it computes its own).
   */
  readonly retry?: RetryPlan;
  /** Run the job's fallbackRun instead of run (its breaker is open). */
  readonly useFallback?: boolean;
}

/** Heartbeat details are wrapped so the workflow can read the attempt even after a timeout. */
interface WrappedHeartbeat extends AttemptStamp {
  readonly details?: unknown;
}

/**
 * What runs an attempt provides: Temporal's activity context in a worker, the test kit's fake
 * one in a user's tests (src/testing/job-code.ts). Both build the job's context with
 * {@link jobContext}, so what job code sees in a test cannot drift from what it sees in a run.
 */
export interface AttemptHost {
  readonly workflowId: string;
  readonly runId: string;
  /** Fires when the run is cancelled, the attempt timed out, or the worker shuts down. */
  readonly signal: AbortSignal;
  /** Receives what the job passes to `ctx.heartbeat`, as the job passed it. */
  heartbeat(details: unknown): void;
}

/**
 * The context a job's code receives for one attempt of `input`: a logger bound to the run,
 * and the args with their secret references resolved (the values never travel through Temporal).
 */
export function jobContext(
  input: CodeTaskInput,
  attempt: number,
  host: AttemptHost,
  logger: Logger,
  secrets: ReadonlyMap<string, string>,
): JobContext {
  return {
    jobId: input.jobId,
    workflowId: host.workflowId,
    runId: host.runId,
    scheduledAt: new Date(input.scheduledAt),
    attempt,
    idempotencyKey: input.idempotencyKey,
    signal: host.signal,
    heartbeat: (details?: unknown) => host.heartbeat(details),
    logger: logger.child({ task_name: input.jobId, workflow_id: host.workflowId, run_id: host.runId, attempt }),
    args: resolveArgs(input.args, secrets),
  };
}

/** The code an attempt of `input` runs: the job's `run`, or its `fallbackRun` when asked; undefined when this registry has none. */
export function codeToRun(
  registry: JobRegistry,
  input: Pick<CodeTaskInput, 'name' | 'useFallback'>,
): JobHandler | undefined {
  const found = registry.codeFor(input.name);
  if (found?.mode !== 'activity') return undefined;
  return input.useFallback ? found.fallbackRun : found.run;
}

export function makeRunCodeTask(
  registry: JobRegistry,
  logger: Logger,
  secrets: ReadonlyMap<string, string> = new Map(),
) {
  return async function runCodeTask(input: CodeTaskInput): Promise<TaskResult> {
    const ctx = Context.current();
    const attempt = input.attempt ?? ctx.info.attempt;
    const run = codeToRun(registry, input);
    if (run === undefined) {
      // A worker without this job's code is misdeployed; another worker may have it, so retry.
      throw ApplicationFailure.retryable(
        `this worker has no code for job type ${JSON.stringify(input.name)}`,
        'JobCodeMissing',
        stampAttempt(ctx, attempt),
      );
    }
    const stamp = stampAttempt(ctx, attempt);
    const jobCtx = jobContext(
      input,
      attempt,
      {
        workflowId: ctx.info.workflowExecution?.workflowId ?? '',
        runId: ctx.info.workflowExecution?.runId ?? '',
        signal: ctx.cancellationSignal,
        heartbeat: (details) => ctx.heartbeat({ ...stamp, details } satisfies WrappedHeartbeat),
      },
      logger,
      secrets,
    );
    const log = jobCtx.logger;
    // Record the attempt at once, so even an attempt that dies silently is counted, and the
    // next attempt learns when the first one started.
    ctx.heartbeat(stamp satisfies WrappedHeartbeat);
    const started = Date.now();
    log.info({ scheduled_time: input.scheduledAt }, 'attempt started');
    try {
      const result = await run(jobCtx);
      log.info({ duration_ms: Date.now() - started, status: 'success' }, 'attempt finished');
      return { result: result ?? null, ...stamp };
    } catch (err) {
      const failure = toActivityFailure(err, ctx, stamp, input.retry);
      log.warn(
        {
          duration_ms: Date.now() - started,
          status: 'error',
          error_type: (failure as ApplicationFailure).type ?? failure.name,
          error_msg: failure.message,
        },
        'attempt failed',
      );
      throw failure;
    }
  };
}
