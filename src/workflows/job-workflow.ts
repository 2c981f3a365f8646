import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  ContinueAsNew,
  TemporalFailure,
  TimeoutFailure,
  continueAsNew,
  executeChild,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  sleep,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import { defineSearchAttributeKey, RetryState, SearchAttributeType } from '@temporalio/common';
import type { createActivities } from '../activities';
import { MAX_CACHED_RESULT_CHARS, type RecordRequest } from '../breaker/contract';
import type { Permit } from '../breaker/state';
import { backoffMs, retryDelayMs } from '../jobs/backoff';
import {
  OUTCOME_MEMO_KEY,
  type AttemptOutcomes,
  type AttemptStamp,
  type ContinuedRun,
  type FallbackInfo,
  type JobRunInput,
  type RunError,
  type RunOutcome,
  type RunSummary,
  type TaskResult,
} from '../jobs/run-types';
import { SundialStatus } from '../temporal/search-attributes';
import { workflowNow } from './clock';
import { NOTIFY_AFTER_RUN, notifyFinished, runFacts, watchLate } from './notify';

type Activities = ReturnType<typeof createActivities>;

/** Patch id: runs started with SundialStatus=running skip their first upsert. */
export const STATUS_SET_AT_START = 'sundial-status-set-at-start';

/**
 * Patch id, taken only on the paths it changes: a breaker that cannot be asked ends the run with
 * its outcome (before: the run failed without one); a record that fails is logged and the run
 * goes on (before: a success became a failed attempt, retried); an attempt cut off by its
 * worker's shutdown is given back to the breaker and retried without counting.
 */
export const BREAKER_FAILURES_HANDLED = 'sundial-breaker-failures-handled';

/**
 * Patch id, taken only on the paths it changes: a failure no other path expected (a bug, a
 * fallback whose cache cannot be read) ends the run with its outcome (before: the run failed
 * without one, or, for an error that is not a Temporal failure, its workflow task failed until a
 * fix was deployed).
 */
export const OUTCOME_ON_ANY_FAILURE = 'sundial-outcome-on-any-failure';

/**
 * Patch id, taken only when the server suggests it: a run whose managed retries have filled its
 * history continues as new (before: it went on until the history limit terminated it).
 */
export const CONTINUE_LONG_RETRIES = 'sundial-continue-long-retries';

/** The run's error type for a failure in Sundial's own workflow code. */
export const INTERNAL_ERROR = 'SundialInternalError';

/** The run's error type when its breaker could not be asked. */
export const BREAKER_UNAVAILABLE = 'BreakerUnavailable';

/** The activity failure type of an attempt cut off by its worker's shutdown (./activities/errors). */
const WORKER_SHUTDOWN = 'WorkerShutdown';

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
    lagMs: outcome.lagMs,
    attemptOutcomes: outcome.attemptOutcomes,
    ...(outcome.status === 'failed' ? { error: outcome.error } : {}),
    ...(outcome.status === 'degraded' ? { fallback: outcome.fallback } : {}),
  };
}

/**
 * Thrown inside the workflow to carry a failed run's error outward: how many attempts were made,
 * whether the last one failed for good (non-retryable) and when the first one started.
 */
class TaskFailed {
  constructor(
    readonly error: RunError,
    readonly attempts: number,
    readonly finalRetryable: boolean,
    readonly firstStartedAt?: string,
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

/**
 * The task's activities: regular ones, or local ones for `execution: 'local'` (the same timeouts
 * and retry policy; a local activity has no heartbeat timeout, validation refuses one).
 */
function taskActivities(input: JobRunInput, retry?: ActivityOptions['retry']) {
  const options = retry === undefined ? activityOptions(input) : { ...activityOptions(input), retry };
  if (input.execution !== 'local') return proxyActivities<Activities>(options);
  const { heartbeatTimeout: _none, ...local } = options;
  return proxyLocalActivities<Activities>(local);
}

/** The attempt stamp an activity put first in its failure details or heartbeats, if any. */
function stampFrom(details: unknown): Partial<AttemptStamp> {
  const d = details as Partial<AttemptStamp> | undefined;
  return {
    ...(typeof d?.attempt === 'number' ? { attempt: d.attempt } : {}),
    ...(typeof d?.firstStartedAt === 'string' ? { firstStartedAt: d.firstStartedAt } : {}),
  };
}

/** Turns an activity's final failure into the run's error and the number of attempts made. */
function fromActivityFailure(err: ActivityFailure, input: JobRunInput): TaskFailed {
  const cause = err.cause;
  let stamp: Partial<AttemptStamp> = {};
  let error: RunError;
  if (cause instanceof ApplicationFailure) {
    stamp = stampFrom(cause.details?.[0]);
    error = { type: cause.type ?? 'Error', message: cause.message };
  } else if (cause instanceof TimeoutFailure) {
    stamp = stampFrom(cause.lastHeartbeatDetails);
    error = {
      type: `Timeout${cause.timeoutType === undefined ? '' : `:${String(cause.timeoutType)}`}`,
      message: cause.message,
    };
  } else {
    error = { type: cause?.name ?? 'Error', message: cause?.message ?? err.message };
  }
  let attempts = stamp.attempt;
  if (err.retryState === RetryState.MAXIMUM_ATTEMPTS_REACHED && input.retry.maximumAttempts > 0) {
    attempts = input.retry.maximumAttempts;
  }
  return new TaskFailed(error, attempts ?? 1, !isNonRetryable(err, input), stamp.firstStartedAt);
}

function isNonRetryable(err: unknown, input: JobRunInput): boolean {
  const cause = err instanceof ChildWorkflowFailure || err instanceof ActivityFailure ? err.cause : err;
  if (!(cause instanceof ApplicationFailure)) return false;
  return cause.nonRetryable || input.retry.nonRetryableErrorTypes.includes(cause.type ?? '');
}

/**
 * The run's error for a failure no path expected: a Temporal failure keeps its type (as an
 * attempt's error does); anything else is a bug in Sundial's workflow code.
 */
function unexpectedError(err: unknown): RunError {
  if (err instanceof TemporalFailure) return runErrorOf(err);
  const e = err instanceof Error ? err : new Error(String(err));
  return { type: INTERNAL_ERROR, message: `${e.name}: ${e.message}` };
}

/** A run the breaker refused, served from the fallback. Every attempt before it failed retryably. */
class ServedFromFallback {
  constructor(
    readonly result: unknown,
    readonly fallback: FallbackInfo,
    readonly attempts: number,
    readonly firstStartedAt?: string,
  ) {}
}

/** A failure as a run error: an activity's or child's by its cause. */
function runErrorOf(err: unknown): RunError {
  const cause = err instanceof ActivityFailure || err instanceof ChildWorkflowFailure ? err.cause : (err as Error);
  return cause instanceof ApplicationFailure
    ? { type: cause.type ?? 'Error', message: cause.message }
    : cause instanceof TimeoutFailure
      ? { type: 'Timeout', message: cause.message }
      : { type: cause?.name ?? 'Error', message: cause?.message ?? String(err) };
}

/** The error of one failed attempt and whether retrying could help. */
function attemptError(err: unknown, input: JobRunInput): { error: RunError; retryable: boolean } {
  return { error: runErrorOf(err), retryable: !isNonRetryable(err, input) };
}

/**
 * Exactly one attempt, no retries: an activity with maximumAttempts 1, or one child workflow.
 * Returns the result and, for activities, the attempt's stamp.
 */
async function runOneAttempt(
  input: JobRunInput,
  attempt: number,
  idempotencyKey: string,
  scheduledAt: string,
  remainingMs: number | undefined,
): Promise<{ result: unknown; stamp: Partial<AttemptStamp> }> {
  const task = input.task;
  const { timeouts } = input;
  if (task.type === 'code' && task.mode === 'workflow') {
    // The child gets what is left of scheduleToClose (all attempts together), and startToClose
    // for itself: without them, a child with only scheduleToClose set had no timeout at all.
    const result: unknown = await executeChild(task.workflowType, {
      workflowId: `${workflowInfo().workflowId}/attempt-${attempt}`,
      args: task.args === undefined ? [] : [task.args],
      ...(timeouts.startToCloseMs === undefined ? {} : { workflowRunTimeout: timeouts.startToCloseMs }),
      ...(remainingMs === undefined ? {} : { workflowExecutionTimeout: remainingMs }),
    });
    return { result, stamp: {} };
  }
  // One attempt may take what is left of scheduleToClose, not all of it again.
  const acts = taskActivities(
    remainingMs === undefined ? input : { ...input, timeouts: { ...timeouts, scheduleToCloseMs: remainingMs } },
    { maximumAttempts: 1 },
  );
  const res =
    task.type === 'http'
      ? await acts.runHttpTask({ jobId: input.jobId, request: task.request, idempotencyKey, scheduledAt, attempt })
      : await acts.runCodeTask({
          jobId: input.jobId,
          name: task.name,
          args: task.args,
          idempotencyKey,
          scheduledAt,
          attempt,
        });
  return { result: res.result, stamp: stampFrom(res) };
}

// Local activities: the breaker is asked and told on every attempt, and a regular activity's
// extra round trips through the server cost ~100 ms each here (bench/README.md).
const breakerActivities = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '2s', maximumAttempts: 10 },
});

/** How long a half-open probe keeps its slot if its run never reports back. */
function probeLeaseMs(input: JobRunInput): number {
  return Math.min(input.timeouts.startToCloseMs ?? input.timeouts.scheduleToCloseMs ?? 600_000, 600_000) + 10_000;
}

/** The `Retry-After` (or any delay) a failed attempt asked for, in ms (in its stamp: ./activities/errors). */
function requestedDelayMs(err: unknown): number | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (!(cause instanceof ApplicationFailure)) return undefined;
  const d = (cause.details?.[0] as Partial<AttemptStamp> | undefined)?.requestedDelayMs;
  return typeof d === 'number' && d >= 0 ? d : undefined;
}

function isWorkerShutdown(err: unknown): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure && cause.type === WORKER_SHUTDOWN;
}

/**
 * Tells the breaker how an attempt went. A failure to tell it must not change the run: it is
 * logged and the run goes on. Histories from before the patch failed the attempt instead: for
 * them the error is returned, and the caller handles it as the old code did.
 */
async function recordAttempt(input: JobRunInput, req: Omit<RecordRequest, 'jobId' | 'config'>): Promise<unknown> {
  const breaker = input.breaker!;
  try {
    await breakerActivities.breakerRecord(breaker.key, { jobId: input.jobId, config: breaker.config, ...req });
    return undefined;
  } catch (err) {
    if (isCancellation(err) || !patched(BREAKER_FAILURES_HANDLED)) return err;
    log.warn('the breaker could not record an attempt; the run goes on', {
      task_name: input.jobId,
      breaker: breaker.key,
      error_msg: (err as Error).message,
    });
    return undefined;
  }
}

/**
 * Retries run here rather than in Temporal's activity retry loop when the job has a breaker
 * (every attempt must be admitted and its outcome recorded) or is a multi-step workflow job (so
 * attempts are counted exactly and each gets its own child). An open breaker ends the retries:
 * the run goes to its fallback, so an outage costs one attempt per run, not maximumAttempts.
 */
async function runWithManagedRetries(
  input: JobRunInput,
  idempotencyKey: string,
  run: RunClock,
  progress: Progress,
): Promise<TaskResult | ServedFromFallback> {
  const { retry, timeouts, breaker } = input;
  const scheduledAt = run.scheduledAt;
  const started = Date.parse(run.startedAt);
  // Each attempt here is a fresh activity or child, so the first one's start is known exactly
  // for activities (their stamp) and to within a workflow task for children.
  let firstStartedAt: string | undefined = input.continued?.firstStartedAt;
  for (let attempt = (input.continued?.attempts ?? 0) + 1; ; attempt++) {
    progress.attempts = attempt - 1;
    progress.firstStartedAt = firstStartedAt;
    let permit: Permit | undefined;
    if (breaker !== undefined) {
      try {
        permit = (
          await breakerActivities.breakerAdmit(breaker.key, {
            jobId: input.jobId,
            config: breaker.config,
            leaseMs: probeLeaseMs(input),
          })
        ).permit;
      } catch (err) {
        if (isCancellation(err) || !patched(BREAKER_FAILURES_HANDLED)) throw err;
        const why =
          err instanceof ActivityFailure && err.cause !== undefined ? err.cause.message : (err as Error).message;
        throw new TaskFailed(
          { type: BREAKER_UNAVAILABLE, message: `breaker ${breaker.key} could not be asked: ${why}` },
          attempt - 1,
          true,
          firstStartedAt,
        );
      }
      if (permit === undefined) return serveFallback(input, attempt - 1, firstStartedAt);
    }
    if (attempt === 1) firstStartedAt = new Date(workflowNow()).toISOString();
    let failure: unknown;
    try {
      const remainingMs =
        timeouts.scheduleToCloseMs === undefined
          ? undefined
          : Math.max(1, timeouts.scheduleToCloseMs - (workflowNow() - started));
      const { result, stamp } = await runOneAttempt(input, attempt, idempotencyKey, scheduledAt, remainingMs);
      if (attempt === 1 && stamp.firstStartedAt !== undefined) firstStartedAt = stamp.firstStartedAt;
      const cacheable =
        input.fallback !== undefined && JSON.stringify(result ?? null).length <= MAX_CACHED_RESULT_CHARS;
      // Outside the attempt's error handling: a breaker that cannot be told never turns this
      // success into a failed attempt (which would repeat its side effect).
      failure =
        permit === undefined
          ? undefined
          : await recordAttempt(input, { permit, ok: true, ...(cacheable ? { cache: { result } } : {}) });
      if (failure === undefined)
        return { result, attempt, ...(firstStartedAt === undefined ? {} : { firstStartedAt }) };
    } catch (err) {
      if (isCancellation(err)) throw err;
      failure = err;
    }
    if (attempt === 1 && failure instanceof ActivityFailure && failure.cause instanceof ApplicationFailure) {
      firstStartedAt = stampFrom(failure.cause.details?.[0]).firstStartedAt ?? firstStartedAt;
    }
    // A worker that shut down mid-attempt says nothing about the dependency, and the attempt
    // is not the job's fault: the permit goes back and the attempt is made again, uncounted.
    if (isWorkerShutdown(failure) && patched(BREAKER_FAILURES_HANDLED)) {
      if (permit !== undefined) await recordAttempt(input, { permit, ok: false, released: true });
      log.info('attempt cut off by a worker shutdown; making it again', { task_name: input.jobId, attempt });
      attempt--;
      continue;
    }
    const { error, retryable } = attemptError(failure, input);
    // A non-retryable error means the dependency answered: it does not count against it.
    if (permit !== undefined) {
      const unrecorded = await recordAttempt(input, { permit, ok: !retryable });
      if (unrecorded !== undefined) throw unrecorded;
    }
    const exhausted = retry.maximumAttempts > 0 && attempt >= retry.maximumAttempts;
    const delay = managedRetryDelayMs(input, attempt, failure);
    const outOfTime =
      timeouts.scheduleToCloseMs !== undefined && workflowNow() + delay - started >= timeouts.scheduleToCloseMs;
    if (!retryable || exhausted || outOfTime) throw new TaskFailed(error, attempt, retryable, firstStartedAt);
    log.warn('attempt failed; retrying', {
      task_name: input.jobId,
      attempt,
      error_type: error.type,
      error_msg: error.message,
      retry_in_ms: delay,
    });
    await sleep(delay);
    // Unlimited (or many) attempts would fill the history until the server terminates the run.
    if (workflowInfo().continueAsNewSuggested && patched(CONTINUE_LONG_RETRIES)) {
      log.info('continuing the run as new: its retries filled the history', { task_name: input.jobId, attempt });
      const continued: ContinuedRun = {
        attempts: attempt,
        startedAt: run.startedAt,
        scheduledAt,
        ...(firstStartedAt === undefined ? {} : { firstStartedAt }),
      };
      await continueAsNew<typeof jobWorkflow>({ ...input, continued });
    }
  }
}

/**
 * The delay before the next managed attempt: what the failed attempt asked for (`Retry-After`),
 * else the jittered backoff. Histories from before the patch slept the plain backoff.
 */
function managedRetryDelayMs(input: JobRunInput, attempt: number, failure: unknown): number {
  const { retry } = input;
  if (!patched(BREAKER_FAILURES_HANDLED)) return backoffMs(retry, attempt);
  // Math.random here is the workflow sandbox's: seeded per run and replayed identically, so the
  // jitter is deterministic (and the sleep's duration is not part of what replay compares).
  return requestedDelayMs(failure) ?? retryDelayMs(retry, attempt, Math.random());
}

/** The breaker is open: serve the last good result, or fail with CircuitOpen. */
async function serveFallback(
  input: JobRunInput,
  attempts: number,
  firstStartedAt: string | undefined,
): Promise<ServedFromFallback> {
  const key = input.breaker!.key;
  const task = input.task;
  if (input.fallback?.type === 'function' && task.type === 'code') {
    const acts = taskActivities(input);
    try {
      const res = await acts.runCodeTask({
        jobId: input.jobId,
        name: task.name,
        args: task.args,
        idempotencyKey: workflowInfo().workflowId,
        scheduledAt: new Date(workflowNow()).toISOString(),
        useFallback: true,
      });
      return new ServedFromFallback(res.result, { servedFrom: 'function' }, attempts, firstStartedAt);
    } catch (err) {
      if (isCancellation(err)) throw err;
      const { error } = attemptError(err, input);
      throw new TaskFailed(
        {
          type: 'CircuitOpen',
          message: `breaker ${key} is open and the fallback function failed: ${error.type}: ${error.message}`,
        },
        attempts,
        true,
        firstStartedAt,
      );
    }
  }
  if (input.fallback?.type === 'cache') {
    const cached = await breakerActivities.breakerCached(key, input.jobId);
    if (cached !== null) {
      const ageMs = workflowNow() - Date.parse(cached.cachedAt);
      if (input.fallback.maxStalenessMs === undefined || ageMs <= input.fallback.maxStalenessMs) {
        return new ServedFromFallback(
          cached.result,
          { servedFrom: 'cache', cachedAt: cached.cachedAt, ageMs },
          attempts,
          firstStartedAt,
        );
      }
      throw new TaskFailed(
        {
          type: 'CircuitOpen',
          message: `breaker ${key} is open and the cached result is ${ageMs} ms old, over maxStaleness`,
        },
        attempts,
        true,
        firstStartedAt,
      );
    }
    throw new TaskFailed(
      { type: 'CircuitOpen', message: `breaker ${key} is open and there is no cached result` },
      attempts,
      true,
      firstStartedAt,
    );
  }
  throw new TaskFailed({ type: 'CircuitOpen', message: `breaker ${key} is open` }, attempts, true, firstStartedAt);
}

/** When the run was due and when it started: its first execution's, across continue-as-new. */
interface RunClock {
  readonly scheduledAt: string;
  readonly startedAt: string;
}

/** How far the run got, for an outcome after a failure no path expected. */
interface Progress {
  attempts: number;
  firstStartedAt: string | undefined;
}

async function runTask(
  input: JobRunInput,
  idempotencyKey: string,
  run: RunClock,
  progress: Progress,
): Promise<TaskResult | ServedFromFallback> {
  const task = input.task;
  const scheduledAt = run.scheduledAt;
  if (input.breaker !== undefined || (task.type === 'code' && task.mode === 'workflow'))
    return runWithManagedRetries(input, idempotencyKey, run, progress);
  const acts = taskActivities(input);
  try {
    // With the retry policy, each failed attempt sets its own jittered next retry delay.
    if (task.type === 'http')
      return await acts.runHttpTask({
        jobId: input.jobId,
        request: task.request,
        idempotencyKey,
        scheduledAt,
        retry: input.retry,
      });
    return await acts.runCodeTask({
      jobId: input.jobId,
      name: task.name,
      args: task.args,
      idempotencyKey,
      scheduledAt,
      retry: input.retry,
    });
  } catch (err) {
    if (err instanceof ActivityFailure && !isCancellation(err)) throw fromActivityFailure(err, input);
    // A local activity's final failure reaches the workflow unwrapped: the attempt's own failure.
    // An application failure carries its attempt's stamp; a timeout does not, so it is counted
    // as the last of maximumAttempts.
    if (input.execution === 'local' && (err instanceof ApplicationFailure || err instanceof TimeoutFailure)) {
      const retryState =
        err instanceof TimeoutFailure ? RetryState.MAXIMUM_ATTEMPTS_REACHED : RetryState.RETRY_STATE_UNSPECIFIED;
      throw fromActivityFailure(
        new ActivityFailure(
          err.message,
          task.type === 'http' ? 'runHttpTask' : 'runCodeTask',
          undefined,
          retryState,
          undefined,
          err,
        ),
        input,
      );
    }
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
  const continued = input.continued;
  const startedAt = continued === undefined ? new Date(workflowNow()) : new Date(continued.startedAt);
  const scheduledAt =
    continued?.scheduledAt ??
    ((info.typedSearchAttributes.get(TemporalScheduledStartTime) as Date | undefined) ?? info.startTime).toISOString();
  // The workflow id is `<jobId>-<tick time>` for scheduled runs: stable across attempts and
  // distinct per tick, which is exactly what an idempotency key needs.
  const idempotencyKey = info.workflowId;
  // Schedules and keyed triggers start runs with SundialStatus=running already, which saves a
  // command (and a visibility write) per run. Runs started otherwise, or by a schedule written
  // before this change, still set it here; so did every run before the patch.
  const startedRunning = info.typedSearchAttributes.get(SundialStatus) === 'running';
  if (!(patched(STATUS_SET_AT_START) && startedRunning))
    upsertSearchAttributes([{ key: SundialStatus, value: 'running' }]);
  // Every run line carries the same fields (the SDK adds workflow and run ids), so a log
  // pipeline can treat start and end alike.
  const runFields = { task_name: input.jobId, scheduled_time: scheduledAt, start_time: startedAt.toISOString() };
  // The runtime's log adapter completes the field set (RUN_LOG_FIELDS) with nulls. A run that
  // continued as new started once.
  if (continued === undefined) log.info('run started', { ...runFields, attempt: 1, status: 'running' });
  const progress: Progress = { attempts: continued?.attempts ?? 0, firstStartedAt: continued?.firstStartedAt };
  // Only runs of jobs with notification rules take this path (and record the patch): inputs from
  // before notifications existed have none.
  const notify = input.notify !== undefined && patched(NOTIFY_AFTER_RUN) ? input.notify : undefined;
  // A run continues as new only after its retries filled a history (hours of them): its `late`
  // deadlines were met in an earlier execution, which notified them once already.
  const lateWatch =
    notify === undefined || continued !== undefined
      ? undefined
      : watchLate(notify, runFacts(input.jobId, scheduledAt, startedAt.toISOString()));
  /** Ends the run's notification work: late events stop, the finished run's events start. Never throws. */
  const notifyEnd = async (outcome: RunOutcome): Promise<void> => {
    if (notify === undefined) return;
    lateWatch?.cancel();
    await notifyFinished(notify, outcome);
  };
  const base = (firstStartedAt: string | undefined, attemptOutcomes: AttemptOutcomes) => {
    const finishedAt = new Date(workflowNow());
    // A run that made no attempt (its breaker was open), or whose first attempt died before
    // reporting, is measured to its own start, when it scheduled that attempt.
    const firstStart = firstStartedAt === undefined ? startedAt.getTime() : Date.parse(firstStartedAt);
    return {
      jobId: input.jobId,
      workflowId: info.workflowId,
      runId: info.runId,
      scheduledAt,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationMs: finishedAt.getTime() - startedAt.getTime(),
      lagMs: Math.max(0, firstStart - Date.parse(scheduledAt)),
      attemptOutcomes,
    };
  };
  /** Marks the run finished the same way for every status: search attribute, memo, one log line. */
  const finish = (outcome: RunOutcome): RunOutcome => {
    upsertSearchAttributes([{ key: SundialStatus, value: outcome.status }]);
    upsertMemo({ [OUTCOME_MEMO_KEY]: summarize(outcome) });
    const fields = { ...runFields, status: outcome.status, attempt: outcome.attempts, duration_ms: outcome.durationMs };
    if (outcome.status === 'succeeded') log.info('run finished', fields);
    else if (outcome.status === 'failed')
      log.warn('run finished', { ...fields, error_type: outcome.error.type, error_msg: outcome.error.message });
    else {
      const f = outcome.fallback;
      log.warn('run finished', {
        ...fields,
        served_from: f.servedFrom,
        ...(f.servedFrom === 'cache' ? { fallback_age_ms: f.ageMs } : {}),
      });
    }
    return outcome;
  };
  try {
    const ran = await runTask(input, idempotencyKey, { scheduledAt, startedAt: startedAt.toISOString() }, progress);
    if (ran instanceof ServedFromFallback) {
      const outcomes = { success: 0, retryable_error: ran.attempts, non_retryable_error: 0 };
      const degraded = finish({
        ...base(ran.firstStartedAt, outcomes),
        status: 'degraded',
        attempts: ran.attempts,
        result: ran.result,
        fallback: ran.fallback,
      });
      await notifyEnd(degraded);
      return degraded;
    }
    const outcomes = { success: 1, retryable_error: ran.attempt - 1, non_retryable_error: 0 };
    const succeeded = finish({
      ...base(ran.firstStartedAt, outcomes),
      status: 'succeeded',
      attempts: ran.attempt,
      result: ran.result,
    });
    await notifyEnd(succeeded);
    return succeeded;
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(async () =>
        upsertSearchAttributes([{ key: SundialStatus, value: 'cancelled' }]),
      );
      log.info('run finished', {
        ...runFields,
        status: 'cancelled',
        duration_ms: workflowNow() - startedAt.getTime(),
        error_type: 'Cancelled',
        error_msg: 'the run was cancelled',
      });
      throw err;
    }
    if (err instanceof ContinueAsNew) throw err;
    let failed: TaskFailed;
    if (err instanceof TaskFailed) failed = err;
    else {
      // Histories from before the patch failed here without an outcome: they still do.
      if (!patched(OUTCOME_ON_ANY_FAILURE)) throw err;
      failed = new TaskFailed(unexpectedError(err), progress.attempts, true, progress.firstStartedAt);
      log.error('the run met a failure Sundial did not expect', {
        task_name: input.jobId,
        error_type: failed.error.type,
        error_msg: failed.error.message,
      });
    }
    const outcomes = failed.finalRetryable
      ? { success: 0, retryable_error: failed.attempts, non_retryable_error: 0 }
      : { success: 0, retryable_error: failed.attempts - 1, non_retryable_error: 1 };
    const outcome = finish({
      ...base(failed.firstStartedAt, outcomes),
      status: 'failed',
      attempts: failed.attempts,
      error: failed.error,
    });
    await notifyEnd(outcome);
    throw ApplicationFailure.create({
      type: failed.error.type,
      message: failed.error.message,
      nonRetryable: true,
      details: [outcome],
    });
  }
}
