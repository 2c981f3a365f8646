import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  TimeoutFailure,
  executeChild,
  isCancellation,
  log,
  proxyActivities,
  sleep,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import { defineSearchAttributeKey, RetryState, SearchAttributeType } from '@temporalio/common';
import type { createActivities } from '../activities';
import { OUTCOME_MEMO_KEY, type JobRunInput, type RunError, type RunOutcome, type RunSummary, type TaskFailureDetails, type TaskResult } from '../jobs/run-types';
import { SundialStatus } from '../temporal/search-attributes';

type Activities = ReturnType<typeof createActivities>;

/** Set by Temporal on every workflow a schedule starts: the tick's nominal time. */
const TemporalScheduledStartTime = defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME);

/**
 * A run's outcome without its result, kept in the workflow's memo: run listings read it from
 * visibility without fetching each run's history. The result itself may be large.
 */
function summarize(outcome: RunOutcome): RunSummary {
  return {
    status: outcome.status,
    attempts: outcome.attempts,
    scheduledAt: outcome.scheduledAt,
    durationMs: outcome.durationMs,
    ...(outcome.status === 'failed' ? { error: outcome.error } : {}),
  };
}

/** Thrown inside the workflow to carry a failed attempt's error and attempt count outward. */
class TaskFailed {
  constructor(
    readonly error: RunError,
    readonly attempts: number,
  ) {}
}

function activityOptions(input: JobRunInput): ActivityOptions {
  const { retry, timeouts } = input;
  return {
    ...(timeouts.startToCloseMs === undefined ? {} : { startToCloseTimeout: timeouts.startToCloseMs }),
    ...(timeouts.scheduleToCloseMs === undefined ? {} : { scheduleToCloseTimeout: timeouts.scheduleToCloseMs }),
    ...(timeouts.heartbeatMs === undefined ? {} : { heartbeatTimeout: timeouts.heartbeatMs }),
    retry: {
      initialInterval: retry.initialIntervalMs,
      backoffCoefficient: retry.backoffCoefficient,
      ...(retry.maximumIntervalMs === undefined ? {} : { maximumInterval: retry.maximumIntervalMs }),
      maximumAttempts: retry.maximumAttempts,
      nonRetryableErrorTypes: [...retry.nonRetryableErrorTypes],
    },
  };
}

function attemptFromDetails(details: readonly unknown[] | undefined | null): number | undefined {
  const d = details?.[0] as Partial<TaskFailureDetails> | undefined;
  return typeof d?.attempt === 'number' ? d.attempt : undefined;
}

/** Turns an activity's final failure into the run's error and the number of attempts made. */
function fromActivityFailure(err: ActivityFailure, input: JobRunInput): TaskFailed {
  const cause = err.cause;
  let attempts: number | undefined;
  let error: RunError;
  if (cause instanceof ApplicationFailure) {
    attempts = attemptFromDetails(cause.details);
    error = { type: cause.type ?? 'Error', message: cause.message };
  } else if (cause instanceof TimeoutFailure) {
    const hb = cause.lastHeartbeatDetails as Partial<TaskFailureDetails> | undefined;
    attempts = typeof hb?.attempt === 'number' ? hb.attempt : undefined;
    error = { type: `Timeout${cause.timeoutType === undefined ? '' : `:${String(cause.timeoutType)}`}`, message: cause.message };
  } else {
    error = { type: cause?.name ?? 'Error', message: cause?.message ?? err.message };
  }
  if (err.retryState === RetryState.MAXIMUM_ATTEMPTS_REACHED && input.retry.maximumAttempts > 0) {
    attempts = input.retry.maximumAttempts;
  }
  return new TaskFailed(error, attempts ?? 1);
}

function isNonRetryable(err: unknown, input: JobRunInput): boolean {
  const cause = err instanceof ChildWorkflowFailure ? err.cause : err;
  if (!(cause instanceof ApplicationFailure)) return false;
  return cause.nonRetryable || input.retry.nonRetryableErrorTypes.includes(cause.type ?? '');
}

/**
 * A multi-step job: its workflow runs as a child, retried here with the job's declared backoff,
 * so attempts are counted exactly and each attempt gets its own child workflow id.
 */
async function runChildWithRetries(input: JobRunInput, workflowType: string, args: unknown): Promise<TaskResult> {
  const { retry, timeouts } = input;
  const parent = workflowInfo().workflowId;
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      const remaining = timeouts.scheduleToCloseMs === undefined ? undefined : timeouts.scheduleToCloseMs - (Date.now() - started);
      const result = await executeChild(workflowType, {
        workflowId: `${parent}/attempt-${attempt}`,
        args: args === undefined ? [] : [args],
        ...(timeouts.startToCloseMs === undefined ? {} : { workflowRunTimeout: timeouts.startToCloseMs }),
        ...(remaining === undefined ? {} : { workflowExecutionTimeout: Math.max(remaining, 1_000) }),
      });
      return { result, attempt };
    } catch (err) {
      if (isCancellation(err)) throw err;
      const cause = err instanceof ChildWorkflowFailure ? err.cause : undefined;
      const error: RunError = { type: cause instanceof ApplicationFailure ? (cause.type ?? 'Error') : (cause?.name ?? 'Error'), message: cause?.message ?? (err as Error).message };
      const exhausted = retry.maximumAttempts > 0 && attempt >= retry.maximumAttempts;
      const delay = Math.min(retry.initialIntervalMs * retry.backoffCoefficient ** (attempt - 1), retry.maximumIntervalMs ?? retry.initialIntervalMs * 100);
      const outOfTime = timeouts.scheduleToCloseMs !== undefined && Date.now() + delay - started >= timeouts.scheduleToCloseMs;
      if (isNonRetryable(err, input) || exhausted || outOfTime) throw new TaskFailed(error, attempt);
      log.warn('job workflow attempt failed; retrying', { attempt, error_type: error.type, error_msg: error.message, retry_in_ms: delay });
      await sleep(delay);
    }
  }
}

async function runTask(input: JobRunInput, idempotencyKey: string, scheduledAt: string): Promise<TaskResult> {
  const task = input.task;
  if (task.type === 'code' && task.mode === 'workflow') return runChildWithRetries(input, task.workflowType, task.args);
  const acts = proxyActivities<Activities>(activityOptions(input));
  try {
    if (task.type === 'http') return await acts.runHttpTask({ jobId: input.jobId, request: task.request, idempotencyKey, scheduledAt });
    return await acts.runCodeTask({ jobId: input.jobId, name: task.name, args: task.args, idempotencyKey, scheduledAt });
  } catch (err) {
    if (err instanceof ActivityFailure && !isCancellation(err)) throw fromActivityFailure(err, input);
    throw err;
  }
}

/**
 * One run of a job: one scheduled tick, or one manual trigger. Runs the job's task with its
 * declared retry policy and timeouts and returns a {@link RunOutcome}. A failed run fails the
 * workflow (so Temporal's pause-on-failure and the Web UI see it) with the outcome attached as
 * the failure's details.
 */
export async function jobWorkflow(input: JobRunInput): Promise<RunOutcome> {
  const info = workflowInfo();
  const startedAt = new Date();
  const scheduledAt = ((info.typedSearchAttributes.get(TemporalScheduledStartTime) as Date | undefined) ?? info.startTime).toISOString();
  // The workflow id is `<jobId>-<tick time>` for scheduled runs: stable across attempts and
  // distinct per tick, which is exactly what an idempotency key needs.
  const idempotencyKey = info.workflowId;
  upsertSearchAttributes([{ key: SundialStatus, value: 'running' }]);
  log.info('run started', { task_name: input.jobId, scheduled_time: scheduledAt });
  const base = () => {
    const finishedAt = new Date();
    return {
      jobId: input.jobId,
      workflowId: info.workflowId,
      runId: info.runId,
      scheduledAt,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationMs: finishedAt.getTime() - startedAt.getTime(),
    };
  };
  try {
    const { result, attempt } = await runTask(input, idempotencyKey, scheduledAt);
    const outcome: RunOutcome = { ...base(), status: 'succeeded', attempts: attempt, result };
    upsertSearchAttributes([{ key: SundialStatus, value: 'succeeded' }]);
    upsertMemo({ [OUTCOME_MEMO_KEY]: summarize(outcome) });
    log.info('run finished', { task_name: input.jobId, status: outcome.status, attempt, duration_ms: outcome.durationMs });
    return outcome;
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(async () => upsertSearchAttributes([{ key: SundialStatus, value: 'cancelled' }]));
      log.info('run cancelled', { task_name: input.jobId, status: 'cancelled' });
      throw err;
    }
    if (!(err instanceof TaskFailed)) throw err;
    const outcome: RunOutcome = { ...base(), status: 'failed', attempts: err.attempts, error: err.error };
    upsertSearchAttributes([{ key: SundialStatus, value: 'failed' }]);
    upsertMemo({ [OUTCOME_MEMO_KEY]: summarize(outcome) });
    log.warn('run finished', {
      task_name: input.jobId,
      status: outcome.status,
      attempt: err.attempts,
      duration_ms: outcome.durationMs,
      error_type: err.error.type,
      error_msg: err.error.message,
    });
    throw ApplicationFailure.create({ type: err.error.type, message: err.error.message, nonRetryable: true, details: [outcome] });
  }
}
