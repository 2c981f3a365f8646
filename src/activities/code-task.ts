import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { JobContext } from '../jobs/define';
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

export function makeRunCodeTask(registry: JobRegistry, logger: Logger, secrets: ReadonlyMap<string, string> = new Map()) {
  return async function runCodeTask(input: CodeTaskInput): Promise<TaskResult> {
    const ctx = Context.current();
    const attempt = input.attempt ?? ctx.info.attempt;
    const workflowId = ctx.info.workflowExecution?.workflowId ?? '';
    const runId = ctx.info.workflowExecution?.runId ?? '';
    const found = registry.codeFor(input.name);
    const code = found?.mode === 'activity' && input.useFallback ? (found.fallbackRun === undefined ? undefined : { ...found, run: found.fallbackRun }) : found;
    if (code === undefined || code.mode !== 'activity') {
      // A worker without this job's code is misdeployed; another worker may have it, so retry.
      throw ApplicationFailure.retryable(`this worker has no code for job type ${JSON.stringify(input.name)}`, 'JobCodeMissing', stampAttempt(ctx, attempt));
    }
    const stamp = stampAttempt(ctx, attempt);
    const log = logger.child({
      task_name: input.jobId,
      workflow_id: workflowId,
      run_id: runId,
      attempt,
    });
    const jobCtx: JobContext = {
      jobId: input.jobId,
      workflowId,
      runId,
      scheduledAt: new Date(input.scheduledAt),
      attempt,
      idempotencyKey: input.idempotencyKey,
      signal: ctx.cancellationSignal,
      heartbeat: (details?: unknown) => ctx.heartbeat({ ...stamp, details } satisfies WrappedHeartbeat),
      logger: log,
      args: input.args,
    };
    // Record the attempt at once, so even an attempt that dies silently is counted, and the
    // next attempt learns when the first one started.
    ctx.heartbeat(stamp satisfies WrappedHeartbeat);
    const started = Date.now();
    log.info({ scheduled_time: input.scheduledAt }, 'attempt started');
    try {
      // Secret references resolved in the attempt: the values never travel through Temporal.
      const result = await code.run({ ...jobCtx, args: resolveArgs(input.args, secrets) });
      log.info({ duration_ms: Date.now() - started, status: 'success' }, 'attempt finished');
      return { result: result ?? null, ...stamp };
    } catch (err) {
      const failure = toActivityFailure(err, ctx, stamp, input.retry);
      log.warn(
        { duration_ms: Date.now() - started, status: 'error', error_type: (failure as ApplicationFailure).type ?? failure.name, error_msg: failure.message },
        'attempt failed',
      );
      throw failure;
    }
  };
}
