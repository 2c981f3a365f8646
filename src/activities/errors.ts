import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { Context } from '@temporalio/activity';
import { NonRetryableJobError } from '../jobs/errors';
import { retryDelayMs } from '../jobs/backoff';
import type { AttemptStamp, RetryPlan } from '../jobs/run-types';

/** The type name Temporal matches against `nonRetryableErrorTypes`: the error's name or class. */
export function errorTypeName(err: Error): string {
  if (err.name !== 'Error' && err.name !== '') return err.name;
  const ctor = err.constructor?.name;
  return ctor !== undefined && ctor !== '' ? ctor : 'Error';
}

/**
 * Translates whatever a task threw into the failure Temporal records, in one place:
 * - a cancellation the server asked for stays a cancellation;
 * - an attempt aborted for another reason (worker shutdown, timeout) is retryable;
 * - NonRetryableJobError fails the run at once; any other error is retried per policy, unless
 *   its type is listed in `nonRetryableErrorTypes` (Temporal checks that);
 * - every failure carries the attempt's stamp first in its details, so the run's outcome can
 *   report the attempt and its lag;
 * - with `retry` (attempts retried by Temporal), a retryable failure carries its jittered
 *   next retry delay (unless the task chose one, e.g. from `Retry-After`): Temporal's own
 *   backoff has no jitter.
 */
export function toActivityFailure(err: unknown, ctx: Context, stamp: AttemptStamp, retry?: RetryPlan): Error {
  const failure = translate(err, ctx, stamp);
  if (
    retry === undefined ||
    !(failure instanceof ApplicationFailure) ||
    failure.nonRetryable ||
    failure.nextRetryDelay != null
  )
    return failure;
  return ApplicationFailure.create({
    type: failure.type ?? 'Error',
    message: failure.message,
    nonRetryable: false,
    details: failure.details ?? [],
    ...(failure.cause === undefined ? {} : { cause: failure.cause }),
    nextRetryDelay: retryDelayMs(retry, ctx.info.attempt, Math.random()),
  });
}

function translate(err: unknown, ctx: Context, stamp: AttemptStamp): Error {
  const { attempt } = stamp;
  const details: unknown[] = [stamp];
  if (ctx.cancellationSignal.aborted) {
    const why = ctx.cancellationDetails;
    if (why?.cancelRequested) return err instanceof CancelledFailure ? err : new CancelledFailure('cancelled');
    const type = why?.workerShutdown ? 'WorkerShutdown' : why?.timedOut ? 'AttemptTimedOut' : 'AttemptAborted';
    return ApplicationFailure.create({
      type,
      message: `attempt ${attempt} was aborted (${type})`,
      nonRetryable: false,
      details,
    });
  }
  if (err instanceof ApplicationFailure) {
    // The delay the task asked for (e.g. Retry-After) travels in the stamp too: Temporal's
    // retry loop reads nextRetryDelay, but the SDK does not decode it for workflow code, whose
    // own retry loop (breaker and multi-step jobs) needs it as well.
    const requested = typeof err.nextRetryDelay === 'number' ? err.nextRetryDelay : undefined;
    return ApplicationFailure.create({
      type: err.type ?? 'Error',
      message: err.message,
      nonRetryable: err.nonRetryable === true,
      details: [requested === undefined ? stamp : { ...stamp, requestedDelayMs: requested }, ...(err.details ?? [])],
      ...(err.nextRetryDelay == null ? {} : { nextRetryDelay: err.nextRetryDelay }),
    });
  }
  const e = err instanceof Error ? err : new Error(String(err));
  return ApplicationFailure.create({
    type: errorTypeName(e),
    message: e.message,
    nonRetryable: e instanceof NonRetryableJobError,
    details,
    cause: e,
  });
}
